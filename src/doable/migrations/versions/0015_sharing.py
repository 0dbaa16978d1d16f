"""shared projects: members, assignees, who created a task

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

- `project_members`: the users a project is shared with and their role (viewer, editor or
  admin). The owner is `projects.owner_id` and has no row here. Keyed by (project, user), with
  an index on (user, project): "which projects is this user a member of" is one index range.
- `users.shared_projects`: how many rows of `project_members` the user has. Zero for almost
  everyone, and then every task query is scoped by `owner_id` alone, as before
  (projects/access.py); the counter is recounted from the table whenever membership changes.
- `tasks.assignee_id` (one member of the task's project, or NULL) and `tasks.created_by` (who
  made it; NULL for tasks made before this migration, which their owner made). No foreign keys,
  as on the task columns of 0010: the services keep them whole.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Expand/contract (doable.migrations.window): the release before this migration can still
# serve the schema it leaves (a new table, nullable columns and a counter with a default, none
# of which it reads). It shows members nothing of projects shared with them meanwhile.
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
        "project_members",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_members_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_project_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "user_id", name=op.f("pk_project_members")),
        **TABLE_KW,
    )
    op.create_index("ix_project_members_user", "project_members", ["user_id", "project_id"])
    # Added in place on every backend (never a table rebuild: rows of other tables cascade
    # from `users`).
    op.add_column(
        "users", sa.Column("shared_projects", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("tasks", sa.Column("assignee_id", sa.Uuid(), nullable=True))
    op.add_column("tasks", sa.Column("created_by", sa.Uuid(), nullable=True))
    op.create_index("ix_tasks_assignee_due", "tasks", ["assignee_id", "due_sort", "id"])


def downgrade() -> None:
    op.drop_index("ix_tasks_assignee_due", table_name="tasks")
    op.drop_column("tasks", "created_by")
    op.drop_column("tasks", "assignee_id")
    op.drop_column("users", "shared_projects")  # SQLite 3.35+ drops columns in place
    op.drop_table("project_members")  # with its index (MariaDB's foreign keys need it)
