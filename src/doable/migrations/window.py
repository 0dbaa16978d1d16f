"""Expand/contract: which older releases can still serve the schema a migration leaves.

Each migration after those in `LANDED` says so itself, in a module-level
`previous_release_compatible`: True when the release before it (whose newest migration is its
`down_revision`) keeps working on the schema it leaves (it adds tables or nullable columns,
which that release never reads), False when it contracts (drops, renames, retypes) or changes
what the rows mean. The migrations that landed before this module cannot be edited, so their
answers are in `LANDED` below.

After every upgrade `doable migrate` writes the oldest compatible revision into `schema_window`:
an older binary cannot read the declarations of migrations it does not ship, but it can read
that row, and keeps serving while its own newest revision is inside the window.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Table, delete, insert, inspect

LANDED: dict[str, bool] = {
    "0001": False,  # the first schema: nothing older runs on it
    "0002": True,  # a new table (web sessions)
    "0003": True,  # search indexes and triggers that maintain themselves
    "0004": True,  # new tables (API tokens, idempotency keys)
    # Recurrence: the older release would complete a repeating task without its next one.
    "0005": False,
    # Reminders: the older release would change due times without rescheduling reminders.
    "0006": False,
    "0007": True,  # a new table (external identities)
    "0008": True,  # a new table (calendar feeds)
    # Staged import batches: the older release would show an import's tasks before it ends.
    "0009": False,
    # Projects (on main, landed before this table): the older release would create tasks
    # without the project that the newer one requires of every task.
    "0010": False,
}


def _chain(connection: Connection | None = None) -> dict[str, tuple[str | None, bool]]:
    """Each revision this build ships: its parent and whether its parent's release can serve it."""
    from alembic.script import ScriptDirectory

    from doable.migrations import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config(connection))
    chain: dict[str, tuple[str | None, bool]] = {}
    for script in scripts.walk_revisions():
        module: Any = script.module
        declared = getattr(module, "previous_release_compatible", None)
        if declared is None:
            # Undeclared counts as a contract step: the window never widens by mistake
            # (tests/test_schema_window.py requires a declaration of every migration).
            declared = LANDED.get(script.revision, False)
        down = script.down_revision
        chain[script.revision] = (down if isinstance(down, str) else None, bool(declared))
    return chain


def oldest_compatible(revision: str) -> str:
    """The oldest revision whose release can serve a schema at `revision`."""
    chain = _chain()
    oldest = revision
    while True:
        down, compatible = chain[oldest]
        if not compatible or down is None:
            return oldest
        oldest = down


def write_window(connection: Connection, revision: str | None) -> None:
    """Record the window of `revision` (the schema just migrated to), where the table exists."""
    from doable.ops.models import SchemaWindow

    if revision is None or not inspect(connection).has_table(SchemaWindow.__tablename__):
        return
    table = cast(Table, SchemaWindow.__table__)
    connection.execute(delete(table))
    connection.execute(insert(table).values(id=1, oldest_compatible=oldest_compatible(revision)))
