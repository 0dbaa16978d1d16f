"""activity log and trash

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06

- `activity`: an append-only log of who did what to a project and its tasks, written in the
  transaction of the change (activity/). Keyed for newest-first keyset pages per project and
  per task. It cascades with its project: a trashed project's activity goes into the trash
  with it (its snapshot holds the rows) and comes back on restore. `task_id` and `actor_id`
  have no foreign keys: a deleted task's history stays with its project, and a deleted
  account's actions stay, shown as by "someone".
- `trash`: what was deleted in the last TRASH_DAYS days, one row per deletion, its rows kept
  as a JSON snapshot (MEDIUMTEXT on MariaDB, as webhook payloads: a project can hold
  thousands of tasks). The live tables are untouched: every hot query stays as it was.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Expand/contract (doable.migrations.window): two new tables, which the release before this
# one never reads; it deletes for good rather than into the trash.
previous_release_compatible = True

TABLE_KW: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}


def utc_datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "activity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_activity_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity")),
        **TABLE_KW,
    )
    op.create_index("ix_activity_project_created", "activity", ["project_id", "created_at", "id"])
    op.create_index("ix_activity_task_created", "activity", ["task_id", "created_at", "id"])
    op.create_table(
        "trash",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column(
            "payload",
            sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("deleted_by", sa.Uuid(), nullable=True),
        sa.Column("deleted_at", utc_datetime(), nullable=False),
        sa.Column("purge_after", utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_trash_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trash")),
        **TABLE_KW,
    )
    op.create_index("ix_trash_owner_deleted", "trash", ["owner_id", "deleted_at", "id"])
    op.create_index("ix_trash_project_deleted", "trash", ["project_id", "deleted_at", "id"])
    op.create_index("ix_trash_purge_after", "trash", ["purge_after"])


def downgrade() -> None:
    op.drop_table("trash")
    op.drop_table("activity")
