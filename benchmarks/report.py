"""The Markdown table, the targets and the PNG plots, from the saved results."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import BACKENDS, RESULTS

SCENARIO_LABELS = {
    "list_first": "list, first page",
    "list_deep": "list, deep page (cursor)",
    "get": "get one task",
    "search": "search q= (rare word)",
    "tag_status": "filter tag + status",
    "create": "create",
    "update": "update with If-Match",
    "complete": "complete",
    "login": "login (argon2id)",
    "floor": "floor: GET /healthz (no auth, no database)",
    "html_list": "web: task list page (HTML, 50 tasks)",
    "page_today": "web: Today",
    "page_upcoming": "web: Upcoming",
    "page_project": "web: a project (list)",
    "page_board": "web: a project (board)",
    "page_task": "web: a task's page",
}
SCALE_LABELS = {
    "list_first": "first page",
    "list_deep": "deep page (cursor)",
    "tag_status": "tag + status filter",
    "search": "search, rare word",
    "search_common": "search, common word",
}


def latest(folder: Path, *, quick: bool = False) -> dict[str, dict[str, Any]]:
    """The newest result file of each backend in `folder`."""
    found: dict[str, dict[str, Any]] = {}
    for backend in BACKENDS:
        suffix = "-quick" if quick else ""
        files = sorted(folder.glob(f"*-{backend}{suffix}.json"))
        if files:
            found[backend] = json.loads(files[-1].read_text())
    return found


def _fmt(value: float | None, digits: int = 1) -> str:
    """A number for a table; None (no request finished in most runs) is '-'."""
    return "-" if value is None else f"{value:,.{digits}f}"


def _finished(entry: dict[str, Any]) -> bool:
    """Whether requests finished in most runs (see run.summarize), so the latencies mean
    something. A summary written before that rule is judged by its runs."""
    runs = entry.get("runs") or []
    if runs:
        return sum(1 for r in runs if r["requests"]) * 2 > len(runs)
    return bool(entry["requests"]) and entry["p50_ms"] is not None


def _latency(entry: dict[str, Any], key: str = "p50_ms") -> str:
    """A latency cell; when most runs finished no request, the run's length, as a lower
    bound."""
    if not _finished(entry):
        seconds = entry["runs"][0]["duration_us"] / 1e6 if entry.get("runs") else 0
        return f"> {seconds:,.0f} s"
    return f"{_fmt(entry[key])} ms"


def _slow(entry: dict[str, Any], limit_ms: float) -> bool:
    return not _finished(entry) or entry["p50_ms"] > limit_ms


def targets(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(target, goal, measured, met) for one backend."""
    rows: list[tuple[str, str, str, bool | None]] = []
    sc = result.get("scenarios", {})
    for name in ("list_first", "list_deep", "get"):
        if name in sc and "ratio" in sc[name]:
            r, cpu = sc[name]["ratio"], sc[name].get("cpu_ratio", float("nan"))
            measured = f"{r:.2f}x (by CPU per request: {cpu:.2f}x)"
            rows.append((f"{SCENARIO_LABELS[name]} ÷ baseline", "≥ 0.6x", measured, r >= 0.6))
    if "deep_over_first" in result:
        size = max(int(s) for s in result["scale"]["list_first"])
        deep = result["scale"]["list_deep"][str(size)]
        first = result["scale"]["list_first"][str(size)]
        r = result["deep_over_first"]
        text = f"{r:.2f} ({_latency(deep)} ÷ {_latency(first)})"
        met = _finished(deep) and r <= 1.5
        rows.append((f"deep page ÷ first page p50 at {size:,} tasks", "≤ 1.5", text, met))
    if "scale" in result:
        size = str(max(int(s) for s in result["scale"]["search"]))
        for name, label in (("search", "rare word"), ("search_common", "common word")):
            entry = result["scale"].get(name, {}).get(size)
            if entry:
                target = f"search p50 at {int(size):,} tasks ({label})"
                rows.append((target, "≤ 50 ms", _latency(entry), not _slow(entry, 50)))
    if "writers" in result:
        w = result["writers"]
        ok = w["errors"] == 0 and w["locked"] == 0
        rows.append(
            (
                f"{w['connections']} concurrent writers",
                "0 errors, 0 locked",
                f"{w['errors']} errors, {w['locked']} locked ({w['requests']:,} requests)",
                ok,
            )
        )
    if "login_storm" in result:
        r = result["login_storm"]["ratio"]
        rows.append(("login storm: list p99 with ÷ without", "≤ 3", f"{r:.2f}", r <= 3))
    if "html_over_json" in result:
        r = result["html_over_json"]
        rows.append(("task list page (HTML) ÷ JSON list, req/s", "≥ 0.8x", f"{r:.2f}x", r >= 0.8))
    # Issue 19's footprint targets (round 3's were 120 MB and 1.5 s).
    if "idle_rss_mb" in result:
        v = result["idle_rss_mb"]["median"]
        rows.append(("idle RSS", "≤ 100 MB", f"{v:.0f} MB", v <= 100))
    if "cold_start_s" in result:
        v = result["cold_start_s"]["median"]
        rows.append(("cold start to first /readyz 200", "≤ 1.0 s", f"{v:.2f} s", v <= 1.0))
    return rows


