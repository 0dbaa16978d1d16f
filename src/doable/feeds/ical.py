"""Rendering a feed as iCalendar (RFC 5545) with the `icalendar` package: VTODO or VEVENT.

The output depends only on the feed, its owner's time zone and its tasks (DTSTAMP is the task's
`updated_at`, not the time of the request), so the same data always gives the same bytes and
the fingerprint ETag holds. It is rendered one component at a time, so a large feed streams in
chunks.

A repeating timed task is written in the owner's zone (`DTSTART;TZID=…` with that zone's
VTIMEZONE), because its rule repeats in local wall time: a UTC DTSTART would move it by an hour
across a DST change, and BYDAY would count UTC days. One-off times stay in UTC.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from icalendar import Calendar, Component, Event, Timezone, Todo, vDuration, vRecur

from doable.feeds.cache import RenderCache
from doable.feeds.models import CalendarFeed
from doable.feeds.service import FORMAT_VERSION, FeedTask
from doable.tasks import recurrence
from doable.zones import Zone

logger = logging.getLogger(__name__)

PRODID = "-//Doable//Calendar feed//EN"
# How often calendar apps are asked to poll (REFRESH-INTERVAL, X-PUBLISHED-TTL).
REFRESH_INTERVAL = timedelta(hours=1)
# How long a timed task lasts as a VEVENT (it has a due instant, not a duration).
EVENT_DURATION = timedelta(minutes=30)
# Doable's priorities as RFC 5545 PRIORITY: 1 highest, 9 lowest, 0 undefined. Thunderbird and
# most task apps read 1-4 as high, 5 as medium and 6-9 as low.
ICAL_PRIORITY = {4: 1, 3: 3, 2: 5, 1: 9, 0: 0}
COMPLETED_MARK = "✓ "
# A VTIMEZONE lists the zone's transitions from the year of the earliest repeating due to this
# many years after the latest one.
TIMEZONE_YEARS_AHEAD = 10
_END = b"END:VCALENDAR\r\n"

# Text that must never reach a property: C0 controls but tab and line feed, DEL, C1 controls
# and lone surrogates (which UTF-8 cannot encode). Line breaks end a one-line value.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff]")
_BREAK_RE = re.compile("\r\n|[\r\n\x85\u2028\u2029\t]")


def one_line(text: str) -> str:
    """A one-line value (SUMMARY, CATEGORIES, the calendar's name): breaks become spaces."""
    return _CONTROL_RE.sub("", _BREAK_RE.sub(" ", text))


def multi_line(text: str) -> str:
    """A DESCRIPTION: every line break becomes a line feed (escaped as \\n by icalendar)."""
    return _CONTROL_RE.sub("", re.sub("\r\n|[\r\x85\u2028\u2029]", "\n", text))


def uid(task: FeedTask, feed_id: uuid.UUID) -> str:
    """Stable across edits and secret rotation; per feed, so two feeds of the same tasks in one
    calendar app do not fight over one UID."""
    return f"{task.id}.{feed_id.hex[:8]}@doable"


@lru_cache(maxsize=1024)
def _parsed(text: str) -> recurrence.Rule | None:
    try:
        return recurrence.parse(text)
    except recurrence.RuleError:
        return None


def rule_of(task: FeedTask) -> recurrence.Rule | None:
    """The task's rule as Doable reads it, or None: a stored rule Doable refuses is left out
    rather than breaking the whole feed."""
    return _parsed(task.rrule) if task.rrule else None


def _ical_until(rule: recurrence.Rule, zone: Zone, *, all_day: bool) -> recurrence.Until:
    """UNTIL of the value type RFC 5545 asks for: a date with a DATE DTSTART, else a UTC time,
    meaning what Doable means by it (a date bound is inclusive, in local time)."""
    u = rule.until
    assert u is not None
    if all_day:
        if u.clock is not None and u.utc:
            moment = datetime.combine(u.day, u.clock, UTC).astimezone(zone)
            return recurrence.Until(moment.date())
        return recurrence.Until(u.day)
    if u.clock is None:
        local = datetime.combine(u.day, time(23, 59, 59))
    elif u.utc:
        return u
    else:
        local = datetime.combine(u.day, u.clock)
    instant = recurrence.to_instant(local, zone)
    return recurrence.Until(instant.date(), instant.time(), utc=True)


def rrule_value(rule: recurrence.Rule, zone: Zone, *, all_day: bool) -> vRecur:
    if rule.until is not None:
        rule = dataclasses.replace(rule, until=_ical_until(rule, zone, all_day=all_day))
    value: vRecur = vRecur.from_ical(rule.text)
    return value


def _local(due: datetime, zone: Zone) -> datetime:
    """The due as wall-clock time in the zone, written `TZID=<zone>` (or in UTC for UTC)."""
    if zone.key == "UTC":
        return due.astimezone(UTC)
    return recurrence.to_local(due, zone).replace(tzinfo=zone)


def _start(task: FeedTask, rule: recurrence.Rule | None, zone: Zone) -> date | datetime:
    if isinstance(task.due, datetime) and rule is not None:
        return _local(task.due, zone)
    return task.due


def _common(component: Component, task: FeedTask, feed_id: uuid.UUID) -> None:
    component.add("UID", uid(task, feed_id))
    component.add("DTSTAMP", task.updated_at)
    component.add("CREATED", task.created_at)
    component.add("LAST-MODIFIED", task.updated_at)
    description = multi_line(task.description)
    if description:
        component.add("DESCRIPTION", description)
    component.add("PRIORITY", ICAL_PRIORITY.get(task.priority, 0))
    tags = [name for name in map(one_line, task.tags) if name]
    if tags:
        component.add("CATEGORIES", tags)


def _summary(component: Component, title: str) -> None:
    # A title that was nothing but control characters leaves no SUMMARY rather than an empty
    # one, which libical refuses.
    if title:
        component.add("SUMMARY", title)


def todo(task: FeedTask, feed_id: uuid.UUID, zone: Zone) -> Todo:
    """A one-off task has a DUE and no DTSTART. A repeating one has DTSTART (where RRULE
    counts from, RFC 5545 3.8.2.4) and no DUE: RFC 5545 wants DUE after DTSTART, and any DUE
    later than the occurrence would move the task."""
    item = Todo()
    _common(item, task, feed_id)
    _summary(item, one_line(task.title))
    rule = rule_of(task)
    if rule is not None:
        item.add("DTSTART", _start(task, rule, zone))
        item.add("RRULE", rrule_value(rule, zone, all_day=not isinstance(task.due, datetime)))
    else:
        # A date stays a date (DUE;VALUE=DATE); an instant is written in UTC.
        item.add("DUE", task.due)
    if task.completed:
        item.add("STATUS", "COMPLETED")
        item.add("PERCENT-COMPLETE", 100)
        if task.completed_at is not None:
            item.add("COMPLETED", task.completed_at)
    else:
        item.add("STATUS", "NEEDS-ACTION")
    return item


def event(task: FeedTask, feed_id: uuid.UUID, zone: Zone) -> Event:
    item = Event()
    _common(item, task, feed_id)
    # Events have no status for "done"; the title says it instead.
    _summary(item, (COMPLETED_MARK if task.completed else "") + one_line(task.title))
    rule = rule_of(task)
    start = _start(task, rule, zone)
    item.add("DTSTART", start)
    if isinstance(start, datetime):
        item.add("DTEND", start + EVENT_DURATION)
    else:
        item.add("DTEND", start + timedelta(days=1))
    if rule is not None:
        item.add("RRULE", rrule_value(rule, zone, all_day=not isinstance(task.due, datetime)))
    item.add("TRANSP", "TRANSPARENT")  # a task does not make you busy
    return item


def component(task: FeedTask, feed_id: uuid.UUID, kind: str, zone: Zone) -> Component:
    if kind == "vevent":
        return event(task, feed_id, zone)
    return todo(task, feed_id, zone)


@lru_cache(maxsize=64)
def _vtimezone(zone: Zone, first_year: int, last_year: int) -> bytes:
    vtimezone = Timezone.from_tzinfo(
        zone, zone.key, first_date=date(first_year, 1, 1), last_date=date(last_year, 1, 1)
    )
    # RFC 5545 allows COMMENT only inside STANDARD and DAYLIGHT; libical refuses it here.
    vtimezone.pop("COMMENT", None)
    text: bytes = vtimezone.to_ical()
    return text


def vtimezone(zone: Zone, tasks: Iterable[FeedTask]) -> bytes:
    """The zone's VTIMEZONE if some task is written with its TZID, else nothing."""
    if zone.key == "UTC":
        return b""
    years = [t.due.year for t in tasks if isinstance(t.due, datetime) and rule_of(t) is not None]
    if not years:
        return b""
    last = min(max(years) + TIMEZONE_YEARS_AHEAD + 1, 9999)
    return _vtimezone(zone, min(years), last)


def header(feed: CalendarFeed, zone: Zone, tasks: Iterable[FeedTask]) -> bytes:
    """VCALENDAR's own properties and the VTIMEZONE the tasks need, without its END line. No
    METHOD: a published feed is not an iTIP message (RFC 5546), and with METHOD:PUBLISH libical
    wants an ORGANIZER and a DTSTART in every VTODO."""
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.calendar_name = one_line(feed.name) or "Doable"
    calendar.add("UID", str(feed.id))
    calendar.add("REFRESH-INTERVAL", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", vDuration(REFRESH_INTERVAL))
    text: bytes = calendar.to_ical()
    assert text.endswith(_END)
    return text[: -len(_END)] + vtimezone(zone, tasks)


def footer() -> bytes:
    return _END


def _iso(value: date | datetime | None) -> str:
    return "" if value is None else f"{type(value).__name__}:{value.isoformat()}"


def cache_key(task: FeedTask, feed_id: uuid.UUID, kind: str, zone: Zone) -> bytes:
    """A digest of everything the component is made of: a few dozen bytes however long the
    task's text, so the cache's budget goes to rendered output."""
    digest = hashlib.blake2b(digest_size=20)
    for part in (
        FORMAT_VERSION,
        str(task.id),
        feed_id.hex,
        kind,
        zone.key,
        task.title,
        task.description,
        str(task.priority),
        str(task.completed),
        _iso(task.completed_at),
        _iso(task.due),
        task.rrule or "",
        *task.tags,
        _iso(task.created_at),
        _iso(task.updated_at),
    ):
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.digest()


def _rendered(
    task: FeedTask, feed_id: uuid.UUID, kind: str, zone: Zone, cache: RenderCache
) -> bytes:
    key = cache_key(task, feed_id, kind, zone)
    found = cache.get(key)
    if found is not None:
        return found
    try:
        ical: bytes = component(task, feed_id, kind, zone).to_ical()
    except Exception as exc:  # one unrenderable task must not cut the feed short
        logger.error(
            "feed component not rendered",
            extra={"task_id": str(task.id), "error": type(exc).__name__},
        )
        return b""
    cache.put(key, ical)
    return ical


def render_chunk(
    tasks: Iterable[FeedTask], feed: CalendarFeed, zone: Zone, cache: RenderCache
) -> bytes:
    """The components of these tasks, each cached by a digest of everything it is made of, so
    after one edit only that task's component is rendered again: icalendar needs about half a
    millisecond per component."""
    return b"".join(_rendered(task, feed.id, feed.kind, zone, cache) for task in tasks)


def chunks(tasks: list[FeedTask], size: int) -> Iterator[list[FeedTask]]:
    for start in range(0, len(tasks), size):
        yield tasks[start : start + size]


def render(feed: CalendarFeed, zone: Zone, tasks: list[FeedTask], cache: RenderCache) -> bytes:
    """The whole feed at once (the route streams the same bytes in chunks)."""
    return header(feed, zone, tasks) + render_chunk(tasks, feed, zone, cache) + footer()
