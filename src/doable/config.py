"""Settings: one object read from the environment and `.env`, plus database URL normalisation."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import ssl
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger("doable.config")

MIN_SECRET_BYTES = 32


class ConfigError(Exception):
    """A setting is unusable. The message is one line, safe to print (no secrets)."""


class Settings(BaseSettings):
    """Every setting Doable reads. Each field's env name is documented in the README."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    data_dir: Path = Field(default=Path("./data"), validation_alias="DOABLE_DATA_DIR")
    data_dir_fallback: Path | None = Field(
        default=None, validation_alias="DOABLE_DATA_DIR_FALLBACK"
    )
    secret_key: str | None = Field(default=None, validation_alias="SECRET_KEY", repr=False)
    host: str = Field(default="127.0.0.1", validation_alias="HOST")
    port: int = Field(default=8000, ge=1, le=65535, validation_alias="PORT")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="CORS_ORIGINS"
    )
    access_token_minutes: int = Field(
        default=15, ge=1, le=1440, validation_alias="ACCESS_TOKEN_MINUTES"
    )
    refresh_token_days: int = Field(default=30, ge=1, le=365, validation_alias="REFRESH_TOKEN_DAYS")
    log_format: Literal["console", "json"] = Field(default="console", validation_alias="LOG_FORMAT")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="LOG_LEVEL"
    )
    docs_enabled: bool = Field(default=True, validation_alias="DOCS_ENABLED")
    jwt_issuer: str = Field(default="doable", validation_alias="JWT_ISSUER")
    jwt_audience: str = Field(default="doable-api", validation_alias="JWT_AUDIENCE")
    auth_ip_rate_limit: str = Field(default="30/minute", validation_alias="AUTH_IP_RATE_LIMIT")
    auth_account_rate_limit: str = Field(
        default="10/minute", validation_alias="AUTH_ACCOUNT_RATE_LIMIT"
    )
    argon2_time_cost: int = Field(default=3, ge=1, le=20, validation_alias="ARGON2_TIME_COST")
    argon2_memory_kib: int = Field(
        default=65536, ge=1024, le=4 * 1024 * 1024, validation_alias="ARGON2_MEMORY_KIB"
    )
    argon2_parallelism: int = Field(default=4, ge=1, le=16, validation_alias="ARGON2_PARALLELISM")
    hash_concurrency: int = Field(default=2, ge=1, le=64, validation_alias="HASH_CONCURRENCY")
    hash_niceness: int = Field(default=19, ge=0, le=19, validation_alias="HASH_NICENESS")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, validation_alias="MAX_BODY_BYTES")
    import_max_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, validation_alias="IMPORT_MAX_BYTES"
    )
    max_tasks_per_account: int = Field(default=0, ge=0, validation_alias="MAX_TASKS_PER_ACCOUNT")
    # How many days the trash keeps a deleted task, section or project before the purge.
    trash_days: int = Field(default=30, ge=1, le=3650, validation_alias="TRASH_DAYS")
    db_startup_timeout: float = Field(default=30.0, ge=0, validation_alias="DB_STARTUP_TIMEOUT")
    db_pool_size: int = Field(default=5, ge=1, le=100, validation_alias="DB_POOL_SIZE")
    # How long a request waits for a pooled connection before it is answered 503 (seconds).
    db_pool_timeout: float = Field(default=5.0, gt=0, le=300, validation_alias="DB_POOL_TIMEOUT")
    # The longest one statement may run, and the longest one may wait for a row lock, before
    # the database cancels it and the request is answered 503 (milliseconds; 0: no limit).
    # PostgreSQL and MariaDB; SQLite's writers wait at most its busy timeout (10 s).
    db_statement_timeout_ms: int = Field(
        default=15_000, ge=0, le=3_600_000, validation_alias="DB_STATEMENT_TIMEOUT_MS"
    )
    db_lock_timeout_ms: int = Field(
        default=5_000, ge=0, le=3_600_000, validation_alias="DB_LOCK_TIMEOUT_MS"
    )
    # Admission (doable/admission.py): requests at work at once (0: the pool's connections,
    # DB_POOL_SIZE x 3), how long one may wait for its turn before it is answered 503 with
    # Retry-After (milliseconds), and how many may wait at most.
    admission_slots: int = Field(default=0, ge=0, le=10_000, validation_alias="ADMISSION_SLOTS")
    admission_wait_ms: int = Field(
        default=2000, ge=1, le=60_000, validation_alias="ADMISSION_WAIT_MS"
    )
    admission_queue: int = Field(default=1000, ge=0, le=100_000, validation_alias="ADMISSION_QUEUE")
    # asyncpg's prepared-statement cache. Off behind PgBouncer in transaction mode (before
    # 1.21, PgBouncer cannot carry prepared statements between server connections).
    database_statement_cache: bool = Field(
        default=True, validation_alias="DATABASE_STATEMENT_CACHE"
    )
    # Redis for the shared rate limits (redis:// or rediss://). Unset: PostgreSQL and MariaDB
    # count in the database, SQLite in memory.
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL", repr=False)
    forwarded_allow_ips: str = Field(default="127.0.0.1", validation_alias="FORWARDED_ALLOW_IPS")
    session_days: int = Field(default=30, ge=1, le=365, validation_alias="SESSION_DAYS")
    space_id: str | None = Field(default=None, validation_alias="SPACE_ID")
    embed_mode: bool | None = Field(default=None, validation_alias="EMBED_MODE")
    # External JWT issuer (e.g. Better Auth): see external_auth() for how these combine.
    auth_jwks_url: str | None = Field(default=None, validation_alias="AUTH_JWKS_URL")
    auth_jwt_secret: str | None = Field(
        default=None, validation_alias="AUTH_JWT_SECRET", repr=False
    )
    auth_jwt_issuer: str | None = Field(default=None, validation_alias="AUTH_JWT_ISSUER")
    auth_jwt_audience: str | None = Field(default=None, validation_alias="AUTH_JWT_AUDIENCE")
    auth_jwt_user_id_claim: str = Field(
        default="sub", min_length=1, max_length=100, validation_alias="AUTH_JWT_USER_ID_CLAIM"
    )
    auth_jwt_email_claim: str = Field(
        default="email", min_length=1, max_length=100, validation_alias="AUTH_JWT_EMAIL_CLAIM"
    )
    auth_jwt_leeway_seconds: int = Field(
        default=30, ge=0, le=300, validation_alias="AUTH_JWT_LEEWAY_SECONDS"
    )
    auth_jwks_cache_seconds: int = Field(
        default=300, ge=1, le=86400, validation_alias="AUTH_JWKS_CACHE_SECONDS"
    )
    auth_jwks_refetch_seconds: float = Field(
        default=30.0, ge=0, le=3600, validation_alias="AUTH_JWKS_REFETCH_SECONDS"
    )
    # Who may create an account (doable.accounts): anyone (open), only through an invitation
    # link (invite), or nobody (closed: admins create users with the CLI). It also gates the
    # accounts an external issuer's tokens would provision.
    signup: Literal["open", "invite", "closed"] = Field(default="open", validation_alias="SIGNUP")
    invite_link_days: int = Field(default=7, ge=1, le=90, validation_alias="INVITE_LINK_DAYS")
    reset_link_minutes: int = Field(
        default=60, ge=5, le=7 * 24 * 60, validation_alias="RESET_LINK_MINUTES"
    )
    scheduler_enabled: bool = Field(default=True, validation_alias="SCHEDULER_ENABLED")
    reminder_late_seconds: int = Field(
        default=60, ge=0, le=86400, validation_alias="REMINDER_LATE_SECONDS"
    )
    feed_cache_bytes: int = Field(
        default=32 * 1024 * 1024, ge=0, validation_alias="FEED_CACHE_BYTES"
    )
    # How long a project invitation's link stays valid (projects/invitations.py).
    invitation_ttl_hours: int = Field(
        default=168, ge=1, le=24 * 90, validation_alias="INVITATION_TTL_HOURS"
    )
    # Prometheus metrics at /metrics, for this bearer token only; unset: no metrics at all.
    metrics_token: str | None = Field(default=None, validation_alias="METRICS_TOKEN", repr=False)
    # Events across processes (docs/operations.md, "Events across processes").
    # Redis pub/sub carries them when REDIS_URL is set (above); otherwise, and while Redis is
    # down, the database.
    # PostgreSQL: where LISTEN/NOTIFY connects (a session, so not through a transaction-mode
    # pooler); default DATABASE_URL.
    events_database_url: str | None = Field(
        default=None, validation_alias="EVENTS_DATABASE_URL", repr=False
    )
    # SQLite and MariaDB: how often each process polls the event_relay table.
    events_poll_ms: int = Field(default=200, ge=20, le=5000, validation_alias="EVENTS_POLL_MS")
    # Reads by access token reuse the user's row for this long (doable.auth.callers); 0: never.
    # A change made by this app is seen at once here and through the relay elsewhere; one it
    # cannot see (SQL by hand, a CLI command) within this time.
    caller_cache_seconds: float = Field(
        default=1.0, ge=0, le=60, validation_alias="CALLER_CACHE_SECONDS"
    )
    # On SIGTERM: how long in-flight requests may take to finish before they are cut off.
    shutdown_drain_seconds: int = Field(
        default=10, ge=0, le=600, validation_alias="SHUTDOWN_DRAIN_SECONDS"
    )
    # Webhooks (doable.webhooks.delivery): the worker, the SSRF guard and the retry schedule.
    webhook_worker_enabled: bool = Field(default=True, validation_alias="WEBHOOK_WORKER_ENABLED")
    webhook_allow_private_targets: bool = Field(
        default=False, validation_alias="WEBHOOK_ALLOW_PRIVATE_TARGETS"
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, validation_alias="WEBHOOK_TIMEOUT_SECONDS"
    )
    webhook_max_response_bytes: int = Field(
        default=64 * 1024, ge=1, le=16 * 1024 * 1024, validation_alias="WEBHOOK_MAX_RESPONSE_BYTES"
    )
    webhook_max_age_seconds: int = Field(
        default=86400, ge=60, le=30 * 86400, validation_alias="WEBHOOK_MAX_AGE_SECONDS"
    )
    webhook_retry_base_seconds: float = Field(
        default=10.0, gt=0, le=3600, validation_alias="WEBHOOK_RETRY_BASE_SECONDS"
    )
    webhook_poll_seconds: float = Field(
        default=1.0, gt=0, le=300, validation_alias="WEBHOOK_POLL_SECONDS"
    )
    # Web Push (doable.notify): the VAPID key pair, base64url (the private key as its raw
    # 32 bytes, the public as the 65-byte uncompressed point). Unset: a pair is made once and
    # kept in the database (table app_secrets), which every replica shares.
    vapid_public_key: str | None = Field(default=None, validation_alias="VAPID_PUBLIC_KEY")
    vapid_private_key: str | None = Field(
        default=None, validation_alias="VAPID_PRIVATE_KEY", repr=False
    )
    # Who push services may contact about this server's pushes: a mailto: or https: URL.
    vapid_subject: str = Field(
        default="mailto:doable@localhost",
        pattern=r"^(mailto:|https://)\S+$",
        max_length=200,
        validation_alias="VAPID_SUBJECT",
    )

    # Email (doable.notify.email): reminders by email where SMTP_HOST is set; unset, no email.
    smtp_host: str | None = Field(default=None, max_length=255, validation_alias="SMTP_HOST")
    smtp_port: int = Field(default=587, ge=1, le=65535, validation_alias="SMTP_PORT")
    smtp_username: str | None = Field(default=None, validation_alias="SMTP_USERNAME")
    smtp_password: str | None = Field(default=None, validation_alias="SMTP_PASSWORD", repr=False)
    smtp_from: str = Field(
        default="Doable <doable@localhost>", max_length=320, validation_alias="SMTP_FROM"
    )
    smtp_starttls: bool = Field(default=True, validation_alias="SMTP_STARTTLS")
    # The address users reach this server at, for links in emails (List-Unsubscribe).
    public_url: str = Field(
        default="http://localhost:8000",
        pattern=r"^https?://[^/\s]+$",
        validation_alias="PUBLIC_URL",
    )

    @property
    def embedded(self) -> bool:
        """Embedded in a Hugging Face Space iframe: on with SPACE_ID, unless EMBED_MODE says."""
        if self.embed_mode is not None:
            return self.embed_mode
        return bool(self.space_id)

    @field_validator(
        "database_url",
        "secret_key",
        "space_id",
        "embed_mode",
        "auth_jwks_url",
        "auth_jwt_secret",
        "auth_jwt_issuer",
        "auth_jwt_audience",
        "metrics_token",
        "redis_url",
        "events_database_url",
        "vapid_public_key",
        "vapid_private_key",
        "smtp_host",
        "smtp_username",
        "smtp_password",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("signup", mode="before")
    @classmethod
    def _signup_any_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        return value


@dataclass(frozen=True)
class DatabaseConfig:
    """A normalised database target: async driver URL plus driver connect arguments."""

    url: URL
    connect_args: dict[str, Any] = field(default_factory=dict)
    # Reached through a pooler in transaction mode (PgBouncer; DATABASE_STATEMENT_CACHE=false):
    # every statement must run inside a transaction, which pins one server connection.
    transaction_pooler: bool = False

    @property
    def backend(self) -> Literal["sqlite", "postgresql", "mysql"]:
        name = self.url.get_backend_name()
        if name == "sqlite":
            return "sqlite"
        if name == "postgresql":
            return "postgresql"
        return "mysql"

    def safe(self) -> str:
        """The URL with its password masked, fit for logs and `doable check`."""
        return self.url.render_as_string(hide_password=True)


_PG_SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
# libpq parameters asyncpg does not accept as server settings; dropped with their meaning kept
# where it matters (sslmode becomes the `ssl` connect argument).
_PG_DROPPED = {
    "sslmode",
    "channel_binding",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "gssencmode",
    "connect_timeout",
    "target_session_attrs",
    "application_name",
    "options",
}


def redact_url(value: str) -> str:
    """A URL fit for `doable check` and logs: its user, password and query values masked (a
    JWKS URL may carry credentials or a token in either)."""
    parts = urlsplit(value)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        netloc = ("***:***" if ":" in userinfo else "***") + "@" + host
    query = "&".join(
        f"{pair.partition('=')[0]}=***" if pair else "" for pair in parts.query.split("&")
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, "***" if parts.fragment else ""))


