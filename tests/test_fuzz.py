"""Schemathesis over the whole OpenAPI document: in-process, signed in through the real API."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from anyio.from_thread import start_blocking_portal
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.python import asgi
from schemathesis.python.asgi import ASGIClient
from schemathesis.specs.openapi.checks import positive_data_acceptance

from doable.app import create_app
from doable.config import DatabaseConfig
from doable.db import Database
from doable.tasks.service import DEFAULT_ORDER
from tests.conftest import TEST_SECRET, runtime_for, truncate_all
from tests.server import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
MAX_EXAMPLES = int(os.environ.get("DOABLE_FUZZ_EXAMPLES", "30"))
STATEFUL_SCENARIOS = int(os.environ.get("DOABLE_FUZZ_SCENARIOS", "40"))
PASSWORD = "fuzzing horse battery"
TASKS = "/api/v1/tasks"
PROJECTS = "/api/v1/projects"
SECTIONS = "/api/v1/sections"
VALID_RULES = ("FREQ=DAILY", "FREQ=WEEKLY;INTERVAL=2", "FREQ=MONTHLY", "FREQ=YEARLY;COUNT=3")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# A browser's push keys: an uncompressed P-256 point and a 16-byte auth secret.
PUSH_KEYS = {
    "p256dh": _b64url(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    ),
    "auth": _b64url(b"fuzzing auth key"),
}

# The API's one non-standard format: a datetime without an offset, read in the user's zone.
schemathesis.openapi.format(
    "date-time-local",
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9998, 12, 31)).map(
        lambda d: d.isoformat()
    ),
)


async def _open_database(config: DatabaseConfig) -> Database:
    return Database(config)


# Markers of a password hash, a stored token hash or the signing key: none may ever be sent.
LEAKS = ("$argon2", "password_hash", "token_hash", TEST_SECRET.decode())


@schemathesis.check
def no_secrets(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every response, of every fuzzed request: no secret in the body or the headers."""
    seen = response.content.decode("utf-8", "replace") + json.dumps(dict(response.headers))
    for marker in LEAKS:
        if marker in seen:
            raise AssertionError(f"the response carries {marker[:12]!r}")
    return None


