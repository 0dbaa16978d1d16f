"""Annotated string types shared by schemas: no NUL, trimmed, time zones. Each one's JSON Schema
says exactly what its validator accepts, so the OpenAPI document is a contract clients can test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, GetCoreSchemaHandler, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from doable.zones import is_known, time_zone_names

# What str.strip() removes (Python's str.isspace()), spelled out because `\s` in the ECMA-262
# regular expressions of JSON Schema is a different set.
_SPACE = (
    r"\t\n\u000b\u000c\r\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
NO_NUL_PATTERN = r"^[^\u0000]*$"
NOT_BLANK_PATTERN = rf"^[^\u0000]*[^\u0000{_SPACE}][^\u0000]*$"
# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: none of them
# belongs in a one-line name (a calendar app shows a feed's name as one line).
_NOT_ONE_LINE = r"\u0000-\u001f\u007f-\u009f\u2028\u2029"
# The rest of what str.strip() removes (the other whitespace is refused above).
_BLANK = r"\u0020\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
ONE_LINE_PATTERN = rf"^[^{_NOT_ONE_LINE}]*[^{_NOT_ONE_LINE}{_BLANK}][^{_NOT_ONE_LINE}]*$"
_NOT_ONE_LINE_RE = re.compile(f"[{_NOT_ONE_LINE}]")


@dataclass(frozen=True)
class Text:
    """String rules for an Annotated str, with a JSON Schema `pattern` that says the same.

    Never a NUL (PostgreSQL cannot store one, so every backend refuses it); `strip` trims
    surrounding whitespace; `blank=False` refuses a value that is only whitespace. Put length
    constraints before it: they then count what was sent, which is what `maxLength` means.
    """

    strip: bool = False
    blank: bool = True
    # No line break, tab or other control character (ONE_LINE_PATTERN; implies not blank).
    one_line: bool = False

    def validate(self, value: str) -> str:
        if self.one_line and _NOT_ONE_LINE_RE.search(value):
            raise ValueError("must be one line, without line breaks or control characters")
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if not self.blank and not value.strip():
            # The message pydantic gives an empty string: blank is empty once trimmed.
            raise PydanticCustomError(
                "string_too_short",
                "String should have at least {min_length} character",
                {"min_length": 1},
            )
        return value.strip() if self.strip else value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        if self.one_line:
            json_schema["pattern"] = ONE_LINE_PATTERN
        else:
            json_schema["pattern"] = NO_NUL_PATTERN if self.blank else NOT_BLANK_PATTERN
        return json_schema


NO_NUL = Text()
# Trimmed; lengths given before it count what was sent.
TRIMMED = Text(strip=True)
# Trimmed, and refused when only whitespace was sent.
NOT_BLANK = Text(strip=True, blank=False)
NoNulStr = Annotated[str, NO_NUL]


def _check_timezone(value: str) -> str:
    if not is_known(value):
        raise ValueError("must be an IANA time zone name such as Europe/Paris")
    return value


class _TimeZoneEnum:
    """Lists the accepted names in the JSON Schema (read when the OpenAPI document is built)."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["enum"] = sorted(time_zone_names())
        return json_schema


TimeZoneName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_check_timezone),
    _TimeZoneEnum(),
]