def _runs_line(results: dict[str, dict[str, Any]]) -> str:
    """When and on which revision each backend ran (one line if they all match)."""
    runs = {(r["date"][:16], r["revision"]) for r in results.values()}
    if len(runs) == 1:
        ((date, revision),) = runs
        line = f"Run {date} on revision `{revision}`."
    else:
        parts = [f"{b}: {r['date'][:16]} on `{r['revision']}`" for b, r in results.items()]
        line = "Runs (" + "; ".join(parts) + ")."
    # Phases rerun later with `run --merge`.
    later = {
        (phase, run["date"][:16], run["revision"])
        for r in results.values()
        for phase, run in r.get("phase_runs", {}).items()
    }
    for phase, date, revision in sorted(later):
        backends = [
            b
            for b, r in results.items()
            if (run := r.get("phase_runs", {}).get(phase))
            and (run["date"][:16], run["revision"]) == (date, revision)
        ]
        line += f" The {phase} figures ({', '.join(backends)}) were rerun {date} on `{revision}`."
    return line


def _load_line(results: dict[str, dict[str, Any]]) -> str:
    """The machine was shared: say how busy it was while each backend ran."""
    parts = []
    for backend, result in results.items():
        loads = [
            run["loadavg_1m"]
            for entry in result.get("scenarios", {}).values()
            for side in ("doable", "baseline")
            if side in entry
            for run in entry[side]["runs"]
            if "loadavg_1m" in run
        ]
        if loads:
            parts.append(f"{backend} {statistics.median(loads):.1f}")
    if not parts:
        return ""
    return (
        "Median 1-minute load average at the end of the throughput runs (2 cores; the benchmark "
        "itself accounts for about 2): " + ", ".join(parts) + "."
    )


