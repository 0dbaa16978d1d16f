"""Projects and sections in the web app: a project's page (list or board), and creating,
renaming, colouring, archiving and deleting projects and sections. The rules are
projects.service's; deleting asks for a confirmation page first."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import Form, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, StringConstraints, ValidationError

from doable.auth import preferences
from doable.auth.models import User
from doable.db import SessionDep
from doable.errors import InvalidInput
from doable.projects import service as projects_service
from doable.projects.access import Role
from doable.projects.models import PALETTE, Project
from doable.state import StateDep
from doable.tasks import listing as task_listing
from doable.trash import service as trash_service
from doable.types import Text
from doable.web.dependencies import CsrfToken, WebUser, area_router
from doable.web.outline import outline
from doable.web.routes.forms import field_errors, read_form, see_other
from doable.web.routes.lists import sidebar_context
from doable.web.views import base_context, is_htmx, reminder_marks, respond, task_view

router = area_router()

ProjectId = Annotated[uuid.UUID, Path()]
SectionId = Annotated[uuid.UUID, Path()]
# A project page shows this many open tasks; past it, the list's filters page further.
PROJECT_PAGE_LIMIT = 500
COMPLETED_LIMIT = 100
Layout = Literal["list", "board"]


class NameForm(BaseModel):
    """A project's or section's name as typed: 1-120 characters on one line, trimmed."""

    name: Annotated[
        str,
        StringConstraints(min_length=1, max_length=120),
        Text(strip=True, blank=False, one_line=True),
    ]


def _name(value: str) -> str:
    return NameForm(name=value).name


def project_url(
    project: Project | uuid.UUID, layout: str | None = None, completed: bool = False
) -> str:
    """A project's page; naming a layout makes it the one remembered, none shows that one."""
    project_id = project.id if isinstance(project, Project) else project
    query = [f"view={layout}"] if layout is not None else []
    if completed:
        query.append("completed=1")
    return f"/projects/{project_id}" + ("?" + "&".join(query) if query else "")


async def project_context(
    request: Request,
    state: Any,
    session: Any,
    user: User,
    project: Project,
    *,
    layout: Layout = "list",
    completed: bool = False,
) -> dict[str, Any]:
    now = state.clock()
    key = state.runtime.secret_key
    sections = await projects_service.list_sections(session, project)
    open_rows, more = await task_listing.list_tasks(
        session,
        user,
        task_listing.TaskQuery(
            project_id=project.id,
            status="pending",
            sort="position",
            limit=PROJECT_PAGE_LIMIT,
            now=now,
        ),
        cursor_key=key,
    )
    today = task_listing.today_of(user, now)
    done = []
    if completed:
        done_rows, _ = await task_listing.list_tasks(
            session,
            user,
            task_listing.TaskQuery(
                project_id=project.id, status="completed", sort="updated", limit=COMPLETED_LIMIT
            ),
            cursor_key=key,
        )
        done = [task_view(t, user, today) for t in done_rows]
    section_pairs = [(str(s.id), s.name) for s in sections]
    return (
        base_context(request, state, user)
        | await sidebar_context(session, user, now)
        | {
            "project": project,
            "sections": sections,
            "groups": outline(open_rows, section_pairs, user, today),
            "truncated": more is not None,
            "layout": layout,
            "show_completed": completed,
            "completed_tasks": done,
            "reminder_marks": await reminder_marks(session, user, [t.id for t in open_rows], today),
            "here": project_url(project, layout, completed),
            "palette": PALETTE,
            "errors": {},
            "values": {},
        }
    )


@router.get("/projects/{project_id}")
async def project_page(
    request: Request,
    project_id: ProjectId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    view: Annotated[Layout | None, Query()] = None,
    completed: Annotated[bool, Query()] = False,
) -> Response:
    project = await projects_service.get_project(session, user, project_id)
    # A layout the request names is remembered for every project; none means the remembered.
    if view is None:
        view = preferences.of(user).project_layout
    else:
        await preferences.remember(request.app.state.database, user, project_layout=view)
    ctx = await project_context(
        request, state, session, user, project, layout=view, completed=completed
    )
    if is_htmx(request) and request.headers.get("hx-target") == "list-region":
        blocks = ["list_region", "counts_oob", "projects_oob"]
        return respond(request, state, "project.html", ctx, blocks=blocks)
    return respond(request, state, "project.html", ctx)


@router.post("/projects")
async def create_project(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    name: Annotated[str, Form(max_length=1000)] = "",
    color: Annotated[str, Form(max_length=20)] = "grey",
) -> Response:
    try:
        project = await projects_service.create_project(
            session, user.id, name=_name(name), color=color if color in PALETTE else "grey"
        )
    except ValidationError as exc:
        ctx = base_context(request, state, user) | await sidebar_context(
            session, user, state.clock()
        )
        ctx |= {"errors": {"project_name": field_errors(exc).get("name", "Invalid name")}}
        ctx |= {"values": {"project_name": name}, "palette": PALETTE}
        return respond(request, state, "project_new.html", ctx, status=422)
    return see_other(project_url(project))


