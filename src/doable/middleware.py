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

from doable import surrogates
from doable.context import request_id_var
from doable.errors import PROBLEM_JSON, TYPE_BASE, is_api_path, loggable_error
from doable.tasks import occurrences

access_log = logging.getLogger("doable.access")
error_log = logging.getLogger("doable.errors")

_VALID_RID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Paths whose next segment is a bearer secret (calendar feeds, password-reset, sign-up and
# project invitation links): logged as a short hint only.
_SECRET_PATH = re.compile(
    r"^(/ical/|/reset-password/|/invite/|/invitations/)([^/]*)(.*)$", re.DOTALL
)
SECRET_HINT_CHARS = 4


# Control characters (C0, DEL, C1), the Unicode line separators, and the backslash that escapes.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\\]")


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    return "\\\\" if char == "\\" else char.encode("unicode_escape").decode("ascii")


def redact_path(path: str) -> str:
    """The path as it may be logged: `/ical/<secret>.ics` becomes `/ical/abcd….ics`, and a
    CR, LF or other control character (`%0D%0A` in the URL) is escaped, so a path cannot
    start a forged line in the console log."""
    found = _SECRET_PATH.match(path)
    if found is not None:
        prefix, secret, rest = found.groups()
        suffix = ".ics" if secret.endswith(".ics") else ""
        path = f"{prefix}{secret[:SECRET_HINT_CHARS]}…{suffix}{'/…' if rest else ''}"
    return _UNPRINTABLE.sub(_escape, path)


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; FastAPI re-raises HTTPExceptions from body parsing."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class BadText(HTTPException):
    """Raised while the body streams in when it holds a lone surrogate (doable.surrogates)."""

    def __init__(self, detail: str, loc: str) -> None:
        super().__init__(422, detail)
        self.loc = loc


# Bodies the app may read as JSON: declared so, or sniffed (FastAPI reads a body without a
# type as JSON; the import detects its format).
_SNIFFED_TYPES = {"", "text/plain", "application/octet-stream"}
_FORM_TYPE = "application/x-www-form-urlencoded"


def _body_kind(headers: Mapping[bytes, bytes]) -> str | None:
    """ "json" or "form" for a body whose text must be checked for surrogates, else None."""
    media = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json") or media in _SNIFFED_TYPES:
        return "json"
    return "form" if media == _FORM_TYPE else None


def _problem_bytes(
    status: int, title: str, detail: str, slug: str, rid: str, **extra: object
) -> bytes:
    return json.dumps(
        {
            "type": TYPE_BASE + slug,
            "title": title,
            "status": status,
            "detail": detail,
            "request_id": rid,
            **extra,
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
        refused: list[BadText] = []

        async def send_wrapper(message: Message) -> None:
            if refused and not status_holder["started"]:
                return  # whatever the app answers to a body it could not read: ours goes out
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        async def refuse(exc: BadText) -> None:
            refused.clear()
            if not status_holder["started"]:
                await self._send_problem(
                    send_wrapper,
                    422,
                    "Invalid input",
                    exc.detail,
                    "validation-error",
                    rid,
                    errors=[{"loc": [exc.loc], "msg": exc.detail, "type": "string_unicode"}],
                )

        limit = self.body_limits.get(scope["path"], self.max_body_bytes)
        headers = dict(scope["headers"])
        try:
            if not surrogates.percent_decoded_is_utf8(scope.get("query_string", b"")):
                raise BadText(surrogates.QUERY_MESSAGE, "query")
            length = headers.get(b"content-length")
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
            receive = self._limited(receive, limit)
            kind = _body_kind(headers)
            if kind is not None:
                receive = self._text_checked(receive, kind, refused)
            with occurrences.budget():  # bounds the repeat-rule searches of one request
                await self.app(scope, receive, send_wrapper)
            if refused:
                raise refused[0]
        except BadText as exc:
            await refuse(exc)
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
        except Exception as exc:
            if refused:
                # The app failed on the body it was refused; the refusal is the answer.
                await refuse(refused[0])
                return
            # Never the exception's own text for a database error: it may quote stored text.
            error_log.error(
                "unhandled error in %s %s\n%s",
                scope.get("method"),
                redact_path(scope.get("path", "")),
                loggable_error(exc),
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

    @staticmethod
    def _text_checked(receive: Receive, kind: str, refused: list[BadText]) -> Receive:
        """Refuse the body as it streams in once it holds a lone surrogate: a JSON escape of
        one, or (urlencoded forms, whole) percent-encoded bytes that are not UTF-8."""
        scanner = surrogates.JsonEscapeScanner()
        form = bytearray()

        async def checked_receive() -> Message:
            message = await receive()
            if message["type"] != "http.request":
                return message
            body, more = message.get("body", b""), message.get("more_body", False)
            if kind == "json":
                found = scanner.feed(body, more=more)
                detail = surrogates.MESSAGE
            else:
                form.extend(body)
                found = not more and not surrogates.percent_decoded_is_utf8(bytes(form))
                detail = surrogates.FORM_MESSAGE
            if found:
                refused.append(BadText(detail, "body"))
                raise refused[-1]
            return message

        return checked_receive

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
        cls, send: Send, status: int, title: str, detail: str, slug: str, rid: str, **extra: object
    ) -> None:
        body = _problem_bytes(status, title, detail, slug, rid, **extra)
        await cls._send(send, status, body, PROBLEM_JSON.encode())

    @staticmethod
    async def _send(send: Send, status: int, body: bytes, content_type: bytes) -> None:
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
