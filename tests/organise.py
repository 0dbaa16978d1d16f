"""Projects and sections for tests of the surfaces that aim at them (quick add, MCP, feeds,
reminders), made through projects.service in a unit of work of their own, as a route does.

The REST routes for projects come with the API part of the organise issue; these helpers go
through the same service they call."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from doable.db import Database
from doable.projects import service as projects
from doable.projects.access import Someone
from tests.factories import Account


@dataclass
class MadeProject:
    id: str
    name: str
    sections: dict[str, str]  # name → id


async def make_project(
    database: Database, account: Account, name: str, *, sections: Sequence[str] = ()
) -> MadeProject:
    owner = uuid.UUID(account.id)
    async with database.unit_of_work(write=True) as session:
        project = await projects.create_project(session, owner, name=name)
        made = {}
        for section_name in sections:
            section = await projects.create_section(session, project, name=section_name)
            made[section_name] = str(section.id)
        return MadeProject(str(project.id), name, made)


async def set_archived(
    database: Database, account: Account, project_id: str, archived: bool
) -> None:
    async with database.unit_of_work(write=True) as session:
        project = await projects.get_project(
            session, Someone(uuid.UUID(account.id)), uuid.UUID(project_id)
        )
        await projects.update_project(session, project, archived=archived)


async def inbox_of(database: Database, account: Account) -> str:
    async with database.unit_of_work(write=False) as session:
        return str(await projects.inbox_id(session, uuid.UUID(account.id)))


async def add_section(database: Database, account: Account, project_id: str, name: str) -> str:
    async with database.unit_of_work(write=True) as session:
        project = await projects.get_project(
            session, Someone(uuid.UUID(account.id)), uuid.UUID(project_id)
        )
        return str((await projects.create_section(session, project, name=name)).id)


async def delete_project(database: Database, account: Account, project_id: str) -> None:
    async with database.unit_of_work(write=True) as session:
        project = await projects.get_project(
            session, Someone(uuid.UUID(account.id)), uuid.UUID(project_id)
        )
        await projects.delete_project(session, project)
