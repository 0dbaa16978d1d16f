"""comments on tasks, and per-project mutes

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

- `comments`: a task's comments (plain text as typed), by author, with when each was written
  and last edited. Keyed for one task's thread in order, (task_id, created_at, id). The task's
  foreign key cascades (the services delete comments with their tasks too); the author's sets
  NULL, so a deleted account's comments stay, without an author.
- `project_mutes`: (project, user) pairs: that user hears nothing from that project
  (assignments, comments, mentions). Both foreign keys cascade.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Expand/contract (doable.migrations.window): two new tables, which the release before this
# migration does not read, so it can still serve the schema.
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
        "comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("edited_at", utc_datetime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_comments_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_comments_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
        **TABLE_KW,
    )
    op.create_index("ix_comments_task_created", "comments", ["task_id", "created_at", "id"])
    op.create_table(
        "project_mutes",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_mutes_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_project_mutes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "user_id", name=op.f("pk_project_mutes")),
        **TABLE_KW,
    )


def downgrade() -> None:
    op.drop_table("project_mutes")
    op.drop_table("comments")  # with its index
