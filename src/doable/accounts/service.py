"""Who may sign up, admins (list, disable, enable, name), invitations and password-reset
links. Never commits."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from doable.accounts import links
from doable.accounts.links import LinkExpired, LinkInvalid
from doable.auth import service as auth_service
from doable.auth.models import User
from doable.auth.schemas import SignupIn, TokenPair
from doable.config import Settings
from doable.db import Database, count_locked, lock_row
from doable.errors import Conflict, DoableError, Forbidden, NotFound
from doable.notify.email import Message
from doable.state import AppState

RESET_PATH = "/reset-password/"
INVITE_PATH = "/invite/"


class SignupClosed(Forbidden):
    slug = "signup-closed"

    def __init__(self) -> None:
        DoableError.__init__(
            self, "Sign-up is closed on this server; an admin can create your account"
        )


class ProvisioningClosed(Forbidden):
    slug = "signup-closed"

    def __init__(self) -> None:
        DoableError.__init__(
            self,
            "Sign-up is not open on this server, so a first sign-in from the external "
            "provider cannot create an account; ask an admin",
        )


class InvitationRequired(Forbidden):
    slug = "invitation-required"

    def __init__(self) -> None:
        DoableError.__init__(
            self, "Sign-up on this server needs an invitation link; ask an admin for one"
        )


class InvitationForAnotherEmail(Forbidden):
    slug = "invitation-email-mismatch"

    def __init__(self) -> None:
        DoableError.__init__(
            self, "This invitation is for another email address; sign up with the invited one"
        )


class AdminRequired(Forbidden):
    slug = "admin-required"

    def __init__(self) -> None:
        DoableError.__init__(self, "Only an admin may do this")


class LastAdmin(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "This is the last enabled admin: name another admin first "
            "(doable users set-admin EMAIL)"
        )


class UserNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No account with this id")


# Who may sign up


@dataclass(frozen=True)
class Admission:
    """A verified invitation that lets `email` sign up while SIGNUP=invite.

    `source` says which kind of link made it: an admin's sign-up invitation, or a project
    invitation (issue 16), whose own verification builds one of these.
    """

    email: str  # normalised (auth.service.normalize_email)
    source: Literal["signup_invitation", "project_invitation"] = "signup_invitation"


def signup_allowed(settings: Settings, admission: Admission | None, email: str) -> None:
    """Raise unless an account for `email` may be created by signing up (web, API, or an
    external issuer's first token); return None when it may.

    - SIGNUP=open: anyone.
    - SIGNUP=invite: only with an `admission` bound to this very email. An admin's sign-up
      invitation admits (`read_invitation`), and a valid project invitation also admits: its
      code verifies its own link, then passes `Admission(email, "project_invitation")` here.
    - SIGNUP=closed: nobody (SignupClosed), invitation or not; admins use the CLI.

    InvitationRequired without an admission, InvitationForAnotherEmail when it names
    another email. The CLI (`doable users create`) does not ask: admins may always.
    """
    if settings.signup == "open":
        return
    if settings.signup == "closed":
        raise SignupClosed()
    if admission is None:
        raise InvitationRequired()
    if admission.email != auth_service.normalize_email(email):
        raise InvitationForAnotherEmail()


def provisioning_allowed(settings: Settings) -> None:
    """Whether an external issuer's token may create an account for a subject not seen before:
    only when SIGNUP=open (it carries no invitation). Forbidden with a clear detail if not."""
    if settings.signup != "open":
        raise ProvisioningClosed()


def make_invitation(state: AppState, email: str, base_url: str) -> tuple[str, str, datetime]:
    """An invitation link for `email`: (normalised email, URL, expiry). Nothing is stored."""
    email = auth_service.normalize_email(email)
    ttl = timedelta(days=state.runtime.settings.invite_link_days)
    token, expires = links.make(
        state.runtime.secret_key, "invite", {"email": email}, now=state.clock(), ttl=ttl
    )
    return email, base_url.rstrip("/") + INVITE_PATH + token, expires


async def invite(
    session: AsyncSession, state: AppState, email: str, base_url: str
) -> tuple[str, str, datetime]:
    """An admin's invitation for an email that has no account yet (Conflict if it has)."""
    if await auth_service.get_by_email(session, email) is not None:
        raise Conflict("An account with this email already exists")
    return make_invitation(state, email, base_url)


async def read_invitation(session: AsyncSession, state: AppState, token: str) -> Admission:
    """The admission an invitation link gives; LinkInvalid when forged, LinkExpired when
    expired or already used (an account with its email exists: single use, statelessly)."""
    claims = links.read(state.runtime.secret_key, "invite", token, now=state.clock())
    email = claims.get("email")
    if not isinstance(email, str) or not email:
        raise LinkInvalid()
    if await auth_service.get_by_email(session, email) is not None:
        raise LinkExpired("This invitation was already used; log in instead")
    return Admission(email)


async def signup(
    session: AsyncSession,
    state: AppState,
    data: SignupIn,
    invitation: str | None,
    *,
    admission: Admission | None = None,
) -> TokenPair:
    """Sign up as SIGNUP allows: `invitation` is the token of an invitation link, if any;
    `admission` one the caller verified itself (see `admit`)."""
    await admit(session, state, data.email, invitation, admission=admission)
    return await auth_service.signup(session, state, data)


async def admit(
    session: AsyncSession,
    state: AppState,
    email: str,
    invitation: str | None,
    *,
    admission: Admission | None = None,
) -> Admission | None:
    """Check that `email` may sign up now (else raise), and return what admitted it.

    `invitation` is an admin's sign-up invitation token, read here (a bad one is refused even
    while sign-up is open, so a broken link never passes silently). `admission` is one the
    caller already verified: a project invitation's code checks its own link, then passes
    `Admission(email, "project_invitation")`, which also admits under SIGNUP=invite."""
    settings = state.runtime.settings
    if settings.signup == "closed":
        raise SignupClosed()
    if admission is None and invitation:
        admission = await read_invitation(session, state, invitation)
    signup_allowed(settings, admission, email)
    if admission is not None and admission.email != auth_service.normalize_email(email):
        raise InvitationForAnotherEmail()
    return admission


# Password reset by a one-time link


def _reset_binding(state: AppState, user: User) -> str:
    """What a reset link is bound to: any password change (the reset itself included) or
    sign-out everywhere changes it, and so ends every link made before."""
    return links.digest(
        state.runtime.secret_key, str(user.id), user.password_hash, str(user.token_version)
    )


def make_reset_link(state: AppState, user: User, base_url: str) -> tuple[str, datetime]:
    """A one-time password-reset link for `user` and its expiry (RESET_LINK_MINUTES).

    For an admin (API, web page, `doable users reset-link`) and for the reset email (where
    SMTP is set). `base_url` must be the server's configured public address, never a request's
    Host header when the link goes to someone else by email."""
    ttl = timedelta(minutes=state.runtime.settings.reset_link_minutes)
    token, expires = links.make(
        state.runtime.secret_key,
        "reset",
        {"sub": str(user.id), "bind": _reset_binding(state, user)},
        now=state.clock(),
        ttl=ttl,
    )
    return base_url.rstrip("/") + RESET_PATH + token, expires


async def user_for_reset(session: AsyncSession, state: AppState, token: str) -> User:
    """The account a reset link may set the password of; LinkInvalid or LinkExpired if none."""
    claims = links.read(state.runtime.secret_key, "reset", token, now=state.clock())
    try:
        user_id = uuid.UUID(str(claims.get("sub")))
    except ValueError:
        raise LinkInvalid() from None
    user = await session.get(User, user_id)
    if user is None:
        raise LinkInvalid()
    if user.disabled_at is not None or claims.get("bind") != _reset_binding(state, user):
        raise LinkExpired("This link was already used, or the password changed since it was made")
    return user


async def reset_password(
    session: AsyncSession, state: AppState, token: str, new_password: str
) -> User:
    """Set the password through a reset link. It counts as a password change: every session,
    token and feed is revoked (auth.service.sign_out_everywhere, as set_password does)."""
    user = await user_for_reset(session, state, token)
    binding = _reset_binding(state, user)
    # Hashed outside any lock; then the row is locked and the link checked again, so of two
    # uses at once only one sets the password (the other finds the binding changed).
    new_hash = await state.hasher.hash(new_password)
    await lock_row(session, User.id, user.id)
    await session.refresh(user)
    if user.disabled_at is not None or _reset_binding(state, user) != binding:
        raise LinkExpired("This link was already used, or the password changed since it was made")
    user.password_hash = new_hash
    await auth_service.sign_out_everywhere(session, user)
    return user


async def request_password_reset(state: AppState, database: Database, email: str) -> None:
    """`POST /auth/password-reset` and the web form: where SMTP is set, mail a reset link to
    an enabled account with this email. The request only counts the address (at most
    RESET_MAILS_PER_HOUR emails each) and enqueues a job, whether an account exists or not;
    the lookup and the sending run on the mailer's task, so neither the answer nor its time
    tells whether the email has an account. Without SMTP nothing is sent: admins make links
    (API, web, `doable users reset-link`)."""
    from doable.notify import email as mail

    if not state.runtime.settings.smtp_host:
        return
    address = auth_service.normalize_email(email)
    rate = f"{mail.RESET_MAILS_PER_HOUR}/hour"
    if not await state.rate_limiter.allow(rate, f"reset-mail:{address}"):
        return
    state.mailer.enqueue(functools.partial(_reset_message, state, database, address))


async def _reset_message(state: AppState, database: Database, address: str) -> Message | None:
    """The reset email for `address`, or None when no enabled account has it. Its link points
    at PUBLIC_URL, never at the Host header of the request that asked."""
    async with database.read_sessions() as session:
        user = await auth_service.get_by_email(session, address)
        if user is None or user.disabled_at is not None:
            return None
        url, _ = make_reset_link(state, user, state.runtime.settings.public_url)
    minutes = state.runtime.settings.reset_link_minutes
    return Message(
        to=user.email,
        subject="Reset your Doable password",
        text=(
            "Someone (we hope you) asked to reset the password of your Doable account.\n\n"
            f"Choose a new password here, within {minutes} minutes:\n{url}\n\n"
            "The link works once. Setting a password signs the account out everywhere.\n"
            "If you did not ask, ignore this email: your password stays as it is.\n"
        ),
    )


# Admins


async def get_user(session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False) -> User:
    stmt = select(User).where(User.id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    user = (await session.execute(stmt)).scalar_one_or_none()
    if user is None:
        raise UserNotFound()
    return user


async def list_users(session: AsyncSession, *, after: str | None, limit: int) -> list[User]:
    """Every account by email (unique, so a keyset of its own), `limit` after `after`."""
    stmt = select(User).order_by(User.email).limit(limit)
    if after is not None:
        stmt = stmt.where(User.email > after)
    return list((await session.execute(stmt)).scalars())


async def _check_not_last_admin(session: AsyncSession, user: User) -> None:
    """Conflict when `user` is the only enabled admin. Counted with a locking read, so two
    admins disabling each other at once cannot both succeed."""
    if not user.is_admin or user.disabled_at is not None:
        return
    enabled_admins = select(User.id).where(User.is_admin.is_(True), User.disabled_at.is_(None))
    if await count_locked(session, enabled_admins) <= 1:
        raise LastAdmin()


async def disable_user(session: AsyncSession, state: AppState, user: User) -> User:
    """Disable an account: it cannot sign in, and its sessions, tokens and feeds are revoked
    now. Refused (409) for the last enabled admin."""
    if user.disabled_at is not None:
        return user
    await _check_not_last_admin(session, user)
    user.disabled_at = state.clock()
    await auth_service.sign_out_everywhere(session, user)
    return user


async def enable_user(session: AsyncSession, user: User) -> User:
    """Let a disabled account sign in again (with its password; what was revoked stays so)."""
    user.disabled_at = None
    await session.flush()
    return user


async def set_admin(session: AsyncSession, user: User, is_admin: bool) -> User:
    """Name or unname an admin; unnaming the last enabled admin is refused (409)."""
    if not is_admin:
        await _check_not_last_admin(session, user)
    user.is_admin = is_admin
    await session.flush()
    return user
