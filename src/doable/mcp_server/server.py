"""The MCP server at /mcp: Bearer authentication, then the SDK's streamable HTTP transport.

Stateless, with JSON responses: every POST carries its credential and is answered on its own,
so any worker of any process can serve any request and nothing is kept between requests.
Each tool call runs in its own unit of work, like a REST request.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
)
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from doable import __version__
from doable.auth.dependencies import check_scope
from doable.auth.service import Principal
from doable.context import request_id_var
from doable.db import Database, set_actor
from doable.errors import (
    DoableError,
    ServiceUnavailable,
    is_db_unavailable,
    loggable_error,
    problem,
)
from doable.mcp_server import comment_tools  # noqa: F401  (registers its tools)
from doable.mcp_server.schemas import describe
from doable.mcp_server.tools import TOOLS, ToolContext, ToolSpec
from doable.state import AppState
from doable.tasks import occurrences

log = logging.getLogger("doable.mcp")

PRINCIPAL_KEY = "doable.mcp.principal"
REQUEST_ID_KEY = "doable.mcp.request_id"
INSTRUCTIONS = (
    "Doable is a task list. Tools act on the signed-in user's tasks only. Task ids are UUIDs "
    "returned by add_task and list_tasks. update_task and delete_task accept dry_run to "
    "preview a change without saving it."
)


class ToolFailed(Exception):
    """A tool call that failed in a way the caller can read and correct."""


def _explain(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        parts.append(f"{where}: {error['msg']}")
    return "Invalid arguments: " + "; ".join(parts)


def _error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _success(result: BaseModel) -> CallToolResult:
    data = result.model_dump(mode="json")
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(data, ensure_ascii=False))],
        structured_content=data,
    )


def _listing(spec: ToolSpec) -> Tool:
    return Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=describe(spec.args.model_json_schema()),
        output_schema=spec.result.model_json_schema(),
        annotations=spec.annotations,
    )


class McpEndpoint:
    """The ASGI app mounted at /mcp. `run()` must wrap the app's lifespan."""

    def __init__(self, *, database: Database, state: AppState, max_body_bytes: int) -> None:
        self.database = database
        self.state = state
        self.server: Server[Any] = Server(
            "doable",
            version=__version__,
            title="Doable",
            instructions=INSTRUCTIONS,
            get_tool_input_schema=self._input_schema,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        self.max_body_bytes = max_body_bytes
        self.manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Run the transport for the app's lifespan. A session manager runs only once, and a
        lifespan may be entered again (test clients do), so each run gets a new one."""
        # No DNS-rebinding (Host/Origin) checks: every request needs a Bearer credential,
        # which a page on another origin cannot send for the user, unlike a cookie.
        manager = StreamableHTTPSessionManager(
            app=self.server,
            json_response=True,
            stateless=True,
            security_settings=None,
            max_request_body_size=self.max_body_bytes,
        )
        async with manager.run():
            self.manager = manager
            try:
                yield
            finally:
                self.manager = None

    async def handle(
        self, scope: Scope, receive: Receive, send: Send, principal: Principal
    ) -> None:
        """Serve one request whose credential `LazyMcpEndpoint` has checked."""
        request = Request(scope, receive)
        manager = self.manager
        if manager is None:
            raise ServiceUnavailable(
                "The MCP server is starting or stopping; try again shortly.",
                headers={"Retry-After": "5"},
            )
        if request.method != "POST":
            # Stateless: no session to DELETE and no stream to GET (which would otherwise
            # hold a connection open for nothing). The spec's answer is 405.
            response = problem(
                405,
                "Method not allowed",
                "The MCP endpoint takes JSON-RPC messages by POST only (stateless).",
                slug="method-not-allowed",
                headers={"Allow": "POST"},
            )
            await response(scope, receive, send)
            return
        scope[PRINCIPAL_KEY] = principal
        scope[REQUEST_ID_KEY] = request_id_var.get()
        await manager.handle_request(scope, receive, send)

    # MCP handlers

    @staticmethod
    def _input_schema(name: str) -> Mapping[str, Any] | None:
        spec = TOOLS.get(name)
        return None if spec is None else describe(spec.args.model_json_schema())

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        return ListToolsResult(tools=[_listing(spec) for spec in TOOLS.values()])

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: CallToolRequestParams
    ) -> CallToolResult:
        spec = TOOLS.get(params.name)
        if spec is None:
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"Unknown tool {params.name!r}; the tools are {', '.join(TOOLS)}",
            )
        scope: Mapping[str, Any] = getattr(ctx.request, "scope", {})
        principal: Principal | None = scope.get(PRINCIPAL_KEY)
        if principal is None:  # every request passes __call__ first; this is a safety net
            return _error("Not authenticated")
        try:
            return _success(await self._run(spec, principal, params.arguments or {}))
        except ToolFailed as exc:
            log.info("MCP tool %s refused: %s", spec.name, exc)
            return _error(str(exc))
        except Exception as exc:
            if is_db_unavailable(exc):
                log.warning("MCP tool %s: database unavailable (%s)", spec.name, type(exc).__name__)
                return _error("The database is unavailable; try again shortly.")
            rid = scope.get(REQUEST_ID_KEY) or uuid.uuid4().hex
            log.error(  # never a driver's text: it may quote stored values
                "MCP tool %s failed (request id %s)\n%s", spec.name, rid, loggable_error(exc)
            )
            return _error(
                f"Something went wrong on our side. Quote request id {rid} when reporting it."
            )

    async def _run(
        self, spec: ToolSpec, principal: Principal, arguments: dict[str, Any]
    ) -> BaseModel:
        try:
            check_scope(principal, spec.scope)
        except DoableError as exc:
            raise ToolFailed(exc.detail) from None
        try:
            args = spec.args.model_validate(arguments)
        except ValidationError as exc:
            raise ToolFailed(_explain(exc)) from None
        try:
            # A budget of its own for repeat-rule searches: the SDK may run the tool in a task
            # that does not share the HTTP request's context.
            with occurrences.budget():
                return await self._call(spec, principal, args)
        except DoableError as exc:
            raise ToolFailed(exc.detail) from None
        except IntegrityError:
            raise ToolFailed("The change conflicts with stored data; try again.") from None

    async def _call(self, spec: ToolSpec, principal: Principal, args: BaseModel) -> BaseModel:
        async with self.database.unit_of_work(write=spec.writes) as session:
            set_actor(session, principal.user.id)
            ctx = ToolContext(session, principal.user, self.state.runtime.secret_key)
            result = await spec.fn(ctx, args)
            if ctx.discard:
                await session.rollback()
        return result
