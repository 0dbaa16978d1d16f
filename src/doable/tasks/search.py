"""Search: `q=` finds the tasks whose title or description contains the text, case folded.

The condition is the same on every backend: the lowered title or description `LIKE` the
lowered text, compared character for character (on MySQL and MariaDB under a binary collation,
so that "cafe" finds what it finds on SQLite and PostgreSQL, not "café"). It stays in every
search; each backend's index only narrows the rows it is checked on, so an index can make a
search faster and never changes its answer:

- PostgreSQL: pg_trgm GIN indexes on `lower(title)` and `lower(description)` (migration
  0003), which the planner uses for the LIKE as it is.
- SQLite: FTS5's trigram index (0003). `candidates` reads up to FTS_MAX_CANDIDATES + 1 of
  the rows that hold the text; when there are no more, the query takes its rows from them.
- MariaDB: `task_grams` (0026), a FULLTEXT index of every task's lowered text cut into
  three-character windows tagged with the owner. `candidates` asks it for the user's tasks
  holding the text's two rarest trigrams of ASCII letters and digits (the windows it is sure to
  hold as words), up to GRAMS_MAX_CANDIDATES + 1 of them.

Above the limit (SQLite's counted over every owner's tasks), walking the owner's tasks in page
order finds a page of matches sooner than fetching and sorting every candidate, and the query
goes without.
"""

from __future__ import annotations

import re
import uuid
import weakref

from sqlalchemy import ColumnElement, Engine, Uuid, column, func, literal_column, or_, select
from sqlalchemy import table as sql_table
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth.models import User
from doable.tasks.models import Task

FTS_MAX_CANDIDATES = 2_000
# MariaDB reads each candidate's row (its index gives no count without them), one random page
# each; so does the query that then reads the candidates' tasks. A walk of the owner's tasks in
# page order instead reads some 50 ÷ (the word's share of them) rows: 5,000 for a word in 1 %,
# which with MariaDB's default 128 MB buffer pool thrashes on every search (225-255 ms at 10k
# to 1M tasks). Up to 1,000 candidates (2,000 rows read at most) the candidates win: a word in
# 1 % of 10k or 100k tasks took 5 and 22 ms. Above, the walk is cheaper, and the probe's 1,001
# rows are spent (some 60 ms at 1M tasks; docs/performance.md, round 14).
# (From 1,000 values MariaDB reads an IN list as a join with a table of them,
# `in_predicate_conversion_threshold`: the 22 ms at 100k tasks were measured so.)
GRAMS_MAX_CANDIDATES = 1000
# A MariaDB candidate holds these many of the search text's trigrams, the rarest ones. The
# index reads every task holding each one (some 7 ms for 12,000 tasks, docs/performance.md,
# round 13), so two rare ones narrow the rows sooner than all of them.
MAX_GRAMS = 2
# How rare each character is in text, by English letter frequency (e commonest); digits
# between.
_RARITY = {c: i for i, c in enumerate("etaoinshrdlcumwfgyp0123456789bvkjxqz")}

_TASKS_FTS = sql_table("tasks_fts", column("rowid"))
_TASK_GRAMS = sql_table("task_grams", column("task_id", Uuid()))
_GRAM = re.compile("[a-z0-9]{3}")
# Whether this database's task_grams can be used, asked once per engine (see _grams_ready).
_grams_ready_by_engine: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def is_binary_compared(dialect: str) -> bool:
    return dialect in ("mysql", "mariadb")


def condition(dialect: str, text: str) -> ColumnElement[bool]:
    """Title or description contains `text` (already lowered), as every backend reads it."""
    pattern = f"%{escape_like(text)}%"
    title: ColumnElement[str] = func.lower(Task.title)
    description: ColumnElement[str] = func.lower(Task.description)
    if is_binary_compared(dialect):
        title, description = title.collate("utf8mb4_bin"), description.collate("utf8mb4_bin")
    return or_(title.like(pattern, escape="\\"), description.like(pattern, escape="\\"))


