"""What a trash row holds: the deleted rows of each table, as JSON, and how to put them back.

A snapshot is `{"version": 1, "tables": {table name: [row, …]}, "tags": {task id: [names]}}`.
Rows are written column by column (UUIDs, dates and times as ISO text) and read back by the
table's current columns, so a column added later is simply absent from older snapshots (and
takes its default). Which tables hang off a task or a project is a registry: a package that
adds such a table (say, comments) registers it, and deleting and restoring carry its rows
with no other change here.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.types import TypeDecorator

VERSION = 1

# Tables whose rows belong to one task (a `task_id` column), and to one project (`project_id`):
# snapshotted with it, deleted with it (by its foreign keys or its service), restored after it.
TASK_TABLES: list[Table] = []
PROJECT_TABLES: list[Table] = []


def register_task_table(table: Table) -> None:
    if table not in TASK_TABLES:
        TASK_TABLES.append(table)


def register_project_table(table: Table) -> None:
    if table not in PROJECT_TABLES:
        PROJECT_TABLES.append(table)


def _to_json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _python_type(column: Any) -> type | None:
    kind = column.type
    if isinstance(kind, TypeDecorator):  # UTCDateTime says `object`; its impl knows
        kind = kind.impl_instance
    try:
        found: type = kind.python_type
    except NotImplementedError:
        return None
    return found


def _from_json(column: Any, value: Any) -> Any:
    if value is None:
        return None
    kind = _python_type(column)
    if kind is uuid.UUID:
        return uuid.UUID(value)
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    if kind is bool:
        return bool(value)
    return value


def encode_rows(table: Table, rows: list[Any]) -> list[dict[str, Any]]:
    return [{c.name: _to_json(row._mapping[c]) for c in table.columns} for row in rows]


def decode_rows(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {c.name: _from_json(c, row[c.name]) for c in table.columns if c.name in row} for row in rows
    ]


class Snapshot:
    """The rows of one deletion, by table name."""

    def __init__(
        self,
        tables: dict[str, list[dict[str, Any]]] | None = None,
        tags: dict[str, list[str]] | None = None,
    ) -> None:
        self.tables = tables or {}
        self.tags = tags or {}

    def add(self, table: Table, rows: list[Any]) -> None:
        if rows:
            self.tables.setdefault(table.name, []).extend(encode_rows(table, rows))

    def rows(self, table: Table) -> list[dict[str, Any]]:
        return decode_rows(table, self.tables.get(table.name, []))

    def dumps(self) -> str:
        body = {"version": VERSION, "tables": self.tables, "tags": self.tags}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> Snapshot:
        body = json.loads(text)
        return cls(body.get("tables", {}), body.get("tags", {}))
