"""Account logic: signup, login, token rotation, password changes, API tokens. Never commits."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession

from doable import events
from doable.admission import slot_given_back
from doable.auth.callers import CallerCache
from doable.auth.external import ExternalClaims
from doable.auth.models import ApiToken, ExternalIdentity, RefreshToken, User, WebSession
from doable.auth.schemas import MePatch, SignupIn, TokenCreate, TokenPair, UserOut
from doable.auth.security import (
    ALL_SCOPES,
    API_TOKEN_HINT_CHARS,
    API_TOKEN_PREFIX,
    UNUSABLE_PASSWORD,
    AccessClaims,
    hash_token,
    new_api_token,
    new_refresh_token,
)
from doable.db import end_read_transaction, has_written, new_id, touch_at_most_every, utcnow
from doable.errors import Conflict, DoableError, Forbidden, NotFound, Unauthorized
from doable.events import Credential
from doable.feeds import service as feeds_service
from doable.idempotency import service as idempotency_service
from doable.notify import service as notify_service
from doable.projects import members as members_service
from doable.projects import service as projects_service
from doable.state import AppState
from doable.tasks import service as tasks_service
from doable.webhooks import service as webhooks_service
from doable.zones import zone_of

# No account has this id: what an unknown email is looked up as.
NOBODY = uuid.UUID(int=0)


class InvalidCredentials(Unauthorized):
    def __init__(self) -> None:
        super().__init__("Email or password is incorrect")


class RefreshTokenReused(Unauthorized):
    # The family revocation must be committed even though the request fails.
    commit_session = True

    def __init__(self) -> None:
        super().__init__("This refresh token was already used; sign in again")


class WrongPassword(Forbidden):
    def __init__(self) -> None:
        DoableError.__init__(self, "The password is incorrect")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def while_hashing(session: AsyncSession) -> AbstractAsyncContextManager[None]:
    """Around a password hash (about 150 ms in the hashing threads): when the session holds no
    connection meanwhile, the request's admission slot serves other requests for that time."""
    return nullcontext() if session.in_transaction() else slot_given_back()


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == normalize_email(email)))
    return result.scalar_one_or_none()


async def create_user(
    session: AsyncSession,
    state: AppState,
    *,
    email: str,
    password: str,
    name: str = "",
    timezone: str = "UTC",
) -> User:
    email = normalize_email(email)
    # Hashed before the first query, so no transaction (and no SQLite write lock) waits on it.
    async with while_hashing(session):
        password_hash = await state.hasher.hash(password)
    if await get_by_email(session, email) is not None:
        raise Conflict("An account with this email already exists")
    user = User(email=email, name=name, timezone=timezone, password_hash=password_hash)
    session.add(user)
    await session.flush()
    await projects_service.create_inbox(session, user.id)
    return user


async def signup(session: AsyncSession, state: AppState, data: SignupIn) -> TokenPair:
    user = await create_user(
        session,
        state,
        email=data.email,
        password=data.password,
        name=data.name,
        timezone=data.timezone,
    )
    return await issue_pair(session, state, user)


async def authenticate(session: AsyncSession, state: AppState, email: str, password: str) -> User:
    """Check a password; an unknown email costs the same time and gives the same error.
    RateLimited, before any hashing, past the account's limit or while another check of the
    same account is under way."""
    async with state.rate_limiter.password_check(normalize_email(email)):
        user = await get_by_email(session, email)
        user_id, stored = (user.id, user.password_hash) if user else (None, None)
        # Verifying takes a hash's time: hold no lock meanwhile.
        await end_read_transaction(session)
        async with while_hashing(session):
            valid, new_hash = await state.hasher.verify(password, stored)
    # Read again either way (an unknown email reads nobody), so both cost the same.
    user = await session.get(User, user_id or NOBODY)
    # Refused too if the password changed while this one was being checked. A disabled
    # account gets the same answer as a wrong password, and only after the same hash's time.
    if user is None or not valid or user.password_hash != stored or user.disabled_at:
        raise InvalidCredentials()
    if new_hash is not None:  # hash parameters changed since it was stored
        user.password_hash = new_hash
        await session.flush()
    return user


async def issue_pair(
    session: AsyncSession, state: AppState, user: User, *, family_id: uuid.UUID | None = None
) -> TokenPair:
    now = utcnow()
    refresh = new_refresh_token()
    family_id = family_id or uuid.uuid4()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_token(refresh),
            created_at=now,
            expires_at=now + timedelta(days=state.runtime.settings.refresh_token_days),
        )
    )
    await session.flush()
    return TokenPair(
        access_token=state.signer.issue(user.id, user.token_version, now, family_id),
        refresh_token=refresh,
        expires_in=int(state.signer.lifetime.total_seconds()),
        user=UserOut.model_validate(user),
    )