def _malformed(reason: str) -> ConfigError:
    return ConfigError(f"DATABASE_URL is malformed: {reason}")


def normalize_database_url(raw: str | None, data_dir: Path) -> DatabaseConfig:
    """Map whatever URL a user pasted onto the async driver we use, with TLS arguments.

    Never includes the raw URL (or its password) in an error message.
    """
    if raw is None:
        path = (data_dir / "doable.db").resolve()
        return DatabaseConfig(URL.create("sqlite+aiosqlite", database=str(path)))
    raw = raw.strip()
    if "://" not in raw:
        raise _malformed("expected scheme://… (postgresql://, mysql://, sqlite:///…)")
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError) as exc:
        raise _malformed("it could not be parsed") from exc
    try:
        port = url.port
    except ValueError as exc:  # pragma: no cover - make_url already validates ports
        raise _malformed("the port is not a number") from exc
    if port is not None and not 0 < port < 65536:
        raise _malformed("the port is out of range")
    backend = url.get_backend_name()
    query = dict(url.query)
    connect_args: dict[str, Any] = {}
    if backend in {"postgres", "postgresql"}:
        if not url.host and "host" not in query:
            raise _malformed("a PostgreSQL URL needs a host")
        sslmode = query.get("sslmode") or query.get("ssl")
        if isinstance(sslmode, tuple):
            sslmode = sslmode[-1]
        if sslmode is not None:
            if sslmode in {"true", "1"}:
                sslmode = "require"
            if sslmode not in _PG_SSLMODES:
                raise _malformed(f"sslmode must be one of {', '.join(sorted(_PG_SSLMODES))}")
            connect_args["ssl"] = sslmode
        for key in [*_PG_DROPPED, "ssl"]:
            query.pop(key, None)
        url = url.set(drivername="postgresql+asyncpg", query=query)
    elif backend in {"mysql", "mariadb"}:
        if not url.host and "unix_socket" not in query:
            raise _malformed("a MySQL/MariaDB URL needs a host")
        ssl_mode = (
            query.pop("ssl-mode", None) or query.pop("ssl_mode", None) or query.pop("ssl", None)
        )
        if isinstance(ssl_mode, tuple):
            ssl_mode = ssl_mode[-1]
        if ssl_mode is not None:
            mode = str(ssl_mode).lower()
            if mode in {"required", "require", "true", "1", "verify_ca", "verify_identity"}:
                ctx = ssl.create_default_context()
                if mode in {"required", "require", "true", "1"}:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                connect_args["ssl"] = ctx
            elif mode not in {"disabled", "false", "0", "preferred"}:
                raise _malformed(
                    "ssl-mode must be DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY"
                )
        query["charset"] = "utf8mb4"
        url = url.set(drivername="mysql+asyncmy", query=query)
    elif backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise _malformed("an SQLite URL needs a file path (sqlite:///path/to/doable.db)")
        url = url.set(drivername="sqlite+aiosqlite")
    else:
        raise _malformed(
            f"unsupported scheme {backend!r}; use postgresql://, mysql:// or sqlite:///"
        )
    return DatabaseConfig(url, connect_args)


