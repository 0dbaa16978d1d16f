"""Request and response bodies for /api/v1/feeds."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from doable.tasks.schemas import Priority, TagName
from doable.types import Text

FeedKind = Literal["vtodo", "vevent"]
FeedStatus = Literal["open", "completed", "all"]

FeedName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100),
    Text(strip=True, blank=False, one_line=True),
]
PRIORITY_ORDER: tuple[Priority, ...] = ("none", "low", "medium", "high", "urgent")


def _distinct(priorities: list[Priority] | None) -> list[Priority] | None:
    if not priorities:
        return None
    return [p for p in PRIORITY_ORDER if p in priorities]


class FeedCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: FeedName = Field(description="Shown as the calendar's name in calendar apps (1-100)")
    kind: FeedKind = Field(
        "vtodo",
        description="`vtodo`: tasks (Thunderbird, Evolution, task apps). `vevent`: events, for "
        "calendar apps that ignore tasks, such as Google Calendar and Apple Calendar.",
    )
    tag: TagName | None = Field(None, description="Only tasks with this tag (any case)")
    priority: Annotated[list[Priority] | None, Field(max_length=5), AfterValidator(_distinct)] = (
        Field(None, description="Only tasks with one of these priorities")
    )
    status: FeedStatus = Field("open", description="Which tasks: open (default), completed or all")
    project_id: uuid.UUID | None = Field(
        None,
        description="Only this project's tasks (default: every project). An archived project's"
        " feed is empty until the project is unarchived.",
    )


class FeedOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: FeedKind
    tag: str | None
    priority: list[Priority] | None
    status: FeedStatus
    project_id: uuid.UUID | None
    hint: str = Field(description="The secret's first characters, to tell feeds apart")
    created_at: datetime
    last_fetched_at: datetime | None = Field(description="Updated at most once a minute")


class FeedCreated(FeedOut):
    url: str | None = Field(
        description="The feed's address (`…/ical/{secret}.ics`), shown only in this response. "
        "An idempotent replay of the request answers null here."
    )
