"""Fixtures: one migrated database per backend, one app per database with fresh state for each
test, tables emptied after each; and the parallel run (tests/parallel.py) that `uv run pytest`
starts by default."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import State

from doable.app import create_app
from doable.auth.callers import CallerCache
from doable.config import RuntimeConfig, Settings, normalize_database_url
from doable.db import Base, Database
from doable.mcp_server.lazy import LazyMcpEndpoint
from doable.migrations import upgrade
from doable.state import AppState

# Plugins for the whole run (they must also load in xdist's controller, which collects nothing).
pytest_plugins = ["tests.parallel", "tests.browser.results", "tests.replicas"]

TEST_SECRET = b"test-secret-key-that-is-long-enough-0123456789"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
BACKEND_ENV = {"postgresql": "DOABLE_TEST_POSTGRES_URL", "mariadb": "DOABLE_TEST_MARIADB_URL"}


def fast_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for tests: cheap argon2 and generous rate limits; never read from .env."""
    values: dict[str, Any] = {
        "DOABLE_DATA_DIR": str(data_dir),
        "SECRET_KEY": TEST_SECRET.decode(),
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_KIB": 1024,
        "ARGON2_PARALLELISM": 1,
        "AUTH_IP_RATE_LIMIT": "100000/minute",
        "AUTH_ACCOUNT_RATE_LIMIT": "100000/minute",
        # Concurrency tests send bursts on purpose; shedding is tested in test_admission.py.
        "ADMISSION_WAIT_MS": 60_000,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def backend_params() -> list[Any]:
    params: list[Any] = [pytest.param("sqlite", id="sqlite")]
    for name, env in BACKEND_ENV.items():
        if os.environ.get(env) or IN_CI:
            params.append(pytest.param(name, id=name))
        else:
            params.append(
                pytest.param(name, id=name, marks=pytest.mark.skip(reason=f"{env} is not set"))
            )
    return params


def backend_url(name: str, tmp_dir: Path) -> str:
    if name == "sqlite":
        return f"sqlite:///{tmp_dir / 'test.db'}"
    url = os.environ.get(BACKEND_ENV[name])
    if not url:
        pytest.fail(f"{BACKEND_ENV[name]} must be set in CI: an unreachable backend is a failure")
    return url


async def drop_everything(engine: AsyncEngine) -> None:
    """Remove every table (ours and alembic's) so the migrations build the schema from nothing."""

    def _drop(sync_conn: Any) -> None:
        names = inspect(sync_conn).get_table_names()
        if sync_conn.dialect.name in {"mysql", "mariadb"}:
            sync_conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
            for name in names:
                sync_conn.execute(text(f"DROP TABLE IF EXISTS `{name}`"))
            sync_conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))
        elif sync_conn.dialect.name == "postgresql":
            for name in names:
                sync_conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
        else:
            for name in names:
                sync_conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))

    async with engine.begin() as conn:
        await conn.run_sync(_drop)


async def truncate_all(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
    if engine.url.get_backend_name() == "sqlite":
        # SQLite's login counters live in a file beside the database (ratelimit.counters).
        counters = Path(f"{engine.url.database}-ratelimit")
        if counters.exists():
            with contextlib.closing(sqlite3.connect(counters, timeout=10)) as db:
                db.execute("DELETE FROM rate_limit_hits")
                db.commit()


@pytest.fixture(scope="session", params=backend_params())
async def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    """One database per backend for the whole session, built by `alembic upgrade head`."""
    tmp_dir = tmp_path_factory.mktemp(f"db-{request.param}")
    config = normalize_database_url(backend_url(request.param, tmp_dir), tmp_dir)
    db = Database(config)
    try:
        await drop_everything(db.engine)
    except Exception as exc:
        pytest.fail(f"{request.param} is unreachable ({type(exc).__name__}: {exc})")
    await upgrade(db.engine)
    yield db
    await db.dispose()


@pytest.fixture
def backend(database: Database) -> str:
    return database.config.backend


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def runtime_for(database: Database, data_dir: Path, **overrides: Any) -> RuntimeConfig:
    return RuntimeConfig(
        fast_settings(data_dir, **overrides), data_dir, database.config, TEST_SECRET
    )


# create_app's app for each session database, with the default test settings. Building one costs
# about 0.15 s (FastAPI analyses every route's dependencies), more than most tests take.
_shared_apps: dict[int, tuple[Database, FastAPI, LazyMcpEndpoint]] = {}


def shared_app(database: Database, runtime: RuntimeConfig) -> FastAPI:
    """The app for `database`, built once per session, with state as fresh as a new app's.

    What differs from one create_app call to the next lives in `app.state` (the database and
    the AppState: rate limiter, hasher, signer; whatever routes leave there, such as the
    idempotency sweep time) and in the MCP endpoint: both are replaced here. Routes and
    middleware keep no state of their own. `runtime` must carry the default test settings
    (only its data_dir may differ), since settings also shape the routes and middleware.
    """
    entry = _shared_apps.get(id(database))
    if entry is None or entry[0] is not database:
        app = create_app(runtime, database)
        endpoints = (getattr(route, "endpoint", None) for route in app.router.routes)
        mcp = next(e for e in endpoints if isinstance(e, LazyMcpEndpoint))
        _shared_apps[id(database)] = (database, app, mcp)
        return app
    _, app, mcp = entry
    state = AppState.build(runtime, database)
    app.state = State()
    app.state.database = database
    app.state.doable = state
    mcp.state = state
    return app


@pytest.fixture
async def app(database: Database, data_dir: Path) -> AsyncIterator[FastAPI]:
    yield shared_app(database, runtime_for(database, data_dir))
    await truncate_all(database.engine)


def make_client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
def long_memory(app: FastAPI) -> Iterator[CallerCache]:
    """The app remembers callers' rows for a minute (doable.auth.callers), not a second: a
    test that counts what a second read skips, or sees a change take effect, does not depend
    on how fast the machine gets to the next request."""
    cache: CallerCache = app.state.doable.callers
    before = cache.seconds
    cache.seconds = 60.0
    try:
        yield cache
    finally:
        cache.seconds = before
        cache.forget(None)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as c:
        yield c
