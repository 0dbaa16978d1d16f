"""Webhooks: what the outbox costs a task write, and how fast workers deliver (issue 17).

`python -m benchmarks.webhook_delivery [--tasks 500] [--workers 2] [--database-url URL]`
creates tasks one transaction each, for an account without webhooks and for one with an
endpoint (the outbox then reads the endpoints and inserts a delivery in each transaction),
and reports the median commit time of each. Then `--workers` delivery loops, each on its own
engine as separate replicas would be, send every delivery to a loopback receiver (204); it
reports deliveries per second and checks that no message arrived twice. Default database: a
fresh SQLite file (PostgreSQL and MariaDB by URL; its tables are emptied first).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from doable.auth.models import User
from doable.config import normalize_database_url
from doable.db import Base, Database
from doable.migrations import upgrade
from doable.tasks.models import NO_DUE, Task
from doable.webhooks import signing
from doable.webhooks.delivery import DeliveryConfig, deliver_due, new_client
from doable.webhooks.models import WebhookEndpoint

KEY = b"benchmark-secret-key-0123456789abcdef"


async def _receiver(seen: Counter[str]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        headers = dict(
            (k.strip().lower(), v.strip())
            for k, _, v in (line.partition(":") for line in head.split("\r\n")[1:] if line)
        )
        await reader.readexactly(int(headers.get("content-length", "0")))
        seen[headers["webhook-id"]] += 1
        writer.write(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _commit_times(database: Database, owner: uuid.UUID, n: int) -> list[float]:
    times = []
    for i in range(n):
        async with database.write_sessions() as s:
            s.add(Task(owner_id=owner, title=f"t{i}", due_sort=NO_DUE))
            start = time.perf_counter()
            await s.commit()
            times.append(time.perf_counter() - start)
    return times


async def run(url: str, tasks: int, workers: int) -> None:
    database = Database(normalize_database_url(url, Path(tempfile.gettempdir())))
    await upgrade(database.engine)
    seen: Counter[str] = Counter()
    server = await _receiver(seen)
    port = server.sockets[0].getsockname()[1]
    async with database.write_sessions() as s:
        for table in reversed(Base.metadata.sorted_tables):
            await s.execute(table.delete())
        plain, hooked = (
            User(email=f"{n}-{uuid.uuid4().hex}@example.org", password_hash="x") for n in "ab"
        )
        s.add_all([plain, hooked])
        await s.flush()
        secret = signing.new_secret()
        s.add(
            WebhookEndpoint(
                owner_id=hooked.id,
                url=f"http://127.0.0.1:{port}/hook",
                event_types="task.created",
                secret_encrypted=signing.seal(secret, KEY),
                secret_hint=signing.hint_of(secret),
            )
        )
        await s.commit()
    without = await _commit_times(database, plain.id, tasks)
    with_hook = await _commit_times(database, hooked.id, tasks)
    print(f"commit of one task, median of {tasks}:")
    print(f"  no webhooks    {statistics.median(without) * 1000:.2f} ms")
    print(f"  one endpoint   {statistics.median(with_hook) * 1000:.2f} ms")

    config = DeliveryConfig(secret_key=KEY, allow_private=True)
    replicas = [database] + [Database(database.config) for _ in range(workers - 1)]
    start = time.perf_counter()

    async def loop(db: Database) -> int:
        async with new_client(config) as client:
            return await deliver_due(db, config, client)

    made = await asyncio.gather(*(loop(db) for db in replicas))
    took = time.perf_counter() - start
    print(f"{workers} workers delivered {sum(made)} in {took:.2f} s: {sum(made) / took:.0f}/s")
    twice = sum(1 for c in seen.values() if c > 1)
    print(f"  messages received {len(seen)}, received twice or more: {twice}")
    server.close()
    for db in replicas:
        await db.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    asyncio.run(run(url, args.tasks, args.workers))


if __name__ == "__main__":
    main(sys.argv[1:])
