"""`PlannedRoute`: an API route whose requests skip FastAPI's per-request dependency solving.

FastAPI solves a route's dependency tree anew on every request: for each node it computes a
cache key, checks whether the callable is a generator, and enters exit stacks; for a task's
GET that bookkeeping cost about as much as the database work, and a task's POST walks 17
nodes (issue 19). Most API routes depend on the same few things: the caller (a scope
requirement, `CurrentPrincipal`, `CurrentUser`), the request's session and the app state, and a
few marked dependencies (`plannable`: the query-string check, the Idempotency-Key claim). For a
route whose dependencies are only those, this route runs a plan made once when the route is
built, doing what FastAPI does in FastAPI's order:

1. read the body, as FastAPI reads it (a JSON body; the same 422 for broken JSON, the same 400
   or 413 for a body that cannot be read);
2. open the request's unit of work on FastAPI's function exit stack (as `SessionDep`, whose
   scope is "function", does): it commits after the response is built and before it is sent,
   so an Idempotency-Key claim can still store the response;
3. the route's dependencies in their order: a scope requirement checks the Bearer credential
   and the API token's scope (by calling `bearer`, `current_principal` and `allow`); a marked
   dependency is called with what it asks for, its header parameters validated by FastAPI's
   own function (errors are collected and the call skipped, as FastAPI does); the caller, the
   session and the state are handed over;
4. validate path, query, header and cookie parameters, then the body, with FastAPI's own
   functions, so the values and the errors (one 422 with all of them) are exactly FastAPI's;
5. call the endpoint, then validate and serialize the response with the route's response
   field, as FastAPI does, with the headers, status and background tasks it would give.

Any other route (a form, another dependency, a streamed or custom response) keeps FastAPI's
handler: the plan is an optimisation of what FastAPI would do, never a second behaviour.
FastAPI still reads the endpoint's signature for the OpenAPI document, so that stays what it
was; tests/test_planned_routes.py sends every kind of request, good and bad, both ways and
compares the answers, and the schema fuzzer checks them against the document.
"""

from __future__ import annotations

import copy
import email.message
import inspect
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import BackgroundTasks, HTTPException, params
from fastapi._compat import ModelField, Undefined
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.routing import APIRoute
from fastapi.utils import is_body_allowed_for_status_code
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from doable.auth import dependencies as auth
from doable.auth.service import Principal
from doable.db import SAFE_METHODS, Database, unit_of_work
from doable.state import get_state

try:  # FastAPI 0.16x refuses an over-long body itself; older ones have no such limit
    from fastapi._body_limit import get_body_limit_error
    from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
except ImportError:  # pragma: no cover - the lowest FastAPI the ranges allow
    get_body_limit_error = None  # type: ignore[assignment]
    MAX_BODY_SIZE_SCOPE_KEY = None  # type: ignore[assignment]

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
# On `app.state`: False makes every PlannedRoute use FastAPI's own handler instead.
PLANNED_STATE = "planned_routes"
Dependency = Callable[..., Coroutine[Any, Any, Any]]
_PLANNABLE: set[Dependency] = set()
# What the plan knows how to provide, by the dependency's callable: the name it goes by.
_PROVIDED: dict[Callable[..., Any], str] = {
    auth.current_principal: "principal",
    auth.current_user: "user",
    unit_of_work: "session",
    get_state: "state",
}


def plannable(dependency: Dependency) -> Dependency:
    """Mark `dependency` as one a `PlannedRoute` may call itself. It may ask for the request,
    `BackgroundTasks`, header parameters, and dependencies the plan provides (the principal,
    the user, the session, the state); its return value is not used."""
    if not inspect.iscoroutinefunction(dependency):
        raise TypeError("a plannable dependency is an async def")
    _PLANNABLE.add(dependency)
    return dependency


@dataclass(frozen=True)
class _Call:
    """A `plannable` dependency, with what to pass it."""

    call: Dependency
    provided: tuple[tuple[str, str], ...]  # (parameter, what it is)
    headers: list[ModelField]
    request_name: str | None
    background_name: str | None


@dataclass(frozen=True)
class _Scope:
    """A scope requirement (`require_scope`, `require_scope_by_method`)."""

    read: str
    write: str


@dataclass(frozen=True)
class _Plan:
    steps: tuple[_Scope | _Call, ...]  # the route's own dependencies, in FastAPI's order
    provided: tuple[tuple[str, str], ...]  # (endpoint parameter, what it is)
    body: tuple[list[ModelField], bool, bool] | None  # fields, embedded, strict content type
    background: bool  # some dependency asks for BackgroundTasks


def _solved_as_planned(sub: Dependant) -> bool:
    """Whether FastAPI would run `sub` as the plan does: cached once per request, and, on
    FastAPI 0.16x, with no concurrency limit of its own."""
    return bool(sub.use_cache) and getattr(sub, "concurrency", None) is None


