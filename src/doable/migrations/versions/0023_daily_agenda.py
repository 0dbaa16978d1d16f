"""daily agenda email

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06

- `notification_channels.agenda`: whether the user gets a daily agenda email (default off).
- `notification_channels.agenda_time`: its local time of day, "HH:MM" in the user's zone.
- `notification_channels.agenda_next_at`: the UTC instant it is next due (NULL while off),
  indexed: the sender claims due rows by it, as the scheduler claims reminders by fire_at.
- `notification_channels.agenda_last_day`: the user's local day it was last sent for, so one
  day never gets two, whatever the time is changed to.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Expand/contract (doable.migrations.window): new columns with server defaults or NULL,
# which the release before this one never reads nor writes.
previous_release_compatible = True


def utc_datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.add_column(
        "notification_channels",
        sa.Column("agenda", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "notification_channels",
        sa.Column("agenda_time", sa.String(length=5), nullable=False, server_default="07:00"),
    )
    op.add_column(
        "notification_channels", sa.Column("agenda_next_at", utc_datetime(), nullable=True)
    )
    op.add_column("notification_channels", sa.Column("agenda_last_day", sa.Date(), nullable=True))
    op.create_index(
        "ix_notification_channels_agenda_next_at", "notification_channels", ["agenda_next_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_notification_channels_agenda_next_at", table_name="notification_channels")
    for column in ("agenda_last_day", "agenda_next_at", "agenda_time", "agenda"):
        op.drop_column("notification_channels", column)  # SQLite 3.35+ drops columns in place
