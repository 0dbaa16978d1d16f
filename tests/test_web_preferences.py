"""The web app remembers the task list's sort and a project's layout, per user, on the server:
another browser (a fresh client with the same account) sees the same choice."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_client
from tests.factories import PASSWORD
from tests.webclient import WebClient


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


def chosen_sort(page: str) -> str:
    found = re.search(r'<option value="(\w+)" selected', page)
    assert found, page
    return found.group(1)


async def another_browser(app: FastAPI, email: str) -> WebClient:
    other = WebClient(make_client(app))
    await other.get("/login")
    r = await other.post("/login", {"email": email, "password": PASSWORD})
    assert r.status_code == 303, r.text
    return other


async def test_the_sort_is_remembered_across_browsers(app: FastAPI, web: WebClient) -> None:
    await web.signup()
    for title in ("b", "a", "c"):
        await web.add(title)
    assert chosen_sort((await web.get("/tasks")).text) == "created"
    page = (await web.get("/tasks", params={"sort": "title"})).text
    assert chosen_sort(page) == "title"
    other = await another_browser(app, web.email)
    page = (await other.get("/tasks")).text
    assert chosen_sort(page) == "title"
    assert page.index(">a</p>") < page.index(">b</p>") < page.index(">c</p>")
    # An explicit choice of the default is remembered too.
    await other.get("/tasks", params={"sort": "created"})
    assert chosen_sort((await web.get("/tasks")).text) == "created"
    await other.http.aclose()


async def test_a_bad_stored_value_or_sort_is_not_an_error(web: WebClient) -> None:
    await web.signup()
    r = await web.get("/tasks", params={"sort": "nonsense"})
    assert r.status_code == 422
    assert chosen_sort((await web.get("/tasks")).text) == "created"


async def test_the_project_layout_is_remembered(app: FastAPI, web: WebClient) -> None:
    await web.signup()
    r = await web.post("/projects", {"name": "Garden", "color": "green"})
    assert r.status_code == 303, r.text
    project = r.headers["location"].split("?")[0]
    assert 'aria-current="page">List<' in (await web.get(project)).text
    assert 'aria-current="page">Board<' in (await web.get(project, params={"view": "board"})).text
    other = await another_browser(app, web.email)
    assert 'aria-current="page">Board<' in (await other.get(project)).text
    assert 'aria-current="page">List<' in (await other.get(project, params={"view": "list"})).text
    assert 'aria-current="page">List<' in (await web.get(project)).text
    await other.http.aclose()
