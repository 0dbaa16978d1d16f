"""Paths, backends, the dataset spec and the secrets every part of the benchmark shares."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PROJECT = ROOT.parent
RESULTS = ROOT / "results"
RAW = RESULTS / "raw"  # gitignored: databases, server logs, wrk output, profiles
LUA = ROOT / "lua"

# The benchmark's own key and password: the data is synthetic and the servers listen on loopback.
SECRET_KEY = "benchmark-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
PASSWORD = "correct horse battery staple"
SERVER_CPU = "0"  # the server under test, Doable or the baseline
LOAD_CPU = "1"  # wrk, the load generator

BACKENDS = ("sqlite", "postgresql", "mariadb")
URL_ENV = {"postgresql": "BENCH_POSTGRES_URL", "mariadb": "BENCH_MARIADB_URL"}
DEFAULT_URLS = {
    "postgresql": "postgresql://postgres@127.0.0.1:5432/doable_bench",
    "mariadb": "mysql://root@127.0.0.1:3306/doable_bench",
}


def database_url(backend: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{RAW / 'sqlite' / 'doable.db'}"
    return os.environ.get(URL_ENV[backend], DEFAULT_URLS[backend])


def backend_dir(backend: str) -> Path:
    path = RAW / backend
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Spec:
    """What to seed. Scale users hold `sizes` tasks each; `others` users hold the rest."""

    sizes: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000)
    others: int = 100
    other_tasks: int = 1_000
    load_tasks: int = 30_000  # the user whose tasks the write scenarios change
    seed: int = 7

    def asdict(self) -> dict[str, object]:
        return asdict(self)

    def covers(self, other: Spec) -> bool:
        """True if data seeded for self also serves `other` (same users, more sizes)."""
        return set(other.sizes) <= set(self.sizes) and THROUGHPUT_SIZE in self.sizes


QUICK_SPEC = Spec(sizes=(1_000, 10_000), others=100, other_tasks=100, load_tasks=5_000)


@dataclass
class Timing:
    """How long each load run lasts and how often it is repeated."""

    duration: int = 10
    warmup: int = 2
    repeats: int = 3
    scale_duration: int = 5
    connections: int = 16
    extra: dict[str, int] = field(default_factory=dict)


QUICK_TIMING = Timing(duration=2, warmup=1, repeats=1, scale_duration=2)


def scale_email(size: int) -> str:
    return f"scale-{size}@bench.example"


def other_email(i: int) -> str:
    return f"other-{i:03d}@bench.example"


LOAD_EMAIL = "load@bench.example"
THROUGHPUT_SIZE = 10_000  # the read scenarios use the user holding this many tasks

RARE_WORD = "zanzibar"  # in exactly RARE_COUNT tasks of every scale user
RARE_COUNT = 10
COMMON_WORD = "quokka"  # in 1 % of tasks
TAGS = ("work", "home", "errands", "health", "finance", "reading", "garden", "travel")


def doable_bin() -> Path:
    """The `doable` script of the environment running the benchmark (override: DOABLE_BIN)."""
    return Path(os.environ.get("DOABLE_BIN", Path(sys.executable).parent / "doable"))


def git_revision() -> str:
    if os.environ.get("BENCH_REVISION"):
        return os.environ["BENCH_REVISION"]
    cwd = doable_bin().resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown"
    return rev
