"""Validation errors as sentences a person understands, for the web app's forms and the
import's per-line report.

Pydantic says "Value should have at least 8 items after validation, not 3"; a form should say
"Use at least 8 characters". The API keeps pydantic's messages in its problem+json; the web
app's forms (routes/forms.py `field_errors`) and the Data page's import report
(routes/data.py, with `in_file=True`: the value and the accepted choices are named, since
there is no form field to point at) read from here."""

from __future__ import annotations

import re
from typing import Any

# What a field is called at the start of a sentence, for messages that begin with a verb
# ("is too common; choose another password").
SUBJECTS = {
    "password": "This password",
    "new_password": "This password",
    "current_password": "The password",
    "email": "This email address",
    "title": "The title",
    "description": "The description",
    "due": "The due date",
    "tags": "The tags",
    "name": "The name",
    "timezone": "The time zone",
    "recurrence": "The repeat rule",
    "rule": "The repeat rule",
    "mode": "The repeat mode",
    "at": "The time",
    "before": "The reminder",
    "priority": "The priority",
    "completed": "Completed",
    "completed_at": "The completion time",
    "created_at": "The creation time",
    "updated_at": "The last change time",
    "url": "The address",
    "event_types": "The events",
    "scopes": "The scopes",
    "body": "The comment",
    "line": "This line",
}
_VERBS = ("is ", "are ", "must ", "may ", "cannot ", "can ", "should ", "has ", "does ")
_EMAIL = "value is not a valid email address: "
_DATE_TYPES = {
    "date_parsing",
    "date_from_datetime_parsing",
    "date_from_datetime_inexact",
    "date_type",
    "datetime_parsing",
    "datetime_from_date_parsing",
    "datetime_type",
    "timezone_aware",
}
_SHAPES = {
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false (or yes/no, 1/0)",
    "list_type": "must be a list",
    "dict_type": "must be an object with named fields",
    "model_type": "must be an object with named fields",
    "model_attributes_type": "must be an object with named fields",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
}
_QUOTED = re.compile(r"'([^']*)'")
_RULE_PART = re.compile(r"[A-Z]{2,}\b")


def _subject(field: str, in_file: bool) -> str:
    if field in SUBJECTS:
        return SUBJECTS[field]
    if in_file and field:
        return f"The {field.replace('_', ' ')}"
    return "This value"


def _shown(value: Any) -> str:
    """A value as the person wrote it, quoted and cut short."""
    text = str(value).strip()
    return f'"{text[:40]}…"' if len(text) > 40 else f'"{text}"'


def plain(error: Any, *, in_file: bool = False) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) as a sentence. `in_file`:
    the value came from an imported file, so the sentence names the field, the value and the
    choices, where a form would point at its field instead."""
    kind = str(error.get("type", ""))
    ctx: dict[str, Any] = error.get("ctx") or {}
    loc = [str(part) for part in error.get("loc", ()) if isinstance(part, str)]
    field = loc[-1] if loc else ""
    subject = _subject(field, in_file)
    if field == "tags" and isinstance((error.get("loc") or ("",))[-1], int):
        subject = "A tag"  # one of the tags, not the list
    value = error.get("input")
    items = ctx.get("field_type") == "List" or isinstance(value, list)
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if kind in {"string_too_short", "too_short"}:
        least = int(ctx.get("min_length", 1))
        if items:
            if in_file:
                return f"{subject} need at least {least}"
            return "Choose at least one" if least == 1 else f"Give at least {least}"
        if least <= 1:
            return f"{subject} is empty" if in_file else "Fill this in"
        return f"Use at least {least:,} characters"
    if kind in {"string_too_long", "too_long"}:
        most = int(ctx.get("max_length", 0))
        if items:
            return f"Give at most {most:,}" if field != "tags" else f"Use at most {most} tags"
        if in_file:
            return f"{subject} is too long: use at most {most:,} characters"
        return f"Use at most {most:,} characters"
    if kind == "missing":
        return f"{subject} is missing" if in_file else "Fill this in"
    if kind in {"literal_error", "enum"}:
        choices = _QUOTED.findall(str(ctx.get("expected", "")))
        if in_file and choices:
            return f"{subject} must be one of {', '.join(choices)}, not {_shown(value)}"
        return "Choose one of the options offered"
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return "Enter a whole number" if not in_file else f"{subject} must be a whole number"
    if kind in {"uuid_parsing", "uuid_type"}:
        if in_file:
            return f"{subject} must be an id such as 6f1c…, as an export writes it"
        return "Choose one of the options offered"
    if kind == "extra_forbidden":
        if in_file:
            return f'"{field}" is not a field Doable knows; leave it out'
        return "This field is not part of the form"
    if kind in _DATE_TYPES or (kind == "value_error" and message.startswith("must be a date")):
        # `at` (a reminder's moment) is always a date and time, whatever the API also accepts.
        wants_time = (
            kind.startswith("datetime") or message.startswith("must be a datetime") or field == "at"
        )
        if wants_time or (isinstance(value, str) and ("T" in value or ":" in value)):
            if not in_file:  # a form's date and time fields, joined by forms.py
                shown = _shown(value.replace("T", " ") if isinstance(value, str) else value)
                return f"{subject} {shown} is not a date and time (use YYYY-MM-DD and HH:MM)"
            return f"{subject} {_shown(value)} is not a date and time (use YYYY-MM-DDTHH:MM)"
        return f"{subject} {_shown(value)} is not a date (use YYYY-MM-DD)"
    if kind in {"url_parsing", "url_scheme", "url_type"}:
        return f"{subject} must be a web address such as https://example.com/hook"
    if kind in _SHAPES:
        return f"{subject} {_SHAPES[kind]}"
    if message.startswith(_EMAIL):
        reason = str(ctx.get("reason") or message.removeprefix(_EMAIL))
        return f"Enter an email address such as name@example.com. {reason}".strip()
    if message.startswith(_VERBS):
        return f"{subject} {message}"
    if field in {"rule", "recurrence"} and _RULE_PART.match(message):
        return f"In the repeat rule, {message}"  # "FREQ must be …": a part of the rule
    return message[:1].upper() + message[1:]
