"""The README, Dockerfile and compose file are a contract: these tests fail when one drifts."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from typer.core import TyperGroup

from doable.app import create_app
from doable.cli import app as cli_app
from doable.config import RuntimeConfig, Settings, normalize_database_url
from tests.conftest import TEST_SECRET, fast_settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
DOCKERIGNORE = ROOT / ".dockerignore"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# The colours a Hugging Face Space card accepts.
SPACE_COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
UNSET = "(unset)"
EMPTY = "(empty)"


def env_name(field_name: str) -> str:
    alias = Settings.model_fields[field_name].validation_alias
    assert isinstance(alias, str), f"Settings.{field_name} has no plain env name"
    return alias


ENV_NAMES = [env_name(name) for name in Settings.model_fields]


# README


def split_readme() -> tuple[dict[str, Any], str]:
    text = README.read_text(encoding="utf-8")
    assert text.startswith("---\n"), "README.md must start with YAML front matter"
    end = text.index("\n---\n", 4)
    meta = yaml.safe_load(text[4:end])
    assert isinstance(meta, dict)
    return meta, text[end + len("\n---\n") :]


def section(body: str, title: str) -> str:
    """The text under `## title`, up to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", body, re.MULTILINE | re.DOTALL)
    assert match is not None, f"README has no '## {title}' section"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """Cells of every markdown table row in `text`, without header and separator rows."""
    rows: list[list[str]] = []
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        is_separator = all(re.fullmatch(r":?-+:?", cell) for cell in cells)
        is_header = i + 1 < len(lines) and re.fullmatch(r"\|[\s:|-]+\|", lines[i + 1]) is not None
        if not is_separator and not is_header:
            rows.append(cells)
    return rows


def config_table() -> dict[str, str]:
    """Env name → default cell of the Configuration table."""
    _, body = split_readme()
    table: dict[str, str] = {}
    for cells in table_rows(section(body, "Configuration")):
        match = re.fullmatch(r"`([A-Z0-9_]+)`", cells[0])
        assert match is not None, f"first column must be one `ENV_NAME`: {cells[0]!r}"
        assert match.group(1) not in table, f"{match.group(1)} is listed twice"
        assert len(cells) == 3, f"{match.group(1)}: expected 3 columns, got {len(cells)}"
        table[match.group(1)] = cells[1]
    return table


def test_front_matter_configures_a_docker_space() -> None:
    meta, _ = split_readme()
    required = {
        "title",
        "emoji",
        "colorFrom",
        "colorTo",
        "sdk",
        "app_port",
        "pinned",
        "short_description",
    }
    assert required <= set(meta), f"missing: {sorted(required - set(meta))}"
    assert meta["title"] == "Doable"
    assert meta["sdk"] == "docker"
    assert meta["app_port"] == 7860
    assert meta["pinned"] is False
    assert isinstance(meta["emoji"], str) and meta["emoji"].strip()
    assert meta["colorFrom"] in SPACE_COLORS
    assert meta["colorTo"] in SPACE_COLORS
    assert isinstance(meta["short_description"], str)
    assert 0 < len(meta["short_description"]) <= 60


def test_readme_opens_with_title_then_quick_start() -> None:
    _, body = split_readme()
    lines = [line for line in body.splitlines() if line.strip()]
    assert lines[0] == "# Doable"
    headings = re.findall(r"^## (.+)$", body, re.MULTILINE)
    assert headings[0] == "Quick start"


def test_quick_start_is_serve_then_pytest() -> None:
    _, body = split_readme()
    blocks = [block.strip() for block in FENCE.findall(body)]
    assert blocks[:2] == ["uv run doable serve", "uv run pytest"]
    quick_start = section(body, "Quick start")
    assert [block.strip() for block in FENCE.findall(quick_start)] == blocks[:2]
    assert "`pip install uv`" in quick_start
    assert "http://127.0.0.1:8000" in quick_start
    assert "`./data`" in quick_start


