"""GET /api/v1/export and POST /api/v1/import: thin routes over transfer.parse and .service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from doable.auth.dependencies import (
    CurrentPrincipal,
    CurrentUser,
    SessionRequired,
    require_scope,
)
from doable.db import Database, SessionDep, utcnow
from doable.idempotency import route as idempotency
from doable.idempotency.route import IdempotentRoute
from doable.routing import API_PREFIX
from doable.transfer import runner, service
from doable.transfer.schemas import ImportResult, ProjectName

router = APIRouter(prefix=API_PREFIX, tags=["export and import"], route_class=IdempotentRoute)

# Parsing and validating a big file is CPU work: in a worker thread, one chunk of one import at
# a time per process, so the event loop keeps serving other requests meanwhile.
_LIMITER = "doable_import_limiter"
T = TypeVar("T")

_EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The export, as an attachment (`doable-export-YYYY-MM-DD.json|csv`).",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ExportDocument"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    },
    403: {"description": "An API token without tasks:read and account:read"},
}
_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Our JSON export, our CSV export, or a Todoist project CSV export. "
        "`text/plain`, `application/octet-stream` or no type: detected from the content.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ExportDocument"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses=_EXPORT_RESPONSES,
    dependencies=[Depends(require_scope("tasks:read")), Depends(require_scope("account:read"))],
)
async def export(
    request: Request,
    user: CurrentUser,
    fmt: Annotated[
        service.ExportFormat,
        Query(alias="format", description="`json` (everything) or `csv` (one row per task)"),
    ] = "json",
) -> StreamingResponse:
    """Everything of the account: settings, tags, its projects and their tasks
    (docs/export-format.md). Projects others share with the account are listed by name,
    owner and role in `shared_projects`; their tasks are their owners' and are not exported.

    Streamed in chunks read from one consistent snapshot, so memory stays flat however big
    the account is."""
    database: Database = request.app.state.database
    owner = service.Owner.of(user)
    now = utcnow()

    async def body() -> AsyncIterator[bytes]:
        async with database.snapshot() as session:
            async for piece in service.export_chunks(session, owner, fmt, now=now):
                yield piece.encode()

    name = service.filename(owner.timezone, fmt, now)
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8" if fmt == "csv" else "application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def import_limiter(request: Request) -> anyio.CapacityLimiter:
    """The process's one import slot (shared by the API and the web app)."""
    limiter: anyio.CapacityLimiter | None = getattr(request.app.state, _LIMITER, None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(1)
        setattr(request.app.state, _LIMITER, limiter)
    return limiter


@router.post(
    "/import",
    response_model=ImportResult,
    openapi_extra=_IMPORT_BODY,
    dependencies=[Depends(require_scope("tasks:write"))],
    responses={
        403: {"description": "An API token without tasks:write, or with apply_settings"},
        415: {"description": "Neither JSON nor CSV"},
    },
)
async def import_data(
    request: Request,
    principal: CurrentPrincipal,
    user: CurrentUser,
    session: SessionDep,
    mode: Annotated[
        Literal["merge"], Query(description="`merge`: add alongside the existing data")
    ] = "merge",
    apply_settings: Annotated[
        bool,
        Query(
            description="Also set the account's name and time zone from a JSON export "
            "(access tokens only)"
        ),
    ] = False,
    project_name: Annotated[
        ProjectName | None,
        Query(
            description="The name of the project a Todoist CSV becomes (default `Imported`; "
            "`Name (2)` when `Name` is taken). Other files carry their own projects."
        ),
    ] = None,
) -> ImportResult:
    """Import a file, all or nothing: every record is validated (422 lists each problem with
    its line or JSON pointer) and staged hidden, chunk by chunk, each chunk in a short
    transaction of its own; then this request's transaction makes it all visible at once. A
    file with a problem, or an import that fails, leaves nothing. Size limit:
    `IMPORT_MAX_BYTES`. Sending the same file twice imports it twice, unless both requests
    carry the same `Idempotency-Key`."""
    if apply_settings and principal.kind != "access_token":
        raise SessionRequired()
    # End the transaction authentication began (and an Idempotency-Key's claim, taken back
    # before publishing): on SQLite it holds the database's write lock, which neither a slow
    # client nor the staging transactions may wait on. It has written at most the API token's
    # last use.
    user_id, user_zone = user.id, user.timezone  # `user` expires with the transaction
    if not await idempotency.release(request):
        await session.commit()
    return await runner.run_import(
        request.app.state.database,
        session,
        user_id=user_id,
        user_zone=user_zone,
        body=await request.body(),
        content_type=request.headers.get("content-type"),
        now=utcnow(),
        limiter=import_limiter(request),
        apply_settings=apply_settings,
        project_name=project_name,
        before_publish=partial(idempotency.claim_again, request, session),
    )
