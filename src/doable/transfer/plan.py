"""Where an import puts things: the projects and sections a file makes, and each task's place
(project, section, parent and order key). Pure: nothing here touches the database.

Every task gets its place while the file is read. Keys are `ranked(n)`: the task's rank among
its siblings in fixed-width base 36, so a list of any length gets short keys that sort in the
file's order without knowing its length in advance (doable/positions.py accepts them: digits
0-9a-z, never ending in "0"). Tasks that land at the top of an Inbox which already holds tasks
get a prefix the importer picks (`importer._inbox_prefix`), so they come after what is there.

- A Doable file of version 1, or our CSV: every task at the top of the Inbox, in file order.
- Version 2: `plan_document` checks the whole outline first (unknown references, cycles, depth,
  a section of another project) and orders each list by the file's `position` keys.
- A Todoist project CSV: `Outline` follows TYPE=section rows and INDENT as the rows stream by.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from doable.projects.models import INBOX_NAME
from doable.tasks.tree import MAX_DEPTH
from doable.transfer.schemas import ProjectRecord

RANK_WIDTH = 4  # 36**4 = 1.7 million siblings, past MAX_IMPORT_TASKS
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
# Todoist's longest section name is longer than ours (SectionName: 120).
MAX_SECTION_NAME = 120


def ranked(rank: int) -> str:
    """The key of the `rank`-th (from 0) sibling: RANK_WIDTH base-36 digits and a "v"."""
    if not 0 <= rank < 36**RANK_WIDTH:
        raise ValueError(f"rank out of range: {rank}")
    digits = []
    for _ in range(RANK_WIDTH):
        rank, r = divmod(rank, 36)
        digits.append(_DIGITS[r])
    return "".join(reversed(digits)) + "v"


@dataclass
class SectionPlan:
    id: uuid.UUID
    name: str


@dataclass
class ProjectPlan:
    """A project an import fills. `id` None is the account's Inbox (the file's Inbox, or where
    a file without projects goes); any other is created when the import is published."""

    id: uuid.UUID | None
    name: str = INBOX_NAME
    color: str = "grey"
    favorite: bool = False
    archived: bool = False
    sections: list[SectionPlan] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Place:
    """A task's id and place: `project` indexes the stream's projects."""

    task_id: uuid.UUID
    project: int
    section_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    key: str

    @property
    def top_level(self) -> bool:
        return self.section_id is None and self.parent_id is None


class Ranks:
    """The next rank in each list (project, section, parent), for files read in order."""

    def __init__(self) -> None:
        self._next: dict[tuple[int, uuid.UUID | None, uuid.UUID | None], int] = {}

    def key(self, project: int, section: uuid.UUID | None, parent: uuid.UUID | None) -> str:
        list_id = (project, section, parent)
        rank = self._next.get(list_id, 0)
        self._next[list_id] = rank + 1
        return ranked(rank)


class InboxOrder:
    """Version 1 files and our CSV: every task at the top of the Inbox, in file order."""

    def __init__(self) -> None:
        self.rank = 0

    def place(self) -> Place:
        key = ranked(self.rank)
        self.rank += 1
        return Place(uuid.uuid4(), 0, None, None, key)


Warn = Callable[[int, str], None]


class Outline:
    """A Todoist project CSV's structure as its rows stream by: TYPE=section rows start a
    section, INDENT 1-4 nests a task under the nearest task above it one level up. Deeper
    INDENT (past MAX_DEPTH, or more than one level below the task above) attaches the task to
    the deepest level it may have, with a warning on its line; the file is never refused."""

    def __init__(self, project: ProjectPlan) -> None:
        self.project = project
        self.section: uuid.UUID | None = None
        self.stack: list[uuid.UUID] = []  # the open ancestors: stack[0] at level 1
        self.ranks = Ranks()

    def add_section(self, line: int, name: str, warn: Warn) -> None:
        name = " ".join(name.split())
        if not name:
            name = "Untitled section"
            warn(line, f"a section without a name was named {name!r}")
        elif len(name) > MAX_SECTION_NAME:
            warn(
                line,
                f"the section name is {len(name)} characters long; Doable's hold "
                f"{MAX_SECTION_NAME}: cut",
            )
            name = name[:MAX_SECTION_NAME].rstrip()
        section = SectionPlan(uuid.uuid4(), name)
        self.project.sections.append(section)
        self.section = section.id
        self.stack = []

    def add_task(self, line: int, indent_cell: str, warn: Warn) -> Place:
        cell = indent_cell.strip()
        try:
            indent = int(cell) if cell else 1
        except ValueError:
            warn(line, f"INDENT {cell[:20]!r} is not a number; the task is at the top level")
            indent = 1
        if indent < 1:
            warn(line, f"INDENT {indent} is below 1; the task is at the top level")
            indent = 1
        level = min(indent, len(self.stack) + 1, MAX_DEPTH)
        if level < indent:
            if indent > MAX_DEPTH and level == MAX_DEPTH:
                why = f"subtasks go at most {MAX_DEPTH} levels deep"
            else:
                why = f"the task above it is at level {len(self.stack)}"
            warn(line, f"INDENT {indent}: {why}, so the task is at level {level}")
        del self.stack[level - 1 :]
        parent = self.stack[-1] if self.stack else None
        task_id = uuid.uuid4()
        self.stack.append(task_id)
        return Place(task_id, 0, self.section, parent, self.ranks.key(0, self.section, parent))


# Version 2


Note = Callable[[list[str | int], str], None]


def _ref(raw: Any, key: str) -> str | None:
    """A reference field as a string, or None (a wrong type is left to validation)."""
    value = raw.get(key) if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


def plan_projects(
    projects: list[ProjectRecord], note: Note
) -> tuple[list[ProjectPlan], dict[str, int], dict[str, tuple[int, uuid.UUID]]]:
    """The file's projects (its Inbox, or one added, becomes the account's), and their ids and
    sections' ids, each unique in the file."""
    plans: list[ProjectPlan] = []
    project_ids: dict[str, int] = {}
    section_ids: dict[str, tuple[int, uuid.UUID]] = {}
    inbox: int | None = None
    for index, record in enumerate(projects):
        if record.inbox:
            if inbox is not None:
                note(["projects", index, "inbox"], f"/projects/{inbox} is the Inbox already")
            inbox = index
            plan = ProjectPlan(None)
        else:
            plan = ProjectPlan(
                uuid.uuid4(), record.name, record.color, record.favorite, record.archived
            )
        if record.id is not None:
            first = project_ids.setdefault(record.id, index)
            if first != index:
                note(["projects", index, "id"], f"duplicates the id of /projects/{first}")
        for number, section in enumerate(record.sections):
            planned = SectionPlan(uuid.uuid4(), section.name)
            plan.sections.append(planned)
            if section.id is None:
                continue
            if section.id in section_ids:
                note(["projects", index, "sections", number, "id"], "duplicates a section's id")
                continue
            section_ids[section.id] = (index, planned.id)
        plans.append(plan)
    if inbox is None:
        plans.append(ProjectPlan(None))
    return plans, project_ids, section_ids


