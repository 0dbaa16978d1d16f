"""Reading an upload as an `ImportStream`: decode, detect the format, validate every record.

Nothing here touches the database. Records come out CHUNK at a time as the file is read, so a
big file is never held as a list of records. Every problem in the file is collected with its
place (`line` for CSV, a JSON pointer for JSON); once the stream is read to its end,
`ImportStream.check` raises them together as one `ImportInvalid`. The importer stages chunks
hidden and publishes them only after that, so a bad file never shows.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, Literal

from dateutil import parser as dateparser
from pydantic import ValidationError

from doable.errors import DoableError, InvalidInput
from doable.tasks import quickadd
from doable.tasks.tags import tag_key
from doable.transfer import csvtext
from doable.transfer.plan import InboxOrder, Outline, Place, ProjectPlan, plan_document
from doable.transfer.schemas import (
    FORMAT_NAME,
    MAX_IMPORT_TASKS,
    MAX_TASK_ENTRIES,
    PLACE_FIELDS,
    READ_VERSIONS,
    AccountSection,
    ExportDocument,
    ImportNote,
    PlacedTaskRecord,
    TagRecord,
    TaskRecord,
)
from doable.zones import time_zone_names, zone_of

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
        self.notes = notes[:MAX_REPORTED]
        self.errors = [
            {"type": "import_error", **note.model_dump(exclude_none=True)} for note in self.notes
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


class Notes:
    """Warnings or errors: the first MAX_REPORTED kept, all of them counted."""

    def __init__(self) -> None:
        self.listed: list[ImportNote] = []
        self.total = 0

    def add(self, note: ImportNote) -> None:
        self.total += 1
        if len(self.listed) < MAX_REPORTED:
            self.listed.append(note)


def capped(notes: Notes) -> list[ImportNote]:
    """At most MAX_REPORTED notes, the last one saying how many were left out."""
    if notes.total <= MAX_REPORTED:
        return notes.listed
    left_out = notes.total - MAX_REPORTED + 1
    return [
        *notes.listed[: MAX_REPORTED - 1],
        ImportNote(loc=["body"], msg=f"{left_out} more warnings are not listed"),
    ]


def _fail(
    msg: str, *, line: int | None = None, loc: list[str | int] | None = None
) -> ImportInvalid:
    where: list[str | int] = ["body", "line", line] if line is not None else ["body"]
    return ImportInvalid([ImportNote(loc=loc or where, msg=msg, line=line)])


CHUNK = 500  # records per chunk: one staging transaction (on SQLite, well under a second)


@dataclass(frozen=True, slots=True)
class Entry:
    """One valid task record and where it is: its index among the file's tasks, for CSV the
    line it starts on, and its place in the account (plan.Place: id, project, section, parent,
    order key)."""

    index: int
    line: int | None
    record: TaskRecord
    place: Place


@dataclass
class ImportStream:
    """A file being read: what its head said, and its task records, CHUNK at a time."""

    source: Source
    chunks: Iterator[list[Entry]]
    tags: list[TagRecord] = field(default_factory=list)
    account: AccountSection | None = None
    warnings: Notes = field(default_factory=Notes)
    errors: Notes = field(default_factory=Notes)
    # The projects its tasks go to (Place.project indexes this list); a Todoist file's sections
    # are added as they are read. By default, everything goes to the Inbox.
    projects: list[ProjectPlan] = field(default_factory=lambda: [ProjectPlan(None)])

    def note(self, entry: Entry, loc: list[str | int], msg: str) -> ImportNote:
        """A problem found after parsing (e.g. a rule against its due), placed like the
        parser's own: the line and column in a CSV, the pointer in JSON."""
        if entry.line is not None:
            where: list[str | int] = ["body", "line", entry.line, str(loc[0])]
            return ImportNote(loc=where, msg=msg, line=entry.line)
        return _json_note(["tasks", entry.index, *loc], msg)

    def check(self) -> None:
        """Raise every problem found, once the stream has been read to its end."""
        if self.errors.total:
            raise ImportInvalid(self.errors.listed, total=self.errors.total)


# Decoding and detection


_DECODE_STEP = 1 << 20


