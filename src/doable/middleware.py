"""Pure ASGI middleware: request ids, access log, body-size limit, last-resort 500 problems."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from doable.context import request_id_var
from doable.errors import PROBLEM_JSON, TYPE_BASE, is_api_path
from doable.tasks import occurrences

access_log = logging.getLogger("doable.access")
error_log = logging.getLogger("doable.errors")

_VALID_RID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Paths whose next segment is a bearer secret (calendar feeds): logged as a short hint only.
_SECRET_PATH = re.compile(r"^(/ical/)([^/]*)(.*)$", re.DOTALL)
SECRET_HINT_CHARS = 4


def redact_path(path: str) -> str:
    """The path as it may be logged: `/ical/<secret>.ics` becomes `/ical/abcd….ics`."""
    found = _SECRET_PATH.match(path)
    if found is None:
        return path
    prefix, secret, rest = found.groups()
    suffix = ".ics" if secret.endswith(".ics") else ""
    return f"{prefix}{secret[:SECRET_HINT_CHARS]}…{suffix}{'/…' if rest else ''}"


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; FastAPI re-raises HTTPExceptions from body parsing."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


def _problem_bytes(status: int, title: str, detail: str, slug: str, rid: str) -> bytes:
    return json.dumps(
        {
            "type": TYPE_BASE + slug,
            "title": title,
            "status": status,
            "detail": detail,
            "request_id": rid,
        }
    ).encode()


class RequestContextMiddleware:
    """Outermost app middleware. Every response gets X-Request-ID; nothing leaks a traceback."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        body_limits: Mapping[str, int] | None = None,
        html_500: Callable[[str], bytes] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Paths with a limit of their own (the import takes whole files): exact path → bytes.
        self.body_limits = dict(body_limits or {})
        self.html_500 = html_500

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _VALID_RID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status_holder = {"status": 500, "started": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        limit = self.body_limits.get(scope["path"], self.max_body_bytes)
        try:
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                # Refused before a byte of the body is read.
                await self._send_problem(
                    send_wrapper,
                    413,
                    "Payload too large",
                    f"The request body is larger than {limit} bytes.",
                    "payload-too-large",
                    rid,
                )
                return
            with occurrences.budget():  # bounds the repeat-rule searches of one request
                await self.app(scope, self._limited(receive, limit), send_wrapper)
        except BodyTooLarge:
            if not status_holder["started"]:
                await self._send_problem(
                    send_wrapper,
                    413,
                    "Payload too large",
                    f"The request body is larger than {limit} bytes.",
                    "payload-too-large",
                    rid,
                )
        except Exception:
            error_log.exception(
                "unhandled error in %s %s", scope.get("method"), redact_path(scope.get("path", ""))
            )
            if not status_holder["started"] and self.html_500 and not is_api_path(scope["path"]):
                await self._send(send_wrapper, 500, self.html_500(rid), b"text/html; charset=utf-8")
            elif not status_holder["started"]:
                await self._send_problem(
                    send_wrapper,
                    500,
                    "Internal server error",
                    f"Something went wrong on our side. Quote request id {rid} when reporting it.",
                    "internal-error",
                    rid,
                )
        finally:
            path = redact_path(scope.get("path", ""))
            access_log.info(
                "%s %s %s",
                scope.get("method"),
                path,
                status_holder["status"],
                extra={
                    "http_method": scope.get("method"),
                    "http_path": path,
                    "http_status": status_holder["status"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": (scope.get("client") or ("-",))[0],
                },
            )
            request_id_var.reset(token)

    def _limited(self, receive: Receive, limit: int) -> Receive:
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        return limited_receive

    @classmethod
    async def _send_problem(
        cls, send: Send, status: int, title: str, detail: str, slug: str, rid: str
    ) -> None:
        body = _problem_bytes(status, title, detail, slug, rid)
        await cls._send(send, status, body, PROBLEM_JSON.encode())

    @staticmethod
    async def _send(send: Send, status: int, body: bytes, content_type: bytes) -> None:
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
