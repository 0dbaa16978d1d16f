"""Reminders in words (issue 18): the edit page says what a reminder does, in the user's zone,
not "At the due time due"."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from doable.reminders import wording
from tests.webclient import WebClient

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "at the due time"),
        (60, "1 minute before the due time"),
        (300, "5 minutes before the due time"),
        (1800, "30 minutes before the due time"),
        (3600, "1 hour before the due time"),
        (5400, "1 hour and 30 minutes before the due time"),
        (86400, "1 day before the due time"),
        (2 * 86400, "2 days before the due time"),
        (7 * 86400, "1 week before the due time"),
        (8 * 86400 + 3600 + 61, "1 week, 1 day, 1 hour, 1 minute and 1 second before the due time"),
    ],
)
def test_before_in_words(seconds: int, words: str) -> None:
    assert wording.before(seconds) == words


def test_at_in_words_in_the_users_zone() -> None:
    instant = datetime(2026, 12, 11, 8, 0, tzinfo=UTC)
    assert wording.at(instant, BERLIN, today=date(2026, 12, 6)) == "at 09:00 on Fri 11 Dec"
    assert wording.at(instant, ZoneInfo("America/New_York")) == "at 03:00 on Fri 11 Dec"
    assert wording.at(instant, BERLIN, today=date(2025, 1, 1)) == "at 09:00 on Fri 11 Dec 2026"
    assert wording.sentence("at the due time") == "At the due time"


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebClient:
    return WebClient(client)


async def test_the_edit_page_lists_reminders_in_words(web: WebClient) -> None:
    await web.signup(timezone="Europe/Berlin")
    task_id = await web.add("Dentist", due_date="2030-12-12", due_time="15:00")
    for body in ({"before": "PT0S"}, {"before": "PT30M"}, {"at": "2030-12-11T09:00"}):
        assert (await web.post(f"/tasks/{task_id}/reminders", body)).status_code == 303
    page = await web.get(f"/tasks/{task_id}/edit")
    row = r'<li[^>]*>\s*<span>(.*?)</span> <span class="muted">· (.*?)</span>'
    rows = re.findall(row, page.text)
    assert rows == [
        ("At the due time", "fires at 15:00 on Thu 12 Dec 2030"),
        ("30 minutes before the due time", "fires at 14:30 on Thu 12 Dec 2030"),
        ("At 09:00 on Wed 11 Dec 2030", "upcoming"),
    ]
    assert 'aria-label="Delete reminder: 30 minutes before the due time"' in page.text
    assert "due time due" not in page.text


async def test_a_reminder_waiting_for_a_due(web: WebClient) -> None:
    await web.signup(timezone="Europe/Berlin")
    task_id = await web.add("Someday")
    assert (await web.post(f"/tasks/{task_id}/reminders", {"before": "PT1H"})).status_code == 303
    page = await web.get(f"/tasks/{task_id}/edit")
    assert (
        '<span>1 hour before the due time</span> <span class="muted">· waits until the task has'
        " a due date</span>" in page.text
    )