def check_text(body: bytes) -> None:
    """Refuse anything but UTF-8 text (a BOM is allowed), saying where it went wrong. Checked
    a megabyte at a time: the file is read as text only as it is parsed (`text_lines`)."""
    if not body or body.isspace():
        raise _fail("The file is empty")
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _fail("The file is UTF-16; save it as UTF-8 and import it again")
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(body), _DECODE_STEP):
            end = start + _DECODE_STEP
            decoder.decode(body[start:end], final=end >= len(body))
    except UnicodeDecodeError:
        try:  # once more, whole, for the offset (a bad file: its size no longer matters)
            body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            at = exc.start + (3 if body.startswith(codecs.BOM_UTF8) else 0)
            raise _fail(
                f"The file is not UTF-8 (byte 0x{body[at]:02x} at offset {at} cannot "
                "be read); save it as UTF-8 and import it again",
                line=body.count(b"\n", 0, at) + 1,
            ) from None
    nul = body.find(b"\x00")
    if nul >= 0:
        raise _fail("The file contains a NUL character", line=body.count(b"\n", 0, nul) + 1)


def text_lines(body: bytes) -> Iterator[str]:
    """The checked body's lines, decoded as they are read, split as the csv module wants
    (`newline=""`: \\r\\n, \\r or \\n, kept): never the whole file as one string."""
    return iter(io.TextIOWrapper(io.BytesIO(body), encoding="utf-8-sig", newline=""))


_FIRST = re.compile(rb"(?:\xef\xbb\xbf)?\s*(.)", re.DOTALL)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


DEFAULT_PROJECT_NAME = "Imported"


def open_upload(
    body: bytes,
    content_type: str | None,
    *,
    timezone: str = "UTC",
    now: datetime | None = None,
    project_name: str | None = None,
    default_name: str = DEFAULT_PROJECT_NAME,
) -> ImportStream:
    """Read an upload: JSON or CSV by its media type, or by its first character when the media
    type says nothing (`text/plain`, `application/octet-stream`, none). A Todoist project CSV
    becomes a project named `project_name`, else `default_name` (the file's name when known);
    other files carry their own projects, or go to the Inbox, and a `project_name` given for
    one is reported unused in a warning."""
    kind = media_type(content_type)
    if kind not in JSON_TYPES | CSV_TYPES | SNIFFED_TYPES:
        raise UnsupportedMediaType(f"Send the file as application/json or text/csv, not {kind}")
    check_text(body)
    first = _FIRST.match(body)
    if kind in JSON_TYPES or (kind in SNIFFED_TYPES and first and first.group(1) in b"{["):
        stream = open_json(body.decode("utf-8-sig"))
    else:
        stream = open_csv(
            partial(text_lines, body),
            timezone=timezone,
            now=now or datetime.now(UTC),
            project_name=project_name or default_name,
        )
    if project_name is not None and stream.source != "todoist-csv":
        stream.warnings.add(
            ImportNote(
                loc=["query", "project_name"],
                msg="project_name names the project a Todoist CSV becomes; this file is not "
                "one, so it was not used",
            )
        )
    return stream


# JSON


def _pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)


def _json_note(loc: list[str | int], msg: str) -> ImportNote:
    return ImportNote(loc=["body", *loc], msg=msg, pointer=_pointer(loc))


_WS = " \t\n\r"
_DECODER = json.JSONDecoder()


def loads_stepwise(text: str) -> Any:
    """`json.loads`, but a top-level object's arrays are decoded an element at a time. The
    import parses in a worker thread, and `json.loads` holds the GIL for the whole document
    (over 0.1 s for 10 MB), stalling the event loop's thread; between elements it can run.
    Anything this walk does not expect is left to `json.loads`, for its error message."""
    try:
        return _object_stepwise(text)
    except (ValueError, IndexError):
        return json.loads(text)


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _value_stepwise(text: str, i: int) -> tuple[Any, int]:
    if text[i] != "[":
        return _DECODER.raw_decode(text, i)
    items: list[Any] = []
    i = _skip(text, i + 1)
    if text[i] == "]":
        return items, i + 1
    while True:
        item, i = _DECODER.raw_decode(text, i)
        items.append(item)
        i = _skip(text, i)
        if text[i] == "]":
            return items, i + 1
        if text[i] != ",":
            raise ValueError("expected , or ]")
        i = _skip(text, i + 1)


