"""The one error family: DoableError subclasses carry a status and render as RFC 9457 problems."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from doable.context import request_id_var

log = logging.getLogger("doable.errors")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://doable.dev/problems/"


class DoableError(Exception):
    """Base of every error a service may raise on purpose."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    slug: ClassVar[str] = "bad-request"
    # When True the request's unit of work commits before the error is rendered: the error
    # reports a decision that must stick (e.g. revoking a token family on refresh reuse).
    commit_session: ClassVar[bool] = False

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.detail = detail or self.title
        self.headers = headers or {}
        super().__init__(self.detail)


class NotFound(DoableError):
    status, title, slug = 404, "Not found", "not-found"


class Unauthorized(DoableError):
    status, title, slug = 401, "Not authenticated", "unauthorized"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(DoableError):
    status, title, slug = 403, "Forbidden", "forbidden"


class Conflict(DoableError):
    status, title, slug = 409, "Conflict", "conflict"


class PreconditionFailed(DoableError):
    status, title, slug = 412, "Precondition failed", "precondition-failed"


class PayloadTooLarge(DoableError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


class InvalidInput(DoableError):
    status, title, slug = 422, "Invalid input", "validation-error"

    def __init__(self, detail: str, *, loc: list[str | int] | None = None) -> None:
        super().__init__(detail)
        self.errors = [{"loc": loc or [], "msg": detail, "type": "value_error"}]


class RateLimited(DoableError):
    status, title, slug = 429, "Too many requests", "rate-limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many attempts; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


class ServiceUnavailable(DoableError):
    status, title, slug = 503, "Service unavailable", "service-unavailable"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build an RFC 9457 problem+json response."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _clean_errors(errors: list[Any]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        loc = [p for p in err.get("loc", ()) if isinstance(p, (str, int))]
        out.append({"loc": loc, "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))})
    return out


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path. Starlette's own 405 names only the methods
    of the first route that matched the path, but `Allow` must list them all (RFC 9110)."""
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for route in request.app.router.routes:
        regex = getattr(route, "path_regex", None)
        route_methods = getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods |= set(route_methods)
    return ", ".join(sorted(methods))


# Why FastAPI could not read a body (it answers 400 for these, but 422 for other bad JSON).
_BODY_ERRORS: dict[type[BaseException], str] = {
    UnicodeDecodeError: "JSON must be UTF-8",
    RecursionError: "JSON is nested too deeply",
    ValueError: "JSON has a number too long to read",  # Python's 4300-digit limit
}


def _status_title(status: int) -> tuple[str, str]:
    titles = {
        400: ("Bad request", "bad-request"),
        401: ("Not authenticated", "unauthorized"),
        403: ("Forbidden", "forbidden"),
        404: ("Not found", "not-found"),
        405: ("Method not allowed", "method-not-allowed"),
        406: ("Not acceptable", "not-acceptable"),
        413: ("Payload too large", "payload-too-large"),
        415: ("Unsupported media type", "unsupported-media-type"),
    }
    return titles.get(status, ("Error", "error"))


_MYSQL_CONNECTION_CODES = {2002, 2003, 2005, 2006, 2013, 2055}
_CONNECTION_ERROR_NAMES = {
    "ConnectionDoesNotExistError",
    "CannotConnectNowError",
    "ConnectionFailureError",
    "ConnectionRejectionError",
    "TooManyConnectionsError",
    "AdminShutdownError",
    "CrashShutdownError",
    "InterfaceError",
    "InternalClientError",
}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is s for s in seen) or len(seen) > 20:
            continue
        seen.append(item)
        todo.extend([getattr(item, "orig", None), item.__cause__, item.__context__])
    return seen


# A statement the database cancelled because it ran or waited too long (DB_STATEMENT_TIMEOUT_MS,
# DB_LOCK_TIMEOUT_MS): the database is stalled for this request, which waiting may change.
_PG_TIMEOUT_NAMES = {"QueryCanceledError", "LockNotAvailableError"}
_MYSQL_TIMEOUT_CODES = {1205, 1969}  # lock wait timeout; max_statement_time exceeded


def is_db_unavailable(exc: BaseException) -> bool:
    """True when an exception means the database cannot be reached or is stalled (no pooled
    connection came free in time, a statement or lock wait timed out), not a bad query."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    for item in _chain(exc):
        if isinstance(item, (ConnectionError, TimeoutError, PoolTimeout)):
            return True
        if type(item).__name__ in _PG_TIMEOUT_NAMES and type(item).__module__.startswith("asyncpg"):
            return True
        args = getattr(item, "args", ())
        if args and isinstance(args[0], int) and args[0] in _MYSQL_TIMEOUT_CODES:
            return True
        if isinstance(item, OSError) and not isinstance(item, FileNotFoundError):
            return True
        if type(item).__name__ in _CONNECTION_ERROR_NAMES and type(item).__module__.startswith(
            ("asyncpg", "asyncmy")
        ):
            return True
        args = getattr(item, "args", ())
        if args and isinstance(args[0], int) and args[0] in _MYSQL_CONNECTION_CODES:
            return True
        if "unable to open database file" in str(item) or "database is locked" in str(item):
            return True
    return False


_DRIVER_MODULES = ("asyncpg", "asyncmy", "pymysql", "sqlite3", "aiosqlite", "psycopg")


def loggable_error(exc: BaseException) -> str:
    """The traceback to log for an unexpected error. When the chain holds a database error,
    each exception shows its type but not its text: a driver's message may quote the values
    bound to the statement (a task's text, a token hash), whatever `hide_parameters` says."""
    chain: list[BaseException] = []
    item: BaseException | None = exc
    while item is not None and len(chain) < 20 and not any(item is seen for seen in chain):
        chain.append(item)
        item = item.__cause__ or (None if item.__suppress_context__ else item.__context__)
    if not any(
        isinstance(e, StatementError) or type(e).__module__.startswith(_DRIVER_MODULES)
        for e in chain
    ):
        return "".join(traceback.format_exception(exc)).rstrip()
    parts: list[str] = []
    for e in reversed(chain):
        if parts:
            parts.append("which led to:\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(e.__traceback__))
        parts.append(f"{type(e).__module__}.{type(e).__qualname__} (its text is not logged)\n")
    return "".join(parts).rstrip()


# Answers that waiting will not change: the server refused the login, or has no such database.
_PG_REFUSALS = {
    "InvalidPasswordError": "the database server refused the password",
    "InvalidAuthorizationSpecificationError": "the database server refused the login",
    "InvalidCatalogNameError": "the database does not exist",
}
_MYSQL_REFUSALS = {
    1044: "the database server refused this user access to the database",
    1045: "the database server refused the user name or password",
    1698: "the database server refused the login",
    1049: "the database does not exist",
}


def database_refusal(exc: BaseException) -> str | None:
    """What a connection error means when the server answered but said no for good (a wrong
    password, an unknown user or database), in words that never quote the URL; else None."""
    for item in _chain(exc):
        name = type(item).__name__
        if type(item).__module__.startswith("asyncpg") and name in _PG_REFUSALS:
            return _PG_REFUSALS[name]
        args = getattr(item, "args", ())
        if args and isinstance(args[0], int) and args[0] in _MYSQL_REFUSALS:
            return _MYSQL_REFUSALS[args[0]]
    return None


HtmlRenderer = Callable[[Request, int, str, str, Exception | None], Response]
API_PATHS = (
    "/api/",
    "/mcp",
    "/ical/",
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/static/",
    "/docs",
    "/redoc",
)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PATHS)


def install_error_handlers(app: FastAPI, *, html: HtmlRenderer | None = None) -> None:
    """Register the renderers: problem+json for the API, HTML (via `html`) for web pages."""

    def render(
        request: Request,
        status: int,
        title: str,
        detail: str,
        *,
        slug: str,
        exc: Exception | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> Response:
        if html is not None and not is_api_path(request.url.path):
            response = html(request, status, title, detail, exc)
            for key, value in (headers or {}).items():
                if key.lower() != "www-authenticate":
                    response.headers.setdefault(key, value)
            return response
        return problem(status, title, detail, slug=slug, headers=headers, **extra)

    @app.exception_handler(DoableError)
    async def _doable(request: Request, exc: DoableError) -> Response:
        extra: dict[str, Any] = {}
        if isinstance(exc, InvalidInput):
            extra["errors"] = exc.errors
        return render(
            request,
            exc.status,
            exc.title,
            exc.detail,
            slug=exc.slug,
            exc=exc,
            headers=exc.headers,
            **extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return render(
            request,
            422,
            "Invalid input",
            "The request did not validate; see `errors`.",
            slug="validation-error",
            exc=exc,
            errors=_clean_errors(list(exc.errors())),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        cause = exc.__cause__
        if exc.status_code == 400 and cause is not None and type(cause) in _BODY_ERRORS:
            # A body that is not UTF-8, or nested past Python's recursion limit, is malformed
            # JSON like any other: 422, as for the rest.
            return render(
                request,
                422,
                "Invalid input",
                "The request did not validate; see `errors`.",
                slug="validation-error",
                exc=exc,
                errors=[
                    {"loc": ["body"], "msg": _BODY_ERRORS[type(cause)], "type": "json_invalid"}
                ],
            )
        title, slug = _status_title(exc.status_code)
        detail = exc.detail if isinstance(exc.detail, str) else title
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return render(request, exc.status_code, title, detail, slug=slug, exc=exc, headers=headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        log.info("integrity error: %s", type(exc.orig).__name__)
        return render(
            request,
            409,
            "Conflict",
            "The change conflicts with stored data.",
            slug="conflict",
            exc=exc,
        )

    def _unavailable(request: Request, exc: Exception) -> Response:
        log.warning("database unavailable: %s", type(exc).__name__)
        return render(
            request,
            503,
            "Service unavailable",
            "The database is unavailable; try again shortly.",
            slug="service-unavailable",
            exc=exc,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(DBAPIError)
    async def _dbapi(request: Request, exc: DBAPIError) -> Response:
        if is_db_unavailable(exc):
            return _unavailable(request, exc)
        raise exc

    @app.exception_handler(PoolTimeout)
    async def _pool_timeout(request: Request, exc: PoolTimeout) -> Response:
        # Every pooled connection stayed busy for DB_POOL_TIMEOUT: answer, do not pile up.
        return _unavailable(request, exc)

    @app.exception_handler(OSError)
    async def _oserror(request: Request, exc: OSError) -> Response:
        if is_db_unavailable(exc):
            return _unavailable(request, exc)
        raise exc