def markdown(results: dict[str, dict[str, Any]]) -> str:
    if not results:
        return "No results yet.\n"
    first = next(iter(results.values()))
    m = first["machine"]
    t = first["timing"]
    lines = [
        "# Benchmark results",
        "",
        f"{_runs_line(results)} Machine: {m['cores']} cores "
        f"({m['cpu']}), {m['memory_gb']} GB RAM, Linux {m['kernel']}; Python "
        f"{m['versions']['python']}, SQLite {m['versions']['sqlite']}, "
        f"{m['versions'].get('postgresql', '')}, {m['versions'].get('mariadb', '')}.",
        "",
        f"The server (Doable or the baseline) is pinned to core 0 and wrk to core 1. Every "
        f"throughput figure is the median of {t['repeats']} runs of {t['duration']} s "
        f"({t['connections']} connections, after a {t['warmup']} s warm-up); scale "
        f"latencies are medians of {t['repeats']} runs of {t['scale_duration']} s on one "
        f"connection.",
        "",
        _load_line(results),
        "",
        "## Targets",
        "",
        "| Backend | Target | Goal | Measured | |",
        "|---|---|---|---|---|",
    ]
    for backend, result in results.items():
        for name, goal, measured, met in targets(result):
            mark = "met" if met else "**missed**"
            lines.append(f"| {backend} | {name} | {goal} | {measured} | {mark} |")
    lines += [
        "",
        "## Throughput per scenario",
        "",
        "| Backend | Scenario | Doable req/s | p50 ms | p99 ms | errors | CPU ms/req | "
        "Baseline req/s | Baseline CPU ms/req | Doable ÷ baseline (req/s, CPU) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, result in results.items():
        for name, entry in result.get("scenarios", {}).items():
            d = entry["doable"]
            base = entry.get("baseline")
            cpu_ratio = entry.get("cpu_ratio", float("nan"))
            ratio = f"{entry['ratio']:.2f}x, {cpu_ratio:.2f}x" if base else "-"
            lines.append(
                f"| {backend} | {SCENARIO_LABELS.get(name, name)} | {_fmt(d['rps'], 0)} | "
                f"{_fmt(d['p50_ms'])} | {_fmt(d['p99_ms'])} | {d['errors']} | "
                f"{_fmt(d.get('cpu_ms_per_request', float('nan')), 2)} | "
                f"{_fmt(base['rps'], 0) if base else '-'} | "
                f"{_fmt(base.get('cpu_ms_per_request', float('nan')), 2) if base else '-'} | "
                f"{ratio} |"
            )
    lines += [
        "",
        "## Latency against data size (one connection)",
        "",
        "| Backend | Query | "
        + " | ".join(
            f"{int(s):,} p50 / p99 ms"
            for s in sorted(
                {int(s) for r in results.values() for s in r.get("scale", {}).get("list_first", {})}
            )
        )
        + " |",
    ]
    sizes = sorted(
        {int(s) for r in results.values() for s in r.get("scale", {}).get("list_first", {})}
    )
    lines.append("|---|---|" + "---:|" * len(sizes))
    for backend, result in results.items():
        for name, by_size in result.get("scale", {}).items():
            cells = []
            for s in sizes:
                v = by_size.get(str(s))
                if not v:
                    cells.append("-")
                elif not _finished(v):
                    cells.append(_latency(v))
                else:
                    cells.append(f"{_fmt(v['p50_ms'])} / {_fmt(v['p99_ms'])}")
            lines.append(
                f"| {backend} | {SCALE_LABELS.get(name, name)} | " + " | ".join(cells) + " |"
            )
    lines += ["", "## Login storm, writers and footprint", ""]
    lines += ["| Backend | Measure | Value |", "|---|---|---|"]
    for backend, result in results.items():
        if "login_storm" in result:
            ls = result["login_storm"]
            lines.append(
                f"| {backend} | list p99 alone / with 20 clients logging in | "
                f"{_fmt(ls['alone']['p99_ms'])} ms / {_fmt(ls['storm']['p99_ms'])} ms "
                f"(logins served: {_fmt(ls['logins']['rps'])}/s) |"
            )
        if "writers" in result:
            w = result["writers"]
            lines.append(
                f"| {backend} | {w['connections']} writers (create, complete, PATCH) | "
                f"{_fmt(w['rps'], 0)} req/s, p99 {_fmt(w['p99_ms'])} ms, {w['errors']} errors, "
                f"{w['locked']} 'database is locked' |"
            )
        if "idle_rss_mb" in result:
            lines.append(
                f"| {backend} | RSS idle / under load (peak) | "
                f"{result['idle_rss_mb']['median']:.0f} MB / "
                f"{result.get('load_rss_mb', {}).get('median', float('nan')):.0f} MB "
                f"({result.get('load_rss_mb', {}).get('peak', float('nan')):.0f} MB) |"
            )
        if "cold_start_s" in result:
            runs = ", ".join(f"{v:.2f}" for v in result["cold_start_s"]["runs"])
            lines.append(
                f"| {backend} | cold start to /readyz 200 | "
                f"{result['cold_start_s']['median']:.2f} s (runs: {runs}) |"
            )
    pkg = first.get("package")
    if pkg:
        lines.append(
            f"| all | wheel / installed (doable alone, with dependencies) | "
            f"{pkg['wheel_kb']:.0f} KB / {pkg['installed_doable_mb']:.1f} MB, "
            f"{pkg['installed_total_mb']:.0f} MB |"
        )
    lines += [
        "",
        "![Throughput](throughput.png)",
        "",
        "![Latency against data size](scale.png)",
        "",
    ]
    return "\n".join(lines)


def plot_throughput(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = [b for b in results if "scenarios" in results[b]]
    if not backends:
        return
    names = list(results[backends[0]]["scenarios"])
    fig, axes = plt.subplots(1, len(backends), figsize=(5.5 * len(backends), 4.2), squeeze=False)
    for ax, backend in zip(axes[0], backends, strict=True):
        sc = results[backend]["scenarios"]
        ys = range(len(names))
        doable = [sc[n]["doable"]["rps"] if n in sc else 0 for n in names]
        base = [sc[n]["baseline"]["rps"] if n in sc and "baseline" in sc[n] else 0 for n in names]
        ax.barh([y + 0.2 for y in ys], doable, height=0.4, label="Doable", color="#2a9d8f")
        ax.barh(
            [y - 0.2 for y in ys],
            base,
            height=0.4,
            label="baseline (Starlette, no ORM)",
            color="#bbbbbb",
        )
        ax.set_yticks(list(ys), [SCENARIO_LABELS.get(n, n) for n in names], fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("requests per second (log scale)")
        ax.set_title(backend)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_scale(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = [b for b in results if "scale" in results[b]]
    if not backends:
        return
    fig, axes = plt.subplots(1, len(backends), figsize=(5.5 * len(backends), 4.2), squeeze=False)
    for ax, backend in zip(axes[0], backends, strict=True):
        for name, by_size in results[backend]["scale"].items():
            # A size at which no request finished within a run has no point.
            sizes = sorted(int(s) for s in by_size if _finished(by_size[s]))
            p50 = [by_size[str(s)]["p50_ms"] for s in sizes]
            p99 = [by_size[str(s)]["p99_ms"] for s in sizes]
            (line,) = ax.plot(sizes, p50, marker="o", label=f"{SCALE_LABELS.get(name, name)} p50")
            ax.plot(sizes, p99, linestyle=":", color=line.get_color(), alpha=0.7)
        ax.axhline(50, color="red", linewidth=0.8, linestyle="--")
        ax.text(sizes[0], 55, "50 ms", color="red", fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("tasks of the user (100 other users hold data too)")
        ax.set_ylabel("latency, ms (solid p50, dotted p99)")
        ax.set_title(backend)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_all(folder: Path = RESULTS, *, quick: bool = False) -> None:
    source = folder.parent if quick else folder
    results = latest(source, quick=quick)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "latest.md").write_text(markdown(results))
    plot_throughput(results, folder / "throughput.png")
    plot_scale(results, folder / "scale.png")
    print(f"wrote {folder / 'latest.md'} and plots")