def _object_stepwise(text: str) -> dict[str, Any]:
    i = _skip(text, 0)
    if text[i] != "{":
        raise ValueError("not an object")
    data: dict[str, Any] = {}
    i = _skip(text, i + 1)
    if text[i] == "}":
        i += 1
    else:
        while True:
            if text[i] != '"':
                raise ValueError("expected a key")
            key, i = _DECODER.raw_decode(text, i)
            i = _skip(text, i)
            if text[i] != ":":
                raise ValueError("expected :")
            data[key], i = _value_stepwise(text, _skip(text, i + 1))
            i = _skip(text, i)
            if text[i] == "}":
                i += 1
                break
            if text[i] != ",":
                raise ValueError("expected , or }")
            i = _skip(text, i + 1)
    if _skip(text, i) != len(text):
        raise ValueError("extra data")
    return data


def open_json(text: str) -> ImportStream:
    """The document is decoded a task at a time (`loads_stepwise`), but held whole (the
    standard library has no streaming JSON parser); each task is validated, and its parsed form
    dropped, as its chunk is read."""
    try:
        data = loads_stepwise(text)
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
    del text
    if not isinstance(data, dict):
        raise ImportInvalid([_json_note([], "must be a JSON object with format and version")])
    if data.get("format") != FORMAT_NAME:
        raise ImportInvalid([_json_note(["format"], f'must be "{FORMAT_NAME}" (a Doable export)')])
    version = data.get("version")
    if version not in READ_VERSIONS or isinstance(version, bool):
        versions = " and ".join(str(v) for v in READ_VERSIONS)
        raise ImportInvalid(
            [
                _json_note(
                    ["version"],
                    f"version {json.dumps(version)} is not supported; this server reads "
                    f"versions {versions}",
                )
            ]
        )
    tasks = data.get("tasks")
    if isinstance(tasks, list) and len(tasks) > MAX_IMPORT_TASKS:
        raise ImportInvalid([_too_many(len(tasks), _json_note(["tasks"], ""))])
    raw_tasks: list[Any] = tasks if isinstance(tasks, list) else []
    head = {k: v for k, v in data.items() if k != "tasks" or not isinstance(v, list)}
    errors = Notes()
    document: ExportDocument | None = None
    try:
        document = ExportDocument.model_validate(head)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            errors.add(_json_note(list(e["loc"]), e["msg"]).caused_by(e))

    def note(loc: list[str | int], msg: str) -> None:
        errors.add(_json_note(loc, msg))

    projects = [ProjectPlan(None)]
    places: list[Place | None]
    if version == 1:
        if "projects" in data:
            note(["projects"], "projects are part of version 2; this document is version 1")
        for index, raw in enumerate(raw_tasks):
            for name in PLACE_FIELDS if isinstance(raw, dict) else ():
                if name in raw:
                    note(["tasks", index, name], f"{name} is part of version 2, not version 1")
        inbox = InboxOrder()
        places = [inbox.place() for _ in raw_tasks]
    elif document is not None:
        projects, places = plan_document(document.projects, raw_tasks, note)
    else:
        places = [None] * len(raw_tasks)  # the head is in error: the file is refused anyway
    stream = ImportStream(
        "doable-json",
        _json_chunks(raw_tasks, places, TaskRecord if version == 1 else PlacedTaskRecord, errors),
        document.tags if document else [],
        document.account if document else None,
        errors=errors,
        projects=projects,
    )
    if document is not None:
        seen: dict[str, int] = {}
        for index, tag in enumerate(document.tags):
            first = seen.setdefault(tag_key(tag.name), index)
            if first != index:
                errors.add(
                    _json_note(
                        ["tags", index, "name"],
                        f"duplicates tag {document.tags[first].name!r} at /tags/{first} (tag "
                        "names ignore case)",
                    )
                )
    return stream


