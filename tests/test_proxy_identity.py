"""A client cannot choose its rate-limit identity in any documented deployment.

Each setup runs natively (no Docker daemon here): real `doable serve` processes with the
environment the Dockerfile and compose.yaml set, read from those files, and a real nginx in
front where the setup has a proxy, configured from the README's nginx example. The client
sends a different forged `X-Forwarded-For` with each signup; the per-IP limit (3 a minute here)
must still stop the fourth.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from doable.proxy import KNOWN_HOSTS, TrustedProxies
from tests.conftest import IN_CI
from tests.factories import PASSWORD
from tests.server import PROJECT_ROOT, Server, free_port, server_env

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
# Like Chromium for the browser tests: skipped where nginx is not installed, required in CI.
needs_nginx = pytest.mark.skipif(
    NGINX is None and not IN_CI, reason="nginx is not installed (apt-get install nginx-light)"
)
LIMIT = 3
# The client connects from another loopback address than the proxy's 127.0.0.1, as a real
# client on another host would (Linux routes all of 127/8 to the loopback interface).
CLIENT_ADDRESS = "127.0.0.2"

pytestmark = pytest.mark.slow


def dockerfile_env() -> dict[str, str]:
    """The ENV the Dockerfile sets (its `ENV KEY=value \\` blocks)."""
    text = (PROJECT_ROOT / "Dockerfile").read_text()
    env: dict[str, str] = {}
    for block in re.findall(r"^ENV ((?:.*\\\n)*.*)$", text, flags=re.MULTILINE):
        for key, value in re.findall(r'([A-Z_]+)=("[^"]*"|\S+)', block.replace("\\\n", " ")):
            env[key] = value.strip('"')
    return env


def compose_env() -> dict[str, str]:
    """The app service's environment in compose.yaml, on top of the image's."""
    compose = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
    app = compose["services"]["app"]
    return {k: str(v) for k, v in app.get("environment", {}).items()}


def readme_nginx_config() -> str:
    """The `server { … }` block of the README's nginx example."""
    found = re.search(r"```nginx\n(.*?)```", (PROJECT_ROOT / "README.md").read_text(), re.S)
    assert found, "README.md has no nginx example"
    return found.group(1)


