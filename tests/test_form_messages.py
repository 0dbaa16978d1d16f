"""Errors a person understands on the web app's forms (issue 18): pydantic's messages turned
into plain sentences, and inputs that carry the limits the server enforces. The API keeps its
problem+json messages (tests/test_auth.py)."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from doable.auth.schemas import SignupIn
from doable.tasks.schemas import TaskCreate
from doable.transfer.schemas import TaskRecord
from doable.web.messages import plain
from tests.webclient import WebClient


def _first(model: Any, body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return plain(caught.value.errors()[0])


@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        (SignupIn, {"email": "a@example.com", "password": "short"}, "Use at least 8 characters"),
        (SignupIn, {"email": "a@example.com", "password": ""}, "Use at least 8 characters"),
        (SignupIn, {"email": "a@example.com", "password": "x" * 300}, "Use at most 256 characters"),
        (
            SignupIn,
            {"email": "a@example.com", "password": "password"},
            "This password is too common; choose another password",
        ),
        (
            SignupIn,
            {"email": "nope", "password": "long enough pass"},
            "Enter an email address such as name@example.com. An email address must have an"
            " @-sign.",
        ),
        (SignupIn, {"password": "long enough pass"}, "Fill this in"),
        (TaskCreate, {"title": ""}, "Fill this in"),
        (TaskCreate, {"title": "x" * 201}, "Use at most 200 characters"),
        (TaskCreate, {"title": "x", "description": "d" * 10_001}, "Use at most 10,000 characters"),
        (TaskCreate, {"title": "x", "priority": "extreme"}, "Choose one of the options offered"),
        (TaskCreate, {"title": "x", "tags": ["t"] * 31}, "Use at most 30 tags"),
    ],
)
def test_plain_messages(model: Any, body: dict[str, Any], message: str) -> None:
    assert _first(model, body) == message


@pytest.mark.parametrize(
    ("body", "form", "in_file"),
    [
        (
            {"title": "x", "due": "2024-13-40"},
            'The due date "2024-13-40" is not a date (use YYYY-MM-DD)',
            'The due date "2024-13-40" is not a date (use YYYY-MM-DD)',
        ),
        (
            {"title": "x", "due": "2024-01-02T25:00"},
            'The due date "2024-01-02 25:00" is not a date and time (use YYYY-MM-DD and HH:MM)',
            'The due date "2024-01-02T25:00" is not a date and time (use YYYY-MM-DDTHH:MM)',
        ),
        (
            {"title": "x", "priority": "p9"},
            "Choose one of the options offered",
            'The priority must be one of none, low, medium, high, urgent, not "p9"',
        ),
        ({"title": ""}, "Fill this in", "The title is empty"),
        ({}, "Fill this in", "The title is missing"),
        (
            {"title": "x" * 201},
            "Use at most 200 characters",
            "The title is too long: use at most 200 characters",
        ),
        (
            {"title": "x", "tags": ["t" * 51]},
            "Use at most 50 characters",
            "A tag is too long: use at most 50 characters",
        ),
        (
            {"title": "x", "recurrence": {"rule": "FREQ=HOURLY"}},
            "In the repeat rule, FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY, not HOURLY",
            "In the repeat rule, FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY, not HOURLY",
        ),
        (
            {"title": "x", "colour": "red"},
            "This field is not part of the form",
            '"colour" is not a field Doable knows; leave it out',
        ),
    ],
)
def test_plain_for_forms_and_files(body: dict[str, Any], form: str, in_file: str) -> None:
    """One mapping serves the forms and the import's report; a file's sentence names the
    value and the choices, since there is no field to point at."""
    with pytest.raises(ValidationError) as caught:
        TaskRecord.model_validate(body)
    error = caught.value.errors()[0]
    assert (plain(error), plain(error, in_file=True)) == (form, in_file)


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


def _error_texts(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'class="field-error"[^>]*>([^<]*)<', page)]


async def test_signup_form_speaks_plainly(web: WebClient) -> None:
    await web.get("/signup")
    r = await web.post("/signup", {"email": "me@example.com", "password": "abc", "name": ""})
    assert r.status_code == 422
    assert "Use at least 8 characters" in _error_texts(r.text)
    assert "items after validation" not in r.text and "Value should" not in r.text
    r = await web.post("/signup", {"email": "me", "password": "a long password", "name": ""})
    assert any(t.startswith("Enter an email address such as") for t in _error_texts(r.text))
    # The inputs carry the server's limits.
    page = await web.get("/signup")
    assert re.search(r'<input id="password"[^>]*minlength="8" maxlength="256"', page.text)
    assert re.search(r'<input id="email"[^>]*required maxlength="254"', page.text)
    assert re.search(r'<input id="name"[^>]*maxlength="100"', page.text)
    login = await web.get("/login")
    assert re.search(r'<input id="password"[^>]*required maxlength="256"', login.text)


async def test_task_forms_speak_plainly(web: WebClient) -> None:
    await web.signup()
    task_id = await web.add("Water plants")
    r = await web.post(f"/tasks/{task_id}", {"title": "x" * 201}, htmx=True)
    assert r.status_code == 422
    assert "Use at most 200 characters" in _error_texts(r.text)
    r = await web.post(f"/tasks/{task_id}", {"title": ""}, htmx=True)
    assert "Fill this in" in _error_texts(r.text)
    r = await web.post("/tasks", {"title": "x", "priority": "extreme"}, htmx=True)
    assert r.status_code == 422 and "Choose one of the options offered" in r.text
    form = await web.get(f"/tasks/{task_id}/edit")
    assert re.search(r'name="title" required maxlength="200"', form.text)
    assert re.search(r'name="description" rows="3" maxlength="10000"', form.text)


async def test_account_password_change_speaks_plainly(web: WebClient) -> None:
    await web.signup()
    page = await web.get("/account")
    assert re.search(r'<input id="new_password"[^>]*minlength="8" maxlength="256"', page.text)
    assert re.search(r'<input id="timezone"[^>]*maxlength="64"', page.text)
