"""CPU cost of checking repeat rules that never occur (issue 14, item 11).

`python -m benchmarks.rule_cost [--module FILE]` prints the median milliseconds of one
`recurrence.check` per hostile rule, and of a 150-rule batch checked as one request (what the
import does). `--module` loads another copy of tasks/recurrence.py (e.g. the one before the
change, from `git show`), to measure before and after on the same machine.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import date
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

HOSTILE = [
    "FREQ=DAILY;INTERVAL=7;BYMONTH=2;BYMONTHDAY=29;BYDAY=TU",  # from a Monday: never
    "FREQ=DAILY;INTERVAL=14;BYDAY=SU",
    "FREQ=MONTHLY;INTERVAL=12;BYDAY=5MO;BYMONTH=2",
    "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29",
]
DUE = date(2026, 1, 5)  # a Monday; 2026 is no leap year
ZONE = ZoneInfo("Europe/Berlin")


def _load(path: str | None) -> ModuleType:
    if path is None:
        from doable.tasks import recurrence

        return recurrence
    spec = importlib.util.spec_from_file_location("recurrence_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _request(rec: ModuleType) -> contextlib.AbstractContextManager[Any]:
    """One request's budget, when the module has one (the middleware gives each request one)."""
    try:
        from doable.tasks import occurrences
    except ImportError:
        return contextlib.nullcontext()
    return occurrences.budget() if hasattr(rec, "RuleTooComplex") else contextlib.nullcontext()


def _check(rec: ModuleType, text: str) -> str:
    try:
        rec.check(rec.parse(text), DUE, ZONE)
    except rec.RuleError as exc:
        return str(exc)[:40]
    return "ok"


def _median_ms(fn: Any, runs: int) -> float:
    times: list[float] = []
    for _ in range(runs):
        started = time.process_time()
        fn()
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)


def _rows(rec: ModuleType, runs: int) -> Iterator[str]:
    for text in HOSTILE:
        outcome = _check(rec, text)
        yield f"{_median_ms(lambda t=text: _check(rec, t), runs):9.2f} ms  {text}  -> {outcome}"

    for size, times in ((150, max(1, runs // 5)), (20_000, 1)):

        def batch(size: int = size) -> None:
            with _request(rec):
                for _ in range(size):
                    _check(rec, HOSTILE[0])

        if size > 150 and not hasattr(rec, "RuleTooComplex"):
            continue  # before the budget: about 150 times as long as the row above
        yield f"{_median_ms(batch, times):9.2f} ms  {size} x {HOSTILE[0]} in one request"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--module", help="path of a recurrence.py to measure instead")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    rec = _load(args.module)
    for row in _rows(rec, args.runs):
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
