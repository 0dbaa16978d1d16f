"""Static files with fingerprinted URLs: `static_url("app.css")` is `/static/app.css?v=<hash>`,
the hash of the file's content, computed once per process. A request whose `v` matches the
file's hash may be cached for a year (`immutable`): a changed file gets a new URL. Any other
request (no `v`, or a stale one) gets a short lifetime, so an old bookmark or a file linked
without the helper never stays stale for long."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from doable.ops.docs import STATIC_DIR

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"
HASH_CHARS = 12


@cache
def fingerprints(root: Path = STATIC_DIR) -> dict[str, str]:
    """Each static file's path under `root` (with `/`) and the start of its SHA-256."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_CHARS]
            out[path.relative_to(root).as_posix()] = digest
    return out


def static_url(name: str) -> str:
    """The fingerprinted URL of a static file (plain, if there is no such file)."""
    digest = fingerprints().get(name)
    return f"/static/{name}?v={digest}" if digest else f"/static/{name}"


class FingerprintedStaticFiles(StaticFiles):
    """StaticFiles that sets Cache-Control by whether the URL carries the file's hash."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in {200, 304}:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            wanted = fingerprints().get(Path(path).as_posix())
            fresh = wanted is not None and query.get("v") == [wanted]
            response.headers["Cache-Control"] = IMMUTABLE if fresh else SHORT
        return response
