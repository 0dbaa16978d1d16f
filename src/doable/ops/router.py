"""/healthz and /readyz."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from doable.errors import problem
from doable.ops.service import readiness

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """200 while the process lives."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Database unreachable or not at head"}})
async def readyz(request: Request) -> JSONResponse:
    """200 when the database is reachable and its schema is at head, else 503."""
    ready, detail = await readiness(request.app.state.database)
    if not ready:
        return problem(
            503, "Service unavailable", detail, slug="not-ready", headers={"Retry-After": "5"}
        )
    return JSONResponse({"status": "ready"})
