"""task_views: an index of shared tasks per member

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06

A member of many shared projects must get a page of "all my tasks, newest first" as fast as
someone with one project. The owner-first indexes of `tasks` cannot give that: the member's
visible tasks lie in as many index ranges as the projects have owners, and a page needed all of
them read and sorted (5.7x a solo user's time at 10k tasks, and growing with the count).

`task_views` holds one row per (member, task of a project shared with them) with the task's
sort keys, and an index per sort key that starts with the member. A page is then two short index
walks (own tasks by `tasks`' indexes, shared ones by these) merged; projects/access.py and
tasks/listing.py use it. The table is only an index: every read still applies the membership
condition to `tasks`, so a row it holds wrongly shows nothing, and one it misses shows less.

Triggers keep it in step with every write, whichever code (or release) makes it:
- a task inserted into, or moved to, a shared project gets a row per member;
- a change of a sort key (created_at, updated_at, due_sort, priority) updates the rows;
- a membership added copies the project's tasks in; one removed takes them out;
- a task or user deleted takes its rows with it (foreign keys, ON DELETE CASCADE; MariaDB
  fires no triggers for cascaded deletes, so no trigger is needed for those).

Owners have no rows: their own tasks are read from `tasks` as before, so a user nobody shares
with costs nothing here. Writes to an unshared task cost one primary-key probe of an empty range.
"""

# ruff: noqa: S608 (fixed SQL built from the names below; nothing from outside)

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Expand/contract (doable.migrations.window): the release before this one never reads the
# table, and the triggers keep it whole while that release writes.
previous_release_compatible = True

TABLE_KW: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}

KEYS = ("created_at", "updated_at", "due_sort", "priority")
COLUMNS = "user_id, task_id, project_id, created_at, updated_at, due_sort, priority"


def _from_task(row: str, user: str) -> str:
    return (
        f"{user}, {row}.id, {row}.project_id, {row}.created_at, {row}.updated_at, "
        f"{row}.due_sort, {row}.priority"
    )


# Every copy is an upsert: a row already there (left by a hand edit, or by a write between
# the triggers going live and the backfill) is brought up to date rather than failing the write.
_UPSERT = {
    "sqlite": ("INSERT OR REPLACE INTO", ""),
    "postgresql": (
        "INSERT INTO",
        " ON CONFLICT (task_id, user_id) DO UPDATE SET project_id = EXCLUDED.project_id, "
        + ", ".join(f"{k} = EXCLUDED.{k}" for k in KEYS),
    ),
    "mysql": (
        "INSERT INTO",
        " ON DUPLICATE KEY UPDATE project_id = VALUES(project_id), "
        + ", ".join(f"{k} = VALUES({k})" for k in KEYS),
    ),
}


def _upsert(dialect: str, select_sql: str) -> str:
    insert, conflict = _UPSERT[dialect]
    return f"{insert} task_views ({COLUMNS}) {select_sql}{conflict}"


def _copy_task(row: str, dialect: str) -> str:
    """Rows for each member of the task's project (SQL with the task as `row`)."""
    return _upsert(
        dialect,
        f"SELECT {_from_task(row, 'm.user_id')} "
        f"FROM project_members m WHERE m.project_id = {row}.project_id",
    )


def _copy_project(row: str, dialect: str) -> str:
    """Rows for a new membership `row`: every task of its project. On PostgreSQL the tasks
    are read FOR SHARE: a concurrent edit of one (which locks only the task) would otherwise
    update no row of this uncommitted membership and leave its copy stale, and a concurrent
    delete would fail the membership on the foreign key. MariaDB's INSERT ... SELECT waits on
    the row locks by itself; SQLite has one writer."""
    lock = " FOR SHARE OF t" if dialect == "postgresql" else ""
    return _upsert(
        dialect,
        f"SELECT {_from_task('t', f'{row}.user_id')} "
        f"FROM tasks t WHERE t.project_id = {row}.project_id{lock}",
    )


def _drop_project(row: str) -> str:
    return f"DELETE FROM task_views WHERE user_id = {row}.user_id AND project_id = {row}.project_id"


SET_KEYS = ", ".join(f"{k} = NEW.{k}" for k in KEYS)

SQLITE_UP = [
    "CREATE TRIGGER task_views_task_insert AFTER INSERT ON tasks "
    f"WHEN NEW.project_id IS NOT NULL BEGIN {_copy_task('NEW', 'sqlite')}; END",
    "CREATE TRIGGER task_views_task_move AFTER UPDATE OF project_id ON tasks "
    "WHEN NEW.project_id IS NOT OLD.project_id BEGIN "
    f"DELETE FROM task_views WHERE task_id = OLD.id; {_copy_task('NEW', 'sqlite')}; END",
    f"CREATE TRIGGER task_views_task_keys AFTER UPDATE OF {', '.join(KEYS)} ON tasks "
    "WHEN NEW.project_id IS OLD.project_id BEGIN "
    f"UPDATE task_views SET {SET_KEYS} WHERE task_id = NEW.id; END",
    "CREATE TRIGGER task_views_task_delete AFTER DELETE ON tasks BEGIN "
    "DELETE FROM task_views WHERE task_id = OLD.id; END",
    "CREATE TRIGGER task_views_member_insert AFTER INSERT ON project_members BEGIN "
    f"{_copy_project('NEW', 'sqlite')}; END",
    "CREATE TRIGGER task_views_member_delete AFTER DELETE ON project_members BEGIN "
    f"{_drop_project('OLD')}; END",
    "CREATE TRIGGER task_views_member_update AFTER UPDATE OF project_id, user_id "
    "ON project_members BEGIN "
    f"{_drop_project('OLD')}; {_copy_project('NEW', 'sqlite')}; END",
]
SQLITE_DOWN = [
    f"DROP TRIGGER IF EXISTS task_views_{name}"
    for name in (
        "task_insert",
        "task_move",
        "task_keys",
        "task_delete",
        "member_insert",
        "member_delete",
        "member_update",
    )
]

