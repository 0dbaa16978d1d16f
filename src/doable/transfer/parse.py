"""Reading an upload into an `ImportPlan`: decode, detect the format, validate every record.

Nothing here touches the database. Every problem in the file is collected with its place
(`line` for CSV, a JSON pointer for JSON) and raised together as one `ImportInvalid`, so a
bad file is refused before anything is written.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from dateutil import parser as dateparser
from pydantic import ValidationError

from doable.errors import DoableError, InvalidInput
from doable.tasks import quickadd
from doable.tasks.service import tag_key, zone_of
from doable.transfer import csvtext
from doable.transfer.schemas import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_IMPORT_TASKS,
    AccountSection,
    ExportDocument,
    ImportNote,
    TagRecord,
    TaskRecord,
)
from doable.types import time_zone_names

Source = Literal["doable-json", "doable-csv", "todoist-csv"]
MAX_REPORTED = 100  # errors (and warnings) listed in one response; the rest are counted
# Spreadsheet exports carry long notes; the csv module's default cap is 128 KiB per field.
MAX_CSV_FIELD = 1024 * 1024
JSON_TYPES = {"application/json"}
CSV_TYPES = {"text/csv", "application/csv", "application/vnd.ms-excel"}
SNIFFED_TYPES = {"", "text/plain", "application/octet-stream"}


class ImportInvalid(InvalidInput):
    """422 with every problem found (up to MAX_REPORTED), each with its place in the file."""

    def __init__(self, notes: list[ImportNote], *, total: int | None = None) -> None:
        total = len(notes) if total is None else total
        first = notes[0]
        where = _where(first)
        if total > MAX_REPORTED:
            more = f" ({total - 1} more problems; `errors` lists the first {MAX_REPORTED})"
        elif total > 1:
            more = f" ({total - 1} more problem{'s' if total > 2 else ''} in `errors`)"
        else:
            more = ""
        super().__init__(f"The file was not imported: {where}{first.msg}{more}")
        self.errors = [
            {"type": "import_error", **note.model_dump(exclude_none=True)}
            for note in notes[:MAX_REPORTED]
        ]


class UnsupportedMediaType(DoableError):
    status, title, slug = 415, "Unsupported media type", "unsupported-media-type"


def _where(note: ImportNote) -> str:
    if note.line is not None:
        column = next((p for p in reversed(note.loc) if isinstance(p, str) and p != "line"), None)
        if column is not None and column != "body":
            return f"line {note.line}, {column}: "
        return f"line {note.line}: "
    if note.pointer:
        return f"{note.pointer}: "
    return ""


def capped(notes: list[ImportNote]) -> list[ImportNote]:
    """At most MAX_REPORTED notes, the last one saying how many were left out."""
    if len(notes) <= MAX_REPORTED:
        return notes
    left_out = len(notes) - MAX_REPORTED + 1
    return [
        *notes[: MAX_REPORTED - 1],
        ImportNote(loc=["body"], msg=f"{left_out} more warnings are not listed"),
    ]


def _fail(
    msg: str, *, line: int | None = None, loc: list[str | int] | None = None
) -> ImportInvalid:
    where: list[str | int] = ["body", "line", line] if line is not None else ["body"]
    return ImportInvalid([ImportNote(loc=loc or where, msg=msg, line=line)])


@dataclass
class ImportPlan:
    """A validated file: what to create, in file order, and what was noticed on the way."""

    source: Source
    tasks: list[TaskRecord]
    tags: list[TagRecord] = field(default_factory=list)
    account: AccountSection | None = None
    warnings: list[ImportNote] = field(default_factory=list)
    # CSV: the line each task starts on (JSON places by pointer instead).
    lines: list[int] = field(default_factory=list)

    def note(self, index: int, loc: list[str | int], msg: str) -> ImportNote:
        """A problem found after parsing (e.g. a rule against its due) in task `index`, placed
        like the parser's own: the line and column in a CSV, the pointer in JSON."""
        if self.lines:
            line = self.lines[index]
            return ImportNote(loc=["body", "line", line, str(loc[0])], msg=msg, line=line)
        return _json_note(["tasks", index, *loc], msg)


# Decoding and detection


