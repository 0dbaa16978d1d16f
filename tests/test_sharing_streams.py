"""Live updates for members: an open event stream carries the task events of the projects
shared with its user, starts carrying a project as soon as it is shared, and stops carrying it
the moment the user is removed, events already queued included.

The changes go through the API (the in-process client); the stream is read from the same
generator `GET /api/v1/events` serves (the in-process client would buffer a whole response).
The last test hands the events to the relay as another process would, through an envelope.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi.sse import ServerSentEvent

from doable import events
from doable.db import Database
from doable.projects.access import Role
from doable.relay.envelope import pack
from doable.relay.hub import Relay
from doable.reminders import stream
from tests.factories import Account
from tests.test_sharing_core import PROJECTS, TASKS, add, setup, share, unshare


class Reader:
    """One open stream of an account, read in the background as a client would."""

    def __init__(self, database: Database, sub: events.Subscription) -> None:
        self.sub = sub
        self.gen: AsyncIterator[ServerSentEvent] = stream.event_stream(database, sub)
        self.received: asyncio.Queue[ServerSentEvent] = asyncio.Queue()
        self.pump: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, database: Database, account: Account, *, start: bool = True) -> Reader:
        """The stream, opened; `start=False`: events queue up until `start()` (a client
        that has not read yet)."""
        sub = await stream.open_subscription(database, uuid.UUID(account.id))
        reader = cls(database, sub)
        if start:
            await reader.start()
        return reader

    async def start(self) -> None:
        self.pump = asyncio.create_task(self._read())
        first = await asyncio.wait_for(self.received.get(), 5)
        assert first.event == "ready"

    async def _read(self) -> None:
        async for item in self.gen:
            await self.received.put(item)

    async def take(self, seconds: float = 0.8) -> list[tuple[str, dict[str, Any]]]:
        """What the stream sent within `seconds` (task and membership events)."""
        await asyncio.sleep(seconds)
        got: list[tuple[str, dict[str, Any]]] = []
        while not self.received.empty():
            item = self.received.get_nowait()
            if item.event in ("task", "membership"):
                got.append((str(item.event), dict(item.data)))
        return got

    async def close(self) -> None:
        if self.pump is not None:
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.pump
        await self.gen.aclose()  # type: ignore[attr-defined]


def task_ids(got: list[tuple[str, dict[str, Any]]]) -> set[str]:
    return {data["id"] for kind, data in got if kind == "task"}


async def test_members_streams_carry_the_shared_projects_tasks(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member, stranger, project = await setup(client)
    await share(database, owner, project["id"], member, Role.VIEWER)
    readers = [await Reader.open(database, who) for who in (owner, member, stranger)]
    try:
        made = (await add(client, owner, title="Shared", project_id=project["id"])).json()
        private = (await add(client, owner, title="Mine alone")).json()
        got = [await r.take() for r in readers]
        assert task_ids(got[0]) == {made["id"], private["id"]}
        assert task_ids(got[1]) == {made["id"]}
        assert got[1] == [
            (
                "task",
                {
                    "action": "created",
                    "id": made["id"],
                    "version": 1,
                    "project_id": project["id"],
                },
            )
        ]
        assert got[2] == []
        # Completing it reaches the member too.
        r = await client.post(f"{TASKS}/{made['id']}/complete", headers=owner.headers)
        assert r.status_code == 200, r.text
        assert task_ids(await readers[1].take()) == {made["id"]}
        # Moving it out of the shared project tells the member once (with the project it
        # left), and then nothing more of it.
        r = await client.patch(
            f"{TASKS}/{made['id']}", json={"project_id": None}, headers=owner.headers
        )
        assert r.status_code == 200, r.text
        got_member = await readers[1].take()
        assert [(k, d["project_id"]) for k, d in got_member] == [("task", project["id"])]
        r = await client.patch(
            f"{TASKS}/{made['id']}", json={"title": "Private now"}, headers=owner.headers
        )
        assert r.status_code == 200, r.text
        assert await readers[1].take() == []
    finally:
        for r in readers:
            await r.close()


async def test_a_removed_members_stream_stops_carrying_the_project_at_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member, _, project = await setup(client)
    await share(database, owner, project["id"], member, Role.EDITOR)
    other = (
        await client.post(PROJECTS, json={"name": "Still shared"}, headers=owner.headers)
    ).json()
    await share(database, owner, other["id"], member, Role.VIEWER)
    reader = await Reader.open(database, member, start=False)
    try:
        assert reader.sub.projects == {uuid.UUID(project["id"]), uuid.UUID(other["id"])}
        # An event still queued (not yet sent) when the removal arrives is not sent either.
        queued = (await add(client, owner, title="Before", project_id=project["id"])).json()
        assert reader.sub.queue.qsize() == 1
        await unshare(database, owner, project["id"], member)
        assert reader.sub.projects == {uuid.UUID(other["id"])}
        await reader.start()
        got = await reader.take()
        assert got == [("membership", {"action": "removed", "project_id": project["id"]})]
        assert queued["id"] not in task_ids(got)
        after = (await add(client, owner, title="After", project_id=project["id"])).json()
        still = (await add(client, owner, title="Other", project_id=other["id"])).json()
        assert task_ids(await reader.take()) == {still["id"]}
        assert after["id"] != still["id"]
    finally:
        await reader.close()


async def test_a_project_shared_while_the_stream_is_open_is_carried(
    client: httpx.AsyncClient, database: Database
) -> None:
    owner, member, _, project = await setup(client)
    reader = await Reader.open(database, member)
    try:
        before = (await add(client, owner, title="Before", project_id=project["id"])).json()
        assert await reader.take(0.4) == []
        await share(database, owner, project["id"], member, Role.VIEWER)
        assert await reader.take() == [
            ("membership", {"action": "added", "project_id": project["id"]})
        ]
        r = await client.patch(
            f"{TASKS}/{before['id']}", json={"title": "Seen now"}, headers=owner.headers
        )
        assert r.status_code == 200, r.text
        assert task_ids(await reader.take()) == {before["id"]}
        # Deleting the project removes the member too, in the same commit: the stream lets go
        # of it, and says so instead of sending the deletions of its tasks.
        r = await client.delete(f"{PROJECTS}/{project['id']}", headers=owner.headers)
        assert r.status_code == 204, r.text
        got = await reader.take()
        assert got == [("membership", {"action": "removed", "project_id": project["id"]})]
        assert reader.sub.projects == frozenset()
    finally:
        await reader.close()


async def test_events_from_another_process_reach_members_through_the_relay(
    client: httpx.AsyncClient, database: Database
) -> None:
    """What another process forwards (an envelope of ids) is delivered here by the same
    rules: a member's stream gets the shared project's task events, and a removal relayed
    from there stops them here."""
    owner, member, stranger, project = await setup(client)
    await share(database, owner, project["id"], member, Role.VIEWER)
    member_reader = await Reader.open(database, member)
    stranger_reader = await Reader.open(database, stranger)
    relay = Relay(events.bus)  # not started: only its receiving side is used
    owner_id, task_id = uuid.UUID(owner.id), str(uuid.uuid4())
    task_event = events.Event(
        "task",
        owner_id,
        {"action": "created", "id": task_id, "version": 1, "project_id": project["id"]},
    )
    try:
        for payload in pack("another-process", [task_event]):
            relay.received_envelope(payload)
        assert task_ids(await member_reader.take()) == {task_id}
        assert await stranger_reader.take(0.3) == []
        removal = events.Event(
            "membership",
            uuid.UUID(member.id),
            {"action": "removed", "project_id": project["id"]},
        )
        for payload in pack("another-process", [removal, task_event]):
            relay.received_envelope(payload)
        got = await member_reader.take()
        assert got == [("membership", {"action": "removed", "project_id": project["id"]})]
    finally:
        await member_reader.close()
        await stranger_reader.close()
