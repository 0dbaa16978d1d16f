"""Quick add's places and labels: `#Project`, `/Section`, `#tag` / `@tag` and priorities."""

from __future__ import annotations

from doable.tasks.quickadd.base import ReaderBase
from doable.tasks.quickadd.vocabulary import (
    MAX_TAG_LENGTH,
    PRIORITIES,
    PRIORITY,
    SECTION_LIKE,
    TAG,
    TODOIST_PRIORITIES,
)


class PlaceRules(ReaderBase):
    # Projects, sections, tags and priorities

    def place_at(self, i: int) -> int:
        sigil = self.texts[i][0]
        if sigil == "#":
            return self.project_at(i) or self.tag_at(i)
        if sigil == "@":
            return self.tag_at(i)
        if sigil == "/":
            return self.section_at(i)
        return 0

    def project_at(self, i: int) -> int:
        """`#Name` of a project: the first one is where the task goes; a later one, or a quoted
        name of no project, stays in the title."""
        if self.catalog is None:
            return 0
        if self.named is not None and self.named[0] == i:
            return self.take("project", i, self.named[1])
        found = self.catalog.projects.match(self.texts, i)
        if found is None:
            return 0
        used, project = found
        if project is None:
            self.warn(f"There is no project {self.span(i, i + used)[1:]}; it stays in the title")
            self.kept.extend(self.texts[i : i + used])
            return used
        return self.duplicate("project", i, i + used)

    def section_at(self, i: int) -> int:
        if self.catalog is None or self.project is None:
            return 0
        found = self.catalog.sections(self.project).match(self.texts, i)
        if found is None or found[1] is None:
            word = self.texts[i]
            if found is not None or (
                SECTION_LIKE.fullmatch(word) and any(c.isalpha() for c in word)
            ):
                used = found[0] if found else 1
                self.warn(
                    f"There is no section {self.span(i, i + used)[1:]} in {self.project.name};"
                    " it stays in the title"
                )
                self.kept.extend(self.texts[i : i + used])
                return used
            return 0
        used, section = found
        if self.section is not None:
            return self.duplicate("section", i, i + used)
        self.section = section
        return self.take("section", i, i + used)

    def tag_at(self, i: int) -> int:
        word = self.words[i]
        if word.text[0] not in "#@":
            return 0
        m = TAG.fullmatch(word.text)
        if m is None or not any(c.isalpha() for c in m.group(1)):
            if len(word.text) > 1 and not word.text[1:].isdigit():
                self.warn(
                    f"“{word.text}” is not a tag: a tag is {word.text[0]} and a word with a letter"
                )
            return 0  # "#", "#12" (an issue number), "#!?"
        name = m.group(1)
        if len(name) > MAX_TAG_LENGTH:
            self.warn(f"A tag may have at most {MAX_TAG_LENGTH} characters; “{word.text[:20]}…”")
            return 0
        self.tags.setdefault(name.casefold(), name)
        return self.take("tag", i, i + 1)

    def priority_at(self, i: int) -> int:
        m = PRIORITY.fullmatch(self.low(i))
        if m is None:
            value = TODOIST_PRIORITIES.get(self.low(i))
            if value is None:
                return 0
            if self.priority is not None:
                return self.duplicate("priority", i, i + 1)
            self.priority = value
            return self.take("priority", i, i + 1)
        value = PRIORITIES.get(m.group(1))
        if value is None:
            self.warn(
                f"“{self.words[i].text}” is not a priority: use !low, !medium, !high, !urgent,"
                " or !1 (urgent) to !4 (low)"
            )
            return 0
        if self.priority is not None:
            return self.duplicate("priority", i, i + 1)
        self.priority = value
        return self.take("priority", i, i + 1)