def plan_document(
    projects: list[ProjectRecord], raw_tasks: list[Any], note: Note
) -> tuple[list[ProjectPlan], list[Place | None]]:
    """Every task's place in a version 2 document, checked as a whole before any task is
    staged: an unknown project, section or parent, a cycle of parents, a depth past
    MAX_DEPTH, a section of another project, or a subtask outside its parent's project or
    section is an error at the task's field. Each list is ordered by `position` (then file
    order; tasks without one come after those with one)."""
    plans, project_ids, section_ids = plan_projects(projects, note)
    inbox = next(i for i, p in enumerate(plans) if p.id is None)
    count = len(raw_tasks)
    by_id: dict[str, int] = {}
    for index, raw in enumerate(raw_tasks):
        ref = _ref(raw, "id")
        if ref is not None:
            first = by_id.setdefault(ref, index)
            if first != index:
                note(["tasks", index, "id"], f"duplicates the id of /tasks/{first}")
    parents: list[int | None] = [None] * count
    for index, raw in enumerate(raw_tasks):
        ref = _ref(raw, "parent")
        if ref is None:
            continue
        found = by_id.get(ref)
        if found is None:
            note(["tasks", index, "parent"], f"no task in the file has the id {ref[:100]!r}")
        else:
            parents[index] = found
    depth = _depths(parents, note)
    # Projects and sections, roots first: a subtask is where its parent is.
    where: list[tuple[int, uuid.UUID | None] | None] = [None] * count
    for index in sorted(range(count), key=lambda i: depth[i]):
        raw = raw_tasks[index]
        if depth[index] < 1 or depth[index] > MAX_DEPTH:
            continue
        project_ref, section_ref = _ref(raw, "project"), _ref(raw, "section")
        parent = parents[index]
        if parent is not None:
            inherited = where[parent]
            if inherited is None:
                continue  # its parent is in error already
            where[index] = inherited
            stated = _stated(raw, project_ids, section_ids)
            if stated is not None and stated != inherited:
                note(
                    ["tasks", index, "parent"],
                    "a subtask is in its parent's project and section; this one names others",
                )
            continue
        project = inbox
        if project_ref is not None:
            if project_ref not in project_ids:
                note(["tasks", index, "project"], f"no project has the id {project_ref[:100]!r}")
                continue
            project = project_ids[project_ref]
        section: uuid.UUID | None = None
        if section_ref is not None:
            if section_ref not in section_ids:
                note(["tasks", index, "section"], f"no section has the id {section_ref[:100]!r}")
                continue
            owner, section = section_ids[section_ref]
            if project_ref is None:
                project = owner
            elif owner != project:
                note(["tasks", index, "section"], "the section belongs to another project")
                continue
        where[index] = (project, section)
    return plans, _order(raw_tasks, parents, where)