def ensure_data_dir(settings: Settings) -> Path:
    """Create the data folder, falling back (loudly) when the configured one is not writable."""
    for candidate in (settings.data_dir, settings.data_dir_fallback):
        if candidate is None:
            continue
        try:
            # Private: the folder holds the database (password hashes) and the secret key.
            candidate.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK | os.X_OK):
            if candidate != settings.data_dir:
                log.warning(
                    "DATA IS NOT PERSISTENT: %s is not writable, using %s instead. "
                    "Everything stored there is lost when the container restarts. "
                    "Attach persistent storage at %s to keep your data.",
                    settings.data_dir,
                    candidate,
                    settings.data_dir,
                )
            return candidate.resolve()
    raise ConfigError(
        f"DOABLE_DATA_DIR {str(settings.data_dir)!r} is not writable "
        "and no usable fallback was given"
    )


def resolve_secret_key(settings: Settings, data_dir: Path) -> bytes:
    """Return the signing key: SECRET_KEY if given, else one generated once and kept on disk."""
    if settings.secret_key is not None:
        key = settings.secret_key.encode()
        if len(key) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"SECRET_KEY is too short: it needs at least {MIN_SECRET_BYTES} bytes "
                f"(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return key
    path = data_dir / "secret_key"
    try:
        return _read_secret_key(path)
    except FileNotFoundError:
        pass
    # Several processes may start at once on one data folder (`doable serve --workers N`,
    # replicas sharing a volume): the key is written whole to a private temporary file, then
    # linked into place, which fails if another process linked its key first. Nobody ever reads
    # a half-written key, and every process ends up with the one key that won.
    key = secrets.token_urlsafe(48).encode()
    tmp = data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_secret_key(path)
    except OSError as exc:
        raise ConfigError(f"cannot create the secret key file at {path}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    log.info("generated a new secret key at %s", path)
    return key


def _read_secret_key(path: Path) -> bytes:
    key = path.read_bytes().strip()
    if len(key) < MIN_SECRET_BYTES:
        raise ConfigError(f"the stored secret key at {path} is too short; delete it to regenerate")
    return key


@dataclass(frozen=True)
class ExternalAuthConfig:
    """A validated external JWT issuer: exactly one of `jwks_url` and `secret` is set."""

    issuer: str
    audience: str
    jwks_url: str | None
    secret: bytes | None = field(repr=False)
    user_id_claim: str
    email_claim: str
    leeway: int
    cache_seconds: int
    refetch_seconds: float


def external_auth(settings: Settings) -> ExternalAuthConfig | None:
    """The external issuer the settings describe, or None; ConfigError when they are unusable.

    AUTH_JWKS_URL and AUTH_JWT_SECRET are mutually exclusive: one issuer, one kind of key, so a
    token's header can never choose between a shared secret and a public key.
    """
    s = settings
    if s.auth_jwks_url is None and s.auth_jwt_secret is None:
        stray = [
            name
            for name, value in (
                ("AUTH_JWT_ISSUER", s.auth_jwt_issuer),
                ("AUTH_JWT_AUDIENCE", s.auth_jwt_audience),
            )
            if value is not None
        ]
        if stray:
            raise ConfigError(
                f"{' and '.join(stray)} set without AUTH_JWKS_URL or AUTH_JWT_SECRET: "
                "set one of them to accept an external issuer's tokens"
            )
        return None
    if s.auth_jwks_url is not None and s.auth_jwt_secret is not None:
        raise ConfigError(
            "AUTH_JWKS_URL and AUTH_JWT_SECRET are mutually exclusive: set only one "
            "(AUTH_JWKS_URL for EdDSA/ES256/RS256 keys, AUTH_JWT_SECRET for HS256)"
        )
    for name, value in (
        ("AUTH_JWT_ISSUER", s.auth_jwt_issuer),
        ("AUTH_JWT_AUDIENCE", s.auth_jwt_audience),
    ):
        if value is None:
            raise ConfigError(
                f"{name} is required with AUTH_JWKS_URL or AUTH_JWT_SECRET: "
                "tokens are only accepted for the expected issuer and audience"
            )
    assert s.auth_jwt_issuer is not None and s.auth_jwt_audience is not None
    if s.auth_jwt_issuer == s.jwt_issuer:
        raise ConfigError(
            "AUTH_JWT_ISSUER must differ from JWT_ISSUER: the issuer tells Doable's own access "
            "tokens from the external issuer's"
        )
    secret: bytes | None = None
    if s.auth_jwt_secret is not None:
        secret = s.auth_jwt_secret.encode()
        if len(secret) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"AUTH_JWT_SECRET is too short: it needs at least {MIN_SECRET_BYTES} bytes"
            )
    url = s.auth_jwks_url.strip() if s.auth_jwks_url is not None else None
    if url is not None:
        import httpx  # only with an external issuer: it is a tenth of a second to import

        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise ConfigError("AUTH_JWKS_URL is malformed: it could not be parsed") from None
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise ConfigError("AUTH_JWKS_URL must be an http:// or https:// URL with a host")
        if parsed.scheme == "http" and parsed.host not in {"localhost", "127.0.0.1", "::1"}:
            log.warning(
                "AUTH_JWKS_URL uses plain http to %s: anyone on the path can swap the keys; "
                "use https unless the network is private",
                parsed.host,
            )
    return ExternalAuthConfig(
        issuer=s.auth_jwt_issuer,
        audience=s.auth_jwt_audience,
        jwks_url=url,
        secret=secret,
        user_id_claim=s.auth_jwt_user_id_claim,
        email_claim=s.auth_jwt_email_claim,
        leeway=s.auth_jwt_leeway_seconds,
        cache_seconds=s.auth_jwks_cache_seconds,
        refetch_seconds=s.auth_jwks_refetch_seconds,
    )