def _call_step(sub: Dependant) -> _Call | None:
    if sub.call not in _PLANNABLE or sub.name is not None or not _solved_as_planned(sub):
        return None
    if sub.query_params or sub.path_params or sub.cookie_params or sub.body_params:
        return None
    if sub.websocket_param_name or sub.http_connection_param_name:
        return None
    if sub.response_param_name or sub.security_scopes_param_name:
        return None
    provided: list[tuple[str, str]] = []
    for dependency in sub.dependencies:
        what = _provided(dependency)
        if what is None or dependency.name is None:
            return None
        provided.append((dependency.name, what))
    return _Call(
        sub.call,
        tuple(provided),
        list(sub.header_params),
        sub.request_param_name,
        sub.background_tasks_param_name,
    )


def _provided(sub: Dependant) -> str | None:
    """What `sub` is, when the plan provides it as FastAPI would: the session only with
    `SessionDep`'s "function" scope (it commits before the response is sent)."""
    what = _PROVIDED.get(sub.call) if sub.call is not None else None
    if what is None or not _solved_as_planned(sub):
        return None
    if what == "session" and getattr(sub, "scope", None) not in ("function", None):
        return None
    return what


def _plan(route: APIRoute) -> _Plan | None:
    """The plan for `route`, or None when FastAPI must solve it (a form, a dependency the
    plan does not know, a sync endpoint, a streamed or custom response)."""
    dependant: Dependant = route.dependant
    if not route.methods or route.response_field is None:
        return None
    if not inspect.iscoroutinefunction(dependant.call) or inspect.isasyncgenfunction(
        dependant.call
    ):
        return None
    if dependant.background_tasks_param_name or dependant.security_scopes_param_name:
        return None
    if dependant.websocket_param_name or dependant.http_connection_param_name:
        return None
    if not isinstance(route.response_class, DefaultPlaceholder):
        return None
    body = None
    if dependant.body_params:
        if isinstance(route.body_field.field_info if route.body_field else None, params.Form):
            return None
        strict = route.strict_content_type
        body = (
            list(dependant.body_params),
            bool(route._embed_body_fields),
            bool(strict.value if isinstance(strict, DefaultPlaceholder) else strict),
        )
    steps: list[_Scope | _Call] = []
    provided: list[tuple[str, str]] = []
    for sub in dependant.dependencies:
        scopes = getattr(sub.call, auth.SCOPES_ATTRIBUTE, None)
        call = _call_step(sub)
        what = _provided(sub)
        if what is not None and sub.name is not None:
            provided.append((sub.name, what))
        elif provided:
            return None  # a step after a provided dependency: the plan runs steps first
        elif scopes is not None and sub.name is None and _solved_as_planned(sub):
            steps.append(_Scope(*scopes))
        elif call is not None:
            steps.append(call)
        else:
            return None
    if any(what == "user" for _, what in provided) and not any(
        isinstance(step, _Scope) for step in steps
    ):
        return None  # `current_user` refuses API tokens without a scope check: FastAPI's path
    background = any(isinstance(step, _Call) and step.background_name for step in steps)
    return _Plan(tuple(steps), tuple(provided), body, background)


class PlannedRoute(APIRoute):
    """An APIRoute whose requests run a dependency plan made once (see the module)."""

    def get_route_handler(self) -> Handler:
        solved = super().get_route_handler()
        plan = _plan(self)
        if plan is None:
            return solved
        planned = _planned_handler(self, plan, solved)
        overrides = self.dependency_overrides_provider

        async def handler(request: Request) -> Response:
            if getattr(request.app.state, PLANNED_STATE, True) and not getattr(
                overrides, "dependency_overrides", None
            ):
                return await planned(request)
            # app.state.planned_routes = False (the yardstick), or overridden dependencies
            return await solved(request)

        return handler


def is_planned(route: APIRoute) -> bool:
    """Whether `route` serves its requests from a plan (else FastAPI solves it)."""
    return isinstance(route, PlannedRoute) and _plan(route) is not None