def test_configuration_table_lists_exactly_the_settings() -> None:
    assert sorted(config_table()) == sorted(ENV_NAMES)


def expected_default_cell(field_name: str) -> str:
    field = Settings.model_fields[field_name]
    if field.default_factory is not None:
        value = field.get_default(call_default_factory=True, validated_data={})
        assert value == [], f"no README rendering for a {type(value).__name__} factory"
        return EMPTY
    default = field.default
    if default is None:
        return UNSET
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, Path):
        return f"`{default.as_posix() if default.is_absolute() else './' + default.as_posix()}`"
    assert isinstance(default, (str, int, float)), f"no README rendering for {default!r}"
    return f"`{default}`"


@pytest.mark.parametrize("field_name", list(Settings.model_fields))
def test_configuration_default_matches_settings(field_name: str) -> None:
    table = config_table()
    name = env_name(field_name)
    assert name in table, f"{name} is missing from the README configuration table"
    assert table[name] == expected_default_cell(field_name)


def test_cli_section_names_every_command() -> None:
    _, body = split_readme()
    cli = section(body, "CLI")
    root = typer.main.get_command(cli_app)
    assert isinstance(root, TyperGroup)
    commands: list[str] = []
    for name, command in root.commands.items():
        if isinstance(command, TyperGroup):
            commands += [f"doable {name} {sub}" for sub in command.commands]
        else:
            commands.append(f"doable {name}")
    assert "doable users set-password" in commands
    for documented in [*commands, "doable --version"]:
        assert f"`{documented}" in cli, f"{documented} is not in the README CLI section"


def test_api_section_names_every_route(tmp_path: Path) -> None:
    _, body = split_readme()
    api = section(body, "API at a glance")
    runtime = RuntimeConfig(
        fast_settings(tmp_path), tmp_path, normalize_database_url(None, tmp_path), TEST_SECRET
    )
    paths = create_app(runtime).openapi()["paths"]
    routes = [
        f"{method.upper()} {re.sub(r'{[^}]+}', '{id}', path)}"
        for path, operations in paths.items()
        for method in operations
    ]
    assert "PATCH /api/v1/tasks/{id}" in routes
    missing = [route for route in routes if f"`{route}`" not in api]
    assert missing == []


def test_readme_documents_etag_and_problem_details() -> None:
    _, body = split_readme()
    assert "application/problem+json" in body
    assert "X-Request-ID" in body
    assert "If-Match" in body and "412" in body


# Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, with continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert pending == "", "the Dockerfile ends inside a continued line"
    return instructions


def args_of(keyword: str) -> list[str]:
    return [args for kw, args in dockerfile_instructions() if kw == keyword]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in args_of("ENV"):
        for pair in shlex.split(args):
            key, sep, value = pair.partition("=")
            assert sep == "=", f"use ENV KEY=value, not {pair!r}"
            env[key] = value
    return env


def test_dockerfile_base_is_a_slim_python_that_fits_the_project() -> None:
    froms = args_of("FROM")
    assert len(froms) == 1
    match = re.fullmatch(r"python:3\.(\d+)-slim(-\w+)?", froms[0])
    assert match is not None, froms[0]
    assert int(match.group(1)) >= 11


def test_dockerfile_runs_as_the_user_it_creates_with_uid_1000() -> None:
    users = args_of("USER")
    assert users, "no USER instruction"
    last = users[-1]
    assert last.split(":")[0] not in {"root", "0"}
    useradds = [args for args in args_of("RUN") if re.search(r"\buseradd\b", args)]
    assert len(useradds) == 1
    assert re.search(r"(^|\s)-u\s*1000(\s|$)", useradds[0])
    assert shlex.split(useradds[0])[-1] == last


