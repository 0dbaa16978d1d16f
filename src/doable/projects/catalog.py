"""The names quick add can aim a task at: the user's active projects and their sections."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth.models import User
from doable.projects import access
from doable.projects import service as projects
from doable.projects.models import Project, Section
from doable.tasks.quickplaces import Catalog, ProjectPlace, SectionPlace


async def quick_add_catalog(session: AsyncSession, user: User) -> Catalog:
    """Two queries: the active projects in their order (Inbox first), then their sections in
    order. Archived projects are left out, so `#Archived` reads as a tag."""
    found = await projects.list_projects(session, user)
    sections: dict[uuid.UUID, list[SectionPlace]] = defaultdict(list)
    if found:
        rows = await session.execute(
            select(Section.project_id, Section.id, Section.name)
            .join(Project, Project.id == Section.project_id)
            .where(access.section_scope(user), Project.archived.is_(False))
            .order_by(Section.project_id, Section.position, Section.id)
        )
        for project_id, section_id, name in rows.all():
            sections[project_id].append(SectionPlace(section_id, name))
    return Catalog(
        [
            ProjectPlace(p.id, p.name, inbox=p.is_inbox, sections=tuple(sections[p.id]))
            for p in found
        ]
    )