KEYS_CHANGED_PG = " OR ".join(f"NEW.{k} IS DISTINCT FROM OLD.{k}" for k in KEYS)
POSTGRES_UP = [
    "CREATE OR REPLACE FUNCTION task_views_on_task() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN "
    "IF TG_OP = 'INSERT' THEN "
    f"  IF NEW.project_id IS NOT NULL THEN {_copy_task('NEW', 'postgresql')}; END IF; "
    "ELSIF NEW.project_id IS DISTINCT FROM OLD.project_id THEN "
    f"  DELETE FROM task_views WHERE task_id = OLD.id; {_copy_task('NEW', 'postgresql')}; "
    f"ELSIF {KEYS_CHANGED_PG} THEN "
    f"  UPDATE task_views SET {SET_KEYS} WHERE task_id = NEW.id; "
    "END IF; RETURN NULL; END $$",
    "CREATE TRIGGER task_views_task AFTER INSERT OR UPDATE ON tasks "
    "FOR EACH ROW EXECUTE FUNCTION task_views_on_task()",
    "CREATE OR REPLACE FUNCTION task_views_on_member() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN "
    "IF TG_OP = 'INSERT' THEN "
    f"  {_copy_project('NEW', 'postgresql')}; "
    "ELSIF TG_OP = 'DELETE' THEN "
    f"  {_drop_project('OLD')}; "
    "ELSIF NEW.project_id IS DISTINCT FROM OLD.project_id "
    "   OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN "
    f"  {_drop_project('OLD')}; {_copy_project('NEW', 'postgresql')}; "
    "END IF; RETURN NULL; END $$",
    "CREATE TRIGGER task_views_member AFTER INSERT OR UPDATE OR DELETE ON project_members "
    "FOR EACH ROW EXECUTE FUNCTION task_views_on_member()",
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS task_views_member ON project_members",
    "DROP TRIGGER IF EXISTS task_views_task ON tasks",
    "DROP FUNCTION IF EXISTS task_views_on_member()",
    "DROP FUNCTION IF EXISTS task_views_on_task()",
]

KEYS_CHANGED_MY = " OR ".join(f"NOT (NEW.{k} <=> OLD.{k})" for k in KEYS)
MYSQL_UP = [
    "CREATE TRIGGER task_views_task_insert AFTER INSERT ON tasks FOR EACH ROW BEGIN "
    f"IF NEW.project_id IS NOT NULL THEN {_copy_task('NEW', 'mysql')}; END IF; END",
    "CREATE TRIGGER task_views_task_update AFTER UPDATE ON tasks FOR EACH ROW BEGIN "
    "IF NOT (NEW.project_id <=> OLD.project_id) THEN "
    f"  DELETE FROM task_views WHERE task_id = OLD.id; {_copy_task('NEW', 'mysql')}; "
    f"ELSEIF {KEYS_CHANGED_MY} THEN "
    f"  UPDATE task_views SET {SET_KEYS} WHERE task_id = NEW.id; "
    "END IF; END",
    "CREATE TRIGGER task_views_member_insert AFTER INSERT ON project_members FOR EACH ROW "
    f"BEGIN {_copy_project('NEW', 'mysql')}; END",
    "CREATE TRIGGER task_views_member_delete AFTER DELETE ON project_members FOR EACH ROW "
    f"BEGIN {_drop_project('OLD')}; END",
    "CREATE TRIGGER task_views_member_update AFTER UPDATE ON project_members FOR EACH ROW "
    "BEGIN IF NOT (NEW.project_id <=> OLD.project_id AND NEW.user_id <=> OLD.user_id) THEN "
    f"{_drop_project('OLD')}; {_copy_project('NEW', 'mysql')}; END IF; END",
]
MYSQL_DOWN = [
    f"DROP TRIGGER IF EXISTS task_views_{name}"
    for name in ("task_insert", "task_update", "member_insert", "member_delete", "member_update")
]


def utc_datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    name = op.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        # MariaDB commits each DDL statement: a run that failed halfway (say, CREATE TRIGGER
        # refused for lack of privilege; docs/operations.md) left these behind. Start clean.
        for statement in MYSQL_DOWN:
            op.execute(statement)
        op.execute("DROP TABLE IF EXISTS task_views")
    op.create_table(
        "task_views",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("updated_at", utc_datetime(), nullable=False),
        sa.Column("due_sort", utc_datetime(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_views_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_task_views_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "user_id", name=op.f("pk_task_views")),
        **TABLE_KW,
    )
    for key, column in (
        ("created", "created_at"),
        ("updated", "updated_at"),
        ("due", "due_sort"),
        ("priority", "priority"),
    ):
        op.create_index(f"ix_task_views_user_{key}", "task_views", ["user_id", column, "task_id"])
    op.create_index("ix_task_views_user_project", "task_views", ["user_id", "project_id"])
    for statement in {"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}.get(name, MYSQL_UP):
        op.execute(statement)
    # The memberships made before this migration, after the triggers are live (so no write
    # falls between): an upsert, as a write since the triggers may have copied some already.
    op.execute(
        _upsert(
            name if name in _UPSERT else "mysql",
            f"SELECT {_from_task('t', 'm.user_id')} "
            "FROM project_members m JOIN tasks t ON t.project_id = m.project_id",
        )
    )


def downgrade() -> None:
    name = op.get_bind().dialect.name
    statements = {"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}.get(name, MYSQL_DOWN)
    for statement in statements:
        op.execute(statement)
    op.drop_table("task_views")  # with its indexes
