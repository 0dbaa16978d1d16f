"""The test run itself: the shared app gives each test fresh state, xdist workers get databases
of their own, and browser-tests.json counts the browser tests of every worker."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from doable.db import Database
from tests.conftest import runtime_for, shared_app
from tests.parallel import worker_url
from tests.server import PROJECT_ROOT


async def test_the_app_is_built_once_and_each_test_gets_fresh_state(
    database: Database, tmp_path: Path
) -> None:
    first = shared_app(database, runtime_for(database, tmp_path / "one"))
    first.state.idempotency_swept_at = "left by an earlier test"
    state = first.state.doable
    mcp = next(r.endpoint for r in first.router.routes if getattr(r, "path", "") == "/mcp")
    assert mcp.state is state

    second = shared_app(database, runtime_for(database, tmp_path / "two"))
    assert second is first
    assert not hasattr(second.state, "idempotency_swept_at")
    assert second.state.database is database
    fresh = second.state.doable
    assert fresh is not state and fresh.rate_limiter is not state.rate_limiter
    assert fresh.signer is not state.signer and fresh.runtime.data_dir == tmp_path / "two"
    assert mcp.state is fresh


def test_a_worker_database_is_named_after_the_worker() -> None:
    assert (
        worker_url("postgresql://me:s3cret@db.example:5432/doable_ci?sslmode=require", "gw1")
        == "postgresql://me:s3cret@db.example:5432/doable_ci_gw1?sslmode=require"
    )
    assert worker_url("mysql://root@127.0.0.1:3306/doable_ci", "gw0") == (
        "mysql://root@127.0.0.1:3306/doable_ci_gw0"
    )


def test_each_worker_runs_on_its_own_database(
    database: Database, request: pytest.FixtureRequest
) -> None:
    workerinput = getattr(request.config, "workerinput", None)
    if workerinput is None:
        pytest.skip("runs in one process (-n0): no worker databases")
    worker_id = workerinput["workerid"]
    name = database.config.url.database or ""
    if database.config.backend == "sqlite":
        assert f"/popen-{worker_id}/" in name, name  # the worker's own temporary folder
    else:
        assert name.endswith(f"_{worker_id}"), name


INNER_CONFTEST = """
from tests.browser.results import BrowserResults

def pytest_configure(config):
    config.pluginmanager.register(BrowserResults(config.rootpath / "results.json"), "results")
"""
INNER_TESTS = """
import pytest

pytestmark = pytest.mark.browser

def test_passes(): pass
def test_fails(): assert False
def test_skips(): pytest.skip("no")
@pytest.mark.parametrize("n", range(5))
def test_more(n): pass
"""


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["0", "2"])
def test_browser_results_count_the_tests_of_every_worker(tmp_path: Path, workers: str) -> None:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(INNER_CONFTEST))
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER_TESTS))
    (tmp_path / "test_other.py").write_text("def test_not_a_browser_test(): pass\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", workers, "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PYTHONPATH": str(PROJECT_ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",  # nothing written into the checkout
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr  # test_fails
    results = json.loads((tmp_path / "results.json").read_text())
    expected = {f"test_inner.py::test_more[{n}]": "passed" for n in range(5)}
    expected |= {
        "test_inner.py::test_passes": "passed",
        "test_inner.py::test_fails": "failed",
        "test_inner.py::test_skips": "skipped",
    }
    assert results == {
        "collected": 8,
        "passed": 6,
        "failed": 1,
        "skipped": 1,
        "tests": dict(sorted(expected.items())),
    }


INNER_SPANS = """
import pathlib
import time

import pytest

LOG = pathlib.Path(__file__).parent / "spans.txt"


def span(name):
    start = time.monotonic()
    time.sleep(0.5)
    with LOG.open("a") as log:
        log.write(f"{name} {start} {time.monotonic()}\\n")


@pytest.mark.exclusive
def test_alone():
    span("alone")


@pytest.mark.parametrize("n", range(8))
def test_shared(n):
    span(f"shared{n}")
"""


@pytest.mark.slow
def test_an_exclusive_test_runs_while_no_other_test_runs(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.parallel"]\n')
    (tmp_path / "test_spans.py").write_text(textwrap.dedent(INNER_SPANS))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PYTHONPATH": str(PROJECT_ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    spans = {
        name: (float(start), float(end))
        for name, start, end in (
            line.split() for line in (tmp_path / "spans.txt").read_text().splitlines()
        )
    }
    assert len(spans) == 9

    def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] < b[1] and b[0] < a[1]

    alone = spans.pop("alone")
    assert [name for name, s in spans.items() if overlap(s, alone)] == []
    shared = list(spans.values())
    assert any(overlap(a, b) for i, a in enumerate(shared) for b in shared[i + 1 :])