def _valid_import(case: Any, body: MutableMapping[str, Any]) -> None:
    """What the import's schema cannot say: a CSV body is a CSV file (the schema only says
    `string`), tag names in `tags` are unique ignoring case, a task's repeat rule is one that
    holds from any due, its reminders' `at` is near and their `before` at most 366 days (as
    for their APIs, see `Fuzz.prepare`)."""
    if case.media_type == "text/csv":
        case.body = "title,priority,tags,recurrence\r\nfuzzed,low,a,FREQ=DAILY\r\n"
        return
    tasks = body.get("tasks")
    for task in tasks if isinstance(tasks, list) else []:
        recurrence = task.get("recurrence") if isinstance(task, MutableMapping) else None
        if isinstance(recurrence, MutableMapping) and "rule" in recurrence:
            recurrence["rule"] = VALID_RULES[len(str(recurrence["rule"])) % len(VALID_RULES)]
        reminders = task.get("reminders") if isinstance(task, MutableMapping) else None
        for reminder in reminders if isinstance(reminders, list) else []:
            # At most 5 years ahead, as for the reminders API (the past is history here).
            if isinstance(reminder, MutableMapping) and isinstance(reminder.get("at"), str):
                reminder["at"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
            # At most 366 days in all, which the duration's pattern cannot say (P9999D
            # matches it; test_reminders covers the refusal).
            if isinstance(reminder, MutableMapping) and isinstance(reminder.get("before"), str):
                reminder["before"] = "PT30M"
    _valid_outline(body)
    tags = body.get("tags")
    if isinstance(tags, list):
        seen: set[str] = set()
        unique = []
        for tag in tags:
            key = str(tag.get("name", "")).strip().casefold() if isinstance(tag, dict) else ""
            if key not in seen:
                seen.add(key)
                unique.append(tag)
        body["tags"] = unique


def _valid_outline(body: MutableMapping[str, Any]) -> None:
    """A version 2 outline whose references resolve (tests/test_transfer_organise.py covers the
    ones that do not): no place fields in version 1, unique ids, one Inbox at most, tasks at
    the top of the Inbox."""
    tasks = body.get("tasks")
    tasks = [t for t in tasks if isinstance(t, MutableMapping)] if isinstance(tasks, list) else []
    for task in tasks:
        for name in ("project", "section", "parent"):
            task.pop(name, None)
        task.pop("id", None)
        if body.get("version") == 1:
            task.pop("position", None)
    projects = body.get("projects")
    if body.get("version") == 1:
        body.pop("projects", None)
    elif isinstance(projects, list):
        inbox = False
        for project in projects:
            if not isinstance(project, MutableMapping):
                continue
            project.pop("id", None)
            if project.get("inbox") is True:
                project["inbox"] = not inbox
                inbox = True
            sections = project.get("sections")
            for section in sections if isinstance(sections, list) else []:
                if isinstance(section, MutableMapping):
                    section.pop("id", None)


class Fuzz:
    """One backend's run: the app, a signed-in account with some tasks, and what was sent."""

    def __init__(self, app: FastAPI, database: Database) -> None:
        self.app = app
        self.backend = database.config.backend
        # Our own engine for resetting, on our own event-loop thread (the app's engine lives on
        # schemathesis' one, and the session's on pytest's).
        self._portal_cm = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._database = self._portal.call(_open_database, database.config)
        self.cases: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        # The account requests are signed in as; each stateful scenario switches to a new one.
        self.headers = self.account()

    def account(self) -> dict[str, str]:
        """Sign up through the real API, add three tasks, and return the Authorization header."""
        with ASGIClient(self.app) as client:
            r = client.post(
                "/api/v1/auth/signup",
                json={"email": f"fuzz-{uuid.uuid4().hex}@example.com", "password": PASSWORD},
            )
            assert r.status_code == 201, r.text
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            for n in range(3):
                r = client.post(
                    TASKS,
                    json={"title": f"seed {n}", "tags": ["seed"], "due": f"2030-01-0{n + 1}"},
                    headers=headers,
                )
                assert r.status_code == 201, r.text
        return headers

    def cursor(self, sort: str, order: str, headers: dict[str, str]) -> str:
        """A cursor the server issued for this sort and order (a valid one cannot be made up)."""
        with ASGIClient(self.app) as client:
            r = client.get(
                TASKS, params={"sort": sort, "order": order, "limit": 1}, headers=headers
            )
        assert r.status_code == 200, r.text
        cursor: str = r.json()["next_cursor"]
        return cursor

    def reset(self) -> None:
        """Empty the database and sign up a new account: each stateful scenario starts alike,
        which Hypothesis needs to replay one (a signup of the same email must answer the same)."""
        self._portal.call(truncate_all, self._database.engine)
        self.headers = self.account()

    def prepare(self, case: Any, headers: dict[str, str]) -> None:
        """Give positive cases the values a schema cannot describe: a cursor the server signed,
        the task's current ETag as `If-Match`, a fresh `Idempotency-Key`, an API token
        expiry and reminder times in the future, and a repeat rule that holds from any due.

        A made-up cursor is refused (422), and so is `days` without `when=upcoming`; a stale
        ETag fails the precondition (412), a reused key answers for the request it was first
        used with, and a past expiry is refused, all by design and tested elsewhere. Quick-add
        text must leave a title of at most 200 characters and at most 30 tags once its tokens
        are read (else 422, tested in test_quickadd), so a positive case's text gets a first
        word and is cut to 80 characters. Negative cases keep what was generated.
        """
        if case.meta is None or not case.meta.generation.mode.is_positive:
            return
        query = case.query if isinstance(case.query, MutableMapping) else {}
        if case.method == "GET" and case.path == TASKS and query.get("cursor"):
            in_a_list = any(
                query.get(name) not in {None, "none"}
                for name in ("project_id", "section_id", "parent_id")
            )
            sort = query.get("sort") or ("position" if in_a_list else "created")
            order = query.get("order") or DEFAULT_ORDER[sort]
            query["cursor"] = self.cursor(sort, order, headers)
        if case.method == "GET" and case.path == TASKS and query.get("days") is not None:
            query["when"] = "upcoming"  # `days` goes with it only (else 422, test_today)
        if case.path == f"{TASKS}/{{task_id}}/completions" and "cursor" in query:
            del query["cursor"]  # the seed tasks have no history, so no cursor to give
        body = case.body if isinstance(case.body, MutableMapping) else {}
        recurrence = body.get("recurrence")
        if isinstance(recurrence, MutableMapping) and "rule" in recurrence:
            # An RRULE's ranges and combinations (and whether it happens after the due) are
            # more than a schema can say; these hold from any due.
            recurrence["rule"] = VALID_RULES[len(str(recurrence["rule"])) % len(VALID_RULES)]
        if case.method == "GET" and case.path == "/api/v1/notifications":
            # The fuzzed account has no notifications, so the server never issued a cursor.
            query.pop("cursor", None)
        if case.method == "GET" and (
            case.path == "/api/v1/trash" or case.path.endswith(("/comments", "/activity"))
        ):
            # A page's cursor is signed by the server (a made-up one is refused, tested in
            # test_comments and test_activity); the seed account has none to give.
            query.pop("cursor", None)
        if case.method == "POST" and case.path == "/api/v1/auth/signup":
            # An invitation is a token the server signed (a forged one is 400, tested in
            # test_accounts); open sign-up needs none.
            body.pop("invitation", None)
        headers = case.headers if isinstance(case.headers, MutableMapping) else {}
        for name in headers:
            if name.lower() == "idempotency-key":  # a reused key answers the first request
                headers[name] = uuid.uuid4().hex
        if case.path.startswith((TASKS, PROJECTS, SECTIONS)) and case.method in {
            "POST",
            "PATCH",
            "PUT",
        }:
            # A neighbour must be a task (project, section) in the list the item goes to (else
            # 422, tested in test_projects and test_subtasks); a generated id never is.
            body.pop("after", None)
            body.pop("before", None)
            # An assignee must be a person of the task's project (else 422, test_assignees);
            # a generated id never is, so positive cases leave the task unassigned.
            if body.get("assignee_id") is not None:
                body["assignee_id"] = None
            if case.path.startswith(TASKS):
                self._drop_made_up_places(case.method, body)
        if case.path.startswith("/api/v1/webhooks") and case.method in {"POST", "PATCH"}:
            # A target must be a public http(s) URL (an address, or a name that resolves to
            # one) and a secret `whsec_` base64 of enough random bytes: rules a schema cannot
            # state, tested in test_webhooks. Positive cases get a valid URL and no secret
            # (the server then makes one).
            if "url" in body:
                body["url"] = "https://hooks.example.com/in"
            body.pop("secret", None)
        if case.path == "/api/v1/push/subscriptions" and case.method == "POST":
            # An endpoint must be a public https URL and the keys a point on P-256 and a
            # 16-byte secret: rules a schema cannot state, tested in test_push. Positive
            # cases get one browser's (the same endpoint each time, so a later one takes
            # it over and the per-account limit is never reached).
            body["endpoint"] = "https://push.example.com/send/fuzz"
            body["keys"] = PUSH_KEYS
        if case.path == f"{TASKS}/quick" and isinstance(body.get("text"), str):
            body["text"] = "Fuzzed " + body["text"][:80]
        if case.path == "/api/v1/import":
            _valid_import(case, body)
        if case.path == "/api/v1/tokens" and body.get("expires_at"):
            body["expires_at"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        if case.path.endswith("/reminders") and case.method == "POST":
            # A reminder must fire in the future (tests/test_reminders.py covers the refusals).
            if "at" in body:
                body["at"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
            if "before" in body:
                body["before"] = "PT5M"
        if_match = next((name for name in headers if name.lower() == "if-match"), None)
        path_ids = case.path_parameters or {}
        for name, prefix in (
            ("task_id", TASKS),
            ("project_id", PROJECTS),
            ("section_id", SECTIONS),
        ):
            if if_match is not None and path_ids.get(name) is not None:
                with ASGIClient(self.app) as client:
                    r = client.get(f"{prefix}/{path_ids[name]}", headers=headers)
                if r.status_code == 200:
                    headers[if_match] = r.headers["etag"]
                break

    def _drop_made_up_places(self, method: str, body: MutableMapping[str, Any]) -> None:
        """A task's project, section or parent must exist and be the caller's (else 404,
        tested in test_projects and test_subtasks); a generated id never is. When one named
        in a positive case is made up, the case keeps none of them (the task goes to, or stays
        in, its list), while ids a link took from an earlier answer are kept."""
        named = [
            (name, prefix, body[name])
            for name, prefix in (
                ("project_id", PROJECTS),
                ("section_id", SECTIONS),
                ("parent_id", TASKS),
            )
            if isinstance(body.get(name), str)
        ]
        if not named:
            return
        with ASGIClient(self.app) as client:
            known = all(
                client.get(f"{prefix}/{value}", headers=self.headers).status_code == 200
                for _, prefix, value in named
            )
        if known:
            return
        for name in ("project_id", "section_id", "parent_id"):
            if method == "PATCH":
                body.pop(name, None)  # absent: unchanged
            elif name in body:
                body[name] = None  # the Inbox, at the top level

    def close(self) -> None:
        self._portal.call(self._database.dispose)
        self._portal_cm.__exit__(None, None, None)

    def record(self, phase: str, status: int) -> None:
        self.cases[phase] += 1
        self.statuses[status] += 1


@pytest.fixture(scope="module")
async def fuzz(database: Database, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Fuzz]:
    # The app owns its engine, so its connections live on schemathesis' event-loop thread.
    app = create_app(runtime_for(database, tmp_path_factory.mktemp("fuzz-data")))
    state = Fuzz(app, database)
    yield state
    state.close()
    asgi.shutdown_lifespans()
    await truncate_all(database.engine)
    _write_figures(state)


def _write_figures(state: Fuzz) -> None:
    """fuzz-<backend>.json. Under xdist a backend's two tests may run in two workers, each with
    a fixture of its own: the second adds its counts to the first's (same run, under a lock)."""
    path = ARTIFACTS / f"fuzz-{state.backend}.json"
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    cases = Counter(state.cases)
    statuses = Counter({str(k): v for k, v in state.statuses.items()})
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "fuzz.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if run is not None and path.exists():
            earlier = json.loads(path.read_text())
            if earlier.get("run") == run:
                cases.update(earlier["cases"])
                statuses.update(earlier["statuses"])
        figures = {
            "backend": state.backend,
            "cases": dict(cases),
            "total": sum(cases.values()),
            "statuses": dict(sorted(statuses.items())),
            "run": run,
        }
        path.write_text(json.dumps(figures, indent=2) + "\n")


@pytest.fixture(scope="module")
def api_schema(fuzz: Fuzz) -> Any:
    # The event stream never ends by itself; tests/test_scheduler.py reads it from a server.
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz.app).exclude(
        path="/api/v1/events"
    )

    # Registered as schemathesis auth, so it knows the credentials are real: it leaves them
    # out of cases that test a missing one, and `ignored_auth` retries without and with bad ones.
    @schema.auth(refresh_interval=None)
    class CurrentAccount:
        def get(self, case: Any, context: Any) -> str:
            return fuzz.headers["Authorization"]

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": data}

    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32 renames the test node through `_nodeid`, which pytest 9.2 no longer has.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


# Routes whose one input is a token the server signed and sent by link (email, push): a
# generated one is forged, and the server's 4xx for it is the behaviour under test in
# test_accounts, test_security, test_push and test_email. Their positive cases cannot be made
# valid, so positive-data acceptance is not checked for them; every other check is.
SIGNED_LINKS = {
    ("POST", "/api/v1/auth/password-reset/confirm"),
    ("POST", "/api/v1/invitations/accept"),
    ("POST", "/api/v1/push/actions"),
    ("POST", "/api/v1/email/unsubscribe"),
}


# Routes whose input must name a member of the project (a hand-over's new owner): no schema
# can say who that is, and a generated id never is one; test_sharing_invites covers the 422.
NAMES_A_MEMBER = {("POST", "/api/v1/projects/{project_id}/owner")}


def _excluded(case: Any) -> list[Any]:
    if (case.method, case.path) in SIGNED_LINKS | NAMES_A_MEMBER:
        return [positive_data_acceptance]
    return []


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
def test_every_operation(case: Any, fuzz: Fuzz) -> None:
    fuzz.prepare(case, fuzz.headers)
    response = case.call()
    fuzz.record(case.meta.phase.name.value if case.meta else "explicit", response.status_code)
    case.validate_response(response, excluded_checks=_excluded(case))


def test_stateful_links(api_schema: Any, fuzz: Fuzz) -> None:
    base = api_schema.as_state_machine()

    class Workflow(base):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            fuzz.reset()

        def before_call(self, case: Any) -> None:
            fuzz.prepare(case, fuzz.headers)

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            fuzz.record("stateful", response.status_code)

        def validate_response(
            self,
            response: Any,
            case: Any,
            additional_checks: list[Any] | None = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(
                response,
                additional_checks=additional_checks,
                excluded_checks=_excluded(case),
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    Workflow.run(
        settings=settings(
            Workflow.TestCase.settings,
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=6,
            database=None,
        )
    )