async def rotate_refresh(session: AsyncSession, state: AppState, token: str) -> TokenPair:
    """Exchange a refresh token for a new pair; reuse of a rotated one revokes its family."""
    now = utcnow()
    row = (
        await session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == hash_token(token))
        )
    ).scalar_one_or_none()
    if row is None or row.expires_at <= now:
        raise Unauthorized("The refresh token is invalid or expired")
    # Claim it atomically: of two concurrent refreshes only one sees rowcount 1.
    claimed = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        events.credentials_revoked(session, row.user_id, "access_token", row.family_id)
        raise RefreshTokenReused()
    user = await session.get(User, row.user_id)
    if user is None:  # pragma: no cover - cascade deletes tokens with their user
        raise Unauthorized("The refresh token is invalid or expired")
    return await issue_pair(session, state, user, family_id=row.family_id)


async def revoke_refresh(session: AsyncSession, token: str) -> None:
    """Sign out: revoke the refresh token. Access tokens issued with it keep working until they
    expire (they are not looked up), but event streams opened with them end now."""
    row = (
        await session.execute(
            select(RefreshToken.id, RefreshToken.user_id, RefreshToken.family_id).where(
                RefreshToken.token_hash == hash_token(token), RefreshToken.revoked_at.is_(None)
            )
        )
    ).one_or_none()
    if row is None:
        return
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    events.credentials_revoked(session, row.user_id, "access_token", row.family_id)


_USER_BY_ID = select(User).where(User.id == bindparam("user_id"))


async def user_for_access(
    session: AsyncSession, claims: AccessClaims, callers: CallerCache | None = None
) -> User:
    """The user an access token names, if the token is still good (else `Unauthorized`).
    With `callers` (reads only), a row read lately may stand in for reading it again."""
    user = None
    if callers is not None:
        user = callers.get(session.sync_session, claims.user_id)
        if user is not None and not _accepts(user, claims):
            # Maybe older than the token (a new password or sign-in on another process whose
            # event is still on its way): the table has the last word.
            session.sync_session.expunge(user)
            callers.forget(claims.user_id)
            user = None
    if user is None:
        generation = callers.generation if callers is not None else 0
        user = (await session.execute(_USER_BY_ID, {"user_id": claims.user_id})).scalar()
        if user is not None and callers is not None:
            callers.remember(user, generation)
    if user is None or not _accepts(user, claims):
        raise Unauthorized("The access token is no longer valid")
    return user


def _accepts(user: User, claims: AccessClaims) -> bool:
    return user.token_version == claims.token_version and not user.disabled_at


async def update_profile(
    session: AsyncSession, user: User, data: MePatch, *, now: datetime | None = None
) -> User:
    """Change the name or time zone (`now`: when, for what follows the zone; default the
    clock)."""
    if data.name is not None:
        user.name = data.name
    if data.timezone is not None and data.timezone != user.timezone:
        user.timezone = data.timezone
        # The daily agenda is at a local time: its next instant moves with the zone.
        await notify_service.rezone_agenda(
            session, user.id, zone_of(user.timezone), now=now or utcnow()
        )
    await session.flush()
    return user


async def set_password(
    session: AsyncSession, state: AppState, user: User, new_password: str
) -> None:
    """Store a new password and invalidate every token and browser session issued before now."""
    async with while_hashing(session):
        new_hash = await state.hasher.hash(new_password)
    user.password_hash = new_hash
    await sign_out_everywhere(session, user)


async def check_current_password(
    session: AsyncSession, state: AppState, user: User, password: str
) -> None:
    """WrongPassword unless `password` is the user's. Limited like login, and counted in the
    same per-account budget: RateLimited before any hashing when over it.

    When the transaction has only read so far (who is asking), it ends before the hash: on
    SQLite it would hold the database-wide write lock, so every writer, an honest login
    included, would wait behind each guess; `user` is read again afterwards. When it has
    written (an Idempotency-Key's claim, a browser session's "last seen"), the hash runs inside
    it, which the one-check-per-account rule bounds.
    """
    async with state.rate_limiter.password_check(user.email):
        stored = user.password_hash
        ended = not has_written(session)
        if ended:
            await end_read_transaction(session)
        async with while_hashing(session):
            valid, _ = await state.hasher.verify(password, stored)
    if ended:
        try:
            await session.refresh(user)
        except InvalidRequestError:  # deleted meanwhile
            raise Unauthorized("The account no longer exists") from None
    # Refused too if the password changed while this one was being checked.
    if not valid or user.password_hash != stored:
        raise WrongPassword()