async def _read_body(request: Request, strict_content_type: bool) -> Any:
    """The request's body as FastAPI reads it for a JSON body parameter: parsed JSON when the
    content type says JSON (or, not strict, says nothing), else the bytes; Undefined if empty."""
    try:
        body_bytes = await request.body()
        if not body_bytes:
            return Undefined
        content_type = request.headers.get("content-type")
        if not content_type:
            return await request.json() if not strict_content_type else body_bytes
        message = email.message.Message()
        message["content-type"] = content_type
        if message.get_content_maintype() == "application":
            subtype = message.get_content_subtype()
            if subtype == "json" or subtype.endswith("+json"):
                return await request.json()
        return body_bytes
    except json.JSONDecodeError as e:
        error = {
            "type": "json_invalid",
            "loc": ("body", e.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": e.msg},
        }
        raise RequestValidationError([error], body=e.doc) from e
    except HTTPException:
        raise
    except Exception as e:
        if (
            get_body_limit_error is not None
            and MAX_BODY_SIZE_SCOPE_KEY in request.scope
            and (limit := get_body_limit_error(e))
        ):
            raise limit from e
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from e


class _Caller:
    """What a request's plan has found so far: the principal is looked up on first need."""

    __slots__ = ("principal", "request", "session")

    def __init__(self, request: Request, session: AsyncSession) -> None:
        self.request = request
        self.session = session
        self.principal: Principal | None = None

    async def get(self, what: str) -> Any:
        if what == "session":
            return self.session
        if what == "state":
            return await get_state(self.request)
        if self.principal is None:
            credentials = await auth.bearer(self.request)
            state = await get_state(self.request)
            self.principal = await auth.current_principal(
                self.request, self.session, state, credentials
            )
        if what == "principal":
            return self.principal
        return await auth.current_user(self.request, self.principal)


def _planned_handler(route: APIRoute, plan: _Plan, solved: Handler) -> Handler:
    dependant = route.dependant
    endpoint = dependant.call
    assert endpoint is not None
    response_field = route.response_field
    assert response_field is not None
    status_code = route.status_code
    # FastAPI's order, which a 422 lists its errors in (the query has its own validation).
    param_groups = (
        (dependant.path_params, "path_params"),
        (dependant.query_params, "query_params"),
        (dependant.header_params, "headers"),
        (dependant.cookie_params, "cookies"),
    )
    query = _QueryFields(dependant.query_params)

    async def handler(request: Request) -> Response:
        body = Undefined
        if plan.body is not None:
            body = await _read_body(request, plan.body[2])
            if body is Undefined:
                # No body: FastAPI 0.135 validated None where 0.16x validates nothing; rare
                # (an error, or a body of defaults), so FastAPI answers it, whichever it is.
                return await solved(request)
        database: Database = request.app.state.database
        stack = request.scope["fastapi_function_astack"]
        session = await stack.enter_async_context(
            database.unit_of_work(write=request.method not in SAFE_METHODS)
        )
        caller = _Caller(request, session)
        background = BackgroundTasks() if plan.background else None
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        errors: list[Any] = []
        for step in plan.steps:
            if isinstance(step, _Scope):
                scope = step.read if request.method in SAFE_METHODS else step.write
                auth.allow(request, await caller.get("principal"), scope)  # type: ignore[arg-type]
                continue
            arguments = {name: await caller.get(what) for name, what in step.provided}
            if step.headers:
                found, wrong = request_params_to_args(step.headers, request.headers)
                if wrong:
                    errors += wrong
                    continue
                arguments.update(found)
            if step.request_name:
                arguments[step.request_name] = request
            if step.background_name:
                arguments[step.background_name] = background
            await step.call(**arguments)
        values: dict[str, Any] = {}
        for name, what in plan.provided:
            values[name] = await caller.get(what)
        for fields, source in param_groups:
            if source == "query_params":
                found, wrong = query.validate(request.query_params)
            elif fields:
                found, wrong = request_params_to_args(fields, getattr(request, source))
            else:
                continue
            values.update(found)
            errors += wrong
        if plan.body is not None:
            found, wrong = await request_body_to_args(
                body_fields=plan.body[0], received_body=body, embed_body_fields=plan.body[1]
            )
            values.update(found)
            errors += wrong
        if errors:
            raise RequestValidationError(errors, body=None if body is Undefined else body)
        if dependant.request_param_name:
            values[dependant.request_param_name] = request
        if dependant.response_param_name:
            values[dependant.response_param_name] = sub_response
        raw = await endpoint(**values)
        if isinstance(raw, Response):
            if raw.background is None:
                raw.background = background
            return raw
        value, wrong = response_field.validate(raw, {}, loc=("response",))
        if wrong:
            raise ResponseValidationError(errors=wrong, body=raw)
        content = response_field.serialize_json(
            value,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
        )
        response = Response(
            content=content,
            media_type="application/json",
            status_code=sub_response.status_code or status_code or 200,
            background=background,
        )
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""  # a 204 or 304 the endpoint set
        response.headers.raw.extend(sub_response.headers.raw)
        return response

    return handler


class _QueryFields:
    """A route's query parameters, validated by FastAPI's own function but only those the query
    string holds (and the required ones): an absent optional parameter gets its default, as
    FastAPI gives it. The list of tasks has 17 parameters and a request usually sends two."""

    def __init__(self, fields: list[ModelField]) -> None:
        self.fields = fields
        self.names = {name for f in fields for name in (f.alias, f.name)}
        self.always = [f for f in fields if f.field_info.is_required()]
        self.defaults = {
            f.name: f.default
            for f in fields
            if not f.field_info.is_required() and not f.field_info.validate_default
        }

    def validate(self, received: QueryParams) -> tuple[dict[str, Any], list[Any]]:
        if not self.fields:
            return {}, []
        keys = set(received.keys())
        if not keys <= self.names or len(self.defaults) + len(self.always) < len(self.fields):
            return request_params_to_args(self.fields, received)  # anything unusual: all
        given = [f for f in self.fields if f.alias in keys or f.name in keys]
        values = {name: copy.deepcopy(default) for name, default in self.defaults.items()}
        found, errors = request_params_to_args(
            [*self.always, *(f for f in given if f not in self.always)], received
        )
        values.update(found)
        return values, errors
