"""recurrence

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

- `tasks.rrule` and `tasks.recurrence_mode`: a task's RFC 5545 RRULE value and whether the next
  occurrence counts from the due (`from_due`) or from the completion (`from_completion`).
- `task_completions`: one row per completed occurrence of a recurring task (the due it was for,
  as a date or an instant like the task's own due, and when it was completed).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def utc_datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy on SQLite): recreating `tasks` would drop the search
    # triggers of 0003.
    op.add_column("tasks", sa.Column("rrule", sa.String(length=500), nullable=True))
    op.add_column("tasks", sa.Column("recurrence_mode", sa.String(length=16), nullable=True))

    op.create_table(
        "task_completions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("occurrence_date", sa.Date(), nullable=True),
        sa.Column("occurrence_at", utc_datetime(), nullable=True),
        sa.Column("completed_at", utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_task_completions_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_task_completions_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_completions")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        "ix_task_completions_task_completed",
        "task_completions",
        ["task_id", "completed_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("task_completions")
    op.drop_column("tasks", "recurrence_mode")  # SQLite 3.35+ drops columns in place
    op.drop_column("tasks", "rrule")