def decode(body: bytes) -> str:
    """UTF-8 text (a BOM is dropped); anything else is refused with where it went wrong."""
    if not body.strip():
        raise _fail("The file is empty")
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _fail("The file is UTF-16; save it as UTF-8 and import it again")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise _fail(
            f"The file is not UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start} cannot "
            "be read); save it as UTF-8 and import it again",
            line=line,
        ) from None
    nul = text.find("\x00")
    if nul >= 0:
        raise _fail("The file contains a NUL character", line=text.count("\n", 0, nul) + 1)
    return text


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_upload(
    body: bytes, content_type: str | None, *, timezone: str = "UTC", now: datetime | None = None
) -> ImportPlan:
    """Read an upload: JSON or CSV by its media type, or by its first character when the media
    type says nothing (`text/plain`, `application/octet-stream`, none)."""
    kind = media_type(content_type)
    if kind not in JSON_TYPES | CSV_TYPES | SNIFFED_TYPES:
        raise UnsupportedMediaType(f"Send the file as application/json or text/csv, not {kind}")
    text = decode(body)
    if kind in JSON_TYPES or (kind in SNIFFED_TYPES and text.lstrip().startswith(("{", "["))):
        return parse_json(text)
    return parse_csv(text, timezone=timezone, now=now or datetime.now(UTC))


# JSON


def _pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)


def _json_note(loc: list[str | int], msg: str) -> ImportNote:
    return ImportNote(loc=["body", *loc], msg=msg, pointer=_pointer(loc))


def parse_json(text: str) -> ImportPlan:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportInvalid(
            [
                ImportNote(
                    loc=["body", "line", exc.lineno],
                    msg=f"The file is not valid JSON: {exc.msg} (line {exc.lineno}, column "
                    f"{exc.colno})",
                    line=exc.lineno,
                )
            ]
        ) from None
    except (RecursionError, ValueError):
        raise _fail(
            "The file is not valid JSON: it is nested too deeply or has a huge number"
        ) from None
    if not isinstance(data, dict):
        raise ImportInvalid([_json_note([], "must be a JSON object with format and version")])
    if data.get("format") != FORMAT_NAME:
        raise ImportInvalid([_json_note(["format"], f'must be "{FORMAT_NAME}" (a Doable export)')])
    if data.get("version") != FORMAT_VERSION or isinstance(data.get("version"), bool):
        raise ImportInvalid(
            [
                _json_note(
                    ["version"],
                    f"version {json.dumps(data.get('version'))} is not supported; this server "
                    f"reads version {FORMAT_VERSION}",
                )
            ]
        )
    tasks = data.get("tasks")
    if isinstance(tasks, list) and len(tasks) > MAX_IMPORT_TASKS:
        raise ImportInvalid([_too_many(len(tasks), _json_note(["tasks"], ""))])
    try:
        document = ExportDocument.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        notes = [_json_note(list(e["loc"]), e["msg"]) for e in errors[:MAX_REPORTED]]
        raise ImportInvalid(notes, total=len(errors)) from None
    notes = []
    seen: dict[str, int] = {}
    for index, tag in enumerate(document.tags):
        first = seen.setdefault(tag_key(tag.name), index)
        if first != index:
            notes.append(
                _json_note(
                    ["tags", index, "name"],
                    f"duplicates tag {document.tags[first].name!r} at /tags/{first} (tag names "
                    "ignore case)",
                )
            )
    if notes:
        raise ImportInvalid(notes)
    plan = ImportPlan("doable-json", document.tasks, document.tags, document.account)
    return plan


def _too_many(count: int, note: ImportNote) -> ImportNote:
    note.msg = (
        f"The file has {count} tasks; one import takes at most {MAX_IMPORT_TASKS}. Split it "
        "into several files"
    )
    return note