@router.get("/projects")
async def new_project_page(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    """The form to add a project (the sidebar's "Add project"), and the archived projects."""
    ctx = base_context(request, state, user) | await sidebar_context(session, user, state.clock())
    ctx |= {
        "errors": {},
        "values": {},
        "palette": PALETTE,
        "archived": await projects_service.list_projects(session, user, archived=True),
    }
    return respond(request, state, "project_new.html", ctx)


async def _settings_refused(
    request: Request,
    state: Any,
    session: Any,
    user: User,
    project: Project,
    errors: dict[str, str],
    status: int,
) -> Response:
    ctx = await project_context(request, state, session, user, project)
    ctx["errors"] = errors
    return respond(request, state, "project.html", ctx, status=status)


@router.post("/projects/{project_id}")
async def update_project(
    request: Request,
    project_id: ProjectId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    """Rename, recolour, (un)favourite or (un)archive: whichever fields the form sent (read
    from the form itself, where an empty name is a name, not a missing field)."""
    project = await projects_service.get_project(
        session, user, project_id, for_update=True, need=Role.ADMIN
    )
    form = await read_form(request)
    try:
        name = form.get("name")
        await projects_service.update_project(
            session,
            project,
            name=None if name is None or project.is_inbox else _name(name[:1000]),
            color=form.get("color"),
            favorite=None if "favorite" not in form else form["favorite"] == "1",
            archived=None if "archived" not in form else form["archived"] == "1",
        )
    except ValidationError as exc:
        session.expunge(project)
        errors = {"project_name": field_errors(exc).get("name", "Invalid name")}
        return await _settings_refused(request, state, session, user, project, errors, 422)
    except InvalidInput as exc:
        session.expunge(project)
        return await _settings_refused(
            request, state, session, user, project, {"project_settings": exc.detail}, exc.status
        )
    return see_other(project_url(project))


@router.get("/projects/{project_id}/delete")
async def confirm_delete_project(
    request: Request,
    project_id: ProjectId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    project = await projects_service.get_project(session, user, project_id)
    counts = await projects_service.open_counts(session, user)
    ctx = base_context(request, state, user) | {
        "what": f"the project “{project.name}”",
        "detail": f"Its sections and every task in it ({counts.get(project.id, 0)} open) go too.",
        "action": f"/projects/{project.id}/delete",
        "cancel": project_url(project),
        "inbox": project.is_inbox,
    }
    return respond(request, state, "confirm.html", ctx)


@router.post("/projects/{project_id}/delete")
async def delete_project(
    request: Request,
    project_id: ProjectId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    project = await projects_service.get_project(
        session, user, project_id, for_update=True, need=Role.OWNER
    )
    if confirm != "yes":
        return see_other(f"/projects/{project.id}/delete")
    await trash_service.trash_project(session, project)  # 409 for the Inbox
    return see_other(f"/projects/{await projects_service.inbox_id(session, user.id)}")


# Sections


@router.post("/projects/{project_id}/sections")
async def create_section(
    request: Request,
    project_id: ProjectId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    name: Annotated[str, Form(max_length=1000)] = "",
    view: Annotated[Layout, Form()] = "list",
) -> Response:
    project = await projects_service.get_project(session, user, project_id, need=Role.EDITOR)
    try:
        await projects_service.create_section(session, project, name=_name(name))
    except ValidationError as exc:
        errors = {"section_name": field_errors(exc).get("name", "Invalid name")}
        return await _settings_refused(request, state, session, user, project, errors, 422)
    return see_other(project_url(project, view))


@router.post("/sections/{section_id}")
async def rename_section(
    request: Request,
    section_id: SectionId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    name: Annotated[str, Form(max_length=1000)] = "",
    view: Annotated[Layout, Form()] = "list",
) -> Response:
    section = await projects_service.get_section(session, user, section_id, need=Role.EDITOR)
    try:
        await projects_service.update_section(session, section, name=_name(name))
    except ValidationError as exc:
        session.expunge(section)
        project = await projects_service.get_project(session, user, section.project_id)
        errors = {f"section_{section.id}": field_errors(exc).get("name", "Invalid name")}
        return await _settings_refused(request, state, session, user, project, errors, 422)
    return see_other(project_url(section.project_id, view))


@router.get("/sections/{section_id}/delete")
async def confirm_delete_section(
    request: Request,
    section_id: SectionId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    section = await projects_service.get_section(session, user, section_id)
    ctx = base_context(request, state, user) | {
        "what": f"the section “{section.name}”",
        "detail": "Its tasks stay in the project, outside any section, unless you tick the box.",
        "action": f"/sections/{section.id}/delete",
        "cancel": project_url(section.project_id),
        "with_tasks_choice": True,
        "inbox": False,
    }
    return respond(request, state, "confirm.html", ctx)


@router.post("/sections/{section_id}/delete")
async def delete_section(
    request: Request,
    section_id: SectionId,
    user: WebUser,
    session: SessionDep,
    csrf: CsrfToken,
    confirm: Annotated[str, Form(max_length=10)] = "",
    with_tasks: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    section = await projects_service.get_section(session, user, section_id, need=Role.EDITOR)
    if confirm != "yes":
        return see_other(f"/sections/{section.id}/delete")
    project_id = section.project_id
    await trash_service.trash_section(session, section, with_tasks=with_tasks == "yes")
    return see_other(project_url(project_id))