@contextmanager
def nginx_in_front(tmp_path: Path, app_port: int) -> Iterator[str]:
    """A real nginx with the README's server block, listening on loopback; yields its URL."""
    port = free_port()
    server = readme_nginx_config()
    assert "listen 80;" in server and "proxy_pass http://127.0.0.1:8000;" in server, server
    server = server.replace("listen 80;", f"listen 127.0.0.1:{port};").replace(
        "http://127.0.0.1:8000", f"http://127.0.0.1:{app_port}"
    )
    root = tmp_path / "nginx"
    root.mkdir()
    temp_paths = (
        "\n".join(
            f"  {kind}_temp_path {root / kind};" for kind in ("client_body", "proxy", "fastcgi")
        )
        + f"\n  uwsgi_temp_path {root / 'uwsgi'};\n  scgi_temp_path {root / 'scgi'};"
    )
    conf = root / "nginx.conf"
    conf.write_text(
        f"daemon off;\nworker_processes 1;\npid {root / 'nginx.pid'};\n"
        f"error_log {root / 'error.log'};\nevents {{ worker_connections 64; }}\n"
        f"http {{\n  access_log off;\n{temp_paths}\n{server}\n}}\n"
    )
    assert NGINX is not None, "nginx is not installed (apt-get install nginx-light)"
    process = subprocess.Popen(
        [NGINX, "-p", str(root), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=(root / "stderr").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, (root / "stderr").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (root / "error.log").read_text()
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def signups_with_forged_addresses(base_url: str) -> list[int]:
    """Signups, each claiming another client address; the statuses they get."""
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    statuses = []
    with httpx.Client(base_url=base_url, transport=transport, timeout=30) as c:
        for i in range(LIMIT + 2):
            r = c.post(
                "/api/v1/auth/signup",
                json={"email": f"forger{i}@example.com", "password": PASSWORD},
                headers={"X-Forwarded-For": f"203.0.113.{i}, 198.51.100.{i}"},
            )
            statuses.append(r.status_code)
    return statuses


EXPECTED = [201] * LIMIT + [429, 429]


def _env(tmp_path: Path, **setup: str) -> dict[str, str]:
    image = dockerfile_env()
    # Run where the test can: the data folder and port are the test's, the rest is the image's.
    for name in ("DOABLE_DATA_DIR", "DOABLE_DATA_DIR_FALLBACK", "PORT", "HOME", "PATH"):
        image.pop(name, None)
    settings = {**image, **setup, "AUTH_IP_RATE_LIMIT": f"{LIMIT}/minute"}
    return server_env(tmp_path / "data", tmp_path, **settings)


def test_the_image_trusts_any_proxy_for_one_hop_only() -> None:
    assert dockerfile_env()["FORWARDED_ALLOW_IPS"] == "*"


@needs_nginx
def test_hugging_face_space(tmp_path: Path) -> None:
    """The image as a Space runs it: only reachable through a proxy whose address is unknown,
    which appends the address it saw. nginx stands in for that proxy."""
    with (
        Server(_env(tmp_path), logs_dir=tmp_path) as app,
        nginx_in_front(tmp_path, app.port) as url,
    ):
        assert signups_with_forged_addresses(url) == EXPECTED


def test_docker_compose(tmp_path: Path) -> None:
    """compose.yaml publishes the app's port: clients reach it with no proxy in between."""
    setup = {k: v for k, v in compose_env().items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    assert setup["FORWARDED_ALLOW_IPS"] == ""
    with Server(_env(tmp_path, **setup), logs_dir=tmp_path) as app:
        assert signups_with_forged_addresses(app.base_url) == EXPECTED


@needs_nginx
def test_behind_nginx(tmp_path: Path) -> None:
    """The README's nginx example in front of `doable serve` with its default settings."""
    env = server_env(tmp_path / "data", tmp_path, AUTH_IP_RATE_LIMIT=f"{LIMIT}/minute")
    with Server(env, logs_dir=tmp_path) as app, nginx_in_front(tmp_path, app.port) as url:
        assert signups_with_forged_addresses(url) == EXPECTED


@pytest.mark.parametrize(
    ("setting", "forwarded_for", "client"),
    [
        ("*", "203.0.113.9, 10.0.0.5", "10.0.0.5"),
        ("*", "203.0.113.9:4321", "203.0.113.9"),
        ("127.0.0.1", "203.0.113.9, 10.0.0.5", "10.0.0.5"),
        ("127.0.0.1, 10.0.0.0/8", "203.0.113.9, 198.51.100.7, 10.0.0.5", "198.51.100.7"),
        ("10.0.0.0/8", "10.1.1.1, 10.0.0.5", "10.1.1.1"),
        ("::1", "[2001:db8::1]:443", "2001:db8::1"),
        ("*", " , ", None),
    ],
)
def test_which_entry_is_the_client(setting: str, forwarded_for: str, client: str | None) -> None:
    assert TrustedProxies(setting).client_from(forwarded_for) == client


def test_nobody_is_trusted_when_empty() -> None:
    proxies = TrustedProxies("")
    assert (proxies.trusts("127.0.0.1"), proxies.trusts("10.0.0.1")) == (False, False)


def test_remembered_answers_stay_right_and_bounded() -> None:
    """Answers are remembered by host, the same on a second ask, and at most KNOWN_HOSTS of
    them are kept however many hosts X-Forwarded-For names."""
    proxies = TrustedProxies("10.0.0.0/8, /run/proxy.sock")
    cases = {"10.1.2.3": True, "10.0.0.0": True, "11.0.0.1": False, "/run/proxy.sock": True}
    cases |= {"not an address": False, "::ffff:10.0.0.1": False, "2001:db8::1": False}
    for _ in range(2):
        assert {host: proxies.trusts(host) for host in cases} == cases
    for i in range(KNOWN_HOSTS * 2 + 5):
        assert proxies.trusts(f"192.0.{i // 256 % 256}.{i % 256}-{i}") is False
    assert len(proxies._known) <= KNOWN_HOSTS
    assert {host: proxies.trusts(host) for host in cases} == cases
    long = "10.0.0.1" + " " * 5000  # a header's worth of text is answered, never kept
    assert proxies.trusts(long) is False and long not in proxies._known