def check_metrics_token(settings: Settings) -> None:
    """METRICS_TOKEN, when set, must be as hard to guess as SECRET_KEY."""
    token = settings.metrics_token
    if token is not None and len(token.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"METRICS_TOKEN is too short: it needs at least {MIN_SECRET_BYTES} bytes "
            f"(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )


@dataclass(frozen=True)
class RuntimeConfig:
    """Settings resolved against the machine: data folder, database target and signing key."""

    settings: Settings
    data_dir: Path
    database: DatabaseConfig
    secret_key: bytes
    # Where PostgreSQL's LISTEN connects (EVENTS_DATABASE_URL, else DATABASE_URL); None on the
    # other backends, and in tests that build a RuntimeConfig by hand (then: `database`).
    events_database: DatabaseConfig | None = None


def events_database_config(settings: Settings, database: DatabaseConfig) -> DatabaseConfig | None:
    """The target of PostgreSQL's LISTEN connection; ConfigError when EVENTS_DATABASE_URL is
    unusable or set for another backend."""
    raw = settings.events_database_url
    if database.backend != "postgresql":
        if raw is not None:
            raise ConfigError(
                "EVENTS_DATABASE_URL only applies when DATABASE_URL is PostgreSQL: "
                "the other backends carry events through a polled table"
            )
        return None
    if raw is None:
        return database
    try:
        events = normalize_database_url(raw, Path("."))
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("DATABASE_URL", "EVENTS_DATABASE_URL", 1)) from None
    if events.backend != "postgresql":
        raise ConfigError("EVENTS_DATABASE_URL must be a postgresql:// URL, as DATABASE_URL is")
    return events


