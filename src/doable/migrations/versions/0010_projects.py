"""projects, sections, subtasks and manual order

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

- `projects` (with one Inbox per user, marked by `inbox_owner_id`) and `sections`.
- `tasks.project_id`, `section_id`, `parent_id` and `position`.
- Every existing user gets an Inbox, and every existing task moves into its owner's Inbox, in
  its creation order: positions are the task's rank among its owner's tasks, zero-padded, plus
  a "v" (positions never end in "0": doable/positions.py). One statement per step, so a
  populated database migrates in a few statements, not one per task.
- The three new task columns carry no foreign keys: SQLite cannot add one to a populated table
  without rebuilding `tasks` (and its search triggers), nor drop such a column again, and with
  foreign keys on, rebuilding `tasks` would cascade-delete its tags, reminders and completions.
  The services keep them whole instead: deleting a project deletes its tasks, deleting a task
  its subtree, deleting a section moves its tasks out of it, each under the project's row lock.
  `tasks.project_id` stays nullable for the same reason; services always set it.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL_KW: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}

POSITIONS = {
    "postgresql": (
        "UPDATE tasks SET position = lpad(s.rn::text, 10, '0') || 'v' "
        "FROM (SELECT id, row_number() OVER "
        "(PARTITION BY owner_id ORDER BY created_at, id) AS rn FROM tasks) AS s "
        "WHERE s.id = tasks.id"
    ),
    "sqlite": (
        "UPDATE tasks SET position = substr('0000000000' || s.rn, -10) || 'v' "
        "FROM (SELECT id, row_number() OVER "
        "(PARTITION BY owner_id ORDER BY created_at, id) AS rn FROM tasks) AS s "
        "WHERE s.id = tasks.id"
    ),
    "mysql": (
        "UPDATE tasks t JOIN (SELECT id, row_number() OVER "
        "(PARTITION BY owner_id ORDER BY created_at, id) AS rn FROM tasks) s ON s.id = t.id "
        "SET t.position = CONCAT(LPAD(s.rn, 10, '0'), 'v')"
    ),
}


def utc_datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def key_string(length: int) -> sa.types.TypeEngine[Any]:
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("color", sa.String(length=16), nullable=False),
        sa.Column("favorite", sa.Boolean(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("inbox_owner_id", sa.Uuid(), nullable=True),
        sa.Column("position", key_string(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("updated_at", utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_projects_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        **MYSQL_KW,
    )
    op.create_index(
        "ix_projects_owner_position", "projects", ["owner_id", "position", "id"], unique=False
    )
    op.create_index("uq_projects_inbox_owner", "projects", ["inbox_owner_id"], unique=True)
    op.create_table(
        "sections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("position", key_string(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("updated_at", utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_sections_owner_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_sections_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sections")),
        **MYSQL_KW,
    )
    op.create_index(
        "ix_sections_project_position", "sections", ["project_id", "position", "id"], unique=False
    )
    op.create_index("ix_sections_owner_id", "sections", ["owner_id"], unique=False)

    with op.batch_alter_table("tasks", recreate="never") as batch:
        batch.add_column(sa.Column("project_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("section_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("parent_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("position", key_string(64), server_default="", nullable=False))

    bind = op.get_bind()
    # An Inbox for every existing user.
    projects = sa.table(
        "projects",
        sa.column("id", sa.Uuid()),
        sa.column("owner_id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("color", sa.String()),
        sa.column("favorite", sa.Boolean()),
        sa.column("archived", sa.Boolean()),
        sa.column("inbox_owner_id", sa.Uuid()),
        sa.column("position", sa.String()),
        sa.column("version", sa.Integer()),
        sa.column("created_at", sa.DateTime()),
        sa.column("updated_at", sa.DateTime()),
    )
    users = sa.table("users", sa.column("id", sa.Uuid()))
    now = datetime.now(UTC).replace(tzinfo=None)
    user_ids = [row[0] for row in bind.execute(sa.select(users.c.id))]
    for start in range(0, len(user_ids), 1000):
        op.bulk_insert(
            projects,
            [
                {
                    "id": uuid.uuid4(),
                    "owner_id": user_id,
                    "name": "Inbox",
                    "color": "grey",
                    "favorite": False,
                    "archived": False,
                    "inbox_owner_id": user_id,
                    "position": "i",
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for user_id in user_ids[start : start + 1000]
            ],
        )
    # Every task into its owner's Inbox, in creation order.
    op.execute(
        "UPDATE tasks SET project_id = "
        "(SELECT projects.id FROM projects WHERE projects.inbox_owner_id = tasks.owner_id)"
    )
    dialect = "mysql" if bind.dialect.name in {"mysql", "mariadb"} else bind.dialect.name
    op.execute(POSITIONS[dialect])

    op.create_index(
        "ix_tasks_project_position", "tasks", ["project_id", "position", "id"], unique=False
    )
    op.create_index("ix_tasks_section_id", "tasks", ["section_id"], unique=False)
    op.create_index("ix_tasks_parent_position", "tasks", ["parent_id", "position"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tasks_parent_position", table_name="tasks")
    op.drop_index("ix_tasks_section_id", table_name="tasks")
    op.drop_index("ix_tasks_project_position", table_name="tasks")
    for column in ("position", "parent_id", "section_id", "project_id"):
        op.drop_column("tasks", column)  # SQLite 3.35+ drops columns in place
    op.drop_table("sections")
    op.drop_table("projects")
