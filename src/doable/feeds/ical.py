"""Rendering a feed as iCalendar (RFC 5545) with the `icalendar` package: VTODO or VEVENT.

The output depends only on the feed and its tasks (DTSTAMP is the task's `updated_at`, not the
time of the request), so the same data always gives the same bytes and the fingerprint ETag
holds. It is rendered one component at a time, so a large feed streams in chunks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from functools import lru_cache

from icalendar import Calendar, Component, Event, Todo, vDuration, vRecur

from doable.feeds.models import CalendarFeed
from doable.feeds.service import FeedTask

PRODID = "-//Doable//Calendar feed//EN"
# How often calendar apps are asked to poll (REFRESH-INTERVAL, X-PUBLISHED-TTL).
REFRESH_INTERVAL = timedelta(hours=1)
# How long a timed task lasts as a VEVENT (it has a due instant, not a duration).
EVENT_DURATION = timedelta(minutes=30)
# Doable's priorities as RFC 5545 PRIORITY: 1 highest, 9 lowest, 0 undefined. Thunderbird and
# most task apps read 1-4 as high, 5 as medium and 6-9 as low.
ICAL_PRIORITY = {4: 1, 3: 3, 2: 5, 1: 9, 0: 0}
COMPLETED_MARK = "✓ "
# Rendered components kept in memory (about 0.5 KB each): enough for a few large feeds.
COMPONENT_CACHE_SIZE = 20_000
_END = b"END:VCALENDAR\r\n"


def uid(task: FeedTask, feed_id: uuid.UUID) -> str:
    """Stable across edits and secret rotation; per feed, so two feeds of the same tasks in one
    calendar app do not fight over one UID."""
    return f"{task.id}.{feed_id.hex[:8]}@doable"


def rrule_value(task: FeedTask) -> vRecur | None:
    """The RRULE of a recurring task, or None. A rule the parser refuses is left out rather
    than breaking the whole feed."""
    if not task.rrule:
        return None
    try:
        rule: vRecur = vRecur.from_ical(task.rrule.removeprefix("RRULE:"))
        return rule
    except ValueError:
        return None


def _common(component: Component, task: FeedTask, feed_id: uuid.UUID) -> None:
    component.add("UID", uid(task, feed_id))
    component.add("DTSTAMP", task.updated_at)
    component.add("CREATED", task.created_at)
    component.add("LAST-MODIFIED", task.updated_at)
    if task.description:
        component.add("DESCRIPTION", task.description)
    component.add("PRIORITY", ICAL_PRIORITY.get(task.priority, 0))
    if task.tags:
        component.add("CATEGORIES", list(task.tags))


def todo(task: FeedTask, feed_id: uuid.UUID) -> Todo:
    item = Todo()
    _common(item, task, feed_id)
    item.add("SUMMARY", task.title)
    # A date stays a date (DUE;VALUE=DATE); an instant is written in UTC.
    rule = rrule_value(task)
    if rule is not None:
        item.add("DTSTART", task.due)  # recurrence counts from DTSTART
    item.add("DUE", task.due)
    if rule is not None:
        item.add("RRULE", rule)
    if task.completed:
        item.add("STATUS", "COMPLETED")
        item.add("PERCENT-COMPLETE", 100)
        if task.completed_at is not None:
            item.add("COMPLETED", task.completed_at)
    else:
        item.add("STATUS", "NEEDS-ACTION")
    return item


def event(task: FeedTask, feed_id: uuid.UUID) -> Event:
    item = Event()
    _common(item, task, feed_id)
    # Events have no status for "done"; the title says it instead.
    item.add("SUMMARY", (COMPLETED_MARK if task.completed else "") + task.title)
    if isinstance(task.due, datetime):
        item.add("DTSTART", task.due)
        item.add("DTEND", task.due + EVENT_DURATION)
    else:
        item.add("DTSTART", task.due)
        item.add("DTEND", task.due + timedelta(days=1))
    rule = rrule_value(task)
    if rule is not None:
        item.add("RRULE", rule)
    item.add("TRANSP", "TRANSPARENT")  # a task does not make you busy
    return item


def component(task: FeedTask, feed_id: uuid.UUID, kind: str) -> Component:
    return event(task, feed_id) if kind == "vevent" else todo(task, feed_id)


def header(feed: CalendarFeed) -> bytes:
    """VCALENDAR's own properties, without its END line."""
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("METHOD", "PUBLISH")
    calendar.calendar_name = feed.name
    calendar.add("UID", str(feed.id))
    calendar.add("REFRESH-INTERVAL", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", vDuration(REFRESH_INTERVAL))
    text: bytes = calendar.to_ical()
    assert text.endswith(_END)
    return text[: -len(_END)]


def footer() -> bytes:
    return _END


@lru_cache(maxsize=COMPONENT_CACHE_SIZE)
def _rendered(task: FeedTask, feed_id: uuid.UUID, kind: str) -> bytes:
    ical: bytes = component(task, feed_id, kind).to_ical()
    return ical


def render_chunk(tasks: Iterable[FeedTask], feed: CalendarFeed) -> bytes:
    """The components of these tasks. Each is cached by everything it is made of (a FeedTask
    holds the task's fields, `updated_at` and tag names), so after one edit only that task's
    component is rendered again: icalendar needs about half a millisecond per component."""
    return b"".join(_rendered(task, feed.id, feed.kind) for task in tasks)


def chunks(tasks: list[FeedTask], size: int) -> Iterator[list[FeedTask]]:
    for start in range(0, len(tasks), size):
        yield tasks[start : start + size]


def render(feed: CalendarFeed, tasks: list[FeedTask]) -> bytes:
    """The whole feed at once (the route streams the same bytes in chunks)."""
    return header(feed) + render_chunk(tasks, feed) + footer()
