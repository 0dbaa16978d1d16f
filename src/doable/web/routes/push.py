"""The installable app and Web Push from the web app: the manifest, the service worker
script, the VAPID key, and (un)subscribing this browser, signed in by the session cookie
(with the page's CSRF token, as every write)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from doable.db import SessionDep
from doable.errors import InvalidInput, PayloadTooLarge
from doable.notify import service as push_service
from doable.notify.schemas import SubscriptionIn, UnsubscribeIn
from doable.state import StateDep
from doable.web.dependencies import WebUser, area_router
from doable.web.routes import offline

router = area_router()

MAX_BODY = 4096  # a browser's subscription is about 500 bytes


@cache
def _worker_script() -> bytes:
    """sw.js with the app shell it caches (offline.py) and that shell's version filled in."""
    script = resources.files("doable.web").joinpath("static/sw.js").read_bytes()
    version = offline.shell_version(script)
    return script.replace(b'"__DOABLE_SHELL__"', json.dumps(offline.shell_urls()).encode()).replace(
        b"__DOABLE_VERSION__", version.encode()
    )


@router.get("/sw.js")
async def service_worker() -> Response:
    """At the root, so the worker's scope is the whole app."""
    return Response(
        _worker_script(),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


MANIFEST = {
    "name": "Doable",
    "short_name": "Doable",
    "description": "Tasks, reminders and projects.",
    "id": "/tasks",
    "start_url": "/tasks",
    "scope": "/",
    "display": "standalone",
    "background_color": "#f7f7f5",
    "theme_color": "#1f6f43",
    "icons": [
        {"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml"},
        {"src": "/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
        {"src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png"},
        {
            "src": "/static/icon-512.png",
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ],
}


@router.get("/manifest.webmanifest")
async def manifest() -> Response:
    """The web app manifest: what makes Doable installable."""
    return Response(
        json.dumps(MANIFEST),
        media_type="application/manifest+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


async def _json_body(request: Request) -> object:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise PayloadTooLarge(f"A push subscription is at most {MAX_BODY} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise InvalidInput("The body must be JSON", loc=["body"]) from None


@router.get("/push/key")
async def push_key(request: Request, user: WebUser, state: StateDep) -> JSONResponse:
    keys = await push_service.vapid_keys(request.app.state.database, state.runtime.settings)
    return JSONResponse({"public_key": keys.public}, headers={"Cache-Control": "no-store"})


@router.post("/push/subscribe")
async def subscribe(
    request: Request, user: WebUser, session: SessionDep, state: StateDep
) -> JSONResponse:
    try:
        data = SubscriptionIn.model_validate(await _json_body(request))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(
            f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}", loc=["body"]
        ) from None
    sub = await push_service.subscribe(
        session,
        user.id,
        push_service.NewSubscription(data.endpoint, data.keys.p256dh, data.keys.auth),
        allow_private=state.runtime.settings.webhook_allow_private_targets,
    )
    return JSONResponse({"id": str(sub.id)}, status_code=201)


@router.post("/push/unsubscribe")
async def unsubscribe(request: Request, user: WebUser, session: SessionDep) -> Response:
    try:
        data = UnsubscribeIn.model_validate(await _json_body(request))
    except ValidationError:
        raise InvalidInput("Give the endpoint to unsubscribe", loc=["body"]) from None
    await push_service.unsubscribe_endpoint(session, user.id, data.endpoint)
    return Response(status_code=204)