async def change_password(
    session: AsyncSession, state: AppState, user: User, current: str, new: str
) -> None:
    await check_current_password(session, state, user, current)
    await set_password(session, state, user, new)


async def delete_account(session: AsyncSession, state: AppState, user: User, password: str) -> None:
    await check_current_password(session, state, user, password)
    await delete_user(session, user.id)


async def delete_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    events.credentials_revoked(session, user_id)
    # Shared projects first pass to a member (SECURITY.md, "Deleting an account").
    await members_service.hand_over_before_deletion(session, user_id)
    # Children first, so this works even where a backend ignores ON DELETE CASCADE.
    await tasks_service.delete_all_for_owner(session, user_id)
    await idempotency_service.delete_for_user(session, user_id)
    await feeds_service.delete_for_owner(session, user_id)
    await webhooks_service.delete_for_owner(session, user_id)
    await session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
    await session.execute(delete(ExternalIdentity).where(ExternalIdentity.user_id == user_id))
    await session.execute(delete(RefreshToken).where(RefreshToken.user_id == user_id))
    await session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    await session.execute(delete(User).where(User.id == user_id))


async def list_users(session: AsyncSession) -> list[User]:
    return list((await session.execute(select(User).order_by(User.created_at))).scalars())


# Browser sessions: the cookie carries a random token; only its SHA-256 is stored.

SESSION_TOUCH_INTERVAL = timedelta(minutes=5)


async def create_web_session(
    session: AsyncSession, state: AppState, user: User, *, user_agent: str, ip: str
) -> str:
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebSession(
            user_id=user.id,
            token_hash=hash_token(raw),
            user_agent=user_agent[:200],
            ip=ip[:64],
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(days=state.runtime.settings.session_days),
        )
    )
    await session.flush()
    return raw


async def user_for_web_session(session: AsyncSession, raw: str) -> tuple[User, WebSession] | None:
    """The live session for a cookie value, and its user; sliding expiry, touched at most
    every few minutes so reads stay reads."""
    params = {"token_hash": hash_token(raw), "now": utcnow()}
    row = (await session.execute(_LIVE_WEB_SESSION, params)).one_or_none()
    if row is None:
        return None
    web_session, user = row
    return user, web_session


# Built once (every web page asks): building it cost more than running it.
_LIVE_WEB_SESSION = (
    select(WebSession, User)
    .join(User, User.id == WebSession.user_id)
    .where(
        WebSession.token_hash == bindparam("token_hash"),
        WebSession.revoked_at.is_(None),
        WebSession.expires_at > bindparam("now"),
        User.disabled_at.is_(None),
    )
)


async def touch_web_session(
    session: AsyncSession, state: AppState, web_session: WebSession
) -> None:
    now = utcnow()
    if now - web_session.last_seen_at < SESSION_TOUCH_INTERVAL:
        return
    await session.execute(
        update(WebSession)
        .where(WebSession.id == web_session.id)
        .values(
            last_seen_at=now,
            expires_at=now + timedelta(days=state.runtime.settings.session_days),
        )
        .execution_options(synchronize_session=False)
    )


async def list_web_sessions(session: AsyncSession, user_id: uuid.UUID) -> list[WebSession]:
    stmt = (
        select(WebSession)
        .where(
            WebSession.user_id == user_id,
            WebSession.revoked_at.is_(None),
            WebSession.expires_at > utcnow(),
        )
        .order_by(WebSession.last_seen_at.desc())
    )
    return list((await session.execute(stmt)).scalars())