# CSV


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, cells) for each record, blank lines skipped."""
    csv.field_size_limit(MAX_CSV_FIELD)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _fail(f"The CSV cannot be read: {exc}", line=start) from None


def parse_csv(text: str, *, timezone: str = "UTC", now: datetime) -> ImportPlan:
    rows = _rows(text)
    header_row = next(rows, None)
    if header_row is None:
        raise _fail("The file is empty")
    line, header = header_row
    names = [h.strip() for h in header]
    if names[:2] == ["TYPE", "CONTENT"]:
        return _parse_todoist(names, rows, timezone=timezone, now=now)
    if "title" in names:
        return _parse_doable_csv(line, names, rows)
    raise _fail(
        "The first line must be a header: our CSV export's (id,title,…) or a Todoist project "
        "export's (TYPE,CONTENT,…)",
        line=line,
    )


def _validate_rows(
    pending: list[tuple[int, dict[str, Any]]], column_of: Callable[[str], str]
) -> tuple[list[TaskRecord], list[int]]:
    """Validate every row; raise all problems at once, each at its line and column."""
    if len(pending) > MAX_IMPORT_TASKS:
        line = pending[MAX_IMPORT_TASKS][0]
        raise ImportInvalid(
            [_too_many(len(pending), ImportNote(loc=["body", "line", line], msg="", line=line))]
        )
    records: list[TaskRecord] = []
    notes: list[ImportNote] = []
    total = 0
    for line, values in pending:
        try:
            records.append(TaskRecord.model_validate(values))
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                total += 1
                if len(notes) < MAX_REPORTED:
                    column = column_of(str(e["loc"][0])) if e["loc"] else "row"
                    notes.append(
                        ImportNote(loc=["body", "line", line, column], msg=e["msg"], line=line)
                    )
    if notes:
        raise ImportInvalid(notes, total=total)
    return records, [line for line, _ in pending]


_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}


def _parse_doable_csv(
    header_line: int, names: list[str], rows: Iterator[tuple[int, list[str]]]
) -> ImportPlan:
    unknown = [n for n in names if n not in csvtext.COLUMNS]
    if unknown:
        raise _fail(
            f"Unknown column {unknown[0]!r}; the columns are {', '.join(csvtext.COLUMNS)}",
            line=header_line,
        )
    duplicated = [n for n in names if names.count(n) > 1]
    if duplicated:
        raise _fail(f"The column {duplicated[0]!r} appears twice", line=header_line)
    pending: list[tuple[int, dict[str, Any]]] = []
    notes: list[ImportNote] = []
    for line, cells in rows:
        if len(cells) != len(names):
            notes.append(
                ImportNote(
                    loc=["body", "line", line],
                    msg=f"has {len(cells)} cells; the header has {len(names)}",
                    line=line,
                )
            )
            continue
        row = dict(zip(names, cells, strict=True))
        values: dict[str, Any] = {"title": csvtext.read_text_cell(row["title"])}
        if "description" in row:
            values["description"] = csvtext.read_text_cell(row["description"])
        if row.get("priority", "").strip():
            values["priority"] = row["priority"].strip()
        if "tags" in row:
            values["tags"] = csvtext.read_tags_cell(row["tags"])
        if "recurrence" in row:
            values["recurrence"] = csvtext.read_recurrence_cell(row["recurrence"])
        for column in ("due", "completed_at", "created_at", "updated_at"):
            if row.get(column, "").strip():
                values[column] = row[column].strip()
        completed = row.get("completed", "").strip().lower()
        if completed in _TRUE | _FALSE:
            values["completed"] = completed in _TRUE
        else:
            values["completed"] = row["completed"]  # refused by validation, at its column
        pending.append((line, values))
    if notes:
        raise ImportInvalid(notes)
    records, lines = _validate_rows(pending, lambda field: field)
    return ImportPlan("doable-csv", records, lines=lines)


# Todoist's project CSV

# Todoist's PRIORITY column (help page "Format a CSV file to import into Todoist"): 1 is p1, the
# highest (red), and 4 is p4, the lowest, which is no priority.
TODOIST_PRIORITY = {"1": "urgent", "2": "high", "3": "medium", "4": "none", "": "none"}
TODOIST_COLUMNS = {"title": "CONTENT", "tags": "CONTENT", "description": "DESCRIPTION"}
TODOIST_COLUMNS |= {"priority": "PRIORITY", "due": "DATE", "recurrence": "DATE"}
# Doable's own limits (tasks.schemas Title and Description). Todoist allows longer titles (500)
# and note threads of any length: an import cuts them, says so per line, and loses no text of a
# title (the whole of it starts the description).
MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
_LABEL = re.compile(r"(?<!\S)@([^\s@]+)")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?$"
)
_YEAR_WORD = re.compile(r"\b(19|2\d)\d{2}\b")
_NO_TITLE = "There is no title"  # quick-add's warning for text that is all dates: expected here


def _sentinel_parse(text: str, dayfirst: bool) -> tuple[datetime, bool] | None:
    """dateutil, twice with different defaults: a part that changes with the default was not
    in the text. Only dates with a day, a month and a year count; the time is optional (an
    hour alone, "5pm", means minute 0)."""
    try:
        a = dateparser.parse(text, default=datetime(2000, 1, 1, 0, 0, 0), dayfirst=dayfirst)
        b = dateparser.parse(text, default=datetime(2001, 2, 2, 1, 0, 0), dayfirst=dayfirst)
    except (ValueError, OverflowError):
        return None
    if a is None or b is None or a.date() != b.date() or a.tzinfo is not None:
        return None
    return a, a.hour == b.hour


def _full_date(text: str, zone: str, dayfirst: bool) -> date | datetime | None:
    """An ISO date or time, or a date written out with its year (`Dec 3 2026 5pm`)."""
    if _ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    if _ISO_DATETIME.fullmatch(text):
        try:
            value = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            return None
        return value if value.tzinfo else value.replace(tzinfo=zone_of(zone))
    if text.lower().startswith("every") or not _YEAR_WORD.search(text):
        return None
    parsed = _sentinel_parse(text, dayfirst=dayfirst)
    if parsed is None:
        return None
    value, timed = parsed
    if not 1900 <= value.year <= 9998:
        return None
    return value.replace(tzinfo=zone_of(zone)) if timed else value.date()


@dataclass
class TodoistDate:
    """What a DATE cell said: a due, a repeat rule (`{"rule", "mode"}`), and what to tell the
    user about it (`problem`: nothing was taken from the cell)."""

    due: date | datetime | None = None
    recurrence: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    problem: str | None = None


def read_todoist_date(text: str, zone: str, lang: str, now: datetime) -> TodoistDate:
    """A Todoist DATE, read with the quick-add grammar (`every 3 days at 10am`, `tomorrow`) at
    `now` in `zone`, so a repeat counts from the day of the import in the file's time zone. ISO
    dates and dates written out with their year are read in any DATE_LANG; other words only in
    English. A cell read in part is not used at all: `problem` names what was not understood."""
    text = text.strip()
    english = lang.strip().lower() in {"", "en"} or lang.strip().lower().startswith("en-")
    full = _full_date(text, zone, dayfirst=not english)
    if full is not None:
        return TodoistDate(due=full)
    shown = text[:100]
    if not english:
        return TodoistDate(
            problem=f"DATE {shown!r} is in DATE_LANG {lang.strip()[:20]!r}; only English words "
            "are read (dates in digits are read in any language), so the task has no due date"
        )
    parsed = quickadd.parse(text, zone=zone_of(zone), now=now)
    if parsed.title:
        return TodoistDate(
            problem=f"DATE {shown!r} could not be read ({parsed.title[:100]!r} is not understood); "
            "the task has no due date"
        )
    if parsed.tags or parsed.priority != "none" or (parsed.due is None and not parsed.recurrence):
        return TodoistDate(problem=f"DATE {shown!r} is not a date; the task has no due date")
    recurrence = parsed.recurrence
    return TodoistDate(
        due=parsed.due,
        recurrence={"rule": recurrence.rule, "mode": recurrence.mode} if recurrence else None,
        notes=[f"DATE {shown!r}: {w}" for w in parsed.warnings if not w.startswith(_NO_TITLE)],
    )


@dataclass
class _OpenTask:
    """A task row whose note rows may still follow: notes are collected, joined once."""

    line: int
    values: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    length: int = 0  # of the description with the notes kept so far, separators included
    left_out: int = 0  # note rows past the description's limit


def _close(task: _OpenTask, warn: Callable[[int, str], None]) -> tuple[int, dict[str, Any]]:
    values = task.values
    text = values["description"]
    if task.notes:
        text = "\n\n".join([text, *task.notes] if text else task.notes)
    if len(text) > MAX_DESCRIPTION or task.left_out:
        what = "the description and its notes come" if task.notes else "the description comes"
        left_out = f", {task.left_out} note rows left out" if task.left_out else ""
        warn(
            task.line,
            f"{what} to more than {MAX_DESCRIPTION} characters: cut to {MAX_DESCRIPTION}"
            f"{left_out} (Doable has no comments yet)",
        )
        text = text[:MAX_DESCRIPTION]
    values["description"] = text
    return task.line, values


def _add_note(task: _OpenTask, content: str) -> None:
    if task.left_out or task.length >= MAX_DESCRIPTION:
        task.left_out += 1
        return
    task.length += len(content) + (2 if task.length else 0)
    task.notes.append(content)


def _todoist_task(
    line: int,
    row: dict[str, str],
    section: str | None,
    timezone: str,
    now: datetime,
    warn: Callable[[int, str], None],
) -> _OpenTask:
    content = row.get("CONTENT", "")
    labels = _LABEL.findall(content)
    title = " ".join(_LABEL.sub(" ", content).split()) or content.strip()
    description = row.get("DESCRIPTION", "")
    if len(title) > MAX_TITLE:
        warn(
            line,
            f"the title is {len(title)} characters long; Doable's titles hold {MAX_TITLE}: cut, "
            "and the whole title starts the description",
        )
        description = "\n\n".join(p for p in (title, description) if p)
        title = title[:MAX_TITLE]
    tags = list(dict.fromkeys([*([section] if section else []), *labels]))
    priority_cell = row.get("PRIORITY", "").strip()
    values: dict[str, Any] = {
        "title": title,
        "description": description,
        "priority": TODOIST_PRIORITY.get(priority_cell, priority_cell),
        "tags": tags,
    }
    date_text = row.get("DATE", "").strip()
    if date_text:
        zone = row.get("TIMEZONE", "").strip()
        zone = zone if zone in time_zone_names() else timezone
        reading = read_todoist_date(date_text, zone, row.get("DATE_LANG", "en") or "en", now)
        if reading.problem is not None:
            warn(line, reading.problem)
        for note in reading.notes:
            warn(line, note)
        values["due"] = reading.due
        if reading.recurrence is not None:
            values["recurrence"] = reading.recurrence
    task = _OpenTask(line, values, length=len(description))
    return task


def _parse_todoist(
    names: list[str], rows: Iterator[tuple[int, list[str]]], *, timezone: str, now: datetime
) -> ImportPlan:
    warnings: list[ImportNote] = []
    pending: list[tuple[int, dict[str, Any]]] = []
    section: str | None = None
    subtasks = 0
    current: _OpenTask | None = None

    def warn(line: int, msg: str) -> None:
        warnings.append(ImportNote(loc=["body", "line", line], msg=msg, line=line))

    for line, cells in rows:
        row = dict(zip(names, cells, strict=False))
        kind = row.get("TYPE", "").strip().lower()
        content = row.get("CONTENT", "")
        if kind == "meta" or not kind:
            continue
        if kind == "note":
            if current is None:
                warn(line, "a project note (no task above it) was left out")
            else:
                _add_note(current, content)
            continue
        if current is not None:
            pending.append(_close(current, warn))
            current = None
        if kind == "section":
            name = content.strip()
            section = name if 0 < len(name) <= 50 else None
            if section is None and name:
                warn(line, f"section {name[:60]!r} is longer than a tag name (50); not a tag")
            continue
        if kind != "task":
            warn(line, f"a row of TYPE {row.get('TYPE', '')!r} was left out")
            continue
        if row.get("INDENT", "1").strip() not in {"", "1"}:
            subtasks += 1
        current = _todoist_task(line, row, section, timezone, now, warn)
    if current is not None:
        pending.append(_close(current, warn))
    warnings.sort(key=lambda note: note.line or 0)
    if subtasks:
        warnings.append(
            ImportNote(
                loc=["body"],
                msg=f"{subtasks} sub-task{'s were' if subtasks > 1 else ' was'} imported as "
                "ordinary tasks (Doable has no sub-tasks)",
            )
        )

    def column_of(field_name: str) -> str:
        return TODOIST_COLUMNS.get(field_name, field_name)

    records, lines = _validate_rows(pending, column_of)
    return ImportPlan("todoist-csv", records, warnings=warnings, lines=lines)
