"""The web face of the error family: friendly HTML pages and fragments, login redirects."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from doable.errors import DoableError
from doable.web.dependencies import LoginRequired, login_url
from doable.web.views import env, is_htmx

MESSAGES = {
    404: ("Not found", "There is nothing here. It may have been deleted, or the link is wrong."),
    405: ("Not allowed", "That action is not available here."),
    422: ("That did not look right", "Some of what was sent could not be used."),
    500: ("Something went wrong", "It is our fault, not yours. Please try again in a moment."),
    503: ("Temporarily unavailable", "The database is unavailable. Please try again shortly."),
}


def render_error(
    request: Request, status: int, title: str, detail: str, exc: Exception | None
) -> Response:
    """HTML for a failed web request: a redirect to login, a fragment, or a whole page."""
    if isinstance(exc, LoginRequired):
        target = login_url(request)
        if is_htmx(request):
            return Response(status_code=200, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    heading, text = MESSAGES.get(status, (title, detail))
    if isinstance(exc, DoableError) and status not in (500, 503):
        text = exc.detail
    context = {
        "status": status,
        "heading": heading,
        "text": text,
        "user": None,
        "csrf_token": "",
        "request": request,
    }
    if is_htmx(request):
        body = env.get_template("error.html").blocks["message"]
        html = "".join(body(env.get_template("error.html").new_context(context)))
        return HTMLResponse(html, status_code=status, headers={"Vary": "HX-Request"})
    html = env.get_template("error.html").render(**context)
    return HTMLResponse(html, status_code=status, headers={"Vary": "HX-Request"})


def fallback_500_html(request_id: str) -> bytes:
    """For the last-resort middleware: no template engine, nothing that can fail again."""
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Something went wrong</title>"
        "<link rel=stylesheet href=/static/app.css><main class=error-page>"
        "<h1>Something went wrong</h1><p>It is our fault, not yours. Please try again.</p>"
        f"<p class=muted>Reference: {request_id}</p><p><a href=/tasks>Back to your tasks</a>"
        "</p></main></html>"
    ).encode()
