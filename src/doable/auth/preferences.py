"""What the web app remembers for a user: the task list's sort and a project's layout.

Stored on the user's row (`User.preferences`, a small JSON object), so reading them costs no
query. A page that is asked for a sort or layout explicitly remembers it, in a short write
transaction of its own and only when it changed; a page asked without one uses what was
remembered. Unreadable or unknown stored values fall back to the defaults, never an error.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from doable.auth.models import User
from doable.db import Database

Sort = Literal["created", "updated", "due", "priority", "title", "position"]
Layout = Literal["list", "board"]


class Preferences(BaseModel):
    model_config = ConfigDict(extra="ignore")

    task_sort: Sort = "created"
    project_layout: Layout = "list"


def of(user: User) -> Preferences:
    if not user.preferences:
        return Preferences()
    try:
        return Preferences.model_validate_json(user.preferences)
    except ValidationError:
        return Preferences()


async def remember(database: Database, user: User, **changes: str) -> Preferences:
    """Store `changes` (fields of Preferences) if they differ from what is stored: beside the
    request, by one request of a burst (Database.side_write); a page that finds another
    storing skips it, and the user's latest choice is stored by their next page."""
    current = of(user)
    wanted = Preferences.model_validate(current.model_dump() | changes)
    if wanted == current:
        return current
    text = wanted.model_dump_json()
    stored = await database.side_write(
        ("preferences", user.id),
        lambda side: side.execute(update(User).where(User.id == user.id).values(preferences=text)),
    )
    if not stored:
        return wanted
    # The request's copy, as if loaded so (the row was written on the side).
    set_committed_value(user, "preferences", text)
    return wanted