def _stated(
    raw: Any, project_ids: dict[str, int], section_ids: dict[str, tuple[int, uuid.UUID]]
) -> tuple[int, uuid.UUID | None] | None:
    """What a subtask names as its project and section, when it names them (as the export
    writes them); None when it names neither."""
    project_ref, section_ref = _ref(raw, "project"), _ref(raw, "section")
    if project_ref is None and section_ref is None:
        return None
    section = section_ids.get(section_ref) if section_ref is not None else None
    project = project_ids.get(project_ref, -1) if project_ref is not None else None
    if section is not None:
        return (section[0] if project is None else project, section[1])
    if section_ref is not None:
        return (-1, None)  # unknown: differs from anything
    return (project if project is not None else -1, None)


def _depths(parents: list[int | None], note: Note) -> list[int]:
    """Each task's level (1 = top), 0 for a task in a cycle or under one; a level past
    MAX_DEPTH is noted once, at the first task past it on each branch."""
    count = len(parents)
    depth = [-1] * count  # -1: not yet known, -2: on the path being walked
    for start in range(count):
        path: list[int] = []
        node: int | None = start
        while node is not None and depth[node] == -1:
            depth[node] = -2
            path.append(node)
            node = parents[node]
        if node is not None and depth[node] == -2:  # a cycle: from `node` to the path's end
            cycle = path[path.index(node) :]
            for member in cycle:
                note(["tasks", member, "parent"], "the parents form a cycle")
                depth[member] = 0
            path = path[: path.index(node)]
            base = 0
        else:
            base = depth[node] if node is not None else 0
        for member in reversed(path):
            base = 0 if base == 0 and parents[member] is not None else base + 1
            depth[member] = base
            if base == MAX_DEPTH + 1:
                note(
                    ["tasks", member, "parent"],
                    f"subtasks go at most {MAX_DEPTH} levels deep; this one is at level {base}",
                )
    return depth


def _order(
    raw_tasks: list[Any],
    parents: list[int | None],
    where: list[tuple[int, uuid.UUID | None] | None],
) -> list[Place | None]:
    count = len(raw_tasks)
    task_ids = [uuid.uuid4() for _ in range(count)]
    lists: dict[tuple[int, uuid.UUID | None, int | None], list[tuple[bool, str, int]]] = {}
    for index in range(count):
        placed = where[index]
        if placed is None:
            continue
        position = _ref(raw_tasks[index], "position")
        siblings = lists.setdefault((placed[0], placed[1], parents[index]), [])
        siblings.append((position is None, position or "", index))
    places: list[Place | None] = [None] * count
    for (project, section, parent), siblings in lists.items():
        siblings.sort()
        parent_id = task_ids[parent] if parent is not None else None
        for rank, (_, _, index) in enumerate(siblings):
            places[index] = Place(task_ids[index], project, section, parent_id, ranked(rank))
    return places
