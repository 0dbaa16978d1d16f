"""Dependencies that load a project or section by id, scoped to the current user."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request

from doable.auth.dependencies import CurrentUser
from doable.db import SAFE_METHODS, SessionDep
from doable.projects import service
from doable.projects.models import Project, Section


async def owned_project(
    project_id: Annotated[uuid.UUID, Path(description="Project id")],
    user: CurrentUser,
    session: SessionDep,
    request: Request,
) -> Project:
    # A write locks the row, so concurrent writers queue and If-Match is checked against the
    # version they will overwrite.
    writing = request.method not in SAFE_METHODS
    return await service.get_project(session, user.id, project_id, for_update=writing)


async def owned_section(
    section_id: Annotated[uuid.UUID, Path(description="Section id")],
    user: CurrentUser,
    session: SessionDep,
    request: Request,
) -> Section:
    writing = request.method not in SAFE_METHODS
    return await service.get_section(session, user.id, section_id, for_update=writing)


OwnedProject = Annotated[Project, Depends(owned_project)]
OwnedSection = Annotated[Section, Depends(owned_section)]
