"""The web app's webhook pages: the account's endpoints, and one endpoint's recent deliveries
with replay. Thin: the same webhooks.service as the API."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from doable.auth.models import User
from doable.db import SessionDep
from doable.errors import DoableError
from doable.state import AppState, StateDep
from doable.web import messages
from doable.web.dependencies import CsrfToken, WebUser, csrf_protect
from doable.web.views import base_context, respond
from doable.webhooks import service
from doable.webhooks.schemas import EVENT_TYPES, WebhookCreate

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

RECENT_DELIVERIES = 50
WebhookId = Annotated[uuid.UUID, Path()]


async def _context(
    request: Request, state: AppState, session: Any, user: User, **extra: Any
) -> dict[str, Any]:
    endpoints = await service.list_endpoints(session, user.id)
    return (
        base_context(request, state, user)
        | {
            "webhooks": [service.webhook_out(e) for e in endpoints],
            "event_types": EVENT_TYPES,
            "new_secret": None,
            "form": {"url": "", "event_types": list(EVENT_TYPES)},
            "errors": {},
            "notice": request.query_params.get("saved", ""),
        }
        | extra
    )


@router.get("/account/webhooks")
async def webhooks_page(
    request: Request, user: WebUser, session: SessionDep, state: StateDep, csrf: CsrfToken
) -> Response:
    return respond(request, state, "webhooks.html", await _context(request, state, session, user))


@router.post("/account/webhooks")
async def create_webhook(
    request: Request,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
    url: Annotated[str, Form(max_length=4000)] = "",
    event_types: Annotated[list[str], Form(max_length=10)] = [],  # noqa: B006 (FastAPI copies)
) -> Response:
    """The secret is shown once, in the answer to this post (never in a redirect)."""
    form = {"url": url, "event_types": event_types}
    try:
        data = WebhookCreate.model_validate({"url": url.strip(), "event_types": event_types})
        endpoint, secret = await service.create_endpoint(
            session,
            user,
            data,
            secret_key=state.runtime.secret_key,
            allow_private=state.runtime.settings.webhook_allow_private_targets,
        )
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            field = next((str(p) for p in err["loc"] if isinstance(p, str)), "webhooks")
            field = field if field in {"url", "event_types"} else "webhooks"
            errors.setdefault(f"hook_{field}", messages.plain(err))
        ctx = await _context(request, state, session, user, errors=errors, form=form)
        return respond(request, state, "webhooks.html", ctx, status=422)
    except DoableError as exc:
        field = "hook_url" if exc.status == 422 else "hook_webhooks"
        ctx = await _context(request, state, session, user, errors={field: exc.detail}, form=form)
        return respond(request, state, "webhooks.html", ctx, status=exc.status)
    ctx = await _context(
        request, state, session, user, new_secret={"url": endpoint.url, "secret": secret}
    )
    return respond(request, state, "webhooks.html", ctx, status=201)


@router.get("/account/webhooks/{webhook_id}")
async def webhook_page(
    request: Request,
    webhook_id: WebhookId,
    user: WebUser,
    session: SessionDep,
    state: StateDep,
    csrf: CsrfToken,
) -> Response:
    endpoint = await service.get_endpoint(session, user.id, webhook_id)
    rows, _ = await service.list_deliveries(
        session,
        user.id,
        webhook_id,
        limit=RECENT_DELIVERIES,
        cursor=None,
        cursor_key=state.runtime.secret_key,
    )
    ctx = base_context(request, state, user) | {
        "webhook": service.webhook_out(endpoint),
        "deliveries": [service.delivery_out(r) for r in rows],
        "notice": request.query_params.get("saved", ""),
    }
    return respond(request, state, "webhook.html", ctx)


@router.post("/account/webhooks/{webhook_id}/delete")
async def delete_webhook(
    webhook_id: WebhookId, user: WebUser, session: SessionDep
) -> RedirectResponse:
    await service.delete_endpoint(session, user.id, webhook_id)
    return RedirectResponse("/account/webhooks?saved=deleted", status_code=303)


@router.post("/account/webhooks/{webhook_id}/deliveries/{delivery_id}/replay")
async def replay_delivery(
    webhook_id: WebhookId,
    delivery_id: Annotated[uuid.UUID, Path()],
    user: WebUser,
    session: SessionDep,
) -> RedirectResponse:
    await service.replay(session, user.id, webhook_id, delivery_id)
    return RedirectResponse(f"/account/webhooks/{webhook_id}?saved=replayed", status_code=303)