async def revoke_web_session(
    session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID
) -> bool:
    """Revoke one of the user's own sessions; another user's id changes nothing."""
    result = await session.execute(
        update(WebSession)
        .where(
            WebSession.id == session_id,
            WebSession.user_id == user_id,
            WebSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    events.credentials_revoked(session, user_id, "web_session", session_id)
    return True


async def revoke_web_session_token(session: AsyncSession, raw: str) -> None:
    """Sign this browser out (the cookie's session)."""
    row = (
        await session.execute(
            select(WebSession.id, WebSession.user_id).where(
                WebSession.token_hash == hash_token(raw), WebSession.revoked_at.is_(None)
            )
        )
    ).one_or_none()
    if row is not None:
        await revoke_web_session(session, row.user_id, row.id)


async def sign_out_everywhere(session: AsyncSession, user: User) -> None:
    """Revoke every browser session, refresh token, access token, API token and calendar feed
    of the user, and end the event streams opened with them."""
    now = utcnow()
    user.token_version += 1
    events.credentials_revoked(session, user.id)
    for model in (WebSession, RefreshToken, ApiToken):
        await session.execute(
            update(model)
            .where(model.user_id == user.id, model.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
    # A feed URL is a standing read credential too: one minted with a stolen token must die.
    await feeds_service.revoke_all_for_owner(session, user.id)
    await session.flush()


# Who is calling: a login's access token (every scope) or a personal API token (its scopes).

# "external": a token from the external issuer (AUTH_JWKS_URL / AUTH_JWT_SECRET). It carries
# every task scope like an access token, but is no password sign-in: it cannot manage tokens,
# the password, the email or the account's existence (see dependencies.session_user).
PrincipalKind = Literal["access_token", "api_token", "external"]
API_TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    user: User
    kind: PrincipalKind
    scopes: frozenset[str]
    token_id: uuid.UUID | None = None
    # For "external": the issuer's id for the user (the token's user-id claim).
    external_subject: str | None = None
    # What it signed in with, for an event stream to end when that is revoked.
    credential: Credential | None = None


class ApiTokenNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No API token with this id")


async def principal_for_access(
    session: AsyncSession, claims: AccessClaims, callers: CallerCache | None = None
) -> Principal:
    credential = Credential(
        "access_token", claims.family_id, claims.token_version, claims.expires_at
    )
    user = await user_for_access(session, claims, callers)
    return Principal(user, "access_token", ALL_SCOPES, credential=credential)


async def principal_for_api_token(
    session: AsyncSession, raw: str, *, now: datetime
) -> tuple[Principal, ApiToken]:
    row = (
        await session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == hash_token(raw))
        )
    ).one_or_none()
    if row is None:
        raise Unauthorized("The API token is invalid")
    token, user = row
    if token.revoked_at is not None or user.disabled_at is not None:
        raise Unauthorized("The API token was revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthorized("The API token has expired")
    scopes = frozenset(token.scopes.split()) & ALL_SCOPES
    expires_at = token.expires_at.timestamp() if token.expires_at is not None else None
    credential = Credential("api_token", token.id, expires_at=expires_at)
    return Principal(user, "api_token", scopes, token.id, credential=credential), token


def needs_touch(token: ApiToken, now: datetime) -> bool:
    return token.last_used_at is None or now - token.last_used_at >= API_TOKEN_TOUCH_INTERVAL


async def touch_api_token(session: AsyncSession, token_id: uuid.UUID, now: datetime) -> None:
    """Record use, at most once a minute: of concurrent requests only one row update lands."""
    await touch_at_most_every(
        session, ApiToken.last_used_at, token_id, now, API_TOKEN_TOUCH_INTERVAL
    )


async def create_api_token(
    session: AsyncSession, user: User, data: TokenCreate
) -> tuple[ApiToken, str]:
    """Make a token; the raw value is returned once and only its SHA-256 is stored."""
    raw = new_api_token()
    token = ApiToken(
        user_id=user.id,
        name=data.name,
        token_hash=hash_token(raw),
        hint=raw[: len(API_TOKEN_PREFIX) + API_TOKEN_HINT_CHARS],
        scopes=" ".join(sorted(set(data.scopes))),
        created_at=utcnow(),
        expires_at=data.expires_at,
    )
    session.add(token)
    await session.flush()
    return token, raw


async def list_api_tokens(session: AsyncSession, user_id: uuid.UUID) -> list[ApiToken]:
    """The user's tokens that are not revoked, expired ones included, newest first."""
    stmt = (
        select(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.created_at.desc(), ApiToken.id)
    )
    return list((await session.execute(stmt)).scalars())


async def revoke_api_token(session: AsyncSession, user_id: uuid.UUID, token_id: uuid.UUID) -> None:
    """Revoke one of the user's own tokens; another user's id is simply not found."""
    result = await session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            ApiToken.user_id == user_id,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise ApiTokenNotFound()
    events.credentials_revoked(session, user_id, "api_token", token_id)


# Users of an external issuer: found by (issuer, subject), provisioned on their first token.

EMAIL_PLACEHOLDER_DOMAIN = "external.invalid"


async def user_for_external(session: AsyncSession, claims: ExternalClaims) -> User | None:
    stmt = (
        select(User)
        .join(ExternalIdentity, ExternalIdentity.user_id == User.id)
        .where(
            ExternalIdentity.issuer == claims.issuer,
            ExternalIdentity.subject == claims.subject,
        )
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def _plausible_email(value: str | None) -> str | None:
    if value is None:
        return None
    email = normalize_email(value)
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 254 or not email.isprintable():
        return None
    if any(c.isspace() for c in email) or email.count("@") != 1:
        return None
    return email


async def provision_external(
    session: AsyncSession, claims: ExternalClaims, *, use_claimed_email: bool = True
) -> uuid.UUID:
    """The user linked to (issuer, subject), created with its identity when there is none.

    The claimed email is kept only when no account has it: an external token never takes over
    a local account by matching its email. Otherwise (or with no email claim) the account gets
    a unique placeholder address. The account has no usable password. Flushes, never commits;
    a concurrent first sign-in surfaces as IntegrityError on flush or commit, and the caller
    retries (then finds the identity the other request made).
    """
    existing = await session.scalar(
        select(ExternalIdentity.user_id).where(
            ExternalIdentity.issuer == claims.issuer,
            ExternalIdentity.subject == claims.subject,
        )
    )
    if existing is not None:
        return existing
    user_id = new_id()
    email = _plausible_email(claims.email) if use_claimed_email else None
    if email is not None and await get_by_email(session, email) is not None:
        email = None
    if email is None:
        email = f"{user_id.hex}@{EMAIL_PLACEHOLDER_DOMAIN}"
    user = User(id=user_id, email=email, name=claims.name, password_hash=UNUSABLE_PASSWORD)
    session.add(user)
    await session.flush()
    await projects_service.create_inbox(session, user_id)
    session.add(ExternalIdentity(user_id=user_id, issuer=claims.issuer, subject=claims.subject))
    await session.flush()
    return user_id


def principal_for_external(user: User, claims: ExternalClaims) -> Principal:
    return Principal(
        user,
        "external",
        ALL_SCOPES,
        external_subject=claims.subject,
        credential=Credential("external"),
    )


async def dead_credentials(
    session: AsyncSession, held: Sequence[tuple[uuid.UUID, Credential | None]]
) -> set[int]:
    """Which of the (user, credential) pairs that event streams were opened with no longer
    stand: the streams' periodic check, which also catches revocations made by another
    process. Set-based, so that one look serves every stream of a process: a read per kind of
    credential, not one per stream. Returns the indexes into `held`."""
    now = utcnow()
    users = {user_id for user_id, _ in held}

    def ids(kind: str) -> set[uuid.UUID]:
        return {c.id for _, c in held if c is not None and c.kind == kind and c.id is not None}

    async def pairs(stmt: Any) -> set[tuple[Any, Any]]:
        return {(a, b) for a, b in (await session.execute(stmt)).all()}

    accounts = {
        user_id: (version, disabled_at)
        for user_id, version, disabled_at in (
            await session.execute(
                select(User.id, User.token_version, User.disabled_at).where(User.id.in_(users))
            )
        ).all()
    }
    sessions = ids("web_session")
    web = (
        await pairs(
            select(WebSession.id, WebSession.user_id).where(
                WebSession.id.in_(sessions),
                WebSession.revoked_at.is_(None),
                WebSession.expires_at > now,
            )
        )
        if sessions
        else set()
    )
    tokens = ids("api_token")
    api = (
        await pairs(
            select(ApiToken.id, ApiToken.user_id).where(
                ApiToken.id.in_(tokens), ApiToken.revoked_at.is_(None)
            )
        )
        if tokens
        else set()
    )
    families = ids("access_token")
    # Signed out: no live refresh token is left in the family.
    signed_in = (
        await pairs(
            select(RefreshToken.family_id, RefreshToken.user_id)
            .where(RefreshToken.family_id.in_(families), RefreshToken.revoked_at.is_(None))
            .distinct()
        )
        if families
        else set()
    )
    dead: set[int] = set()
    for n, (user_id, c) in enumerate(held):
        if c is None:
            continue
        expired = c.expires_at is not None and now.timestamp() >= c.expires_at
        if user_id not in accounts or expired:
            live = False
        elif c.kind == "web_session":
            live = (c.id, user_id) in web
        elif c.kind == "api_token":
            live = (c.id, user_id) in api
        elif c.kind == "access_token":
            live = accounts[user_id][0] == c.token_version and (
                c.id is None or (c.id, user_id) in signed_in
            )
        else:
            live = accounts[user_id][1] is None
        if not live:
            dead.add(n)
    return dead
