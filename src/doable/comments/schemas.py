"""Request and response bodies for comments and project mutes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from doable.types import NOT_BLANK

MAX_BODY = 10_000

# Plain text as typed (HTML included, shown as text), trimmed; 1 to 10,000 characters.
CommentBody = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY), NOT_BLANK]


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: CommentBody = Field(
        description="Plain text, 1 to 10,000 characters; HTML is kept as typed and shown as"
        ' text. `@Name` or `@"Full Name"` mentions a person of the project.'
    )


class AuthorOut(BaseModel):
    id: uuid.UUID | None = Field(description="null once the author deleted their account")
    name: str = Field(description="The author's display name (never their email)")


class CommentOut(BaseModel):
    id: uuid.UUID
    task_id: uuid.UUID
    author: AuthorOut
    body: str
    created_at: datetime
    edited_at: datetime | None = Field(description="When the body last changed, or null")


class CommentPage(BaseModel):
    items: list[CommentOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (newer) page; null at the end."
    )


class MuteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    muted: StrictBool = Field(description="true: hear nothing from this project")


class MuteOut(BaseModel):
    project_id: uuid.UUID
    muted: bool
