"""/api/v1/projects and /api/v1/sections: thin routes over projects.service."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from doable.auth.dependencies import CurrentUser, require_scope_by_method
from doable.db import SessionDep
from doable.idempotency.route import IdempotentRoute
from doable.projects import service
from doable.projects.dependencies import AdminProject, OwnedProject, OwnedSection, OwnerProject
from doable.projects.models import Project, Section
from doable.projects.schemas import (
    PROJECT_PATCH_FIELDS,
    ProjectCreate,
    ProjectOut,
    ProjectPatch,
    SectionCreate,
    SectionOut,
    SectionPatch,
    refuse_nulls,
)
from doable.routing import API_PREFIX, path_for
from doable.trash import service as trash_service

# Projects and sections hold tasks: API tokens need tasks:read for GET and tasks:write for
# the rest, as on /tasks; POSTs honour Idempotency-Key.
_SCOPES = [Depends(require_scope_by_method("tasks:read", "tasks:write"))]
projects_router = APIRouter(
    prefix=f"{API_PREFIX}/projects",
    tags=["projects"],
    dependencies=_SCOPES,
    route_class=IdempotentRoute,
)
sections_router = APIRouter(
    prefix=f"{API_PREFIX}/sections",
    tags=["projects"],
    dependencies=_SCOPES,
    route_class=IdempotentRoute,
)

COMMON: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "An API token without the scope this route needs"},
    404: {"description": "Not found (also for another user's object)"},
}
STALE: dict[int | str, dict[str, Any]] = {412: {"description": "Stale If-Match"}}
INBOX: dict[int | str, dict[str, Any]] = {
    409: {"description": "The Inbox cannot be deleted, archived, renamed or moved"}
}
IfMatch = Annotated[
    str | None,
    Header(description="ETag from a previous read; a stale one gets 412", max_length=1000),
]


def _etag(response: Response, item: Project | Section) -> None:
    response.headers["ETag"] = service.etag(item)


async def _project_out(
    session: SessionDep, project: Project, response: Response | None = None
) -> ProjectOut:
    if response is not None:
        _etag(response, project)
    return ProjectOut.of(project, await service.open_count(session, project))


@projects_router.get("", response_model=list[ProjectOut], responses=COMMON)
async def list_projects(
    user: CurrentUser,
    session: SessionDep,
    archived: Annotated[
        Literal["false", "true", "all"],
        Query(description="`false`: active projects (default); `true`: archived ones; `all`"),
    ] = "false",
) -> list[ProjectOut]:
    """Your projects in their order, the Inbox first, each with its count of open tasks."""
    which = None if archived == "all" else archived == "true"
    projects = await service.list_projects(session, user, archived=which)
    counts = await service.open_counts(session, user)
    return [ProjectOut.of(p, counts.get(p.id, 0)) for p in projects]


@projects_router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=ProjectOut, responses=COMMON
)
async def create_project(
    data: ProjectCreate,
    user: CurrentUser,
    session: SessionDep,
    request: Request,
    response: Response,
) -> ProjectOut:
    project = await service.create_project(
        session,
        user.id,
        name=data.name,
        color=data.color,
        favorite=data.favorite,
        placement=data.placement(),
    )
    response.headers["Location"] = str(path_for(request, "get_project", project_id=str(project.id)))
    _etag(response, project)
    return ProjectOut.of(project, 0)


@projects_router.get("/{project_id:uuid}", response_model=ProjectOut, responses=COMMON)
async def get_project(project: OwnedProject, session: SessionDep, response: Response) -> ProjectOut:
    return await _project_out(session, project, response)


@projects_router.patch(
    "/{project_id:uuid}", response_model=ProjectOut, responses={**COMMON, **STALE, **INBOX}
)
async def update_project(
    data: ProjectPatch,
    project: AdminProject,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> ProjectOut:
    """Rename, recolour, (un)favourite, archive or unarchive, and move among your projects."""
    refuse_nulls(data, *PROJECT_PATCH_FIELDS)
    service.check_if_match(project, if_match)
    project = await service.update_project(
        session,
        project,
        name=data.name,
        color=data.color,
        favorite=data.favorite,
        archived=data.archived,
        placement=data.placement(),
    )
    return await _project_out(session, project, response)


@projects_router.delete(
    "/{project_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**COMMON, **STALE, **INBOX},
)
async def delete_project(
    project: OwnerProject, session: SessionDep, if_match: IfMatch = None
) -> Response:
    """Delete the project with its sections and tasks (409 for the Inbox)."""
    service.check_if_match(project, if_match)
    await trash_service.trash_project(session, project)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@projects_router.get(
    "/{project_id:uuid}/sections", response_model=list[SectionOut], responses=COMMON
)
async def list_sections(project: OwnedProject, session: SessionDep) -> list[SectionOut]:
    sections = await service.list_sections(session, project)
    return [SectionOut.of(s) for s in sections]


@projects_router.post(
    "/{project_id:uuid}/sections",
    status_code=status.HTTP_201_CREATED,
    response_model=SectionOut,
    responses=COMMON,
)
async def create_section(
    data: SectionCreate,
    project: OwnedProject,
    session: SessionDep,
    request: Request,
    response: Response,
) -> SectionOut:
    section = await service.create_section(
        session, project, name=data.name, placement=data.placement()
    )
    response.headers["Location"] = str(path_for(request, "get_section", section_id=str(section.id)))
    _etag(response, section)
    return SectionOut.of(section)


@sections_router.get("/{section_id:uuid}", response_model=SectionOut, responses=COMMON)
async def get_section(section: OwnedSection, response: Response) -> SectionOut:
    _etag(response, section)
    return SectionOut.of(section)


@sections_router.patch(
    "/{section_id:uuid}", response_model=SectionOut, responses={**COMMON, **STALE}
)
async def update_section(
    data: SectionPatch,
    section: OwnedSection,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> SectionOut:
    """Rename the section, or move it among the project's sections."""
    refuse_nulls(data, "name")
    service.check_if_match(section, if_match)
    section = await service.update_section(
        session, section, name=data.name, placement=data.placement()
    )
    _etag(response, section)
    return SectionOut.of(section)


@sections_router.delete(
    "/{section_id:uuid}", status_code=status.HTTP_204_NO_CONTENT, responses={**COMMON, **STALE}
)
async def delete_section(
    section: OwnedSection,
    session: SessionDep,
    with_tasks: Annotated[
        bool,
        Query(
            description="true: delete the section's tasks too; false (default): they stay in"
            " the project, outside any section"
        ),
    ] = False,
    if_match: IfMatch = None,
) -> Response:
    service.check_if_match(section, if_match)
    await trash_service.trash_section(session, section, with_tasks=with_tasks)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
