"""Completing in the web app says what happened and offers Undo; repeating tasks have Skip.

Undo restores the previous due and drops the completion; it is refused when the task changed
in between (by another tab or another member), and a forged or expired token is refused."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from doable.db import Database
from doable.tasks.models import Task, TaskCompletion
from tests.webclient import WebClient

TOKEN = re.compile(r'name="undo" value="([^"]+)"')


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


async def task_row(database: Database, task_id: str) -> Task:
    async with database.read_sessions() as s:
        return (await s.execute(select(Task).where(Task.id == uuid.UUID(task_id)))).scalar_one()


async def completions(database: Database, task_id: str) -> int:
    async with database.read_sessions() as s:
        count = await s.scalar(
            select(func.count())
            .select_from(TaskCompletion)
            .where(TaskCompletion.task_id == uuid.UUID(task_id))
        )
        return int(count or 0)


async def test_undo_of_completing_a_one_off_task_reopens_it_and_its_subtasks(
    web: WebClient, database: Database
) -> None:
    await web.signup()
    parent = await web.add("Pack")
    child = await web.add("Socks")
    assert (await web.post(f"/tasks/{child}/move", {"op": f"indent:{parent}"})).status_code == 303
    r = await web.post(f"/tasks/{parent}/toggle", htmx=True)
    assert r.status_code == 200 and "Completed “Pack”." in r.text
    assert (await task_row(database, child)).completed
    token = TOKEN.search(r.text).group(1)  # type: ignore[union-attr]
    r = await web.post("/undo", {"undo": token}, htmx=True)
    assert r.status_code == 200, r.text
    assert f'id="task-{parent}"' in r.text and 'aria-pressed="false"' in r.text
    assert not (await task_row(database, parent)).completed
    assert not (await task_row(database, child)).completed
    # The same token again: the task has changed since (it was undone), so it is refused.
    r = await web.post("/undo", {"undo": token}, htmx=True)
    assert r.status_code == 409 and "has changed since" in r.text


async def test_undo_of_completing_a_repeating_task_restores_its_due(
    web: WebClient, database: Database
) -> None:
    await web.signup()
    task_id = await web.add("Water plants", due_date="2031-05-06", repeat="FREQ=WEEKLY")
    before = await task_row(database, task_id)
    r = await web.post(f"/tasks/{task_id}/toggle", htmx=True)
    assert "Completed “Water plants”. Next:" in r.text
    moved = await task_row(database, task_id)
    assert moved.due_date is not None and moved.due_date > before.due_date  # type: ignore[operator]
    assert await completions(database, task_id) == 1
    token = TOKEN.search(r.text).group(1)  # type: ignore[union-attr]
    r = await web.post("/undo", {"undo": token}, htmx=True)
    assert r.status_code == 200, r.text
    back = await task_row(database, task_id)
    assert (back.due_date, back.completed, back.rrule) == (before.due_date, False, before.rrule)
    assert await completions(database, task_id) == 0


async def test_undo_is_refused_after_another_change_and_for_a_forged_token(
    web: WebClient, database: Database
) -> None:
    await web.signup()
    task_id = await web.add("Call mum")
    r = await web.post(f"/tasks/{task_id}/toggle", htmx=True)
    token = TOKEN.search(r.text).group(1)  # type: ignore[union-attr]
    r = await web.post(f"/tasks/{task_id}", {"title": "Call mum back"}, htmx=True)
    assert r.status_code == 200
    r = await web.post("/undo", {"undo": token}, htmx=True)
    assert r.status_code == 409
    row = await task_row(database, task_id)
    assert row.completed and row.title == "Call mum back"  # nothing overwritten
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    r = await web.post("/undo", {"undo": forged}, htmx=True)
    assert r.status_code in {400, 409, 422} and "expired" in r.text


async def test_skip_moves_a_repeating_task_without_a_completion(
    web: WebClient, database: Database
) -> None:
    await web.signup()
    task_id = await web.add("Bins", due_date="2031-05-06", repeat="FREQ=WEEKLY")
    page = await web.get("/tasks")
    assert f'formaction="/tasks/{task_id}/skip"' in page.text
    r = await web.post(f"/tasks/{task_id}/skip", htmx=True)
    assert r.status_code == 200, r.text
    row = await task_row(database, task_id)
    assert str(row.due_date) == "2031-05-13" and not row.completed
    assert await completions(database, task_id) == 0
    plain = await web.add("Once")
    r = await web.post(f"/tasks/{plain}/skip", htmx=True)
    assert r.status_code == 409
