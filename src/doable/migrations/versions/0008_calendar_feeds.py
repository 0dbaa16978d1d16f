"""calendar feeds

Revision ID: 0008
Revises: 0004
Create Date: 2026-11-27

- `calendar_feeds`: iCalendar feed URLs (`/ical/{secret}.ics`). The secret is stored as its
  SHA-256 only, with a short hint; filters by tag, priorities and status; revocable.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def utc_datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def key_string(length: int) -> sa.types.TypeEngine[Any]:
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def upgrade() -> None:
    op.create_table(
        "calendar_feeds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", key_string(64), nullable=False),
        sa.Column("hint", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=True),
        sa.Column("priorities", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("revoked_at", utc_datetime(), nullable=True),
        sa.Column("last_fetched_at", utc_datetime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_calendar_feeds_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_calendar_feeds_secret_hash")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_calendar_feeds_owner_id", "calendar_feeds", ["owner_id"], unique=False)


def downgrade() -> None:
    op.drop_table("calendar_feeds")
