"""The parallel run: `uv run pytest` spreads the tests over pytest-xdist workers, one per core
(at most MAX_WORKERS), each with databases of its own.

- Workers: unless `-n` says otherwise (`-n0` runs everything in one process, as `--pdb`, `-s`
  and `-p no:xdist` do), the run starts one worker per core when there are at least two.
- Databases: a worker named gw0 uses `<database>_gw0` on the server of DOABLE_TEST_POSTGRES_URL
  and of DOABLE_TEST_MARIADB_URL (created when missing; the fixtures rebuild its tables); it
  points the variables at them before any test reads them. SQLite lives in each worker's own
  temporary folder already.
- Exclusive tests (`@pytest.mark.exclusive`: they stop a server every worker uses, such as
  the machine's PostgreSQL, or measure time or throughput) run while no other test runs: every
  test holds a shared lock from its setup to its teardown, and an exclusive one takes it alone.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from doable.config import normalize_database_url

MAX_WORKERS = 4
BACKEND_ENV = ("DOABLE_TEST_POSTGRES_URL", "DOABLE_TEST_MARIADB_URL")
_run_lock = pytest.StashKey["RunLock"]()
_lock_dir = pytest.StashKey[Path]()


def default_workers() -> int:
    return min(len(os.sched_getaffinity(0)), MAX_WORKERS)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Before xdist reads its options: `-n` defaults to one worker per core."""
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("xdist"):
        return
    if config.option.numprocesses is not None:  # -n given
        return
    if config.option.usepdb or config.option.capture == "no" or config.option.collectonly:
        return
    workers = default_workers()
    if workers >= 2:
        config.option.numprocesses = workers


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "exclusive: stops a shared server or measures time; no other test runs meanwhile",
    )
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is None:
        if getattr(config.option, "numprocesses", None):
            config.stash[_lock_dir] = Path(tempfile.mkdtemp(prefix="doable-tests-"))
        return
    worker = str(workerinput["workerid"])
    for env in BACKEND_ENV:
        base = os.environ.get(env)
        if base:
            os.environ[env] = worker_url(base, worker)
            asyncio.run(ensure_database(os.environ[env], base=base))
    config.stash[_run_lock] = RunLock(Path(workerinput["doable_lock"]))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist's controller, for each worker it starts: where the run's lock lives."""
    node.workerinput["doable_lock"] = str(node.config.stash[_lock_dir] / "run.lock")


def pytest_unconfigure(config: pytest.Config) -> None:
    lock_dir = config.stash.get(_lock_dir, None)
    if lock_dir is not None:
        shutil.rmtree(lock_dir, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Setup, call and teardown (including the teardown of wider fixtures that ends with this
    test) under the run's lock: shared, or alone for an exclusive test."""
    lock = item.config.stash.get(_run_lock, None)
    if lock is None:
        return (yield)
    with lock.held(exclusive=item.get_closest_marker("exclusive") is not None):
        return (yield)


def worker_url(url: str, worker: str) -> str:
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


async def ensure_database(url: str, *, base: str) -> None:
    """Create the database of `url` unless it exists (on MariaDB with `base`'s character set
    and collation, when that one exists)."""
    config = normalize_database_url(url, Path(tempfile.gettempdir()))
    name = config.url.database
    assert name is not None and not set(name) & set("\"`'"), name
    postgres = config.backend == "postgresql"
    admin = config.url.set(database="postgres" if postgres else "information_schema")
    engine = create_async_engine(
        admin, connect_args=config.connect_args, isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as conn:
            if postgres:
                found = await conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                )
                if not found:
                    await conn.execute(text(f'CREATE DATABASE "{name}"'))
                return
            schemata = text(
                "SELECT default_character_set_name, default_collation_name"
                " FROM information_schema.schemata WHERE schema_name = :name"
            )
            if (await conn.execute(schemata, {"name": name})).first() is not None:
                return
            row = (await conn.execute(schemata, {"name": make_url(base).database})).first()
            charset, collation = row if row is not None else ("utf8mb4", "utf8mb4_unicode_ci")
            await conn.execute(
                text(f"CREATE DATABASE `{name}` CHARACTER SET {charset} COLLATE {collation}")
            )
    finally:
        await engine.dispose()


class RunLock:
    """A readers-writer lock between the workers of one run, on two files (flock).

    An exclusive holder first takes the gate, which every shared taker passes through, so
    workers that keep starting tests cannot keep it waiting.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.gate = path.with_suffix(".gate")

    @contextmanager
    def held(self, *, exclusive: bool) -> Iterator[None]:
        with self.gate.open("a") as gate, self.path.open("a") as main:
            fcntl.flock(gate, fcntl.LOCK_EX)
            if not exclusive:
                fcntl.flock(gate, fcntl.LOCK_UN)
            fcntl.flock(main, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
