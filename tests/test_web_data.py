"""The account's Data page in the web app: export downloads, import with its per-line report
(all or nothing), and API tokens made and revoked there, which then work on the API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.webclient import WebClient

DATA = Path(__file__).parent / "data"


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


async def upload(web: WebClient, name: str, body: bytes, **fields: str) -> httpx.Response:
    if not web.token:
        await web.get("/account/data")
    return await web.http.post(
        "/account/import",
        data={"csrf_token": web.token, **fields},
        files={"file": (name, body, "application/vnd.ms-excel")},
        headers={"Sec-Fetch-Site": "same-origin"},
    )


async def test_export_downloads_what_the_api_exports(web: WebClient) -> None:
    await web.signup()
    await web.add("Export me", tags="kept")
    page = await web.get("/account/data")
    assert page.status_code == 200 and "Download JSON" in page.text
    r = await web.get("/account/export", params={"format": "json"})
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith('attachment; filename="doable-export-')
    doc = json.loads(r.content)
    assert [t["title"] for t in doc["tasks"]] == ["Export me"]
    r = await web.get("/account/export", params={"format": "csv"})
    assert r.status_code == 200 and "Export me" in r.text
    assert (await web.get("/account/export", params={"format": "xml"})).status_code == 422


async def test_a_todoist_file_comes_in_and_a_bad_one_leaves_nothing(web: WebClient) -> None:
    await web.signup()
    r = await upload(
        web, "todoist.csv", (DATA / "todoist-project.csv").read_bytes(), project_name="Errands"
    )
    assert r.status_code == 200, r.text
    assert "Imported 7 tasks into Errands." in r.text
    assert "Line 15:" in r.text  # the warning about a French date, with its line
    tasks = await web.get("/tasks")
    assert "Buy oat milk" in tasks.text

    bad = b"TYPE,CONTENT,PRIORITY\r\ntask,Fine,4\r\ntask,,9\r\ntask,Also fine,1\r\n"
    r = await upload(web, "broken.csv", bad)
    assert r.status_code == 422
    assert "nothing was changed" in r.text and "Line 3 (CONTENT): The title is empty" in r.text
    assert "Also fine" not in (await web.get("/tasks")).text

    r = await upload(web, "empty.csv", b"")
    assert r.status_code == 422 and "empty" in r.text
    r = await web.http.post(
        "/account/import",
        data={"csrf_token": web.token},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert r.status_code == 422 and "Choose a file" in r.text


async def test_tokens_are_made_shown_once_and_revoked(web: WebClient) -> None:
    await web.signup()
    r = await web.post("/account/tokens", {"name": "script", "scope_tasks:read": "on"})
    assert r.status_code == 200, r.text
    raw = re.search(r'id="new-token" type="text" readonly value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    api = await web.http.get("/api/v1/tasks", headers={"Authorization": f"Bearer {raw}"})
    assert api.status_code == 200
    page = await web.get("/account/data")
    assert raw not in page.text and "script" in page.text
    token_id = re.search(r'id="token-([0-9a-f-]{36})"', page.text).group(1)  # type: ignore[union-attr]
    r = await web.post(f"/account/tokens/{token_id}/revoke")
    assert r.status_code == 303
    api = await web.http.get("/api/v1/tasks", headers={"Authorization": f"Bearer {raw}"})
    assert api.status_code == 401
    # No scope, no name: the form says so, nothing is made.
    r = await web.post("/account/tokens", {"name": ""})
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text
    assert "No tokens yet." in (await web.get("/account/data")).text