def _json_chunks(
    raw_tasks: list[Any],
    places: list[Place | None],
    model: type[TaskRecord],
    errors: Notes,
) -> Iterator[list[Entry]]:
    chunk: list[Entry] = []
    for index, raw in enumerate(raw_tasks):
        raw_tasks[index] = None  # what is validated is not kept twice
        try:
            record = model.model_validate(raw)
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                errors.add(_json_note(["tasks", index, *e["loc"]], e["msg"]).caused_by(e))
            continue
        place = places[index]
        if place is None:
            continue  # its place is in error (plan_document noted it)
        chunk.append(Entry(index, None, record, place))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _too_many(count: int, note: ImportNote) -> ImportNote:
    note.msg = (
        f"The file has {count} tasks; one import takes at most {MAX_IMPORT_TASKS}. Split it "
        "into several files"
    )
    return note


# CSV


def _rows(lines: Iterator[str]) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, cells) for each record, blank lines skipped."""
    csv.field_size_limit(MAX_CSV_FIELD)
    reader = csv.reader(lines, strict=True)
    start = 1
    try:
        for cells in reader:
            # The first cell decides for nearly every row, without a generator per row.
            if (cells and cells[0].strip()) or any(cell.strip() for cell in cells):
                yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _fail(f"The CSV cannot be read: {exc}", line=start) from None


def open_csv(
    lines: Callable[[], Iterator[str]],
    *,
    timezone: str = "UTC",
    now: datetime,
    project_name: str = DEFAULT_PROJECT_NAME,
) -> ImportStream:
    """`lines()` opens the text afresh: it is read twice, once to count the tasks."""
    rows = _rows(lines())
    header_row = next(rows, None)
    if header_row is None:
        raise _fail("The file is empty")
    line, header = header_row
    names = [h.strip() for h in header]
    _count_tasks(lines(), todoist=names[:2] == ["TYPE", "CONTENT"])
    if names[:2] == ["TYPE", "CONTENT"]:
        warnings = Notes()
        outline = Outline(ProjectPlan(uuid.uuid4(), project_name))
        tasks = _todoist_rows(names, rows, timezone, now, warnings, outline)
        stream = _csv_stream("todoist-csv", tasks, _todoist_column, warnings)
        stream.projects = [outline.project]
        return stream
    if "title" in names:
        errors = Notes()
        return _csv_stream(
            "doable-csv", _doable_rows(line, names, rows, errors), str, errors=errors
        )
    raise _fail(
        "The first line must be a header: our CSV export's (id,title,…) or a Todoist project "
        "export's (TYPE,CONTENT,…)",
        line=line,
    )


def _csv_stream(
    source: Source,
    pending: Iterator[tuple[int, dict[str, Any], Place]],
    column_of: Callable[[str], str],
    warnings: Notes | None = None,
    errors: Notes | None = None,
) -> ImportStream:
    errors = errors or Notes()
    chunks = _validated(pending, column_of, errors)
    return ImportStream(source, chunks, warnings=warnings or Notes(), errors=errors)


def _count_tasks(lines: Iterator[str], *, todoist: bool) -> None:
    """Refuse a file of more than MAX_IMPORT_TASKS tasks before anything is staged: one quick
    pass of the CSV reader (a tenth of the time validation takes), counting task rows."""
    rows = _rows(lines)
    next(rows, None)  # the header
    count, over_at = 0, 0
    for line, cells in rows:
        if todoist and cells[0].strip().lower() != "task":
            continue
        count += 1
        if count == MAX_IMPORT_TASKS + 1:
            over_at = line
    if over_at:
        note = ImportNote(loc=["body", "line", over_at], msg="", line=over_at)
        raise ImportInvalid([_too_many(count, note)])


def _validated(
    pending: Iterator[tuple[int, dict[str, Any], Place]],
    column_of: Callable[[str], str],
    errors: Notes,
) -> Iterator[list[Entry]]:
    """Validate each row as it comes, CHUNK valid records at a time; a problem is noted at its
    line and column (`_count_tasks` has checked their number)."""
    chunk: list[Entry] = []
    for index, (line, values, place) in enumerate(pending):
        try:
            record = TaskRecord.model_validate(values)
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                column = column_of(str(e["loc"][0])) if e["loc"] else "row"
                note = ImportNote(loc=["body", "line", line, column], msg=e["msg"], line=line)
                errors.add(note.caused_by(e))
            continue
        chunk.append(Entry(index, line, record, place))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}


def _doable_rows(
    header_line: int, names: list[str], rows: Iterator[tuple[int, list[str]]], errors: Notes
) -> Iterator[tuple[int, dict[str, Any], Place]]:
    unknown = [n for n in names if n not in csvtext.COLUMNS]
    if unknown:
        raise _fail(
            f"Unknown column {unknown[0]!r}; the columns are {', '.join(csvtext.COLUMNS)}",
            line=header_line,
        )
    duplicated = [n for n in names if names.count(n) > 1]
    if duplicated:
        raise _fail(f"The column {duplicated[0]!r} appears twice", line=header_line)
    return _doable_values(names, rows, errors)


def _doable_values(
    names: list[str], rows: Iterator[tuple[int, list[str]]], errors: Notes
) -> Iterator[tuple[int, dict[str, Any], Place]]:
    """Our CSV carries no projects: every task goes to the top of the Inbox, in file order."""
    inbox = InboxOrder()
    for line, cells in rows:
        if len(cells) != len(names):
            errors.add(
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
        yield line, values, inbox.place()


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
MAX_COMMENT = 10_000
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
    """A task row whose note rows may still follow: each note becomes a comment."""

    line: int
    values: dict[str, Any]
    place: Place
    notes: list[str] = field(default_factory=list)
    left_out: int = 0  # note rows past MAX_TASK_ENTRIES
    cut: int = 0  # notes cut to MAX_COMMENT characters


def _close(task: _OpenTask, warn: Callable[[int, str], None]) -> tuple[int, dict[str, Any], Place]:
    values = task.values
    text = values["description"]
    if len(text) > MAX_DESCRIPTION:
        warn(
            task.line,
            f"the description comes to more than {MAX_DESCRIPTION} characters: cut to"
            f" {MAX_DESCRIPTION}",
        )
        values["description"] = text[:MAX_DESCRIPTION]
    if task.cut:
        warn(task.line, f"{task.cut} notes were cut to {MAX_COMMENT} characters")
    if task.left_out:
        warn(
            task.line,
            f"a task keeps at most {MAX_TASK_ENTRIES} comments: {task.left_out} note rows left out",
        )
    values["comments"] = [{"body": note} for note in task.notes]
    return task.line, values, task.place


def _add_note(task: _OpenTask, content: str) -> None:
    """A note row is a comment on the task above it (a blank one is dropped)."""
    if not content.strip():
        return
    if len(task.notes) >= MAX_TASK_ENTRIES:
        task.left_out += 1
        return
    if len(content) > MAX_COMMENT:
        task.cut += 1
        content = content[:MAX_COMMENT]
    task.notes.append(content)


def _todoist_task(
    line: int,
    row: dict[str, str],
    place: Place,
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
    tags = list(dict.fromkeys(labels))
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
    return _OpenTask(line, values, place)


def _todoist_column(field_name: str) -> str:
    return TODOIST_COLUMNS.get(field_name, field_name)


def _todoist_rows(
    names: list[str],
    rows: Iterator[tuple[int, list[str]]],
    timezone: str,
    now: datetime,
    warnings: Notes,
    outline: Outline,
) -> Iterator[tuple[int, dict[str, Any], Place]]:
    """Each task row's values and place, once its note rows (which follow it) have been read.
    Sections and INDENT make the project's outline (plan.Outline)."""
    current: _OpenTask | None = None

    def warn(line: int, msg: str) -> None:
        warnings.add(ImportNote(loc=["body", "line", line], msg=msg, line=line))

    # TYPE and CONTENT are the first two columns (open_csv checked): a note row, of which a
    # thread can have 100 000s, is read without building a dict.
    for line, cells in rows:
        kind = cells[0].strip().lower()
        if kind == "note":
            if current is None:
                warn(line, "a project note (no task above it) was left out")
            else:
                _add_note(current, cells[1] if len(cells) > 1 else "")
            continue
        if kind == "meta" or not kind:
            continue
        if current is not None:
            yield _close(current, warn)
            current = None
        row = dict(zip(names, cells, strict=False))
        content = row.get("CONTENT", "")
        if kind == "section":
            outline.add_section(line, content, warn)
            continue
        if kind != "task":
            warn(line, f"a row of TYPE {row.get('TYPE', '')!r} was left out")
            continue
        place = outline.add_task(line, row.get("INDENT", ""), warn)
        current = _todoist_task(line, row, place, timezone, now, warn)
    if current is not None:
        yield _close(current, warn)
