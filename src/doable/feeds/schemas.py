"""Request and response bodies for /api/v1/feeds."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from doable.tasks.schemas import Priority, TagName

FeedKind = Literal["vtodo", "vevent"]
FeedStatus = Literal["open", "completed", "all"]

# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: none of them
# belongs in a one-line name, and a calendar app shows the name as one line.
_NOT_ONE_LINE = r"\u0000-\u001f\u007f-\u009f\u2028\u2029"
# The rest of what str.strip() removes (the other whitespace is refused above).
_BLANK = r"\u0020\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
ONE_LINE_PATTERN = rf"^[^{_NOT_ONE_LINE}]*[^{_NOT_ONE_LINE}{_BLANK}][^{_NOT_ONE_LINE}]*$"
_NOT_ONE_LINE_RE = re.compile(f"[{_NOT_ONE_LINE}]")


@dataclass(frozen=True)
class OneLine:
    """A trimmed, non-blank single line: no line break, tab or other control character (422).
    Its JSON Schema pattern says the same."""

    def validate(self, value: str) -> str:
        if _NOT_ONE_LINE_RE.search(value):
            raise ValueError("must be one line, without line breaks or control characters")
        if not value.strip():
            raise PydanticCustomError(
                "string_too_short",
                "String should have at least {min_length} character",
                {"min_length": 1},
            )
        return value.strip()

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = ONE_LINE_PATTERN
        return json_schema


FeedName = Annotated[str, StringConstraints(min_length=1, max_length=100), OneLine()]
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


class FeedOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: FeedKind
    tag: str | None
    priority: list[Priority] | None
    status: FeedStatus
    hint: str = Field(description="The secret's first characters, to tell feeds apart")
    created_at: datetime
    last_fetched_at: datetime | None = Field(description="Updated at most once a minute")


class FeedCreated(FeedOut):
    url: str | None = Field(
        description="The feed's address (`…/ical/{secret}.ics`), shown only in this response. "
        "An idempotent replay of the request answers null here."
    )
