"""rate limits and schema window

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

- `rate_limit_hits`: the login limits' counters, shared by every worker and replica on the
  database when no REDIS_URL is set (doable.ratelimit.counters.DatabaseCounter). Keyed by a
  digest, never by an email or an IP address.
- `schema_window`: one row saying which oldest release can still serve this schema; written
  after every upgrade (doable.migrations.window), read by older binaries' readiness check.

Both are new tables that the previous release never reads: it keeps running on this schema.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Expand/contract (doable.migrations.window): the release before this migration can still
# serve the schema it leaves.
previous_release_compatible = True

_MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}


def key_string(length: int) -> sa.types.TypeEngine[Any]:
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def upgrade() -> None:
    op.create_table(
        "rate_limit_hits",
        sa.Column("bucket", key_string(64), nullable=False),
        sa.Column("window_start", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start", name=op.f("pk_rate_limit_hits")),
        **_MYSQL,
    )
    op.create_index(
        "ix_rate_limit_hits_window_start", "rate_limit_hits", ["window_start"], unique=False
    )
    op.create_table(
        "schema_window",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("oldest_compatible", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schema_window")),
        **_MYSQL,
    )


def downgrade() -> None:
    op.drop_table("schema_window")
    op.drop_index("ix_rate_limit_hits_window_start", table_name="rate_limit_hits")
    op.drop_table("rate_limit_hits")
