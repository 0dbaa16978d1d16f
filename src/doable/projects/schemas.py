"""Request and response bodies of /api/v1/projects and /api/v1/sections."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from doable.auth.schemas import Email
from doable.errors import InvalidInput
from doable.projects.models import PALETTE, Project, Section
from doable.projects.service import Placement
from doable.types import Text

Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=120),
    Text(strip=True, blank=False, one_line=True),
]
Color = Literal[
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
]
assert get_args(Color) == PALETTE, "Color must list projects.models.PALETTE"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _not_nullable(*names: str) -> Any:
    """Drop `null` from these fields' schemas: they may be left out, but null is refused
    (`refuse_nulls`), so the schema must not offer it."""

    def edit(schema: dict[str, Any]) -> None:
        for name in names:
            field = schema["properties"][name]
            (kept,) = [branch for branch in field.pop("anyOf") if branch != {"type": "null"}]
            field.update(kept)

    return edit


def refuse_nulls(data: BaseModel, *names: str) -> None:
    for name in names:
        if name in data.model_fields_set and getattr(data, name) is None:
            raise InvalidInput(f"{name} cannot be null", loc=["body", name])


class Moved(Strict):
    """A place among siblings: right after or before one of them, or first or last.
    Give at most one; left out on create means last, on PATCH unchanged."""

    after: uuid.UUID | None = Field(None, description="Place right after this sibling")
    before: uuid.UUID | None = Field(None, description="Place right before this sibling")
    at: Literal["first", "last"] | None = Field(None, description="Place first or last")

    def placement(self) -> Placement:
        return Placement(after=self.after, before=self.before, at=self.at)


class ProjectCreate(Moved):
    name: Name = Field(description="1-120 characters, one line")
    color: Color = "grey"
    favorite: StrictBool = False


PROJECT_PATCH_FIELDS = ("name", "color", "favorite", "archived")


class ProjectPatch(Moved):
    """PATCH body: only the fields given change. `archived: true` archives the project (its
    tasks leave every view but its own; 409 for the Inbox); `after`/`before`/`at` move it
    among your projects (the Inbox always comes first and cannot move)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=_not_nullable(*PROJECT_PATCH_FIELDS)
    )

    name: Name | None = Field(None, description="1-120 characters, one line")
    color: Color | None = None
    favorite: StrictBool | None = None
    archived: StrictBool | None = None


class ProjectOut(BaseModel):
    id: uuid.UUID
    name: str
    color: Color
    favorite: bool
    archived: bool
    inbox: bool = Field(description="The user's Inbox: never deleted, archived or moved")
    position: str = Field(description="Sorts the project among yours (byte order)")
    open_count: int = Field(description="Open tasks in the project")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, project: Project, open_count: int) -> ProjectOut:
        return cls(
            id=project.id,
            name=project.name,
            color=project.color,
            favorite=project.favorite,
            archived=project.archived,
            inbox=project.is_inbox,
            position=project.position,
            open_count=open_count,
            created_at=project.created_at,
            updated_at=project.updated_at,
        )


class SectionCreate(Moved):
    name: Name = Field(description="1-120 characters, one line")


class SectionPatch(Moved):
    """PATCH body: rename, or move among the project's sections."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_not_nullable("name"))

    name: Name | None = Field(None, description="1-120 characters, one line")


class SectionOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    position: str = Field(description="Sorts the section among the project's (byte order)")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, section: Section) -> SectionOut:
        return cls(
            id=section.id,
            project_id=section.project_id,
            name=section.name,
            position=section.position,
            created_at=section.created_at,
            updated_at=section.updated_at,
        )


# --- sharing: members and invitations ---------------------------------------------------

MemberRole = Literal["viewer", "editor", "admin"]


class MemberOut(BaseModel):
    user_id: uuid.UUID
    name: str = Field(description="Display name (may be empty)")
    email: str | None = Field(
        description="Shown only to the project's admins and owner; null for everyone else"
    )
    role: Literal["viewer", "editor", "admin", "owner"]
    since: datetime | None = Field(description="When they joined (null for the owner)")


class RoleIn(Strict):
    role: MemberRole = Field(description="viewer, editor or admin (the owner hands over instead)")


class HandOverIn(Strict):
    user_id: uuid.UUID = Field(description="A member of the project, who becomes its owner")


class InvitationCreate(Strict):
    email: Email = Field(
        description="Whom to invite; bound to the link (the invitee must use this address)"
    )
    role: MemberRole = "editor"


class InvitationOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    email: str
    role: MemberRole
    expires_at: datetime
    token: str = Field(description="The link's token: signed, single use, expiring")
    url: str = Field(
        description="The link to pass on to the invitee (also mailed where SMTP_HOST is set)"
    )


class MyInvitationOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    project_name: str
    invited_by: str = Field(description="The inviter's display name (may be empty)")
    role: MemberRole
    expires_at: datetime


class AcceptLinkIn(Strict):
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The token of an invitation link (the last part of its URL)"
    )
