"""Measure the web app: Lighthouse scores, the byte budget and the server time of the task list.

    uv run python -m benchmarks.web.run [--runs 3] [--requests 200] [--no-lighthouse]

One real `doable serve` (SQLite in a temporary folder, the default settings but cheap password
hashing and JSON logs) with one user who has 50 tasks. Then:

- bytes: the task list's HTML, and the JavaScript it loads (ours and vendored), uncompressed;
- server time: GET /tasks (the whole page) and GET /api/v1/tasks?limit=50 (the same 50 tasks as
  JSON), interleaved, `--requests` of each after a warm-up. "Server" is the duration the app logs
  for the request (from the first byte in to the last byte out); "client" is what an HTTP client
  on the same machine waited;
- Lighthouse 12 in Debian's Chromium, mobile and desktop, on the login page, the task list and
  the account page (the last two signed in: the session cookie is put in the cookie jar of the
  Chromium that Lighthouse drives, through `lighthouse --port`);
  the median of `--runs` runs per category (performance, accessibility, best practices, SEO).

Lighthouse is not installed by this script. Install it once, by hand, with
`npm ci --prefix benchmarks/web` (into benchmarks/web/node_modules, not committed), or point
`LIGHTHOUSE` at a `lighthouse` binary installed elsewhere (`npm install lighthouse@12` in any
folder gives `node_modules/.bin/lighthouse`).

Writes benchmarks/web/results.json and benchmarks/web/results.md; raw Lighthouse reports go to
benchmarks/web/raw/ (not committed).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright
from tests.server import PROJECT_ROOT, Server, free_port, server_env

HERE = Path(__file__).resolve().parent
RAW = HERE / "raw"
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu --disable-background-networking"
LIGHTHOUSE = Path(os.environ.get("LIGHTHOUSE") or HERE / "node_modules" / ".bin" / "lighthouse")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
GOALS = {"performance": 95, "accessibility": 95, "best-practices": 95, "seo": 95}
BUDGET = {"html": 60_000, "js": 60_000}
EMAIL = "bench@example.com"
PASSWORD = "correct horse battery"
TASKS = 50
WARMUP = 30


# The server and its data


def seed(client: httpx.Client) -> str:
    """Signs up the user and adds 50 varied tasks through the API; returns an access token."""
    r = client.post(
        "/api/v1/auth/signup",
        json={"email": EMAIL, "password": PASSWORD, "name": "Bench Mark", "timezone": "UTC"},
    )
    r.raise_for_status()
    token: str = r.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    today = datetime.now(UTC).date()
    priorities = ["none", "low", "medium", "high", "urgent"]
    tags = ["work", "home", "errands", "finance", "health", "reading"]
    for i in range(TASKS):
        body: dict[str, Any] = {
            "title": f"Task {i + 1}: {['Call', 'Write', 'Buy', 'Plan', 'Fix'][i % 5]} "
            f"{['the report', 'groceries', 'a gift', 'the sink', 'the trip'][i % 5]}",
            "priority": priorities[i % 5],
            "tags": [tags[i % 6], tags[(i + 2) % 6]] if i % 3 else [],
        }
        if i % 4 == 0:
            body["description"] = "Details: " + "some words about what to do. " * (1 + i % 3)
        if i % 2 == 0:
            body["due"] = (today + timedelta(days=i % 9 - 3)).isoformat()
        if i % 7 == 0:
            body["completed"] = True
        client.post("/api/v1/tasks", json=body, headers=auth).raise_for_status()
    return token


def web_session(client: httpx.Client) -> str:
    """Logs in through the web form, as a browser would; returns the session cookie value."""
    page = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "no CSRF token on the login page"
    r = client.post(
        "/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": found.group(1), "next": "/"},
    )
    assert r.status_code == 303, r.status_code
    session: str = client.cookies["doable_session"]
    return session


# Bytes


def measure_bytes(client: httpx.Client, cookie: str) -> dict[str, Any]:
    page = client.get("/tasks", cookies={"doable_session": cookie})
    page.raise_for_status()
    html = page.content
    items = len(re.findall(rb'<li id="task-', html))
    assert items == TASKS, f"the page shows {items} tasks, not {TASKS}"
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    files = {}
    for url in scripts + styles:
        body = client.get(url).content
        files[url.split("?")[0]] = {"bytes": len(body), "gzip": len(gzip.compress(body, 6))}
    js = {k: v for k, v in files.items() if k.endswith(".js")}
    return {
        "tasks_on_page": items,
        "html": {"bytes": len(html), "gzip": len(gzip.compress(html, 6))},
        "js_total": sum(v["bytes"] for v in js.values()),
        "js_total_gzip": sum(v["gzip"] for v in js.values()),
        "files": files,
    }


# Server time


def measure_time(
    server: Server, client: httpx.Client, cookie: str, token: str, requests: int
) -> dict[str, Any]:
    targets = {
        "page": ("/tasks", {"Cookie": f"doable_session={cookie}"}),
        "api": (f"/api/v1/tasks?limit={TASKS}", {"Authorization": f"Bearer {token}"}),
    }
    client_ms: dict[str, list[float]] = {name: [] for name in targets}
    for round_ in range(WARMUP + requests):
        for name, (path, headers) in targets.items():
            rid = f"bench-{name}-{round_}"
            started = time.perf_counter()
            r = client.get(path, headers={**headers, "X-Request-ID": rid})
            elapsed = (time.perf_counter() - started) * 1000
            r.raise_for_status()
            if name == "api":
                assert len(r.json()["items"]) == TASKS
            if round_ >= WARMUP:
                client_ms[name].append(elapsed)
    time.sleep(0.5)  # let the last access lines reach the log
    server_ms: dict[str, list[float]] = {name: [] for name in targets}
    for line in server.stderr.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        rid = str(entry.get("request_id", ""))
        parts = rid.split("-")
        ours = entry.get("logger") == "doable.access" and len(parts) == 3 and parts[0] == "bench"
        if ours and int(parts[2]) >= WARMUP:
            server_ms[parts[1]].append(float(entry["duration_ms"]))
    result: dict[str, Any] = {"requests": requests, "warmup": WARMUP}
    for kind, samples in (("server", server_ms), ("client", client_ms)):
        assert all(len(v) == requests for v in samples.values()), kind
        result[kind] = {
            name: {
                "median_ms": round(statistics.median(v), 2),
                "p90_ms": round(statistics.quantiles(v, n=10)[-1], 2),
            }
            for name, v in samples.items()
        }
        result[kind]["ratio_page_to_api"] = round(
            result[kind]["page"]["median_ms"] / result[kind]["api"]["median_ms"], 2
        )
    return result


# Lighthouse


def ensure_lighthouse() -> None:
    if LIGHTHOUSE.exists():
        return
    raise SystemExit(
        f"{LIGHTHOUSE} is missing: install Lighthouse with `npm ci --prefix benchmarks/web` "
        "(needs npm: apt-get install npm), or set LIGHTHOUSE to a lighthouse binary, or pass "
        "--no-lighthouse"
    )


@contextmanager
def chromium_for_lighthouse(base_url: str, cookie: str | None) -> Iterator[int]:
    """A headless Chromium with a debugging port for `lighthouse --port`, its cookie jar holding
    the session cookie when `cookie` is given.

    Lighthouse's --extra-headers puts the Cookie header on the page's own request but not on
    the requests the page makes itself (the header bell's htmx GET, the EventSource of live
    events): those went out signed out, got sent to the login page, and the run measured that.
    A cookie in the jar goes with every request, as in a real browser; Lighthouse's storage
    reset between runs leaves cookies alone.
    """
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="lighthouse-chromium-") as profile:
        process = subprocess.Popen(
            [
                CHROMIUM,
                *CHROME_FLAGS.split(),
                f"--remote-debugging-port={port}",
                f"--user-data-dir={profile}",
                "--no-first-run",
                "--no-default-browser-check",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            endpoint = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{endpoint}/json/version", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise SystemExit("Chromium did not open its debugging port") from None
                    time.sleep(0.2)
            if cookie:
                with sync_playwright() as pw:
                    browser = pw.chromium.connect_over_cdp(endpoint)
                    browser.contexts[0].add_cookies(
                        [{"name": "doable_session", "value": cookie, "url": base_url}]
                    )
            yield port
        finally:
            process.terminate()
            process.wait(timeout=15)


def lighthouse(url: str, name: str, preset: str, run: int, port: int) -> dict[str, Any]:
    RAW.mkdir(exist_ok=True)
    out = RAW / f"{name}-{preset}-{run}.json"
    command = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--port={port}",
    ]
    if preset == "desktop":
        command.append("--preset=desktop")
    with tempfile.TemporaryDirectory(prefix="lighthouse-") as tmp:
        subprocess.run(command, env={**os.environ, "TMPDIR": tmp}, check=True, timeout=300)
    report = json.loads(out.read_text())
    if report.get("runtimeError"):
        raise SystemExit(f"Lighthouse failed on {url}: {report['runtimeError']}")
    final_url = report.get("finalDisplayedUrl") or report.get("finalUrl", "")
    scores = {c: round(report["categories"][c]["score"] * 100) for c in CATEGORIES}
    failed = sorted(
        audit_id
        for c in CATEGORIES
        for ref in report["categories"][c]["auditRefs"]
        if ref["weight"] > 0
        and (audit_id := ref["id"]) in report["audits"]
        and report["audits"][audit_id]["score"] is not None
        and report["audits"][audit_id]["score"] < 1
    )
    metrics = {
        k: round(report["audits"][k]["numericValue"])
        for k in ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time")
    }
    metrics["cumulative-layout-shift"] = report["audits"]["cumulative-layout-shift"]["numericValue"]
    return {
        "final_url": final_url,
        "scores": scores,
        "not_perfect": failed,
        "metrics": metrics,
        "version": report["lighthouseVersion"],
    }


def measure_lighthouse(base_url: str, cookie: str, runs: int) -> dict[str, Any]:
    ensure_lighthouse()
    pages = {
        "login": ("/login", None),
        "tasks": ("/tasks", cookie),
        "account": ("/account", cookie),
    }
    results: dict[str, Any] = {}
    for name, (path, sent) in pages.items():
        for preset in ("mobile", "desktop"):
            reports = []
            for i in range(runs):
                # A fresh browser for each run: a second run in the same one can fail to record
                # its trace (NO_NAVSTART).
                with chromium_for_lighthouse(base_url, sent) as port:
                    reports.append(lighthouse(base_url + path, name, preset, i, port))
            final = {r["final_url"] for r in reports}
            assert final == {base_url + path}, f"{name} ended at {final}, not {path}"
            results[f"{name}/{preset}"] = {
                "median": {
                    c: statistics.median(r["scores"][c] for r in reports) for c in CATEGORIES
                },
                "runs": [r["scores"] for r in reports],
                "not_perfect": sorted({a for r in reports for a in r["not_perfect"]}),
                "metrics_median": {
                    k: statistics.median(r["metrics"][k] for r in reports)
                    for k in reports[0]["metrics"]
                },
                "lighthouse": reports[0]["version"],
            }
            print(f"lighthouse {name}/{preset}: {results[f'{name}/{preset}']['median']}")
    return results


# Report


def chromium_version() -> str:
    try:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def write_markdown(results: dict[str, Any]) -> str:
    b, t = results["bytes"], results["time"]
    lines = [
        "# Web app measurements",
        "",
        f"Produced by `uv run python -m benchmarks.web.run` on {results['date']} "
        f"({results['machine']}; {results['chromium']}). The raw numbers are in "
        "[results.json](results.json).",
        "",
        "## Lighthouse",
        "",
    ]
    if results.get("lighthouse"):
        version = next(iter(results["lighthouse"].values()))["lighthouse"]
        lines += [
            f"Lighthouse {version}, median of {results['lighthouse_runs']} runs per row. Goal: "
            "at least 95 in each category. The task list and the account page are "
            f"signed in; the task list shows {TASKS} tasks. Load average (1 min) before the "
            f"Lighthouse runs: {results.get('load_before_lighthouse', 'not recorded')}.",
            "",
            "| Page | Form factor | Performance | Accessibility | Best practices | SEO "
            "| FCP ms | LCP ms | TBT ms | CLS | Weighted audits below 100 |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for key, row in results["lighthouse"].items():
            page, preset = key.split("/")
            m, x = row["median"], row["metrics_median"]
            lines.append(
                f"| {page} | {preset} | {m['performance']:g} | {m['accessibility']:g} | "
                f"{m['best-practices']:g} | {m['seo']:g} | {x['first-contentful-paint']:g} | "
                f"{x['largest-contentful-paint']:g} | {x['total-blocking-time']:g} | "
                f"{x['cumulative-layout-shift']:.3f} | "
                f"{', '.join(row['not_perfect']) or 'none'} |"
            )
    else:
        lines.append("Not run this time (`--no-lighthouse`).")
    lines += [
        "",
        f"## Bytes of the task list with {TASKS} tasks",
        "",
        "Uncompressed, as the budget counts them; gzip -6 sizes for reference.",
        "",
        "| What | Bytes | gzip | Budget |",
        "|---|---|---|---|",
        f"| HTML of `/tasks` | {b['html']['bytes']:,} | {b['html']['gzip']:,} | "
        f"≤ {BUDGET['html']:,} |",
    ]
    for url, sizes in b["files"].items():
        lines.append(f"| `{url}` | {sizes['bytes']:,} | {sizes['gzip']:,} | |")
    lines += [
        f"| All JavaScript (ours + vendored) | {b['js_total']:,} | {b['js_total_gzip']:,} | "
        f"≤ {BUDGET['js']:,} |",
        "",
        "## Server time of the task list",
        "",
        f"{t['requests']} requests of each, interleaved, after {t['warmup']} warm-up rounds, one "
        f"at a time over loopback. `GET /tasks` renders the whole page with the {TASKS} tasks, "
        "counts and tags; `GET /api/v1/tasks?limit=50` returns the same tasks as JSON.",
        "",
        "| Measured by | Page median ms | Page p90 ms | API median ms | API p90 ms | "
        "Page / API (medians) |",
        "|---|---|---|---|---|---|",
    ]
    for kind, label in (("server", "the app (access log)"), ("client", "the HTTP client")):
        row = t[kind]
        lines.append(
            f"| {label} | {row['page']['median_ms']} | {row['page']['p90_ms']} | "
            f"{row['api']['median_ms']} | {row['api']['p90_ms']} | {row['ratio_page_to_api']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Lighthouse runs per page and preset")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    parser.add_argument("--no-lighthouse", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="doable-web-bench-") as tmp:
        base = Path(tmp)
        (base / "home").mkdir()
        env = server_env(
            base / "data",
            base / "home",
            LOG_FORMAT="json",
            AUTH_IP_RATE_LIMIT="1000/minute",
            AUTH_ACCOUNT_RATE_LIMIT="1000/minute",
        )
        with Server(env, logs_dir=base, name="web-bench") as server:
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                token = seed(client)
                cookie = web_session(client)
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                sizes = measure_bytes(client, cookie)
                print(f"bytes: html {sizes['html']['bytes']:,}, js {sizes['js_total']:,}")
                timing = measure_time(server, client, cookie, token, args.requests)
                print(f"time: {timing['server']} (server), {timing['client']} (client)")
            load_before = f"{os.getloadavg()[0]:.1f}"
            scores = (
                None
                if args.no_lighthouse
                else measure_lighthouse(server.base_url, cookie, args.runs)
            )

    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end, Python {platform.python_version()}",
        "chromium": chromium_version(),
        "bytes": sizes,
        "budget": BUDGET,
        "time": timing,
        "lighthouse_runs": args.runs,
        "load_before_lighthouse": load_before,
        "lighthouse": scores,
        "goals": GOALS,
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "results.md").write_text(write_markdown(results))
    print(f"wrote {(HERE / 'results.md').relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
