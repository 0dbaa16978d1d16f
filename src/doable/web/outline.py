"""A project's tasks as the web shows them: per section, each task followed by its subtasks,
indented, with the neighbours that its keyboard moves name.

The rows come from task_listing.list_tasks sorted by position, so siblings are already in
their order; this only nests them. Moves are decided by the service (tasks/tree.py): the
buttons built here send it a neighbour ("before X", "after Y") or a parent, nothing else.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from doable.auth.models import User
from doable.tasks import listing as task_listing
from doable.tasks.models import TaskRow
from doable.web.views import TaskView, task_view

MAX_DEPTH = 4  # tasks/tree.py's limit, only to hide an Indent button that would be refused


@dataclass
class Node:
    task: TaskView
    depth: int  # 1 for a top-level task
    parent_id: str = ""
    prev_id: str = ""  # the sibling before it, if any
    next_id: str = ""  # the sibling after it, if any
    children: list[Node] = field(default_factory=list)
    height: int = 1  # levels from this task down to its deepest subtask, itself included

    @property
    def can_indent(self) -> bool:
        # Indenting makes it the last subtask of the sibling before it: one level deeper.
        return bool(self.prev_id) and self.depth + self.height <= MAX_DEPTH


@dataclass
class Group:
    """Tasks of one section (`section_id` "" for the tasks outside any section), flattened in
    display order: each task, then its subtasks."""

    section_id: str
    name: str
    nodes: list[Node]

    @property
    def top(self) -> list[Node]:
        return [n for n in self.nodes if n.depth == 1]


def _nest(rows: list[TaskRow], user: User, today: task_listing.Today) -> dict[Any, list[Node]]:
    """Roots per section id; subtasks hang under their parents, in row (position) order."""
    views = {row.id: Node(task=task_view(row, user, today), depth=1) for row in rows}
    children: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    roots: dict[Any, list[uuid.UUID]] = defaultdict(list)
    for row in rows:
        if row.parent_id is not None and row.parent_id in views:
            children[row.parent_id].append(row.id)
        else:  # a top-level task, or one whose parent is not shown (e.g. completed)
            roots[row.section_id].append(row.id)

    def link(ids: list[uuid.UUID], depth: int, parent: str) -> list[Node]:
        nodes = [views[i] for i in ids]
        for index, (task_id, node) in enumerate(zip(ids, nodes, strict=True)):
            node.depth, node.parent_id = depth, parent
            node.prev_id = str(ids[index - 1]) if index else ""
            node.next_id = str(ids[index + 1]) if index + 1 < len(ids) else ""
            node.children = link(children.get(task_id, []), depth + 1, str(task_id))
            node.height = 1 + max((c.height for c in node.children), default=0)
        return nodes

    return {section: link(ids, 1, "") for section, ids in roots.items()}


def _flatten(nodes: list[Node]) -> list[Node]:
    out: list[Node] = []
    for node in nodes:
        out.append(node)
        out.extend(_flatten(node.children))
    return out


def outline(
    rows: list[TaskRow],
    sections: list[tuple[str, str]],
    user: User,
    today: task_listing.Today,
) -> list[Group]:
    """The groups of a project's page: the tasks outside any section, then each section (id,
    name) in order, even when empty (it is a drop target)."""
    roots = _nest(rows, user, today)
    groups = [Group("", "", _flatten(roots.get(None, [])))]
    for section_id, name in sections:
        groups.append(Group(section_id, name, _flatten(roots.get(uuid.UUID(section_id), []))))
    return groups
