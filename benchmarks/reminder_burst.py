"""One account's burst of reminders against another account's one (issue 14, item 14).

`python -m benchmarks.reminder_burst [--reminders 50000] [--runs 3] [--database-url URL]`
writes N reminders of one account due at one instant, and one reminder of another account
due a second later, then runs the real in-process scheduler and reports how late the other
account's reminder fired (notification created_at - fire_at) and how long the burst took,
as medians. Default database: a fresh SQLite file (PostgreSQL and MariaDB by URL; its
tables are emptied first).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, update

from doable.auth.models import User
from doable.config import normalize_database_url
from doable.db import Base, Database
from doable.migrations import upgrade
from doable.reminders.models import Notification, Reminder
from doable.reminders.scheduler import Scheduler
from doable.tasks.models import Task

LEAD_SECONDS = 5.0  # from setting the fire times to the burst: the UPDATE must be done by then
PARKED = datetime(2099, 1, 1, tzinfo=UTC)  # fire time while the rows are written


async def _fill(database: Database, reminders: int) -> uuid.UUID:
    """Write the reminders parked far ahead (writing 50,000 rows can take longer than any
    lead time on a loaded machine); `_arm` then sets their fire time in one statement."""
    async with database.write_sessions() as s:
        for table in reversed(Base.metadata.sorted_tables):
            await s.execute(table.delete())
        users = [User(email=f"{n}-{uuid.uuid4().hex}@example.org", password_hash="x") for n in "ab"]
        s.add_all(users)
        await s.flush()
        far = datetime(2030, 1, 1, tzinfo=UTC)
        tasks = [Task(owner_id=users[0].id, title=f"a{n}", due_sort=far) for n in range(100)]
        other = Task(owner_id=users[1].id, title="b", due_sort=far)
        s.add_all([*tasks, other])
        await s.flush()

        def row(owner: uuid.UUID, task: uuid.UUID, at: datetime) -> dict[str, object]:
            return {
                "id": uuid.uuid4(),
                "owner_id": owner,
                "task_id": task,
                "kind": "absolute",
                "remind_at": at,
                "fire_at": at,
                "created_at": at,
            }

        rows = [row(users[0].id, tasks[n % 100].id, PARKED) for n in range(reminders)]
        for start in range(0, len(rows), 5000):
            await s.execute(insert(Reminder), rows[start : start + 5000])
        await s.execute(insert(Reminder), [row(users[1].id, other.id, PARKED)])
        await s.commit()
        return users[1].id


async def _arm(database: Database, other: uuid.UUID) -> datetime:
    """The burst falls due LEAD_SECONDS from now, the other account's reminder a second later."""
    burst = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS)
    later = burst + timedelta(seconds=1)
    async with database.write_sessions() as s:
        mine = Reminder.owner_id == other
        await s.execute(update(Reminder).where(~mine).values(fire_at=burst, remind_at=burst))
        await s.execute(update(Reminder).where(mine).values(fire_at=later, remind_at=later))
        await s.commit()
    if datetime.now(UTC) > burst:
        print(f"warning: the fire times were set {datetime.now(UTC) - burst} after the burst")
    return burst


async def _once(database: Database, reminders: int) -> tuple[float, float]:
    other = await _fill(database, reminders)
    scheduler = Scheduler(database)
    scheduler.start()
    try:
        burst = await _arm(database, other)
        scheduler.wake()
        while True:
            await asyncio.sleep(0.5)
            async with database.read_sessions() as s:
                done = await s.scalar(select(func.count()).select_from(Notification))
            if done == reminders + 1:
                break
    finally:
        await scheduler.stop()
    async with database.read_sessions() as s:
        last = await s.scalar(select(func.max(Notification.created_at)))
        first = await s.scalar(select(Notification.fire_at).where(Notification.owner_id == other))
        created = await s.scalar(
            select(Notification.created_at).where(Notification.owner_id == other)
        )
    assert last is not None and first is not None and created is not None
    return (created - first).total_seconds(), (last - burst).total_seconds()


async def _main(url: str | None, reminders: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = normalize_database_url(url or f"sqlite:///{tmp}/burst.db", Path(tmp))
        database = Database(config)
        try:
            await upgrade(database.engine)
            results = [await _once(database, reminders) for _ in range(runs)]
        finally:
            await database.dispose()
    lates, spans = zip(*results, strict=True)
    print(f"backend {config.backend}, {reminders} reminders of one account, {runs} runs")
    print(f"other account's reminder late: median {statistics.median(lates):.2f} s  {lates}")
    print(f"burst fired within: median {statistics.median(spans):.2f} s  {spans}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reminders", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)
    asyncio.run(_main(args.database_url, args.reminders, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
