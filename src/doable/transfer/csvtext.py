"""Our CSV's columns and cell rules: formula-safe text and the tags cell, both reversible."""

from __future__ import annotations

# One row per task, in this order. Tag colours, completions and reminders live in the JSON
# export only (docs/export-format.md).
COLUMNS = (
    "id",
    "title",
    "description",
    "priority",
    "due",
    "completed",
    "completed_at",
    "created_at",
    "updated_at",
    "tags",
    "recurrence",
)
# What a spreadsheet reads as the start of a formula (CSV injection, OWASP), plus the quote
# that marks an escaped cell, so that escaping can always be undone.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
TAG_SEPARATOR = ", "


def text_cell(value: str) -> str:
    """A text cell a spreadsheet shows as text: a leading `'` before what could be a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def read_text_cell(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


def tags_cell(names: list[str]) -> str:
    """Tag names joined by `, `; a comma or backslash inside a name is escaped with `\\`."""
    return text_cell(TAG_SEPARATOR.join(n.replace("\\", "\\\\").replace(",", "\\,") for n in names))


def read_tags_cell(cell: str) -> list[str]:
    text = read_text_cell(cell)
    names: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            names.append("".join(current))
            current = []
        else:
            current.append(char)
    names.append("".join(current))
    return [name.strip() for name in names if name.strip()]


def read_recurrence_cell(cell: str) -> dict[str, str] | None:
    """`RULE` or `RULE;mode=MODE` as the API's `{"rule", "mode"}` (validated by the caller);
    empty is no recurrence. `mode` is no RRULE part, so it cannot be mistaken for one."""
    parts = [part.strip() for part in cell.strip().split(";")]
    if not any(parts):
        return None
    modes = [p for p in parts if p.lower().startswith("mode=")]
    value = {"rule": ";".join(p for p in parts if p and p not in modes)}
    for part in modes:
        value["mode"] = part.split("=", 1)[1].strip()
    return value
