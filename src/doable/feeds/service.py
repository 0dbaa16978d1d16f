"""Feed logic: create, list, rotate and revoke feeds, find one by its secret, and read the tasks
it publishes with a cheap fingerprint for its ETag. Never commits."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth.models import User
from doable.auth.security import hash_token
from doable.db import count_locked, lock_row, touch_at_most_every, utcnow
from doable.errors import Conflict, NotFound
from doable.feeds.models import CalendarFeed
from doable.feeds.schemas import FeedCreate
from doable.projects import access
from doable.projects import service as projects
from doable.projects.models import Project, ProjectMember
from doable.tasks.models import NO_DUE, VISIBLE, Tag, Task, task_tags
from doable.tasks.schemas import PRIORITY_LEVELS
from doable.tasks.tags import tag_key
from doable.zones import Zone, zone_of

# Active (not revoked) feeds per user: each is a standing credential, so keep them few.
MAX_FEEDS_PER_USER = 20
# A feed publishes at most this many tasks: those due last (the future and the recent past).
MAX_FEED_TASKS = 5_000
# 256 random bits, URL-safe base64 without padding: always exactly 43 characters.
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
HINT_CHARS = 4
FETCH_TOUCH_INTERVAL = timedelta(minutes=1)
# Bumped whenever the rendering changes, so every ETag (and cached component) changes with it.
FORMAT_VERSION = "2"


class FeedNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No calendar feed with this id")


class FeedSecretNotFound(NotFound):
    """The one answer for a wrong, malformed, revoked or rotated-away secret."""

    def __init__(self) -> None:
        super().__init__("No calendar feed at this address")


class TooManyFeeds(Conflict):
    def __init__(self) -> None:
        super().__init__(
            f"You already have {MAX_FEEDS_PER_USER} calendar feeds; revoke one to make another"
        )


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def is_well_formed(secret: str) -> bool:
    return SECRET_RE.fullmatch(secret) is not None


def priorities_of(feed: CalendarFeed) -> list[str] | None:
    return feed.priorities.split(",") if feed.priorities else None


async def create_feed(
    session: AsyncSession, user: User, data: FeedCreate
) -> tuple[CalendarFeed, str]:
    """Make a feed; the raw secret is returned once and only its SHA-256 is stored.

    The owner's row is locked first, so concurrent creates count one after another."""
    await lock_row(session, User.id, user.id)
    active = await count_locked(
        session,
        select(CalendarFeed.id).where(
            CalendarFeed.owner_id == user.id, CalendarFeed.revoked_at.is_(None)
        ),
    )
    if active >= MAX_FEEDS_PER_USER:
        raise TooManyFeeds()
    if data.project_id is not None:
        await projects.get_project(session, user, data.project_id)  # 404 if not theirs
    raw = new_secret()
    feed = CalendarFeed(
        owner_id=user.id,
        name=data.name,
        secret_hash=hash_token(raw),
        hint=raw[:HINT_CHARS],
        kind=data.kind,
        tag=data.tag,
        priorities=",".join(data.priority or []),
        status=data.status,
        project_id=data.project_id,
        created_at=utcnow(),
    )
    session.add(feed)
    await session.flush()
    return feed, raw


async def list_feeds(session: AsyncSession, owner_id: uuid.UUID) -> list[CalendarFeed]:
    """The user's feeds that are not revoked, newest first."""
    stmt = (
        select(CalendarFeed)
        .where(CalendarFeed.owner_id == owner_id, CalendarFeed.revoked_at.is_(None))
        .order_by(CalendarFeed.created_at.desc(), CalendarFeed.id)
    )
    return list((await session.execute(stmt)).scalars())


async def get_feed(session: AsyncSession, owner_id: uuid.UUID, feed_id: uuid.UUID) -> CalendarFeed:
    """One of the user's live feeds; another user's (or a revoked) one is simply not found."""
    feed = (
        await session.execute(
            select(CalendarFeed).where(
                CalendarFeed.id == feed_id,
                CalendarFeed.owner_id == owner_id,
                CalendarFeed.revoked_at.is_(None),
            )
        )
    ).scalar_one_or_none()
    if feed is None:
        raise FeedNotFound()
    return feed


