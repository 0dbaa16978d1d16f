"""Task, tag and task-tag tables."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doable.db import Base, UTCDateTime, key_string, new_id, utcnow
from doable.instants import utc_instant

# Tasks without a due date sort after every real one, so the keyset column is never NULL.
NO_DUE = datetime(9999, 12, 31, tzinfo=UTC)

task_tags = Table(
    "task_tags",
    Base.metadata,
    Column("task_id", Uuid, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", Uuid, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_task_tags_tag_id", "tag_id"),
)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (Index("uq_tags_owner_id_name_key", "owner_id", "name_key", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    # casefold()ed name: uniqueness per owner regardless of case.
    name_key: Mapped[str] = mapped_column(key_string(200))
    color: Mapped[str | None] = mapped_column(String(7), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_owner_created", "owner_id", "created_at", "id"),
        Index("ix_tasks_owner_updated", "owner_id", "updated_at", "id"),
        Index("ix_tasks_owner_due", "owner_id", "due_sort", "id"),
        Index("ix_tasks_owner_priority", "owner_id", "priority", "id"),
        # Every column the sidebar's counts read (listing.count_sidebar): they read no row.
        Index(
            "ix_tasks_owner_counts",
            "owner_id",
            "completed",
            "project_id",
            "due_sort",
            "import_batch_id",
        ),
        Index("ix_tasks_project_position", "project_id", "position", "id"),
        # A list's top-level tasks in order: placing a task reads its list's first or last.
        Index("ix_tasks_siblings_position", "project_id", "section_id", "parent_id", "position"),
        Index("ix_tasks_section_id", "section_id"),
        Index("ix_tasks_parent_position", "parent_id", "position"),
        Index("ix_tasks_assignee_due", "assignee_id", "due_sort", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # 0 none, 1 low, 2 medium, 3 high, 4 urgent: stored as a number so it sorts.
    priority: Mapped[int] = mapped_column(SmallInteger, default=0)
    due_date: Mapped[date | None] = mapped_column(Date, default=None)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Sort/filter key for `due`: the instant, or the start of an all-day date in the owner's zone.
    due_sort: Mapped[datetime] = mapped_column(UTCDateTime)
    # RFC 5545 RRULE value (canonical, see tasks/recurrence.py) and from_due | from_completion.
    rrule: Mapped[str | None] = mapped_column(String(500), default=None)
    recurrence_mode: Mapped[str | None] = mapped_column(String(16), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set while an import stages this task (transfer/importer.py): hidden until the import's
    # last transaction clears it for the whole batch. Lists, counts, feeds and exports read
    # `VISIBLE` tasks only.
    import_batch_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    # Where the task lives (projects/service.py). The services keep these three whole (no
    # foreign keys, see migration 0010): a project's, section's or parent's deletion takes
    # care of its tasks. project_id is never NULL once a service has written the task.
    project_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    section_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    # A subtask's parent: same project and section, at most MAX_DEPTH levels (tasks/tree.py).
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    # Order among its siblings (same project, section and parent): doable/positions.py.
    position: Mapped[str] = mapped_column(key_string(64), server_default="")
    # Sharing (projects/access.py). `owner_id` is always the owner of the task's project (the
    # tenant: quota, tags and indexes follow it); who made the task, and the one member it is
    # assigned to, are kept here. No foreign keys, as on the columns above.
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)

    tags: Mapped[list[Tag]] = relationship(secondary=task_tags, lazy="raise", order_by=Tag.name_key)

    __mapper_args__ = {"version_id_col": version}

    @property
    def tag_names(self) -> list[str]:
        return [tag.name for tag in self.tags]


# The tasks a list, a count, a feed or an export shows: not those an import is still staging.
VISIBLE = Task.import_batch_id.is_(None)


@dataclass(slots=True)
class TaskRow:
    """A task as read for display, from plain rows: what list and get return.

    Reading rows instead of `Task` objects skips the ORM's identity map, attribute
    instrumentation and relationship loading, which were most of a read request's time
    (docs/performance.md). Nothing here can be written back; writes load a `Task`."""

    id: uuid.UUID
    title: str
    description: str
    completed: bool
    completed_at: datetime | None
    priority: int
    due_date: date | None
    due_at: datetime | None
    due_sort: datetime
    rrule: str | None
    recurrence_mode: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    project_id: uuid.UUID | None
    section_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    position: str
    assignee_id: uuid.UUID | None
    tag_names: list[str] = field(default_factory=list)
    # Direct subtasks, done and in all (tasks/tree.py fill_progress); 0/0 when not filled.
    subtasks_done: int = 0
    subtasks_total: int = 0

    @classmethod
    def from_row(cls, row: Any) -> TaskRow:
        """From a row whose first columns are TASK_ROW_COLUMNS."""
        return cls(*row[: len(TASK_ROW_COLUMNS)])


# The columns of a TaskRow, in its field order (tag_names aside). Instants are read by
# `utc_instant`, which on PostgreSQL lets the driver make them aware (doable/instants.py).
TASK_ROW_COLUMNS = (
    Task.id,
    Task.title,
    Task.description,
    Task.completed,
    utc_instant(Task.completed_at).label("completed_at"),
    Task.priority,
    Task.due_date,
    utc_instant(Task.due_at).label("due_at"),
    utc_instant(Task.due_sort).label("due_sort"),
    Task.rrule,
    Task.recurrence_mode,
    Task.version,
    utc_instant(Task.created_at).label("created_at"),
    utc_instant(Task.updated_at).label("updated_at"),
    Task.project_id,
    Task.section_id,
    Task.parent_id,
    Task.position,
    Task.assignee_id,
)


class TaskCompletion(Base):
    """One completed occurrence of a recurring task: when, and which due it was for."""

    __tablename__ = "task_completions"
    __table_args__ = (Index("ix_task_completions_task_completed", "task_id", "completed_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    task_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tasks.id", ondelete="CASCADE"))
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    # The due this completion was for: a date (all-day) or an instant, like Task.due_*.
    occurrence_date: Mapped[date | None] = mapped_column(Date, default=None)
    occurrence_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
