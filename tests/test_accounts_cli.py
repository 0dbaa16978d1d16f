"""`doable users` for admins, disabling, reset links and invitations; the links it prints work
over HTTP, once."""

from __future__ import annotations

from pathlib import Path

from doable.app import create_app
from doable.config import RuntimeConfig, normalize_database_url
from doable.db import Database
from tests.conftest import TEST_SECRET, fast_settings, make_client
from tests.factories import PASSWORD, assert_problem
from tests.test_config import _cli

NEW_PASSWORD = "a password from the link"


async def test_users_admin_disable_reset_link_and_invite(tmp_path: Path) -> None:
    # Wide enough that `users list` keeps each account on one line.
    env = {"DOABLE_DATA_DIR": str(tmp_path), "SECRET_KEY": TEST_SECRET.decode(), "COLUMNS": "300"}

    def ok(*args: str, stdin: str | None = None) -> str:
        result = _cli(*args, env=env, stdin=stdin)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def refused(*args: str) -> str:
        result = _cli(*args, env=env)
        assert result.returncode == 1, result.stdout
        return result.stderr

    created = ok(
        "users", "create", "Root@Example.com", "--admin", "--password-stdin", stdin=PASSWORD
    )
    assert "created root@example.com" in created and "as an admin" in created
    ok("users", "create", "bob@example.com", "--password-stdin", stdin=PASSWORD)
    listed = ok("users", "list")
    rows = {line.split("│")[2].strip(): line for line in listed.splitlines() if "@" in line}
    assert "yes" in rows["root@example.com"] and "yes" not in rows["bob@example.com"]

    # The last enabled admin stays one; with two, either may step down.
    assert "last enabled admin" in refused("users", "set-admin", "root@example.com", "--revoke")
    assert "last enabled admin" in refused("users", "disable", "root@example.com")
    assert ok("users", "set-admin", "bob@example.com").strip() == "bob@example.com is an admin"
    assert ok("users", "set-admin", "bob@example.com", "--revoke").strip() == (
        "bob@example.com is no longer an admin"
    )
    assert "no account with email nobody@example.com" in refused(
        "users", "set-admin", "nobody@example.com"
    )

    link = ok("users", "reset-link", "bob@example.com", "--base-url", "https://todo.example.org/")
    link = link.strip()
    assert link.startswith("https://todo.example.org/reset-password/")
    assert "no account" in refused("users", "reset-link", "nobody@example.com")
    invite = ok("users", "invite", "New@Example.com").strip()
    assert invite.startswith("http://127.0.0.1:8000/invite/")
    assert "already exists" in refused("users", "invite", "bob@example.com")
    assert "email:" in refused("users", "invite", "not an email")

    # The links work against a server on the same database and key.
    database = Database(normalize_database_url(f"sqlite:///{tmp_path / 'doable.db'}", tmp_path))
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    runtime = RuntimeConfig(
        fast_settings(app_dir, SIGNUP="invite"), app_dir, database.config, TEST_SECRET
    )
    try:
        async with make_client(create_app(runtime, database)) as client:
            confirm = {"token": link.rsplit("/", 1)[1], "new_password": NEW_PASSWORD}
            r = await client.post("/api/v1/auth/password-reset/confirm", json=confirm)
            assert r.status_code == 204, r.text
            assert_problem(
                await client.post("/api/v1/auth/password-reset/confirm", json=confirm), 410
            )
            login = {"email": "bob@example.com", "password": NEW_PASSWORD}
            assert (await client.post("/api/v1/auth/login", json=login)).status_code == 200
            signup = {
                "email": "new@example.com",
                "password": PASSWORD,
                "invitation": invite.rsplit("/", 1)[1],
            }
            assert (await client.post("/api/v1/auth/signup", json=signup)).status_code == 201

            assert ok("users", "disable", "bob@example.com").strip() == "disabled bob@example.com"
            assert_problem(await client.post("/api/v1/auth/login", json=login), 401)
            assert "is disabled" in refused("users", "reset-link", "bob@example.com")
            assert ok("users", "enable", "bob@example.com").strip() == "enabled bob@example.com"
            assert (await client.post("/api/v1/auth/login", json=login)).status_code == 200
    finally:
        await database.dispose()
