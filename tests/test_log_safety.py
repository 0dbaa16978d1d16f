"""What reaches the console: `doable check` masks the JWKS URL's secrets, and a request path
cannot forge log lines."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import httpx
import pytest

from doable.logging_setup import ConsoleFormatter
from tests.conftest import TEST_SECRET
from tests.server import DOABLE, server_env


def test_check_masks_the_jwks_and_redis_urls_user_password_and_query(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = server_env(
        tmp_path / "data",
        home,
        SECRET_KEY=TEST_SECRET.decode(),
        AUTH_JWKS_URL="https://alice:pa55word@idp.example.com/jwks.json?token=s3cret&v=2#k",
        AUTH_JWT_ISSUER="https://idp.example.com",
        AUTH_JWT_AUDIENCE="doable",
        REDIS_URL="redis://:r3disp4ss@cache.example.com:6379/0",
        COLUMNS="250",
    )
    result = subprocess.run(
        [str(DOABLE), "check"], env=env, cwd=home, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if "AUTH_JWKS_URL " in line]
    assert len(rows) == 1
    cells = [cell.strip() for cell in rows[0].split("│") if cell.strip()]
    assert cells == [
        "AUTH_JWKS_URL",
        "https://***:***@idp.example.com/jwks.json?token=***&v=***#***",
    ]
    rows = [line for line in result.stdout.splitlines() if "REDIS_URL " in line]
    cells = [cell.strip() for cell in rows[0].split("│") if cell.strip()]
    assert cells == ["REDIS_URL", "redis://***:***@cache.example.com:6379/0"]
    for secret in ("alice", "pa55word", "s3cret", "r3disp4ss"):
        assert secret not in result.stdout + result.stderr


async def test_a_crlf_in_the_path_cannot_forge_a_console_log_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "2026-12-06 04:00:00,000 INFO    doable.access: POST /api/v1/auth/login 200"
    path = "/api/v1/x%0D%0A" + forged.replace(" ", "%20") + "%E2%80%A8%5C"
    with caplog.at_level(logging.INFO, logger="doable.access"):
        r = await client.get(path)
    assert r.status_code == 404
    (record,) = [rec for rec in caplog.records if rec.name == "doable.access"]
    line = ConsoleFormatter().format(record)
    assert line.splitlines() == [line]
    escaped = "/api/v1/x\\r\\n" + forged + "\\u2028\\\\"
    assert line.endswith(f" INFO    doable.access: GET {escaped} 404 {record.duration_ms}ms")
    assert record.http_path == escaped
