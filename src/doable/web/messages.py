"""Validation errors as sentences a person understands, for the web app's forms.

Pydantic says "Value should have at least 8 items after validation, not 3"; a form should say
"Use at least 8 characters". The API keeps pydantic's messages in its problem+json; only the
web app's forms read from here (routes/forms.py `field_errors`)."""

from __future__ import annotations

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
    "at": "The time",
    "before": "The reminder",
}
_VERBS = ("is ", "are ", "must ", "may ", "cannot ", "can ", "should ", "has ", "does ")
_EMAIL = "value is not a valid email address: "


def plain(error: Any) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) as a sentence."""
    kind = str(error.get("type", ""))
    ctx: dict[str, Any] = error.get("ctx") or {}
    loc = [str(part) for part in error.get("loc", ()) if isinstance(part, str)]
    field = loc[-1] if loc else ""
    items = ctx.get("field_type") == "List" or isinstance(error.get("input"), list)
    if kind in {"string_too_short", "too_short"}:
        least = int(ctx.get("min_length", 1))
        if items:
            return f"Give at least {least}"
        return "Fill this in" if least <= 1 else f"Use at least {least:,} characters"
    if kind in {"string_too_long", "too_long"}:
        most = int(ctx.get("max_length", 0))
        if items:
            return f"Give at most {most:,}" if field != "tags" else f"Use at most {most} tags"
        return f"Use at most {most:,} characters"
    if kind == "missing":
        return "Fill this in"
    if kind in {"literal_error", "enum"}:
        return "Choose one of the options offered"
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return "Enter a whole number"
    if kind in {"uuid_parsing", "uuid_type"}:
        return "Choose one of the options offered"
    if kind == "extra_forbidden":
        return "This field is not part of the form"
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if message.startswith(_EMAIL):
        reason = str(ctx.get("reason") or message.removeprefix(_EMAIL))
        return f"Enter an email address such as name@example.com. {reason}".strip()
    if message.startswith(_VERBS):
        return f"{SUBJECTS.get(field, 'This value')} {message}"
    return message[:1].upper() + message[1:]
