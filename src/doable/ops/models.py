"""What the schema tells binaries of other releases: the oldest release that can still run on it."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from doable.db import Base


class SchemaWindow(Base):
    """One row (id 1), written by every `doable migrate` after it upgrades: the oldest
    migration revision whose binaries can still serve this schema (doable.migrations.window).
    An older binary reads it to decide whether to keep serving; it cannot read the newer
    migrations' own declarations, which it does not ship."""

    __tablename__ = "schema_window"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    oldest_compatible: Mapped[str] = mapped_column(String(32))
