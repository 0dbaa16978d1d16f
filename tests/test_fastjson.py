"""Bodies written by doable.fastjson are the bytes pydantic writes for the route's model: for
any value a task can hold (property-based), and for the task list served on every backend."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from asyncpg.pgproto import pgproto
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doable import fastjson
from doable.tasks.schemas import RecurrenceOut, SubtaskProgress, TaskOut, TaskPage
from tests.factories import make_account, make_task

TASKS = "/api/v1/tasks"

# Any text a task can hold: the API refuses lone surrogates and NUL, nothing else.
_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)
_UUIDS = st.uuids().flatmap(
    lambda u: st.sampled_from([u, pgproto.UUID(u.bytes)])  # asyncpg returns its own subclass
)
_INSTANTS = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9998, 12, 31)),
    st.sampled_from([UTC, ZoneInfo("UTC")]),
)
_FIELDS = st.fixed_dictionaries(
    {
        "id": _UUIDS,
        "title": _TEXT,
        "description": _TEXT,
        "completed": st.booleans(),
        "completed_at": st.none() | _INSTANTS,
        "priority": st.sampled_from(["none", "low", "medium", "high", "urgent"]),
        "due": st.none() | st.dates(date(1900, 1, 1), date(9998, 12, 31)) | _INSTANTS,
        "tags": st.lists(_TEXT, max_size=4),
        "recurrence": st.none()
        | st.builds(
            RecurrenceOut,
            rule=_TEXT,
            mode=st.sampled_from(["from_due", "from_completion"]),
            text=_TEXT,
        ),
        "created_at": _INSTANTS,
        "updated_at": _INSTANTS,
        "project_id": st.none() | _UUIDS,
        "section_id": st.none() | _UUIDS,
        "parent_id": st.none() | _UUIDS,
        "position": _TEXT,
        "subtasks": st.builds(
            SubtaskProgress, done=st.integers(0, 10**6), total=st.integers(0, 10**6)
        ),
        "assignee_id": st.none() | _UUIDS,
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages=st.lists(_FIELDS, max_size=5), next_cursor=st.none() | _TEXT)
def test_a_page_is_written_as_pydantic_writes_it(
    pages: list[dict[str, Any]], next_cursor: str | None
) -> None:
    # In the model's order, as tasks.schemas.task_fields gives them (the served test below
    # checks that order).
    items = [{name: fields[name] for name in TaskOut.model_fields} for fields in pages]
    model = TaskPage(items=[TaskOut(**fields) for fields in items], next_cursor=next_cursor)
    written = fastjson.dumps({"items": items, "next_cursor": next_cursor})
    assert written == model.model_dump_json().encode()


def test_a_value_it_does_not_know_is_refused() -> None:
    try:
        fastjson.dumps({"when": timedelta(days=1)})
    except TypeError as exc:
        assert "timedelta" in str(exc)
    else:
        raise AssertionError("a timedelta was written")


async def test_the_served_list_is_the_models_json(client: httpx.AsyncClient) -> None:
    """Every kind of task the list shows, on this backend: the body parses as a TaskPage and
    writing that page again gives the same bytes; so does each task's GET."""
    acct = await make_account(client)
    parent = await make_task(
        client, acct, title='Zoë\'s \u2028 "plan" \U0001f680', tags=["straße", "work"]
    )
    await make_task(client, acct, title="child", parent_id=parent["id"], completed=True)
    await make_task(client, acct, title="dated", due="2031-02-03")
    await make_task(client, acct, title="timed", due="2031-02-03T04:05:06.789+02:00")
    await make_task(client, acct, title="on the hour", due="2031-02-03T04:00:00Z")
    await make_task(
        client,
        acct,
        title="weekly",
        due="2031-02-03",
        recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO,TH", "mode": "from_completion"},
        priority="urgent",
        description="line\nbreak\ttab \x7f",
    )
    for params in ({}, {"limit": 2}, {"status": "completed"}, {"sort": "due", "order": "asc"}):
        answer = await client.get(TASKS, params=params, headers=acct.headers)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        page = TaskPage.model_validate_json(answer.content)
        assert page.model_dump_json().encode() == answer.content, params
    everything = TaskPage.model_validate_json(
        (await client.get(TASKS, headers=acct.headers)).content
    )
    assert len(everything.items) == 6
    for item in everything.items:
        one = await client.get(f"{TASKS}/{item.id}", headers=acct.headers)
        assert one.headers["content-type"] == "application/json"
        assert TaskOut.model_validate_json(one.content).model_dump_json().encode() == one.content
        assert TaskOut.model_validate_json(one.content) == item
    assert {t.title for t in everything.items if t.recurrence} == {"weekly"}
    assert any(t.subtasks.total == 1 for t in everything.items)
