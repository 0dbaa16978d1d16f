"""events across processes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

- `event_relay`: envelopes of events for the processes that poll for them (SQLite with several
  workers, MariaDB; PostgreSQL uses LISTEN/NOTIFY and leaves it empty). Short-lived rows.
- `stream_leases`: one row per open event stream, renewed by the process serving it and
  expiring when that process dies: the per-account cap on streams across processes.
Both are new tables: nothing existing is touched, and the previous release runs on this schema.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Expand/contract (doable.migrations.window): the release before this migration can still
# serve the schema it leaves (two new tables it never reads).
previous_release_compatible = True

MYSQL_KW: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def utc_datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "event_relay",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_relay")),
        sqlite_autoincrement=True,
        **MYSQL_KW,
    )
    op.create_index("ix_event_relay_created_at", "event_relay", ["created_at"])
    op.create_table(
        "stream_leases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_stream_leases_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_leases")),
        **MYSQL_KW,
    )
    op.create_index("ix_stream_leases_owner_id", "stream_leases", ["owner_id", "expires_at"])


def downgrade() -> None:
    op.drop_table("stream_leases")
    op.drop_table("event_relay")
