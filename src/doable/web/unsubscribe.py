"""/unsubscribe: the link in every reminder and agenda email's List-Unsubscribe header.

GET shows what the link turns off and a button; POST turns it off. A mail client's one-click
unsubscribe (RFC 8058) POSTs `List-Unsubscribe=One-Click` here with no cookie, so this router
has no CSRF check: the signed token in the query is the credential, as a reset link's is, and
a forged POST could only do what the link's holder may. Forged links answer 400, expired or
already used ones 410, as HTML pages (notify.service.unsubscribe_target)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from doable.accounts.links import MAX_LINK_TOKEN
from doable.db import SessionDep
from doable.notify import service
from doable.state import StateDep
from doable.web.views import base_context, respond

router = APIRouter(include_in_schema=False)
Token = Annotated[str, Query(max_length=MAX_LINK_TOKEN)]

WHAT = {"reminders": "reminder emails", "agenda": "the daily agenda email"}


@router.get("/unsubscribe")
async def unsubscribe_page(
    request: Request, session: SessionDep, state: StateDep, token: Token = ""
) -> Response:
    _, channel, address = await service.unsubscribe_target(
        session, state.runtime.secret_key, token, now=state.clock()
    )
    ctx = base_context(request, state, None) | {
        "token": token,
        "what": WHAT[channel],
        "address": address,
        "done": False,
    }
    return respond(request, state, "unsubscribe.html", ctx)


@router.post("/unsubscribe")
async def unsubscribe_submit(
    request: Request, session: SessionDep, state: StateDep, token: Token = ""
) -> Response:
    channel = await service.unsubscribe_email(
        session, state.runtime.secret_key, token, now=state.clock()
    )
    ctx = base_context(request, state, None) | {"what": WHAT[channel], "done": True}
    return respond(request, state, "unsubscribe.html", ctx)
