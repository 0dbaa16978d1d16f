"""How the browser tests went, for .ci/run: `test-artifacts/browser-tests.json`, written at the end
of the run by the process that sees every report (xdist's controller, or the only process).

Every browser test that was selected counts: one that never reported (a worker that died, an
interrupted run) stays "not run", which .ci/run treats as a failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.server import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
RESULTS_FILE = ARTIFACTS / "browser-tests.json"


class BrowserResults:
    def __init__(self, path: Path = RESULTS_FILE) -> None:
        self.path = path
        self.outcomes: dict[str, str] = {}

    def _expect(self, nodeids: list[str]) -> None:
        for nodeid in nodeids:
            self.outcomes.setdefault(nodeid, "not run")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The selected tests, in the only process or in each worker (which sends them on)."""
        nodeids = [i.nodeid for i in session.items if i.get_closest_marker("browser") is not None]
        self._expect(nodeids)
        workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["browser_tests"] = nodeids

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """xdist's controller, as a worker ends: the browser tests it selected."""
        self._expect(getattr(node, "workeroutput", {}).get("browser_tests", []))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if "browser" not in report.keywords:
            return
        current = self.outcomes.get(report.nodeid, "not run")
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
        elif report.skipped:
            self.outcomes[report.nodeid] = "skipped"
        elif report.when == "call" and current == "not run":
            self.outcomes[report.nodeid] = "passed"

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(session.config, "workerinput") or not self.outcomes:
            return
        values = list(self.outcomes.values())
        counts = {k: values.count(k) for k in ("passed", "failed", "skipped")}
        tests = dict(sorted(self.outcomes.items()))
        summary = {"collected": len(tests), **counts, "tests": tests}
        self.path.parent.mkdir(exist_ok=True)
        self.path.write_text(json.dumps(summary, indent=2) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(BrowserResults(), "doable-browser-results")
