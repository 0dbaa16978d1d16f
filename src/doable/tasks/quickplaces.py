"""Quick add's places: which project (`#Name`) and section (`/Name`) a text names.

Pure, like tasks/quickadd/: the caller loads the user's active projects and their sections
(projects/catalog.py) and passes them in. Names match case-insensitively, with runs of
whitespace as one space; `_` in a one-word name stands for a space (`#Two_words`), a quoted
name may span words (`#"Two words"`), and an unquoted one matches the longest name its words
spell (`#Home improvement` is that project when it exists). The grammar is in
docs/quick-add.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

# A quoted name ends within this many words (a project name has at most 120 characters).
MAX_QUOTED_WORDS = 60


@dataclass(frozen=True)
class SectionPlace:
    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class ProjectPlace:
    id: uuid.UUID
    name: str
    inbox: bool = False
    sections: tuple[SectionPlace, ...] = field(default=(), compare=False)


T = TypeVar("T", ProjectPlace, SectionPlace)


def name_key(name: str) -> str:
    return " ".join(name.casefold().split())


class Names(Generic[T]):
    """Places by name: the first of two with the same name wins (the caller's order)."""

    def __init__(self, items: Iterable[T]) -> None:
        self.full: dict[str, T] = {}
        # Every leading run of words of every name, so a match stops at the first word that
        # no name continues with: the work is bounded by the names, not by the text.
        self.prefixes: set[str] = set()
        for item in items:
            key = name_key(item.name)
            if not key:
                continue
            self.full.setdefault(key, item)
            parts = key.split(" ")
            for k in range(1, len(parts) + 1):
                self.prefixes.add(" ".join(parts[:k]))

    def match(self, words: Sequence[str], i: int) -> tuple[int, T | None] | None:
        """What the word at `i` (its first character is the sigil) names.

        (words used, place) for a match; (words used, None) for a quoted name that names
        nothing; None when the words are no place's name."""
        first = words[i][1:]
        if first.startswith('"'):
            return self._quoted(words, i)
        key = name_key(first)
        best: tuple[int, T | None] | None = None
        if key in self.full:
            best = (1, self.full[key])
        elif "_" in first and name_key(first.replace("_", " ")) in self.full:
            return 1, self.full[name_key(first.replace("_", " "))]
        if key not in self.prefixes:
            return best
        for j in range(i + 1, len(words)):
            key = f"{key} {words[j].casefold()}"
            if key not in self.prefixes:
                break
            if key in self.full:
                best = (j + 1 - i, self.full[key])
        return best

    def _quoted(self, words: Sequence[str], i: int) -> tuple[int, T | None] | None:
        inner: list[str] = []
        for j in range(i, min(len(words), i + MAX_QUOTED_WORDS)):
            word = words[j][2:] if j == i else words[j]
            if word.endswith('"') and (j > i or len(word) > 1):
                inner.append(word[:-1])
                return j + 1 - i, self.full.get(name_key(" ".join(inner)))
            inner.append(word)
        return None  # no closing quote: not a name


class Catalog:
    """The user's active projects in their order (the Inbox among them) and their sections."""

    def __init__(self, projects: Sequence[ProjectPlace]) -> None:
        self.projects = Names(projects)
        self.inbox = next((p for p in projects if p.inbox), None)
        self._sections: dict[uuid.UUID, Names[SectionPlace]] = {}

    def sections(self, project: ProjectPlace) -> Names[SectionPlace]:
        if project.id not in self._sections:
            self._sections[project.id] = Names(project.sections)
        return self._sections[project.id]
