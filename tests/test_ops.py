"""Health, readiness, docs, CORS, request ids, and the last-resort 500 problem."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate
from sqlalchemy import text

from doable.app import create_app
from doable.config import normalize_database_url
from doable.db import Database
from doable.migrations import head_revision
from tests.conftest import make_client, runtime_for
from tests.factories import assert_problem


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    r = await client.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"status": "ready"})


async def test_readyz_is_503_when_schema_is_not_at_head(tmp_path: Path, data_dir: Path) -> None:
    db = Database(normalize_database_url(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path))
    try:
        app = create_app(runtime_for(db, data_dir), db)
        async with make_client(app) as c:
            r = await c.get("/readyz")
            body = assert_problem(r, 503)
            assert f"expected {head_revision()}" in body["detail"]
            assert (await c.get("/healthz")).status_code == 200
    finally:
        await db.dispose()


async def test_readyz_and_requests_are_503_when_database_is_unreachable(data_dir: Path) -> None:
    # Nothing listens on port 1: the pool cannot connect.
    db = Database(normalize_database_url("postgresql://u:hunter2pass@127.0.0.1:1/none", data_dir))
    try:
        app = create_app(runtime_for(db, data_dir), db)
        async with make_client(app) as c:
            body = assert_problem(await c.get("/readyz"), 503)
            assert body["detail"] == "database unreachable"
            r = await c.post(
                "/api/v1/auth/signup", json={"email": "a@b.co", "password": "long enough pw"}
            )
            body = assert_problem(r, 503)
            assert "hunter2pass" not in r.text
            assert r.headers["retry-after"] == "5"
    finally:
        await db.dispose()


async def test_openapi_document_is_valid_3_1(client: httpx.AsyncClient) -> None:
    """Client generators expect 3.1.0; a 3.2-only field (FastAPI's `itemSchema` on the event
    stream) would make the document invalid, so it is kept as an x- extension."""
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # openapi-spec-validator: raises on any error
    stream = spec["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"]
    # Each item, an event, is described by the extension; no schema calls the body one string.
    assert list(stream["text/event-stream"]) == ["x-itemSchema"]
    assert set(stream["text/event-stream"]["x-itemSchema"]["properties"]) == {
        "data",
        "event",
        "id",
        "retry",
    }


async def test_docs_and_openapi_need_no_token(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.1")
    assert "/api/v1/tasks" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        r = await client.get(path)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        # Everything the page loads comes from this origin: it works offline.
        assert "http://" not in r.text and "https://" not in r.text.replace(
            "https://github.com", ""
        ), path
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text):
            assert (await client.get(asset)).status_code == 200, asset
    js = await client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000


async def test_docs_can_be_disabled(database: Database, data_dir: Path) -> None:
    app = create_app(runtime_for(database, data_dir, DOCS_ENABLED="false"), database)
    async with make_client(app) as c:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert_problem(await c.get(path), 404)


async def test_cors_preflight_for_configured_origins(database: Database, data_dir: Path) -> None:
    app = create_app(
        runtime_for(
            database, data_dir, CORS_ORIGINS="https://app.example.com, https://b.example.com/"
        ),
        database,
    )
    preflight = {
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization,content-type,if-match",
    }
    async with make_client(app) as c:
        r = await c.options(
            "/api/v1/tasks/x", headers={"Origin": "https://b.example.com", **preflight}
        )
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://b.example.com"
        assert "PATCH" in r.headers["access-control-allow-methods"]
        r = await c.options(
            "/api/v1/tasks", headers={"Origin": "https://evil.example.com", **preflight}
        )
        assert r.status_code == 400
        assert "access-control-allow-origin" not in r.headers
        r = await c.get("/healthz", headers={"Origin": "https://app.example.com"})
        assert r.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "ETag" in r.headers["access-control-expose-headers"]


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"Origin": "https://app.example.com"})
    assert "access-control-allow-origin" not in r.headers


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith junk" * 20})
    generated = r.headers["x-request-id"]
    assert len(generated) == 32 and generated.isalnum()
    r = await client.get("/api/v1/nowhere", headers={"X-Request-ID": "req-404"})
    body = assert_problem(r, 404)
    assert body["request_id"] == "req-404" and r.headers["x-request-id"] == "req-404"
    assert_problem(await client.delete("/healthz"), 405)


async def test_unhandled_error_is_a_500_problem_without_trace(
    database: Database, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(runtime_for(database, data_dir), database)

    async def explode() -> None:
        raise RuntimeError("secret internal detail")

    app.add_api_route("/api/v1/explode", explode)
    app.add_api_route("/web-explode", explode)

    async def bad_sql() -> None:
        async with database.read_sessions() as s:
            await s.execute(text("SELECT * FROM no_such_table"))

    app.add_api_route("/api/v1/bad-sql", bad_sql)
    async with make_client(app) as c:
        with caplog.at_level(logging.ERROR, logger="doable.errors"):
            for path in ("/api/v1/explode", "/api/v1/bad-sql"):
                r = await c.get(path, headers={"X-Request-ID": "boom-1"})
                body = assert_problem(r, 500)
                assert body["request_id"] == "boom-1" and "boom-1" in body["detail"]
                assert "secret internal detail" not in r.text and "no_such_table" not in r.text
                assert r.headers["x-request-id"] == "boom-1"
            # A web page gets a friendly HTML page instead, still without the trace.
            r = await c.get("/web-explode")
            assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
            assert "Something went wrong" in r.text and "secret internal detail" not in r.text
    assert "secret internal detail" in caplog.text and "Traceback" in caplog.text