def test_dockerfile_installs_uv_with_pip_and_never_curls() -> None:
    runs = args_of("RUN")
    assert any(re.search(r"\bpip install\b.*\buv\b", run) for run in runs)
    assert any("uv sync --frozen --no-dev" in run for run in runs)
    assert not any(re.search(r"\b(curl|wget)\b", run) for run in runs)


def test_dockerfile_copies_files_that_exist() -> None:
    for args in args_of("COPY"):
        parts = [part for part in shlex.split(args) if not part.startswith("--")]
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"


def test_dockerfile_environment_targets_the_space() -> None:
    env = dockerfile_env()
    assert env["PORT"] == "7860"
    assert env["HOST"] == "0.0.0.0"
    assert env["DOABLE_DATA_DIR"] == "/data"
    assert env["DOABLE_DATA_DIR_FALLBACK"] == "/home/user/data"
    assert env["HOME"] == "/home/user"
    assert env["PATH"].startswith("/app/.venv/bin:")
    # Every other variable it sets must be a real setting, so a typo cannot go unnoticed.
    tooling = {"HOME", "PATH", "PYTHONUNBUFFERED"}
    unknown = {k for k in env if k not in tooling and not k.startswith("UV_")} - set(ENV_NAMES)
    assert unknown == set()
    assert "7860" in args_of("EXPOSE")[-1].split()


def test_dockerfile_serves_on_port_from_the_environment() -> None:
    cmds = args_of("CMD")
    assert len(cmds) == 1
    argv = json.loads(cmds[0])
    assert isinstance(argv, list)
    command = " ".join(argv)
    assert re.search(r"\bdoable serve\b", command)
    assert "--host 0.0.0.0" in command
    assert "${PORT" in command or "$PORT" in command


def test_dockerfile_healthcheck_polls_healthz() -> None:
    checks = args_of("HEALTHCHECK")
    assert len(checks) == 1
    assert " CMD " in f" {checks[0]} "
    assert "urllib" in checks[0]
    assert "/healthz" in checks[0]
    assert "${PORT:-7860}" in checks[0]


# compose.yaml


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_compose_database_is_healthy_postgres_16() -> None:
    db = compose()["services"]["db"]
    assert db["image"] == "postgres:16"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(db["environment"])


def test_compose_app_waits_for_the_database_it_points_at() -> None:
    data = compose()
    app = data["services"]["app"]
    db_env = data["services"]["db"]["environment"]
    assert app["build"] == "."
    assert "7860:7860" in app["ports"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    url = app["environment"]["DATABASE_URL"]
    assert url == (
        f"postgresql://{db_env['POSTGRES_USER']}:{db_env['POSTGRES_PASSWORD']}"
        f"@db:5432/{db_env['POSTGRES_DB']}"
    )
    assert normalize_database_url(url, Path("/data")).backend == "postgresql"
    assert app["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_compose_keeps_data_in_named_volumes() -> None:
    data = compose()
    declared = set(data["volumes"])
    mounts = {
        service: {m.split(":")[1]: m.split(":")[0] for m in spec.get("volumes", [])}
        for service, spec in data["services"].items()
    }
    assert mounts["app"]["/data"] in declared
    assert mounts["db"]["/var/lib/postgresql/data"] in declared


# .dockerignore


def test_dockerignore_drops_local_state_but_keeps_build_inputs() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for required in (".git", ".venv", "data", ".env"):
        assert required in patterns
    for needed in ("pyproject.toml", "uv.lock", "README.md", "src"):
        assert not any(fnmatch.fnmatch(needed, p) for p in patterns), needed


# docs/architecture.md


def test_architecture_maps_every_module() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    package = ROOT / "src" / "doable"
    names = [
        f"`{p.name}/`" if p.is_dir() else f"`{p.name}`"
        for p in sorted(package.iterdir())
        if p.name not in {"__init__.py", "__main__.py", "__pycache__"}
        and (p.suffix == ".py" or (p / "__init__.py").exists())
    ]
    missing = [name for name in names if f"| {name} |" not in text]
    assert missing == []
