"""The OpenAPI document: FastAPI's, plus the problem+json errors each operation can answer and
the links between operations (create → read → update → delete), so clients and fuzzers can
follow them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from doable.auth.schemas import LoginIn
from doable.errors import PROBLEM_JSON
from doable.transfer.schemas import ExportDocument

API = "/api/v1"
TASK = f"{API}/tasks/{{task_id}}"
TAG = f"{API}/tags/{{tag_id}}"

PROBLEM: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
    },
}
VALIDATION_PROBLEM: dict[str, Any] = {
    "allOf": [
        {"$ref": "#/components/schemas/Problem"},
        {
            # `errors` comes with request validation; other 422s (an Idempotency-Key reused
            # for another request) are plain problems.
            "type": "object",
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["loc", "msg", "type"],
                        "properties": {
                            "loc": {
                                "type": "array",
                                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                            },
                            "msg": {"type": "string"},
                            "type": {"type": "string"},
                        },
                    },
                }
            },
        },
    ]
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "string", "pattern": r"^[0-9]+$"},
    }
}
ETAG = {
    "ETag": {
        "description": 'The task\'s version, e.g. `"3"`; send it back as `If-Match`.',
        "required": True,
        "schema": {"type": "string", "pattern": r'^"[0-9]+"$'},
    }
}

DESCRIPTIONS = {
    "401": "Missing, invalid or expired credentials.",
    "403": "The password given is wrong.",
    "404": "No such object (also another user's object).",
    "409": "The change conflicts with stored data.",
    "412": "The task changed since the `If-Match` version was read.",
    "413": "The request body is larger than `MAX_BODY_BYTES` (`IMPORT_MAX_BYTES` for imports).",
    "415": "The body is in a format this operation does not read.",
    "422": "The request did not validate (`errors` says where), or cannot be processed.",
    "429": "Too many attempts; wait `Retry-After` seconds.",
    "503": "The database is unavailable; try again shortly.",
}
# Models that routes reading their own body (login takes JSON or a form) name by $ref in their
# openapi_extra; FastAPI only lists the models of declared parameters.
REFERENCED_MODELS = (LoginIn, ExportDocument)
# Statuses that depend on what an operation does, beyond what its shape already tells.
EXTRA_STATUSES: dict[tuple[str, str], tuple[str, ...]] = {
    ("post", f"{API}/auth/signup"): ("409", "429"),
    ("post", f"{API}/auth/login"): ("401", "422", "429"),
    ("post", f"{API}/auth/refresh"): ("401",),
    ("delete", f"{API}/me"): ("403",),
    ("post", f"{API}/me/password"): ("403",),
    ("patch", TASK): ("412",),
    ("put", TASK): ("412",),
    ("delete", TASK): ("412",),
    ("post", f"{TASK}/complete"): ("412",),
    ("post", f"{TASK}/reopen"): ("412",),
    ("patch", TAG): ("409",),
    ("post", f"{API}/import"): ("409", "415"),
    ("post", f"{API}/feeds"): ("409",),
}
# Operations that never touch the database, so never answer 503 for it.
NO_DATABASE = {("get", "/healthz")}


def _task_links() -> dict[str, Any]:
    task_id = {"task_id": "$response.body#/id"}
    if_match = {**task_id, "header.If-Match": "$response.header.ETag"}
    return {
        "GetTask": {"operationRef": ("get", TASK), "parameters": task_id},
        "UpdateTask": {"operationRef": ("patch", TASK), "parameters": if_match},
        "ReplaceTask": {"operationRef": ("put", TASK), "parameters": if_match},
        "DeleteTask": {"operationRef": ("delete", TASK), "parameters": if_match},
        "CompleteTask": {"operationRef": ("post", f"{TASK}/complete"), "parameters": task_id},
        "ReopenTask": {"operationRef": ("post", f"{TASK}/reopen"), "parameters": task_id},
    }


def _token_links() -> dict[str, Any]:
    body = {"refresh_token": "$response.body#/refresh_token"}
    return {
        "Refresh": {"operationRef": ("post", f"{API}/auth/refresh"), "requestBody": body},
        "Logout": {"operationRef": ("post", f"{API}/auth/logout"), "requestBody": body},
    }


# Responses that carry the task's version.
ETAG_RESPONSES = {
    ("post", f"{API}/tasks", "201"),
    ("post", f"{API}/tasks/quick", "201"),
    ("get", TASK, "200"),
    ("patch", TASK, "200"),
    ("put", TASK, "200"),
    ("post", f"{TASK}/complete", "200"),
    ("post", f"{TASK}/reopen", "200"),
}
# (method, path, status) → links from that response to other operations.
LINKS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("post", f"{API}/tasks", "201"): _task_links(),
    ("post", f"{API}/tasks/quick", "201"): _task_links(),
    ("get", TASK, "200"): _task_links(),
    ("patch", TASK, "200"): _task_links(),
    ("put", TASK, "200"): _task_links(),
    ("post", f"{TASK}/complete", "200"): _task_links(),
    ("post", f"{TASK}/reopen", "200"): _task_links(),
    ("get", f"{API}/tasks", "200"): {
        "GetFirstTask": {
            "operationRef": ("get", TASK),
            "parameters": {"task_id": "$response.body#/items/0/id"},
        },
    },
    ("get", f"{API}/tags", "200"): {
        "UpdateFirstTag": {
            "operationRef": ("patch", TAG),
            "parameters": {"tag_id": "$response.body#/0/id"},
        },
        "DeleteFirstTag": {
            "operationRef": ("delete", TAG),
            "parameters": {"tag_id": "$response.body#/0/id"},
        },
    },
    ("post", f"{API}/auth/signup", "201"): _token_links(),
    ("post", f"{API}/auth/login", "200"): _token_links(),
    ("post", f"{API}/auth/refresh", "200"): _token_links(),
}


def _problem_response(status: str) -> dict[str, Any]:
    ref = "ValidationProblem" if status == "422" else "Problem"
    response: dict[str, Any] = {
        "description": DESCRIPTIONS[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }
    if status in {"429", "503"}:
        response["headers"] = RETRY_AFTER
    if status == "401":
        response["headers"] = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}}
    return response


def _error_statuses(method: str, path: str, operation: dict[str, Any]) -> set[str]:
    statuses = set(EXTRA_STATUSES.get((method, path), ()))
    if operation.get("security"):
        statuses.add("401")
    if "{" in path:
        statuses.add("404")
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.add("422")
    if operation.get("requestBody"):
        statuses.add("413")
    if (method, path) not in NO_DATABASE:
        statuses.add("503")
    return statuses


def _operation_ids(paths: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (method, path): operation["operationId"]
        for path, item in paths.items()
        for method, operation in item.items()
    }


def _links(ids: dict[tuple[str, str], str], spec: dict[str, Any]) -> dict[str, Any]:
    links = {}
    for name, link in spec.items():
        resolved = {k: v for k, v in link.items() if k != "operationRef"}
        resolved["operationId"] = ids[link["operationRef"]]
        links[name] = resolved
    return links


# Media-type fields that only OpenAPI 3.2 has. FastAPI writes `itemSchema` for a streamed
# response (/api/v1/events), but the document stays 3.1.0, which client generators expect and
# which openapi-spec-validator checks (tests/test_ops.py): the field moves to an x- extension.
OPENAPI_32_MEDIA_FIELDS = ("itemSchema", "itemEncoding", "prefixEncoding")


def _keep_to_3_1(paths: dict[str, Any]) -> None:
    """Move 3.2-only media-type fields to `x-<name>`, where a 3.1 reader may ignore them."""
    for item in paths.values():
        for operation in item.values():
            bodies = [operation.get("requestBody", {}), *operation.get("responses", {}).values()]
            for body in bodies:
                for media in body.get("content", {}).values():
                    for name in OPENAPI_32_MEDIA_FIELDS:
                        if name in media:
                            media[f"x-{name}"] = media.pop(name)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document with every error response described as problem+json, and links."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM
    schemas["ValidationProblem"] = VALIDATION_PROBLEM
    for model in REFERENCED_MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, nested in schema.pop("$defs", {}).items():
            schemas.setdefault(name, nested)
        schemas.setdefault(model.__name__, schema)
    paths: dict[str, Any] = document.get("paths", {})
    ids = _operation_ids(paths)
    for method, path, _status in LINKS:
        if (method, path) not in ids:
            raise RuntimeError(f"OpenAPI links name an unknown operation: {method} {path}")
    for path, item in paths.items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            for status in sorted(_error_statuses(method, path, operation)):
                responses[status] = _problem_response(status)
            for status, response in responses.items():
                links = LINKS.get((method, path, status))
                if links:
                    response["links"] = _links(ids, links)
                if (method, path, status) in ETAG_RESPONSES:
                    response["headers"] = dict(ETAG)
            if method == "post" and path in {f"{API}/tasks", f"{API}/tasks/quick"}:
                responses["201"].setdefault("headers", {})["Location"] = {
                    "description": "Where the new task lives.",
                    "required": True,
                    "schema": {"type": "string"},
                }
    _keep_to_3_1(paths)
    _check_refs(document, schemas)
    return document


def _check_refs(node: Any, schemas: dict[str, Any]) -> None:
    """Fail at build time on a $ref to a schema the document does not define."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[-1]
            if name not in schemas:
                raise RuntimeError(f"OpenAPI $ref to an undefined schema: {name}")
        for value in node.values():
            _check_refs(value, schemas)
    elif isinstance(node, list):
        for value in node:
            _check_refs(value, schemas)


def install_openapi(app: FastAPI) -> None:
    """Serve build_openapi()'s document at the app's openapi_url (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
