"""Dependencies that load a project or section by id, in the current user's scope.

Reading needs any role (a non-member gets 404). A write needs the role the route names: an
editor for sections and tasks (the default), an admin for a project's settings and members,
the owner to delete it or hand it over; a member whose role is lower gets 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Request

from doable.auth.dependencies import CurrentUser
from doable.db import SAFE_METHODS, SessionDep
from doable.projects import service
from doable.projects.access import Role
from doable.projects.models import Project, Section

ProjectId = Annotated[uuid.UUID, Path(description="Project id")]


def project_for(
    writes_need: Role,
) -> Callable[[ProjectId, CurrentUser, SessionDep, Request], Awaitable[Project]]:
    async def load(
        project_id: ProjectId, user: CurrentUser, session: SessionDep, request: Request
    ) -> Project:
        # A write locks the row, so concurrent writers queue and If-Match is checked against
        # the version they will overwrite.
        writing = request.method not in SAFE_METHODS
        return await service.get_project(
            session,
            user,
            project_id,
            for_update=writing,
            need=writes_need if writing else Role.VIEWER,
        )

    return load


async def owned_section(
    section_id: Annotated[uuid.UUID, Path(description="Section id")],
    user: CurrentUser,
    session: SessionDep,
    request: Request,
) -> Section:
    writing = request.method not in SAFE_METHODS
    return await service.get_section(
        session,
        user,
        section_id,
        for_update=writing,
        need=Role.EDITOR if writing else Role.VIEWER,
    )


# Sections and tasks in a project: editors write.
OwnedProject = Annotated[Project, Depends(project_for(Role.EDITOR))]
# A project's settings, archive and members: admins write.
AdminProject = Annotated[Project, Depends(project_for(Role.ADMIN))]
# Deleting a project or handing it over: the owner.
OwnerProject = Annotated[Project, Depends(project_for(Role.OWNER))]
OwnedSection = Annotated[Section, Depends(owned_section)]
