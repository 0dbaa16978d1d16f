"""Drive load with wrk from another core, and read its results."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import LOAD_CPU, LUA


@dataclass
class Requests:
    """One request file for requests.lua: rows of (method, path, if_match, body)."""

    name: str
    rows: list[tuple[str, str, str, str]]
    token: str | None = None
    track_etags: bool = False

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.tsv"
        path.write_text("".join("\t".join(row) + "\n" for row in self.rows))
        return path


def wrk(
    base_url: str,
    requests: Requests,
    *,
    folder: Path,
    duration: int,
    connections: int,
    timeout: int = 10,
    background: bool = False,
) -> Any:
    """Run wrk (one thread, pinned to LOAD_CPU) for `duration` seconds; parse its summary.

    With background=True, return the Popen; call `finish()` on it to read the result.
    """
    tsv = requests.write(folder)
    command = [
        "taskset",
        "-c",
        LOAD_CPU,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        f"--timeout={timeout}s",
        "-s",
        str(LUA / "requests.lua"),
        base_url,
        "--",
        str(tsv),
        requests.token or "-",
        "track" if requests.track_etags else "-",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if background:
        return process
    try:
        return finish(process, duration)
    except NoSummary as exc:
        if "unable to connect" not in str(exc):
            raise
    # wrk gives up at once if its first connection is refused; a loaded server's accept
    # queue can do that right after a run. Try once more.
    time.sleep(2)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return finish(process, duration)


class NoSummary(RuntimeError):
    pass


def finish(process: subprocess.Popen[str], duration: int) -> dict[str, Any]:
    out, err = process.communicate(timeout=duration + 60)
    for line in out.splitlines():
        if line.startswith("JSON{"):
            result: dict[str, Any] = json.loads(line[4:])
            seconds = result["duration_us"] / 1e6
            errors = sum(
                result[k]
                for k in (
                    "connect_errors",
                    "read_errors",
                    "write_errors",
                    "status_errors",
                    "timeouts",
                )
            )
            result.update(
                rps=result["requests"] / seconds if seconds else 0.0,
                errors=errors,
                p50_ms=result["p50_us"] / 1000,
                p99_ms=result["p99_us"] / 1000,
            )
            return result
    raise NoSummary(f"wrk printed no summary:\n{out}\n{err}")
