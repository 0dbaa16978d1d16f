"""Quick add: text in, task fields out (reader.py), and the task it makes (output.py).

Pure; the grammar is in docs/quick-add.md. The modules: `vocabulary` (words and patterns),
`base` (the reader's state and results), one mixin per kind of phrase (`places`, `dates`,
`repeats`, `reminders`), `reader` (the one pass and the result) and `output`.
"""

from doable.tasks.quickadd.base import QuickParse, Recurrence, ReminderSpec, Token
from doable.tasks.quickadd.output import (
    NO_TITLE,
    create_body,
    parse_out,
    reminder_create,
    task_create,
)
from doable.tasks.quickadd.reader import parse
from doable.tasks.quickadd.vocabulary import MAX_TITLE_LENGTH

__all__ = [
    "MAX_TITLE_LENGTH",
    "NO_TITLE",
    "QuickParse",
    "Recurrence",
    "ReminderSpec",
    "Token",
    "create_body",
    "parse",
    "parse_out",
    "reminder_create",
    "task_create",
]
