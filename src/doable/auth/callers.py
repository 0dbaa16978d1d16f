"""Callers' rows, remembered for a moment: a read (GET or HEAD) by access token reuses the
user's row that an earlier request of this process read, for up to CALLER_CACHE_SECONDS.

Every request by access token reads its user's row (the token's version, whether the account
is disabled, and what the services need of the user). A client that makes several reads in a
row, as the web app and scripts do, pays that statement each time; it was a third of a task's
GET (docs/performance.md, round 10).

What keeps a remembered row true:
- Only reads use it. A write reads the row afresh, in its own transaction: what the webhook
  outbox and the sharing checks rely on, and a revoked token cannot change anything.
- A change to a user's row forgets it at once in this process: the ORM's flush (a password
  change bumps the token version, a disable, a profile edit), and any UPDATE or DELETE of the
  users table run through a session (of one user's row by `WHERE users.id = …`, else of every
  row). A row read before the change but offered after it is refused (the generation below).
- A remembered row that refuses the token (older than the token's version, or disabled) is
  read again before the 401: the change that made the token may have come from another
  process whose event has not arrived yet.
- Other processes forget it when the change's `user` event reaches them through the relay
  (doable.relay), as task events do. Should the relay lose events, every row is forgotten; a
  change it never carries (a CLI command, SQL by hand) holds for at most the cache's seconds.
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import BinaryExpression, BindParameter, event
from sqlalchemy.orm import ORMExecuteState, Session, make_transient_to_detached, object_session
from sqlalchemy.sql import operators

from doable import events
from doable.auth.models import User

# Remembered rows per process, at most: past it the oldest go first.
MAX_ROWS = 10_000
_COLUMNS = tuple(prop.key for prop in User.__mapper__.column_attrs)
_new_user = User.__mapper__.class_manager.new_instance
_USERS = User.__table__
_caches: weakref.WeakSet[CallerCache] = weakref.WeakSet()


class CallerCache:
    """User rows by id, each for `seconds` after it was read (0: remember nothing)."""

    def __init__(
        self,
        seconds: float,
        *,
        max_rows: int = MAX_ROWS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.max_rows = max(1, max_rows)
        self.clock = clock
        # id: (until when, by `clock`; the row's values by attribute)
        self._rows: dict[uuid.UUID, tuple[float, dict[str, Any]]] = {}
        # Bumped by every forgetting: a row read before it is not remembered after it.
        self.generation = 0
        _caches.add(self)

    def get(self, session: Session, user_id: uuid.UUID) -> User | None:
        """The user's remembered row, as a persistent object of `session` (a copy of its
        own, which the request may change like any loaded object); None when not known."""
        entry = self._rows.get(user_id)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            self._rows.pop(user_id, None)
            return None
        # What Session.merge(load=False) makes, for a third of its cost: an object of the
        # session's own with the row's values as loaded, unchanged.
        user: User = _new_user()
        user.__dict__.update(entry[1])
        make_transient_to_detached(user)
        session.add(user)
        return user

    def remember(self, user: User, generation: int) -> None:
        """Keep `user`'s row, read while `generation` was current (unless it has changed)."""
        if self.seconds <= 0 or generation != self.generation:
            return
        values = {key: user.__dict__[key] for key in _COLUMNS if key in user.__dict__}
        if len(values) != len(_COLUMNS):  # expired or deferred: read it next time
            return
        rows = self._rows
        rows.pop(user.id, None)
        while len(rows) >= self.max_rows:
            del rows[next(iter(rows))]
        rows[user.id] = (self.clock() + self.seconds, values)

    def forget(self, user_id: uuid.UUID | None) -> None:
        """Forget one user's row, or every row (None)."""
        self.generation += 1
        if user_id is None:
            self._rows.clear()
        else:
            self._rows.pop(user_id, None)

    def __len__(self) -> int:
        return len(self._rows)


def _forget_here(user_id: uuid.UUID | None) -> None:
    for cache in list(_caches):
        cache.forget(user_id)


def _changed(session: Session | None, user_id: uuid.UUID | None) -> None:
    """A user's row (None: some rows of the table) changes in `session`'s transaction: forget
    it here now, and here and in the other processes once the transaction commits (a row
    read in between still holds the old values)."""
    _forget_here(user_id)
    if session is not None:
        events.publish_after_commit(session, events.Event("user", user_id))


def _row_changed(_mapper: Any, _connection: Any, target: User) -> None:
    _changed(object_session(target), target.id)


event.listen(User, "after_update", _row_changed)
event.listen(User, "after_delete", _row_changed)


@event.listens_for(Session, "do_orm_execute")
def _table_changed(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    statement = state.statement
    if state.bind_mapper is User.__mapper__ or getattr(statement, "table", None) is _USERS:
        _changed(state.session, _one_user(statement))


def _one_user(statement: Any) -> uuid.UUID | None:
    """The user a statement's `WHERE users.id = <value>` names; None for anything else
    (every row is forgotten then)."""
    where = getattr(statement, "whereclause", None)
    if not isinstance(where, BinaryExpression) or where.operator is not operators.eq:
        return None
    column, value = where.left, where.right
    if getattr(column, "table", None) is not _USERS or getattr(column, "key", None) != "id":
        return None
    found = value.value if isinstance(value, BindParameter) else None
    return found if isinstance(found, uuid.UUID) else None


events.user_listeners.append(_forget_here)