async def revoke_feed(session: AsyncSession, owner_id: uuid.UUID, feed_id: uuid.UUID) -> None:
    result = await session.execute(
        update(CalendarFeed)
        .where(
            CalendarFeed.id == feed_id,
            CalendarFeed.owner_id == owner_id,
            CalendarFeed.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise FeedNotFound()


async def rotate_feed(
    session: AsyncSession, owner_id: uuid.UUID, feed_id: uuid.UUID
) -> tuple[CalendarFeed, str]:
    """Give the feed a new secret: the old URL answers 404 from the commit on."""
    feed = await get_feed(session, owner_id, feed_id)
    raw = new_secret()
    feed.secret_hash, feed.hint = hash_token(raw), raw[:HINT_CHARS]
    await session.flush()
    return feed, raw


async def feed_for_secret(session: AsyncSession, raw: str) -> tuple[CalendarFeed, Zone]:
    """The live feed whose secret this is, with its owner's time zone (repeating times are
    written in it). The secret is compared by its SHA-256 in an index lookup, so timing says
    nothing about how much of a guess was right."""
    if not is_well_formed(raw):
        raise FeedSecretNotFound()
    found = (
        await session.execute(
            select(CalendarFeed, User.timezone)
            .join(User, User.id == CalendarFeed.owner_id)
            .where(CalendarFeed.secret_hash == hash_token(raw), CalendarFeed.revoked_at.is_(None))
        )
    ).one_or_none()
    if found is None:
        raise FeedSecretNotFound()
    feed, zone_name = found
    return feed, zone_of(zone_name)


def needs_touch(feed: CalendarFeed, now: datetime) -> bool:
    return feed.last_fetched_at is None or now - feed.last_fetched_at >= FETCH_TOUCH_INTERVAL


async def touch_feed(session: AsyncSession, feed_id: uuid.UUID, now: datetime) -> None:
    """Record a fetch, at most once a minute: of concurrent fetches only one update lands."""
    await touch_at_most_every(
        session, CalendarFeed.last_fetched_at, feed_id, now, FETCH_TOUCH_INTERVAL
    )


async def revoke_all_for_owner(session: AsyncSession, owner_id: uuid.UUID) -> None:
    """Revoke every live feed of the user: part of signing out everywhere (and so of a password
    change), since a feed made with a leaked credential would otherwise keep publishing."""
    await session.execute(
        update(CalendarFeed)
        .where(CalendarFeed.owner_id == owner_id, CalendarFeed.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def delete_for_owner(session: AsyncSession, owner_id: uuid.UUID) -> None:
    await session.execute(delete(CalendarFeed).where(CalendarFeed.owner_id == owner_id))


# What a feed publishes


@dataclass(frozen=True)
class FeedTask:
    """The fields of a task a feed renders: plain data, safe to hand to a worker thread."""

    id: uuid.UUID
    title: str
    description: str
    priority: int
    completed: bool
    completed_at: datetime | None
    due: date | datetime
    rrule: str | None
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


def task_rrule(task: object) -> str | None:
    """The row's recurrence rule (RRULE value without `RRULE:`), or None for a one-off task."""
    value = getattr(task, "rrule", None)
    return value if isinstance(value, str) and value.strip() else None


def _conditions(feed: CalendarFeed) -> list[ColumnElement[bool]]:
    """The feed's filters: the owner's dated tasks outside archived projects, then project,
    status, priorities and tag."""
    subscriber = access.Someone(feed.owner_id)
    conditions: list[ColumnElement[bool]] = [
        access.task_scope(subscriber),
        VISIBLE,
        Task.due_sort != NO_DUE,
        projects.in_active_project(subscriber),
    ]
    if feed.project_id is not None:
        conditions.append(Task.project_id == feed.project_id)
    if feed.status == "open":
        conditions.append(Task.completed.is_(False))
    elif feed.status == "completed":
        conditions.append(Task.completed.is_(True))
    priorities = priorities_of(feed)
    if priorities:
        conditions.append(Task.priority.in_([PRIORITY_LEVELS[p] for p in priorities]))
    if feed.tag:
        conditions.append(
            select(task_tags.c.task_id)
            .join(Tag, Tag.id == task_tags.c.tag_id)
            .where(
                task_tags.c.task_id == Task.id,
                Tag.owner_id == feed.owner_id,
                Tag.name_key == tag_key(feed.tag),
            )
            .exists()
        )
    return conditions


async def fingerprint(session: AsyncSession, feed: CalendarFeed, zone: Zone) -> str:
    """A strong ETag that changes whenever the feed's output would, computed without reading
    the tasks: the feed's settings, the owner's time zone, how many tasks match with their
    latest `updated_at` and summed versions (every task change bumps both), and the owner's tag
    names (a tag rename changes CATEGORIES without touching its tasks), and when the owner's
    projects last changed (archiving one changes what matches without touching a task)."""
    subscriber = access.Someone(feed.owner_id)
    # The projects the subscriber sees: their own and those shared with them (a member's feed
    # shows a shared project's tasks while they are a member, and its ETag changes when they
    # join or leave, or when the project's owner archives it or renames a tag of its tasks).
    projects_changed = (
        select(func.max(Project.updated_at))
        .where(access.project_scope(subscriber))
        .scalar_subquery()
    )
    memberships = (
        select(func.count(), func.max(ProjectMember.created_at))
        .where(ProjectMember.user_id == feed.owner_id)
        .subquery()
    )
    tenants = select(Project.owner_id).where(access.project_scope(subscriber))
    count, latest, versions, projects_at, shares, joined = (
        await session.execute(
            select(
                func.count(),
                func.max(Task.updated_at),
                func.sum(Task.version),
                projects_changed,
                select(memberships.c[0]).scalar_subquery(),
                select(memberships.c[1]).scalar_subquery(),
            ).where(*_conditions(feed))
        )
    ).one()
    shared = bool(shares)
    tags = (
        await session.execute(
            select(Tag.id, Tag.name)
            .where(Tag.owner_id.in_(tenants) if shared else Tag.owner_id == feed.owner_id)
            .order_by(Tag.id)
        )
    ).all()
    digest = hashlib.sha256()
    for part in (
        str(feed.project_id or ""),
        projects_at.isoformat() if projects_at is not None else "",
        FORMAT_VERSION,
        str(feed.id),
        feed.name,
        feed.kind,
        feed.tag or "",
        feed.priorities,
        feed.status,
        zone.key,
        str(count),
        latest.isoformat() if latest is not None else "",
        str(int(versions or 0)),
        f"{shares}:{joined.isoformat() if joined is not None else ''}",
        *(f"{tag_id}={name}" for tag_id, name in tags),
    ):
        digest.update(part.encode())
        digest.update(b"\x00")
    return f'"{digest.hexdigest()[:40]}"'


async def feed_tasks(session: AsyncSession, feed: CalendarFeed) -> list[FeedTask]:
    """The tasks the feed publishes, due soonest first: at most MAX_FEED_TASKS of them (those
    due last), with their tags in one more query."""
    conditions = _conditions(feed)
    # Columns, not ORM objects: thousands of rows load several times faster without the
    # identity map. `rrule` is selected where the model has it (recurrence is a later branch).
    columns = [
        Task.id,
        Task.title,
        Task.description,
        Task.priority,
        Task.completed,
        Task.completed_at,
        Task.due_date,
        Task.due_at,
        Task.created_at,
        Task.updated_at,
        Task.rrule,
    ]
    tasks = (
        await session.execute(
            select(*columns)
            .where(*conditions)
            .order_by(Task.due_sort.desc(), Task.id.desc())
            .limit(MAX_FEED_TASKS)
        )
    ).all()
    tags: dict[uuid.UUID, list[str]] = {}
    if tasks:
        # One query for every tag of every matching task (past the cap too: cheaper than an
        # IN list of thousands of ids, and MySQL refuses LIMIT inside IN).
        pairs = await session.execute(
            select(task_tags.c.task_id, Tag.name)
            .join(Tag, Tag.id == task_tags.c.tag_id)
            .join(Task, Task.id == task_tags.c.task_id)
            .where(*conditions)
            .order_by(Tag.name_key)
        )
        for task_id, name in pairs:
            tags.setdefault(task_id, []).append(name)
    out = []
    for task in reversed(tasks):
        due: date | datetime | None = task.due_at if task.due_at is not None else task.due_date
        if due is None:  # due_sort says dated; a row that disagrees is skipped, not a 500
            continue
        out.append(
            FeedTask(
                id=task.id,
                title=task.title,
                description=task.description,
                priority=task.priority,
                completed=task.completed,
                completed_at=task.completed_at,
                due=due,
                rrule=task_rrule(task),
                tags=tuple(tags.get(task.id, ())),
                created_at=task.created_at,
                updated_at=task.updated_at,
            )
        )
    return out
