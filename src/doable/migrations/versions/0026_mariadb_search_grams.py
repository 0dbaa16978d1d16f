"""MariaDB: a FULLTEXT index of every task's three-letter pieces, for search

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07

`q=` is a substring match. SQLite (FTS5's trigram tokenizer) and PostgreSQL (pg_trgm) have had
an index for it since 0003; MariaDB's FULLTEXT matches whole words, so a search read every one
of the owner's tasks: over 5 s at 1M tasks (docs/performance.md, round 13).

`task_grams` holds, per task, the lowered title and description cut into three-character
windows at each of the three offsets, each window followed by the owner's tag (the first four
hex digits of `owner_id`) and a space: "call the" of an owner whose id starts with 3b34 gives
"cal3b34 l t3b34 he", "all3b34  th3b34 e" and "ll 3b34 the3b34 ". The FULLTEXT index over it
is built with no stopwords. A window of letters and digits makes one seven-character word with
the tag ("cal3b34", "all3b34", "the3b34"), so the index finds every task of that owner that
contains a given trigram of lowercase ASCII letters and digits (and a few of owners sharing
the tag); a window with a space or a sign in it falls apart into other, shorter pieces. The
tag keeps one owner's search from reading every other owner's matches. The search
(tasks/search.py) asks for the tasks holding such trigrams of the search text and keeps its
LIKE, so the index narrows the rows and never changes the answer.

Triggers keep it in step with every write, whichever code or release makes it: an insert
copies the text in; an update that changes the title or the description (byte for byte), or
the owner, copies it again; a task deleted takes its row along (foreign key, ON DELETE
CASCADE, which needs no trigger). The triggers go in before the backfill, and every copy is an
upsert, so a write during the backfill is neither lost nor doubled.

Only MariaDB: MySQL 8 writes REGEXP_REPLACE's back-references differently, and it has its own
n-gram parser; there the migration does nothing and search scans as before.
"""

# ruff: noqa: S608 (fixed SQL built from the names below; nothing from outside)

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Expand/contract (doable.migrations.window): the release before never reads the table, and
# the triggers keep it whole while that release writes.
previous_release_compatible = True


def grams(row: str) -> str:
    """The windows of the lowered text at offsets 0, 1 and 2, each followed by the owner's tag
    and a space; a newline between title and description, so a window that spans the two has
    a newline in it and makes no word."""
    text = f"LOWER(CONCAT({row}title, CHAR(10 USING utf8mb4), {row}description))"
    tag = f"LEFT(REPLACE({row}owner_id, '-', ''), 4)"
    # No backslash in a literal: the server's sql_mode may have NO_BACKSLASH_ESCAPES.
    cut = f"'(?s)(...)', CONCAT(CHAR(92 USING utf8mb4), '1', {tag}, ' ')"
    return (
        f"CONCAT_WS(' ', REGEXP_REPLACE({text}, {cut}), "
        f"REGEXP_REPLACE(SUBSTRING({text}, 2), {cut}), "
        f"REGEXP_REPLACE(SUBSTRING({text}, 3), {cut}))"
    )


UPSERT = (
    "INSERT INTO task_grams (task_id, grams) VALUES (NEW.id, {grams}) "
    "ON DUPLICATE KEY UPDATE grams = VALUES(grams)"
)
MARIADB_UP = [
    "CREATE TRIGGER task_grams_insert AFTER INSERT ON tasks FOR EACH ROW "
    + UPSERT.format(grams=grams("NEW.")),
    "CREATE TRIGGER task_grams_update AFTER UPDATE ON tasks FOR EACH ROW BEGIN "
    "IF NOT (BINARY NEW.title <=> BINARY OLD.title "
    "AND BINARY NEW.description <=> BINARY OLD.description "
    "AND NEW.owner_id <=> OLD.owner_id) THEN "
    + UPSERT.format(grams=grams("NEW."))
    + "; END IF; END",
    # Tasks the triggers have not copied yet; one already there is the newer.
    f"INSERT IGNORE INTO task_grams (task_id, grams) SELECT id, {grams('')} FROM tasks",
    # Stopwords off while the index is built (the list is read then and kept with the index):
    # no word of ours is one of InnoDB's, but a server's own list could hold anything.
    "SET @doable_stopwords = @@SESSION.innodb_ft_enable_stopword",
    "SET SESSION innodb_ft_enable_stopword = OFF",
    # Built in one pass after the backfill (74 s with it for 1.24M tasks, docs/performance.md,
    # round 13); MariaDB builds a FULLTEXT index with LOCK=SHARED only, so until it is done
    # a write to a task waits for it (the insert trigger is in place): see docs/operations.md.
    "ALTER TABLE task_grams ADD FULLTEXT INDEX ft_task_grams (grams)",
    "SET SESSION innodb_ft_enable_stopword = @doable_stopwords",
]
MARIADB_DOWN = [
    "DROP TRIGGER IF EXISTS task_grams_update",
    "DROP TRIGGER IF EXISTS task_grams_insert",
    "DROP TABLE IF EXISTS task_grams",
]


def _is_mariadb() -> bool:
    dialect = op.get_bind().dialect
    return dialect.name in ("mysql", "mariadb") and bool(getattr(dialect, "is_mariadb", False))


def upgrade() -> None:
    if not _is_mariadb():
        return
    # MariaDB commits each DDL statement: start clean after a run that failed halfway.
    for statement in MARIADB_DOWN:
        op.execute(statement)
    op.create_table(
        "task_grams",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        # Binary: the index compares the pieces byte for byte, as the search's LIKE does.
        sa.Column(
            "grams", mysql.LONGTEXT(charset="utf8mb4", collation="utf8mb4_bin"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_grams_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_grams")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    for statement in MARIADB_UP:
        op.execute(statement)


def downgrade() -> None:
    if _is_mariadb():
        for statement in MARIADB_DOWN:
            op.execute(statement)
