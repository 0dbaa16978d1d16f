"""A task's tag names, in tag order, as one column of a page's own statement.

A page of tasks read its tags with a second statement (the page's ids, then every tag row);
that statement and its round trip were a tenth of a list's instructions (issue 19). `TAG_NAMES`
is a correlated subquery instead, one index probe per row like the subtask counts
(`tree.PROGRESS_COLUMNS`), compiled for each backend: PostgreSQL aggregates the names into a
text array (asyncpg decodes it into a list in C), MariaDB into a JSON array
(`JSON_ARRAYAGG ... ORDER BY`), and SQLite into a JSON array over an ordered subquery (its
`json_group_array` takes no ORDER BY before 3.44; it aggregates rows in the order the subquery
gives them). Tags are ordered by `name_key`, as everywhere else.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, String, TypeDecorator, func, literal_column, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from doable.tasks.models import Tag, Task, task_tags


class _NameList(TypeDecorator[list[str]]):
    """What `TAG_NAMES` holds: a list (PostgreSQL), JSON text (MariaDB, SQLite) or NULL."""

    impl = String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            names: list[str] = json.loads(value)
            return names
        return list(value)


class _TagNames(ColumnElement[list[str]]):
    """The tag names of the row's task (`Task.id` of the enclosing statement). It holds no
    state, so its cache key is its class: statements that hold it are compiled once."""

    _traverse_internals: list[Any] = []
    inherit_cache = True
    type = _NameList()


_OF_TASK = (task_tags.join(Tag, Tag.id == task_tags.c.tag_id), task_tags.c.task_id == Task.id)


@compiles(_TagNames, "postgresql")
def _on_postgresql(element: _TagNames, compiler: SQLCompiler, **kw: Any) -> str:
    # Imported here, where PostgreSQL's dialect is loaded already: at the top it would load
    # it (and its four drivers' modules) into every SQLite or MariaDB server.
    from sqlalchemy.dialects.postgresql import aggregate_order_by

    joined, condition = _OF_TASK
    names = (
        select(func.array_agg(aggregate_order_by(Tag.name, Tag.name_key)))
        .select_from(joined)
        .where(condition)
        .correlate(Task)
        .scalar_subquery()
    )
    return compiler.process(names, **kw)


@compiles(_TagNames, "mysql")
@compiles(_TagNames, "mariadb")
def _on_mariadb(element: _TagNames, compiler: SQLCompiler, **kw: Any) -> str:
    joined, condition = _OF_TASK
    name = compiler.process(Tag.__table__.c.name, **kw)
    key = compiler.process(Tag.__table__.c.name_key, **kw)
    names = (
        select(literal_column(f"JSON_ARRAYAGG({name} ORDER BY {key})"))
        .select_from(joined)
        .where(condition)
        .correlate(Task)
        .scalar_subquery()
    )
    return compiler.process(names, **kw)


@compiles(_TagNames)
def _elsewhere(element: _TagNames, compiler: SQLCompiler, **kw: Any) -> str:
    joined, condition = _OF_TASK
    ordered = (
        select(Tag.name.label("name"))
        .select_from(joined)
        .where(condition)
        .order_by(Tag.name_key)
        .correlate(Task)
        .subquery("ordered_tags")
    )
    names = select(func.json_group_array(ordered.c.name)).scalar_subquery()
    return compiler.process(names, **kw)


TAG_NAMES = _TagNames().label("tag_names")
