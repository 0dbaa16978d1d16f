"""Compression and cache lifetimes (issue 18): gzip for JSON and static files above a minimum
size, never for HTML (BREACH) or event streams; fingerprinted static URLs cached for a year,
other static URLs briefly; pages keep no-store and carry a meta description."""

from __future__ import annotations

import asyncio
import gzip
import re
import zlib
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Scope

from doable.compression import MINIMUM_SIZE, CompressionMiddleware, accepts_gzip
from doable.web.assets import IMMUTABLE, SHORT, fingerprints, static_url
from tests.factories import make_account, make_task
from tests.webclient import WebClient

GZIP = {"Accept-Encoding": "gzip"}


async def _raw(client: httpx.AsyncClient, url: str, **headers: str) -> httpx.Response:
    """The response as sent (not decoded), with the body read."""
    async with client.stream("GET", url, headers=headers) as r:
        r._content = b"".join([chunk async for chunk in r.aiter_raw()])
    return r


async def test_json_above_the_minimum_is_gzipped(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    for n in range(12):
        await make_task(client, acct, title=f"A task with a title long enough {n}")
    r = await _raw(client, "/api/v1/tasks", **acct.headers, **GZIP)
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in r.headers["vary"]
    assert int(r.headers["content-length"]) == len(r.content)
    body = gzip.decompress(r.content)
    assert len(body) > MINIMUM_SIZE and len(r.content) < len(body) / 2
    assert body.count(b"A task with a title long enough") == 12
    # Not asked for: not compressed (but still Vary).
    plain = await _raw(client, "/api/v1/tasks", **acct.headers, **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == body
    assert "Accept-Encoding" in plain.headers["vary"]
    refused = await _raw(client, "/api/v1/tasks", **acct.headers, **{"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


async def test_small_json_is_not_compressed(client: httpx.AsyncClient) -> None:
    r = await _raw(client, "/healthz", **GZIP)
    assert r.status_code == 200 and len(r.content) < MINIMUM_SIZE
    assert "content-encoding" not in r.headers


async def test_the_etag_an_if_match_needs_is_unchanged(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    task = await make_task(client, acct, title="x" * 200, description="y" * 1000)
    r = await _raw(client, f"/api/v1/tasks/{task['id']}", **acct.headers, **GZIP)
    assert r.headers["content-encoding"] == "gzip" and r.headers["etag"] == '"1"'
    patched = await client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"title": "z"},
        headers={**acct.headers, "If-Match": r.headers["etag"]},
    )
    assert patched.status_code == 200


async def test_html_pages_are_never_compressed(client: httpx.AsyncClient) -> None:
    web = WebClient(client)
    await web.signup()
    for n in range(20):
        await web.add(f"Task number {n} with some words to make the page big")
    r = await _raw(client, "/tasks?q=Task", **GZIP)
    assert r.status_code == 200 and len(r.content) > 10 * MINIMUM_SIZE
    assert r.headers["content-type"].startswith("text/html")
    assert "content-encoding" not in r.headers
    assert r.headers["cache-control"] == "no-store"
    assert b'name="csrf_token"' in r.content  # what BREACH would be after


async def test_pages_carry_a_meta_description(client: httpx.AsyncClient) -> None:
    for path in ("/login", "/signup"):
        r = await client.get(path)
        assert re.search(r'<meta name="description" content="Doable: [^"]{40,}">', r.text), path


async def test_static_files_fingerprinted_and_cached(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    css = re.search(r'href="(/static/app\.css\?v=([0-9a-f]{12}))"', page.text)
    assert css is not None and css.group(2) == fingerprints()["app.css"]
    for name in ("app.js", "icon.svg", "vendor/htmx/htmx.min.js"):
        assert f'"{static_url(name)}"' in page.text
    r = await _raw(client, css.group(1), **GZIP)
    assert r.status_code == 200
    assert r.headers["cache-control"] == IMMUTABLE
    assert r.headers["content-encoding"] == "gzip"
    assert gzip.decompress(r.content) == (await client.get("/static/app.css")).content
    for url in ("/static/app.css", "/static/app.css?v=000000000000", "/static/app.css?v="):
        r = await client.get(url)
        assert (r.status_code, r.headers["cache-control"]) == (200, SHORT), url
    js = await _raw(client, static_url("app.js"), **GZIP)
    assert (js.headers["cache-control"], js.headers["content-encoding"]) == (IMMUTABLE, "gzip")
    missing = await client.get("/static/nope.css?v=abc")
    assert missing.status_code == 404 and missing.headers.get("cache-control") != IMMUTABLE


async def test_a_conditional_static_request_keeps_its_lifetime(client: httpx.AsyncClient) -> None:
    first = await client.get(static_url("app.css"))
    again = await client.get(
        static_url("app.css"), headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304 and again.headers["cache-control"] == IMMUTABLE


async def test_the_streamed_export_is_compressed(client: httpx.AsyncClient) -> None:
    acct = await make_account(client)
    for n in range(30):
        await make_task(client, acct, title=f"Exported task {n}")
    r = await _raw(client, "/api/v1/export", **acct.headers, **GZIP)
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert "content-length" not in r.headers
    assert gzip.decompress(r.content).count(b"Exported task") == 30


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=nonsense", False),
        ("identity", False),
        ("", False),
        ("deflate", False),
    ],
)
def test_accept_encoding(header: str, ok: bool) -> None:
    assert accepts_gzip(Headers(raw=[(b"accept-encoding", header.encode())])) is ok


# The middleware alone: what it sends, message by message.


async def _events(request: Any) -> StreamingResponse:
    async def stream() -> Any:
        for n in range(3):
            yield f"data: {'x' * 2000} {n}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


async def _chunks(request: Any) -> StreamingResponse:
    async def stream() -> Any:
        for n in range(3):
            yield b'{"n": %d, "pad": "%s"}\n' % (n, b"p" * 2000)

    return StreamingResponse(stream(), media_type="application/x-ndjson")


async def _html(request: Any) -> Response:
    return Response("<p>" + "x" * 5000, media_type="text/html")


APP = CompressionMiddleware(
    Starlette(routes=[Route("/events", _events), Route("/chunks", _chunks), Route("/html", _html)])
)


async def _sent(path: str) -> list[Message]:
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [(b"accept-encoding", b"gzip"), (b"host", b"test")],
        "server": ("test", 80),
        "client": ("127.0.0.1", 1),
        "http_version": "1.1",
    }
    sent: list[Message] = []

    requested = False

    async def receive() -> Message:
        nonlocal requested
        if requested:  # the client stays connected until the response ends
            await asyncio.Event().wait()
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    handler: Any = APP
    await handler(scope, receive, send)
    return sent


async def test_event_streams_pass_through_event_by_event() -> None:
    sent = await _sent("/events")
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert b"content-encoding" not in headers
    bodies = [m["body"] for m in sent[1:] if m.get("body")]
    assert [b.endswith(f" {n}\n\n".encode()) for n, b in enumerate(bodies)] == [True] * 3


async def test_a_stream_is_compressed_chunk_by_chunk() -> None:
    sent = await _sent("/chunks")
    assert dict(sent[0]["headers"])[b"content-encoding"] == b"gzip"
    bodies = [m["body"] for m in sent[1:]]
    # Each chunk is flushed as it comes: what was sent so far decompresses to whole lines.
    decoder = zlib.decompressobj(31)
    lines = [decoder.decompress(b) for b in bodies]
    assert [line.count(b"\n") for line in lines if line] == [1, 1, 1]


async def test_html_passes_through() -> None:
    sent = await _sent("/html")
    assert b"content-encoding" not in dict(sent[0]["headers"])
    assert b"vary" not in dict(sent[0]["headers"])
