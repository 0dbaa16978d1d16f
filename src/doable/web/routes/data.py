"""The account's Data page: export, import (with its per-line report) and API tokens.

Thin, like the API's routes: export and import go through `transfer` (the same streaming
export and the same all-or-nothing import as /api/v1/export and /api/v1/import), tokens
through `auth.service`, so every rule lives once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import Path, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from doable.auth import service as auth_service
from doable.auth.models import User
from doable.auth.schemas import TokenCreate
from doable.db import Database, SessionDep, utcnow
from doable.errors import DoableError, InvalidInput
from doable.state import StateDep
from doable.transfer import runner
from doable.transfer import service as transfer_service
from doable.transfer.parse import TODOIST_PRIORITY, ImportInvalid
from doable.transfer.router import import_limiter
from doable.transfer.schemas import ImportNote
from doable.web import messages
from doable.web.dependencies import CsrfToken, WebUser, area_router
from doable.web.routes.forms import field_errors, read_form, see_other
from doable.web.views import base_context, respond

router = area_router()

SCOPE_CHOICES = (
    ("tasks:read", "Read tasks"),
    ("tasks:write", "Change tasks"),
    ("account:read", "Read the account (export)"),
)
EXPIRY_CHOICES = (("", "Never"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"))
# A file's kind from its name first: browsers send CSV as anything from text/csv to
# application/vnd.ms-excel.
KINDS = {".csv": "text/csv", ".json": "application/json"}


async def _context(
    request: Request, state: Any, session: Any, user: User, **extra: Any
) -> dict[str, Any]:
    return (
        base_context(request, state, user)
        | {
            "tokens": await auth_service.list_api_tokens(session, user.id),
            "scope_choices": SCOPE_CHOICES,
            "expiry_choices": EXPIRY_CHOICES,
            "errors": {},
            "values": {},
            "new_token": None,
            "result": None,
            "problems": [],
            "notice": request.query_params.get("saved", ""),
        }
        | extra
    )


@router.get("/account/data")
async def data_page(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    return respond(request, state, "data.html", await _context(request, state, session, user))


@router.get("/account/export")
async def export(
    request: Request,
    user: WebUser,
    format: Literal["json", "csv"] = "json",
) -> StreamingResponse:
    """The same export as GET /api/v1/export, as a download."""
    database: Database = request.app.state.database
    owner = transfer_service.Owner.of(user)
    now = utcnow()

    async def body() -> Any:
        async with database.snapshot() as snapshot:
            async for piece in transfer_service.export_chunks(snapshot, owner, format, now=now):
                yield piece.encode()

    name = transfer_service.filename(owner.timezone, format, now)
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8" if format == "csv" else "application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _kind(upload: UploadFile) -> str | None:
    name = (upload.filename or "").lower()
    for suffix, kind in KINDS.items():
        if name.endswith(suffix):
            return kind
    return upload.content_type


@router.post("/account/import")
async def import_file(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    """Import an uploaded file, all or nothing; the page shows what came in, or each problem
    with its line (or JSON pointer), and nothing is stored then."""
    form = await request.form()
    upload = form.get("file")
    project_name = form.get("project_name")
    user_id, user_zone = user.id, user.timezone
    # End the transaction the session check began (it holds SQLite's write lock, which the
    # import's staging transactions would wait on).
    await session.commit()
    problems: list[dict[str, Any]] = []
    result = None
    status = 200
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("Choose a file to import", loc=["body", "file"])
        name = project_name.strip() if isinstance(project_name, str) else ""
        if len(name) > 120:
            raise InvalidInput(
                "A project name has at most 120 characters", loc=["body", "project_name"]
            )
        result = await runner.run_import(
            request.app.state.database,
            session,
            user_id=user_id,
            user_zone=user_zone,
            body=await upload.read(),
            content_type=_kind(upload),
            now=utcnow(),
            limiter=import_limiter(request),
            project_name=name or None,
        )
    except DoableError as exc:
        status = exc.status if 400 <= exc.status < 500 else 422
        notes = exc.notes if isinstance(exc, ImportInvalid) else []
        problems = [_problem(note) for note in notes] or [{"where": "", "what": exc.detail}]
    await session.refresh(user)
    ctx = await _context(request, state, session, user, result=result, problems=problems)
    return respond(request, state, "data.html", ctx, status=status)


def _problem(note: ImportNote) -> dict[str, str]:
    """One line of the import report: where in the file, and what is wrong there, in words a
    person understands (web/messages.py) rather than pydantic's."""
    column = next((p for p in reversed(note.loc) if isinstance(p, str) and p != "line"), "")
    if note.line is not None:
        place = f"Line {note.line}"
        cause_field = next(
            (p for p in reversed((note.cause or {}).get("loc", ())) if isinstance(p, str)), ""
        )
        if column and column not in {"body", cause_field}:
            place += f" ({column})"  # a Todoist column, named as the file names it
    else:
        place = f"At {note.pointer}" if note.pointer else ""
    cause = note.cause
    if cause is not None and column == "PRIORITY" and cause.get("type") == "literal_error":
        # A Todoist file: its PRIORITY column takes Todoist's numbers, not Doable's words.
        choices = " or ".join(f"'{k}'" for k in TODOIST_PRIORITY if k)
        cause = {**cause, "loc": ("PRIORITY",), "ctx": {"expected": choices}}
    if cause is not None:
        return {"where": place, "what": messages.plain(cause, in_file=True)}
    field = "line" if note.line is not None and column in {"", "body"} else column
    what = messages.plain({"type": "import", "msg": note.msg, "loc": [field]}, in_file=True)
    return {"where": place, "what": what}


@router.post("/account/tokens")
async def create_token(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    form = await read_form(request)
    scopes = [s for s, _ in SCOPE_CHOICES if form.get(f"scope_{s}") == "on"]
    body: dict[str, Any] = {"name": form.get("name", ""), "scopes": scopes}
    days = form.get("expires_days", "")
    if days in {d for d, _ in EXPIRY_CHOICES if d}:
        body["expires_at"] = utcnow() + timedelta(days=int(days))
    try:
        data = TokenCreate.model_validate(body)
    except ValidationError as exc:
        ctx = await _context(request, state, session, user, errors=field_errors(exc), values=form)
        return respond(request, state, "data.html", ctx, status=422)
    token, raw = await auth_service.create_api_token(session, user, data)
    ctx = await _context(request, state, session, user, new_token={"name": token.name, "raw": raw})
    return respond(request, state, "data.html", ctx)


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token(
    token_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
    csrf: CsrfToken,
) -> Response:
    await auth_service.revoke_api_token(session, user.id, token_id)
    return see_other("/account/data?saved=revoked")
