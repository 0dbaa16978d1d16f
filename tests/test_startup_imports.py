"""What a server loads at start: nothing it can load on first use (issue 19, target 4).

Each module here was a measured share of an idle server's memory (docs/performance.md, round
14): `cryptography` through PyJWT (10 MB), the other backends' SQLAlchemy dialects (3.4 MB),
and `limits` with its asynchronous storages (1.5 MB).
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import doable

ROOT = Path(__file__).resolve().parents[1]

DIALECTS = ["sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.mysql"]
NOT_AT_START = {
    "sqlite": ["cryptography", "jwt", "limits", *DIALECTS],
    "postgresql": ["cryptography", "jwt", "limits", "sqlalchemy.dialects.mysql"],
    # asyncmy, the driver, imports `cryptography` itself (for MySQL 8's caching_sha2_password).
    "mariadb": ["jwt", "limits", "sqlalchemy.dialects.postgresql"],
}
# Not connected to: building the app names the driver but opens no connection.
URLS = {
    "postgresql": "postgresql://doable@127.0.0.1:9/nothing",
    "mariadb": "mysql://doable@127.0.0.1:9/nothing",
}

SCRIPT = """
import asyncio, sys
from doable.app import create_app
app = create_app()
async def main():
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.1)
if {serve}:
    asyncio.run(main())
print(" ".join(sorted(
    name for name in {modules!r}
    if any(m == name or m.startswith(name + ".") for m in sys.modules)
)))
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_a_server_starts_without_what_it_loads_on_first_use(backend: str, tmp_path: Path) -> None:
    # SQLite's app also runs its start-up (lifespan) on a fresh database; the others are only
    # built, since starting them would connect.
    serve = backend == "sqlite"
    url = f"sqlite:///{tmp_path / 'start.db'}" if serve else URLS[backend]
    env = {
        **os.environ,
        "SECRET_KEY": "k" * 40,
        "DATABASE_URL": url,
        "DOABLE_DATA_DIR": str(tmp_path),
    }
    env.pop("REDIS_URL", None)
    script = SCRIPT.format(serve=serve, modules=NOT_AT_START[backend])
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"loaded at start: {done.stdout.strip()}"


def test_the_version_is_the_packages() -> None:
    with open(ROOT / "pyproject.toml", "rb") as file:
        declared = tomllib.load(file)["project"]["version"]
    assert doable.__version__ == declared == importlib.metadata.version("doable")
