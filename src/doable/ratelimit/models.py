"""The database's rate-limit counters: one row per limited key and fixed window."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from doable.db import Base, key_string


class RateLimitHit(Base):
    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_window_start", "window_start"),)

    # SHA-256 (hex) of the limit and its key ("account:<email>", "ip:<address>"): the table
    # never holds an email address or an IP address.
    bucket: Mapped[str] = mapped_column(key_string(64), primary_key=True)
    # The window's start, in whole seconds since the epoch: a multiple of the limit's period.
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hits: Mapped[int] = mapped_column(Integer)
