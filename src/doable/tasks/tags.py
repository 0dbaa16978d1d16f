"""Tags: each user's own, found case-insensitively by `tag_key`, made on first use (by a task,
an import or a restore), listed with counts, renamed (merging into a tag of the new name) and
deleted. Every query is scoped to the tag's owner; nothing here commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, bindparam, case, delete, exists, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from doable.errors import NotFound
from doable.tasks.models import VISIBLE, Tag, Task, task_tags
from doable.tasks.schemas import TagOut, TagPatch


class TagNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No tag with this id")


def tag_key(name: str) -> str:
    return name.casefold()


# Built once: building it cost more than running it.
_OWNERS_TAGS = select(Tag).where(
    Tag.owner_id == bindparam("owner_id"), Tag.name_key.in_(bindparam("keys", expanding=True))
)


async def resolve_tags(
    session: AsyncSession, owner_id: uuid.UUID, names: Sequence[str]
) -> list[Tag]:
    """Find or create the owner's tags by name, case-insensitively, keeping first spellings."""
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(tag_key(name), name)
    if not wanted:
        return []
    found = await session.execute(_OWNERS_TAGS, {"owner_id": owner_id, "keys": list(wanted)})
    existing = {tag.name_key: tag for tag in found.scalars()}
    tags = []
    for key in sorted(wanted):  # one global order, so concurrent creators cannot deadlock
        tag = existing.get(key)
        if tag is None:
            tag = await _create_tag(session, owner_id, wanted[key], key)
        tags.append(tag)
    return sorted(tags, key=lambda t: t.name_key)


async def _create_tag(session: AsyncSession, owner_id: uuid.UUID, name: str, key: str) -> Tag:
    """Insert a tag; if a concurrent request just created the same one, use theirs."""
    tag = Tag(owner_id=owner_id, name=name, name_key=key)
    try:
        async with session.begin_nested():
            session.add(tag)
    except IntegrityError:
        # A locking read sees the other transaction's committed row even under
        # MySQL's REPEATABLE READ snapshot.
        stmt = (
            select(Tag)
            .where(Tag.owner_id == owner_id, Tag.name_key == key)
            .with_for_update(read=True)
        )
        return (await session.execute(stmt)).scalar_one()
    return tag


def task_count(staged: ColumnElement[bool]) -> ColumnElement[int]:
    """A tag's visible tasks, in a statement whose rows are `Tag`s, given whether the owner
    has tasks an import still stages (`staged`, evaluated once per statement).

    Without staged tasks, every link counts: one index range of `task_tags` per tag
    (ix_task_tags_tag_id covers it), without reading each linked task, which was most of the
    web app's task list page (docs/performance.md). With them, each linked task is read to
    leave the staged ones out. A staged task only ever carries its owner's tags (the import
    makes them for the batch's owner, and nothing moves a task nobody sees), so the owner's
    staged tasks are the only ones to look for."""
    links = select(func.count()).where(task_tags.c.tag_id == Tag.id).scalar_subquery()
    visible_links = (
        select(func.count())
        .select_from(task_tags)
        .join(Task, and_(Task.id == task_tags.c.task_id, VISIBLE))
        .where(task_tags.c.tag_id == Tag.id)
        .scalar_subquery()
    )
    return case((staged, visible_links), else_=links)


async def _tag_counts(
    session: AsyncSession, owner_id: uuid.UUID, tag_ids: list[uuid.UUID] | None = None
) -> list[TagOut]:
    """The owner's tags with their visible tasks' counts; the check for staged tasks and the
    counts are one statement, so they see the same rows."""
    staged = exists().where(Task.owner_id == owner_id, Task.import_batch_id.is_not(None))
    stmt = (
        select(Tag.id, Tag.name, Tag.color, task_count(staged))
        .where(Tag.owner_id == owner_id)
        .order_by(Tag.name_key)
    )
    if tag_ids is not None:
        stmt = stmt.where(Tag.id.in_(tag_ids))
    rows = (await session.execute(stmt)).all()
    return [TagOut(id=i, name=name, color=color, task_count=n) for i, name, color, n in rows]


async def list_tags(session: AsyncSession, owner_id: uuid.UUID) -> list[TagOut]:
    return await _tag_counts(session, owner_id)


async def get_tag(session: AsyncSession, owner_id: uuid.UUID, tag_id: uuid.UUID) -> Tag:
    tag = (
        await session.execute(select(Tag).where(Tag.owner_id == owner_id, Tag.id == tag_id))
    ).scalar_one_or_none()
    if tag is None:
        raise TagNotFound()
    return tag


async def update_tag(session: AsyncSession, tag: Tag, data: TagPatch) -> TagOut:
    """Rename or recolour; renaming onto another tag of the owner merges this one into it."""
    target = tag
    if data.name is not None and tag_key(data.name) != tag.name_key:
        other = (
            await session.execute(
                select(Tag).where(Tag.owner_id == tag.owner_id, Tag.name_key == tag_key(data.name))
            )
        ).scalar_one_or_none()
        if other is not None:
            await _merge_tags(session, source=tag, target=other)
            target = other
        else:
            tag.name, tag.name_key = data.name, tag_key(data.name)
    elif data.name is not None:
        tag.name = data.name  # same key, new spelling
    if data.color is not None:
        target.color = data.color.lower()
    await session.flush()
    (out,) = await _tag_counts(session, target.owner_id, [target.id])
    return out


async def _merge_tags(session: AsyncSession, *, source: Tag, target: Tag) -> None:
    source_tasks = set(
        (
            await session.execute(
                select(task_tags.c.task_id).where(task_tags.c.tag_id == source.id)
            )
        ).scalars()
    )
    target_tasks = set(
        (
            await session.execute(
                select(task_tags.c.task_id).where(task_tags.c.tag_id == target.id)
            )
        ).scalars()
    )
    missing = source_tasks - target_tasks
    if missing:
        await session.execute(
            insert(task_tags), [{"task_id": t, "tag_id": target.id} for t in sorted(missing)]
        )
    await session.execute(delete(task_tags).where(task_tags.c.tag_id == source.id))
    await session.execute(delete(Tag).where(Tag.id == source.id, Tag.owner_id == source.owner_id))
    session.expunge(source)


async def delete_tag(session: AsyncSession, tag: Tag) -> None:
    await session.execute(delete(task_tags).where(task_tags.c.tag_id == tag.id))
    await session.execute(delete(Tag).where(Tag.id == tag.id, Tag.owner_id == tag.owner_id))
