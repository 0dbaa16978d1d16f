"""Project and section tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, SmallInteger, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from doable.db import Base, UTCDateTime, key_string, new_id, utcnow

# The fixed palette a project's colour comes from (names, so themes can render them).
PALETTE = (
    "grey",
    "red",
    "orange",
    "yellow",
    "olive",
    "green",
    "teal",
    "blue",
    "indigo",
    "purple",
    "pink",
    "brown",
)
INBOX_NAME = "Inbox"


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        Index("ix_projects_owner_position", "owner_id", "position", "id"),
        # The owner's id on their Inbox, NULL on every other project: one Inbox per user
        # (NULLs never collide in a unique index, on all three backends).
        Index("uq_projects_inbox_owner", "inbox_owner_id", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    color: Mapped[str] = mapped_column(String(16), default="grey")
    favorite: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    inbox_owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    position: Mapped[str] = mapped_column(key_string(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_inbox(self) -> bool:
        return self.inbox_owner_id is not None


class Section(Base):
    __tablename__ = "sections"
    __table_args__ = (
        Index("ix_sections_project_position", "project_id", "position", "id"),
        Index("ix_sections_owner_id", "owner_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("projects.id", ondelete="CASCADE")
    )
    # The project's owner, so a section is scoped by a plain column, like a task.
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[str] = mapped_column(key_string(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}


class ProjectMember(Base):
    """A user a project is shared with, and their role (projects/access.py). The owner is
    `Project.owner_id` and has no row here."""

    __tablename__ = "project_members"
    __table_args__ = (Index("ix_project_members_user", "user_id", "project_id"),)

    project_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaskView(Base):
    """One task of a project shared with a member, with the task's sort keys: an index of
    "what is shared with me" that starts with the member (migration 0022, where triggers keep
    it in step with `tasks` and `project_members`). Read only as an index: every query that
    uses it applies the membership condition to `tasks` as well (projects/access.py)."""

    __tablename__ = "task_views"
    __table_args__ = (
        Index("ix_task_views_user_created", "user_id", "created_at", "task_id"),
        Index("ix_task_views_user_updated", "user_id", "updated_at", "task_id"),
        Index("ix_task_views_user_due", "user_id", "due_sort", "task_id"),
        Index("ix_task_views_user_priority", "user_id", "priority", "task_id"),
        Index("ix_task_views_user_project", "user_id", "project_id"),
    )

    task_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_sort: Mapped[datetime] = mapped_column(UTCDateTime)
    priority: Mapped[int] = mapped_column(SmallInteger)


class ProjectInvitation(Base):
    """An invitation to join a project, bound to one email address (projects/invitations.py).

    Its link is signed with the app's secret; the row makes it single use (`state` leaves
    `pending` once: accepted, declined or revoked) and expiring (`expires_at`)."""

    __tablename__ = "project_invitations"
    __table_args__ = (
        Index("ix_project_invitations_email_state", "email", "state"),
        Index("ix_project_invitations_project_state", "project_id", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("projects.id", ondelete="CASCADE")
    )
    # Lower-cased and trimmed, as users.email is.
    email: Mapped[str] = mapped_column(key_string(254))
    role: Mapped[str] = mapped_column(String(16))
    # Who invited (no foreign key: an invitation outlives its inviter's account).
    invited_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The account that accepted it (no foreign key, like invited_by).
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
