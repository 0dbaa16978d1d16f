"""API documentation pages served from vendored assets, so /docs works offline."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

from doable.routing import add_routes

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
VENDOR = "/static/vendor"
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)


def _with_csp(page: HTMLResponse, frame_ancestors: str) -> HTMLResponse:
    """Allow exactly the page's own inline scripts (by hash), never arbitrary inline script."""
    body = bytes(page.body).decode()
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.findall(body)
    )
    csp = (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
        f"frame-ancestors {frame_ancestors}"
    )
    return HTMLResponse(body, headers={"Content-Security-Policy": csp})


def install_docs(app: FastAPI, *, openapi_url: str, frame_ancestors: str) -> None:
    """The Swagger UI and ReDoc pages, loading only same-origin assets from /static."""
    favicon = f"{VENDOR}/swagger-ui/favicon-32x32.png"
    swagger = _with_csp(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=favicon,
        ),
        frame_ancestors,
    )
    redirect = _with_csp(get_swagger_ui_oauth2_redirect_html(), frame_ancestors)
    redoc = _with_csp(
        get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
            redoc_favicon_url=favicon,
            with_google_fonts=False,
        ),
        frame_ancestors,
    )
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    async def swagger_ui() -> HTMLResponse:
        return swagger

    @router.get("/docs/oauth2-redirect")
    async def swagger_redirect() -> HTMLResponse:
        return redirect

    @router.get("/redoc")
    async def redoc_page() -> HTMLResponse:
        return redoc

    add_routes(app, router)
