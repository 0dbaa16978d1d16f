"""The transactional outbox: in the transaction of every task change, just before it commits,
one delivery row per subscribed endpoint, carrying the task as GET returns it at that moment.

It hangs on events.on_before_commit, so every path that changes tasks (API, web, MCP, compat,
import) enqueues through this one place; a change that rolls back takes its rows with it."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from doable import events
from doable.auth.models import User
from doable.db import utcnow
from doable.tasks import service as tasks_service
from doable.tasks.schemas import TaskOut
from doable.webhooks.models import WebhookDelivery, WebhookEndpoint
from doable.webhooks.schemas import EVENT_TYPES

SOURCE = "/api/v1/tasks"
# session.info, for the transaction under way: what the users' rows read in it said about
# their webhook endpoints (User.has_webhook_endpoints), and the owners who got one since.
_ENDPOINTS_READ = "doable_webhook_endpoints_read"
_ENDPOINTS_ADDED = "doable_webhook_endpoints_added"


def _note_user_row(target: User, context: Any, *_: Any) -> None:
    # A row merged in with Session.merge(load=False) has no context, and was not read here.
    has = target.__dict__.get("has_webhook_endpoints")
    if has is not None and context is not None and context.session is not None:
        context.session.info.setdefault(_ENDPOINTS_READ, {})[target.id] = has


event.listen(User, "load", _note_user_row)
event.listen(User, "refresh", _note_user_row)


@event.listens_for(Session, "after_transaction_end")
def _forget_user_rows(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost one: the next may see other rows
        session.info.pop(_ENDPOINTS_READ, None)
        session.info.pop(_ENDPOINTS_ADDED, None)


def note_endpoint_added(session: Session, owner_id: uuid.UUID) -> None:
    session.info.setdefault(_ENDPOINTS_ADDED, set()).add(owner_id)


def _known_without_endpoints(session: Session, owner_id: uuid.UUID) -> bool:
    """Whether the owner's row, read in this transaction, said the owner has no webhook
    endpoint, and none was added since.

    The row is read in the same transaction as the change (a request's user, first), so an
    endpoint registered anywhere (another request, process or replica) that committed before
    the change's transaction read it is seen. One that commits while the change is under way
    is concurrent with it: the change counts as before it, as when the two serialise so."""
    if owner_id in session.info.get(_ENDPOINTS_ADDED, ()):
        return False
    return session.info.get(_ENDPOINTS_READ, {}).get(owner_id) is False


def cloudevent(message_id: uuid.UUID, event_type: str, at: datetime, data: Any) -> str:
    """The body of a delivery: a CloudEvent (structured mode, JSON), fixed at enqueue time."""
    subject = str(data["id"])
    body = {
        "specversion": "1.0",
        "id": str(message_id),
        "source": SOURCE,
        "type": event_type,
        "subject": subject,
        "time": at.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": data,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _changes(pending: list[events.Event]) -> dict[tuple[uuid.UUID, str], set[str]]:
    """The event types of each (owner, task) the transaction changed."""
    changes: dict[tuple[uuid.UUID, str], set[str]] = defaultdict(set)
    for item in pending:
        task_id, action = item.data.get("id"), item.data.get("action")
        if item.kind != "task" or item.owner_id is None or not task_id or not action:
            continue
        try:
            uuid.UUID(str(task_id))
        except ValueError:
            continue
        types = changes[(item.owner_id, str(task_id))]
        types.add(f"task.{action}")
        if item.completed:
            types.add("task.completed")
    for types in changes.values():
        if "task.deleted" in types:
            types.intersection_update({"task.deleted"})  # whatever came first is gone
        elif "task.created" in types:
            types.discard("task.updated")  # created in this transaction: one event, as it is
    return changes


def enqueue(session: Session, pending: list[events.Event]) -> None:
    changes = _changes(pending)
    if not changes:
        return
    owners = {owner for owner, _ in changes if not _known_without_endpoints(session, owner)}
    if not owners:
        return  # the common case: users without webhooks cost no query here
    endpoints: dict[uuid.UUID, list[tuple[uuid.UUID, set[str]]]] = defaultdict(list)
    for endpoint_id, owner_id, subscribed in session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.owner_id, WebhookEndpoint.event_types).where(
            WebhookEndpoint.owner_id.in_(owners), WebhookEndpoint.enabled.is_(True)
        )
    ):
        endpoints[owner_id].append((endpoint_id, set(subscribed.split(","))))
    if not endpoints:
        return
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for (owner_id, task_id), types in sorted(changes.items(), key=lambda c: str(c[0])):
        wanted = [t for t in EVENT_TYPES if t in types]
        subscribers = endpoints.get(owner_id)
        if not subscribers or not wanted:
            continue
        data: dict[str, Any]
        if wanted == ["task.deleted"]:
            data = {"id": task_id}
        else:
            row = tasks_service.read_task_sync(session, owner_id, uuid.UUID(task_id))
            if row is None:  # made and removed again (a savepoint rolled back)
                continue
            data = TaskOut.from_task(row).model_dump(mode="json")
        for event_type in wanted:
            message_id = uuid.uuid4()
            payload = cloudevent(message_id, event_type, now, data)
            for endpoint_id, types_of_endpoint in subscribers:
                if event_type in types_of_endpoint:
                    rows.append(
                        {
                            "id": uuid.uuid4(),
                            "endpoint_id": endpoint_id,
                            "owner_id": owner_id,
                            "message_id": message_id,
                            "event_type": event_type,
                            "payload": payload,
                            "status": "pending",
                            "attempts": 0,
                            "created_at": now,
                            "next_attempt_at": now,
                        }
                    )
    if rows:
        session.execute(insert(WebhookDelivery), rows)


events.on_before_commit(enqueue)