async def candidates(session: AsyncSession, user: User, text: str) -> ColumnElement[bool] | None:
    """A condition that narrows `user`'s search for `text` (lowered) to the rows that may
    match it, or None when the backend has no index for it or the text matches too many rows."""
    bind = session.get_bind()
    if len(text) < 3:
        return None
    if bind.dialect.name == "sqlite":
        return await _fts_candidates(session, text)
    if getattr(bind.dialect, "is_mariadb", False):
        return await _grams_candidates(session, user, text)
    return None


def _fts_match(text: str) -> ColumnElement[bool]:
    phrase = '"' + text.replace('"', '""') + '"'
    return literal_column("tasks_fts").op("MATCH")(phrase)


async def _fts_candidates(session: AsyncSession, text: str) -> ColumnElement[bool] | None:
    """SQLite: the index folds case at least as widely as the LIKE condition."""
    probe = select(_TASKS_FTS.c.rowid).where(_fts_match(text)).limit(FTS_MAX_CANDIDATES + 1)
    found = (await session.execute(select(func.count()).select_from(probe.subquery()))).scalar()
    if found is None or found > FTS_MAX_CANDIDATES:
        return None
    return literal_column("tasks.rowid").in_(select(_TASKS_FTS.c.rowid).where(_fts_match(text)))


def grams_of(text: str) -> list[str]:
    """The trigrams of `text` that task_grams holds as words for every task containing them
    (three ASCII letters or digits: a window with anything else may be cut apart by the
    index's parser), rarest first by their letters, at most MAX_GRAMS of them."""
    windows = (text[i : i + 3] for i in range(len(text) - 2))
    found = dict.fromkeys(g for g in windows if _GRAM.fullmatch(g))
    return sorted(found, key=lambda g: -sum(_RARITY[c] for c in g))[:MAX_GRAMS]


async def _grams_candidates(
    session: AsyncSession, user: User, text: str
) -> ColumnElement[bool] | None:
    """MariaDB: the user's own tasks holding the text's rarest trigrams. Only for a user no
    project is shared with: the index's words carry the owner's tag, and a member's search
    covers other owners' tasks too (it walks, as before the index).

    InnoDB applies FULLTEXT changes at commit, and reads them as committed, not as of the
    transaction's snapshot: a search in the transaction that wrote a task would not see the
    write (no code does that), and a task whose text another request changes while this
    search runs may be judged by its new text rather than its old one."""
    grams = grams_of(text)
    if not grams or user.shared_projects or not await _grams_ready(session):
        return None
    tag = user.id.hex[:4]
    match = sql_text("MATCH (grams) AGAINST (:against IN BOOLEAN MODE)").bindparams(
        against=" ".join(f"+{g}{tag}" for g in grams)
    )
    probe = select(_TASK_GRAMS.c.task_id).where(match).limit(GRAMS_MAX_CANDIDATES + 1)
    ids: list[uuid.UUID] = list((await session.execute(probe)).scalars())
    if len(ids) > GRAMS_MAX_CANDIDATES:
        return None
    return Task.id.in_(ids)


async def _grams_ready(session: AsyncSession) -> bool:
    """task_grams' index is there (the schema may be a release behind:
    doable.migrations.window) and the server indexes its seven-character words (trigram and
    tag; `innodb_ft_min_token_size` and `_max_`, startup settings, are 3 and 84 unless an
    operator changed them). Asked once per engine: a migration that adds the index later is
    seen after a restart; until then search scans, as before it."""
    engine = session.get_bind().engine
    ready = _grams_ready_by_engine.get(engine)
    if ready is None:
        row = (
            await session.execute(
                sql_text(
                    "SELECT @@innodb_ft_min_token_size <= 7 AND @@innodb_ft_max_token_size >= 7 "
                    "AND EXISTS (SELECT 1 FROM information_schema.statistics "
                    "WHERE table_schema = DATABASE() AND table_name = 'task_grams' "
                    "AND index_name = 'ft_task_grams')"
                )
            )
        ).scalar()
        ready = _grams_ready_by_engine[engine] = bool(row)
    return ready