def check_redis_url(settings: Settings) -> None:
    """REDIS_URL, when set, is a redis://, rediss:// or unix:// URL (ConfigError if not)."""
    raw = settings.redis_url
    if raw is None:
        return
    scheme = urlsplit(raw.strip()).scheme
    if scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError("REDIS_URL must be a redis://, rediss:// or unix:// URL")


def resolve(settings: Settings | None = None) -> RuntimeConfig:
    """Validate settings once at start; raises ConfigError with a one-line, secret-free message."""
    settings = settings or Settings()
    database = normalize_database_url(settings.database_url, settings.data_dir)
    external_auth(settings)  # refused at start, before anything is created, not on a token
    check_redis_url(settings)
    data_dir = ensure_data_dir(settings)
    if settings.database_url is None:
        database = normalize_database_url(None, data_dir)
    if not settings.database_statement_cache:
        database = without_statement_cache(database)
    check_metrics_token(settings)
    events_database = events_database_config(settings, database)
    secret_key = resolve_secret_key(settings, data_dir)  # last: it may write a file
    return RuntimeConfig(settings, data_dir, database, secret_key, events_database)


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4()}__"


def without_statement_cache(database: DatabaseConfig) -> DatabaseConfig:
    """PostgreSQL through PgBouncer in transaction mode: no prepared statement outlives its
    transaction, so neither asyncpg nor SQLAlchemy may cache one, and each gets a name no other
    client connection can have used on the same server connection (SQLAlchemy's asyncpg
    documentation, "Prepared Statement Name with PGBouncer")."""
    if database.backend != "postgresql":
        return database
    url = database.url.update_query_dict({"prepared_statement_cache_size": "0"})
    args = {
        **database.connect_args,
        "statement_cache_size": 0,
        "prepared_statement_name_func": _unique_statement_name,
    }
    return DatabaseConfig(url, args, transaction_pooler=True)
