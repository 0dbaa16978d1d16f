"""Instructions per Python function, from a callgrind dump and Python's perf map.

cProfile and py-spy mislead on this code: cProfile inflates small calls several times over and
loses coroutines that resume, and with SQLAlchemy's greenlets py-spy charges the time spent
waiting for the database to whatever frame ran last. Python 3.12 and later can instead run
each Python function through a small trampoline of its own (`PYTHONPERFSUPPORT=1`, meant for
Linux `perf`) and name it in `/tmp/perf-<pid>.map`; callgrind counts the instructions under
each trampoline like any native function. `benchmarks.instructions --profile N` uses this: run
it with a Python 3.12 virtualenv of this project, for instance

    UV_PROJECT_ENVIRONMENT=.venv-3.12 uv sync --frozen --group bench -p 3.12
    .venv-3.12/bin/python -m benchmarks.instructions --profile 60 --workloads create

and it prints, per workload, the functions with the most instructions per request, inclusive
of what they call (a coroutine's count covers its own steps, not the time it waited). The
trampolines add a few percent, so quote totals from runs without `--profile`.
"""

from __future__ import annotations

import bisect
import re
import subprocess
from pathlib import Path

_ENTRY = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+\?\?\?:0x([0-9a-f]+)('?\d*)? ", re.M)
_SITE = re.compile(r"/[^:]*/(site-packages|src)/")


def python_functions(dump: Path, perf_map: Path, requests: int) -> list[tuple[float, str]]:
    """(millions of instructions per request, function) for every Python function in `dump`
    that `perf_map` names, most first."""
    starts: list[int] = []
    ends: list[int] = []
    names: list[str] = []
    for line in sorted(perf_map.read_text().splitlines(), key=lambda s: int(s.split()[0], 16)):
        address, size, name = line.split(" ", 2)
        starts.append(int(address, 16))
        ends.append(int(address, 16) + int(size, 16))
        names.append(_SITE.sub("", name.removeprefix("py::")))
    annotated = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(dump)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[int, int] = {}  # trampoline (one per code object) -> inclusive count
    for entry in _ENTRY.finditer(annotated):
        if entry[3]:
            continue  # a recursion's cycle copy: its first entry has the inclusive count
        address = int(entry[2], 16)
        i = bisect.bisect_right(starts, address) - 1
        if i >= 0 and address < ends[i]:
            found[i] = max(found.get(i, 0), int(entry[1].replace(",", "")))
    # Two code objects may share a name (dataclasses' generated __init__): listed apart.
    return sorted(((cost / requests / 1e6, names[i]) for i, cost in found.items()), reverse=True)


def report(name: str, dump: Path, perf_map: Path, requests: int, top: int) -> str:
    lines = [f"--- {name}: instructions per request by Python function (inclusive)"]
    for millions, function in python_functions(dump, perf_map, requests)[:top]:
        lines.append(f"{millions:8.3f} M  {function}")
    return "\n".join(lines)
