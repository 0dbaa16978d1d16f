"""Invitations to a project: signed, single-use, expiring links bound to one email. Never commits.

An admin or the owner invites an email in a role. The answer is the same whether the email
has an account or not (nothing here reads whether it does), so invitations cannot find out
who is signed up. The link is `<id>.<mac>`: the row's id and an HMAC-SHA256 of the id and the
invited email under the app's secret, so a link cannot be forged or pointed at another
address. The row makes it single use (`state` leaves `pending` once, by one conditional
UPDATE) and expiring (`expires_at`, INVITATION_TTL_HOURS after it was made).

Someone with an account under that email sees the invitation in the app (`for_user`) and
accepts or declines it there; anyone else follows the link through sign-up. Emails are not
verified, so the binding is to the address typed at sign-up (SECURITY.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from doable.auth.models import User
from doable.db import count_locked
from doable.errors import Conflict, DoableError, Forbidden, NotFound
from doable.notify import email as mail
from doable.projects import members
from doable.projects.access import Role
from doable.projects.models import Project, ProjectInvitation, ProjectMember

if TYPE_CHECKING:
    from doable.config import Settings

# Characters of the link's MAC (18 bytes of HMAC-SHA256, base64url).
_MAC_BYTES = 18
# Pending, unexpired invitations one project may hold: one project cannot fill the table.
MAX_PENDING = 100


class State(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REVOKED = "revoked"


class InvitationNotFound(NotFound):
    """A link that is malformed, forged or unknown, or someone else's invitation."""

    def __init__(self) -> None:
        super().__init__("This invitation link is not valid")


class InvitationGone(DoableError):
    status, title, slug = 410, "Gone", "invitation-gone"

    def __init__(self, why: str) -> None:
        super().__init__(f"This invitation {why}; ask for a new one")


class WrongInvitee(Forbidden):
    def __init__(self) -> None:
        DoableError.__init__(
            self,
            "This invitation was made for another email address; sign in with that address"
            " (or sign up with it) to accept it",
        )


class InvitingYourself(Conflict):
    def __init__(self) -> None:
        super().__init__("You cannot invite yourself")


class TooManyPending(Conflict):
    def __init__(self) -> None:
        super().__init__(
            f"This project has {MAX_PENDING} invitations waiting; revoke some to invite more"
        )


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _mac(key: bytes, invitation_id: uuid.UUID, email: str) -> str:
    signed = b"invitation:" + invitation_id.hex.encode() + b":" + email.encode()
    digest = hmac.new(key, signed, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode()


def token_for(key: bytes, invitation: ProjectInvitation) -> str:
    """The invitation's link token (the same every time: an admin can copy it again)."""
    return f"{invitation.id.hex}.{_mac(key, invitation.id, invitation.email)}"


async def by_token(session: AsyncSession, key: bytes, token: str) -> ProjectInvitation:
    """The invitation a link names, whatever its state; 404 for a malformed or forged one."""
    head, _, mac = token.partition(".")
    try:
        invitation_id = uuid.UUID(hex=head) if len(head) == 32 else None
    except ValueError:
        invitation_id = None
    if invitation_id is None or not mac:
        raise InvitationNotFound()
    invitation = await session.get(ProjectInvitation, invitation_id)
    # Compared even when no row was found, so a forged id costs what a forged MAC does.
    expected = _mac(key, invitation_id, invitation.email if invitation else "")
    if not hmac.compare_digest(mac.encode(), expected.encode()) or invitation is None:
        raise InvitationNotFound()
    return invitation


def check_open(invitation: ProjectInvitation, now: datetime) -> None:
    """410 unless the invitation can still be answered."""
    if invitation.state != State.PENDING:
        raise InvitationGone(f"was already {invitation.state}")
    if invitation.expires_at <= now:
        raise InvitationGone("has expired")


async def create(
    session: AsyncSession,
    project: Project,
    inviter: User,
    email: str,
    role: Role,
    *,
    now: datetime,
    ttl: timedelta,
) -> ProjectInvitation:
    """Invite `email` to `project` as `role` (the caller checked the inviter is an admin).
    409 for the Inbox, for yourself, and for someone already a member; an earlier pending
    invitation of the same email to the project is revoked, so one link is live at a time;
    409 past MAX_PENDING waiting invitations."""
    if project.is_inbox:
        raise members.InboxIsPersonal()
    email = normalize_email(email)
    if email == normalize_email(inviter.email):
        raise InvitingYourself()
    # Only members' and the owner's emails are compared: the answer for anyone else is the
    # same whether they have an account or not.
    insiders = select(ProjectMember.user_id).where(ProjectMember.project_id == project.id)
    inside = await session.scalar(
        select(User.id).where(
            User.email == email, (User.id == project.owner_id) | User.id.in_(insiders)
        )
    )
    if inside is not None:
        raise members.AlreadyMember()
    await _close(session, project_id=project.id, email=email, state=State.REVOKED, now=now)
    # The caller locked the project's row, so concurrent invitations queue before this count.
    pending = select(ProjectInvitation.id).where(
        ProjectInvitation.project_id == project.id,
        ProjectInvitation.state == State.PENDING.value,
        ProjectInvitation.expires_at > now,
    )
    if await count_locked(session, pending) >= MAX_PENDING:
        raise TooManyPending()
    invitation = ProjectInvitation(
        project_id=project.id,
        email=email,
        role=role.value,
        invited_by=inviter.id,
        state=State.PENDING.value,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(invitation)
    await session.flush()
    return invitation


def _one_line(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def mail_link(
    session: AsyncSession,
    settings: Settings,
    invitation: ProjectInvitation,
    *,
    project: Project,
    inviter: User,
    path: str,
) -> None:
    """Mail the invitation's link (`path` on PUBLIC_URL: a mail must not carry whatever Host
    the request came with) to the invited address, where SMTP is set: once the
    invitation commits, off the request (`email.send_after_commit`). Every invitation is
    mailed, whether the address has an account or not, so neither the answer nor its timing
    says which."""
    link = settings.public_url.rstrip("/") + path
    who = _one_line(inviter.name) or "A Doable user"
    name = _one_line(project.name)
    expires = invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"{who} invited you to the project “{name}” on Doable, as {invitation.role}.\n\n"
        f"Open this link to accept it (if you have no account yet, sign up there with this"
        f" address, {invitation.email}):\n{link}\n\n"
        f"The link works once, only for {invitation.email}, until {expires}. If you did not"
        f" expect this invitation, ignore this email.\n"
    )
    message = mail.Message(
        to=invitation.email, subject=f"{who} invited you to “{name}” on Doable", text=text
    )
    mail.send_after_commit(session, settings, message)


async def _close(
    session: AsyncSession,
    *,
    state: State,
    now: datetime,
    invitation_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    email: str | None = None,
) -> int:
    """Move pending invitations to `state`, atomically: how many moved (0 if another
    request answered first)."""
    stmt = update(ProjectInvitation).where(ProjectInvitation.state == State.PENDING.value)
    if invitation_id is not None:
        stmt = stmt.where(ProjectInvitation.id == invitation_id)
    if project_id is not None:
        stmt = stmt.where(ProjectInvitation.project_id == project_id)
    if email is not None:
        stmt = stmt.where(ProjectInvitation.email == email)
    result = await session.execute(
        stmt.values(state=state.value, decided_at=now).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def for_project(
    session: AsyncSession, project: Project, now: datetime
) -> Sequence[ProjectInvitation]:
    """A project's pending, unexpired invitations, oldest first."""
    return (
        await session.scalars(
            select(ProjectInvitation)
            .where(
                ProjectInvitation.project_id == project.id,
                ProjectInvitation.state == State.PENDING.value,
                ProjectInvitation.expires_at > now,
            )
            .order_by(ProjectInvitation.created_at, ProjectInvitation.id)
        )
    ).all()


async def for_user(
    session: AsyncSession, user: User, now: datetime
) -> list[tuple[ProjectInvitation, str, str]]:
    """The invitations waiting for the user's email: (invitation, project name, inviter's
    name), oldest first."""
    rows = await session.execute(_WAITING, {"email": normalize_email(user.email), "now": now})
    return [(inv, name, by or "") for inv, name, by in rows.all()]


# Built once (every web page's sidebar asks): building it cost more than running it.
_WAITING = (
    select(
        ProjectInvitation,
        Project.name,
        select(User.name).where(User.id == ProjectInvitation.invited_by).scalar_subquery(),
    )
    .join(Project, Project.id == ProjectInvitation.project_id)
    .where(
        ProjectInvitation.email == bindparam("email"),
        ProjectInvitation.state == State.PENDING.value,
        ProjectInvitation.expires_at > bindparam("now"),
    )
    .order_by(ProjectInvitation.created_at, ProjectInvitation.id)
)


async def revoke(
    session: AsyncSession, project: Project, invitation_id: uuid.UUID, now: datetime
) -> None:
    """An admin withdraws a pending invitation (404 if it is not one of the project's)."""
    found = await session.scalar(
        select(ProjectInvitation.id).where(
            ProjectInvitation.id == invitation_id, ProjectInvitation.project_id == project.id
        )
    )
    if found is None:
        raise InvitationNotFound()
    if not await _close(session, invitation_id=invitation_id, state=State.REVOKED, now=now):
        raise InvitationGone("was already answered or revoked")


async def _mine(session: AsyncSession, user: User, invitation_id: uuid.UUID) -> ProjectInvitation:
    invitation = await session.scalar(
        select(ProjectInvitation).where(
            ProjectInvitation.id == invitation_id,
            ProjectInvitation.email == normalize_email(user.email),
        )
    )
    if invitation is None:
        raise InvitationNotFound()
    return invitation


async def _accept(
    session: AsyncSession, invitation: ProjectInvitation, user: User, now: datetime
) -> Project:
    check_open(invitation, now)
    if normalize_email(user.email) != invitation.email:
        raise WrongInvitee()
    project = await session.get(Project, invitation.project_id, with_for_update=True)
    if project is None:  # pragma: no cover - the row cascades with its project
        raise InvitationNotFound()
    joined = await session.get(ProjectMember, (project.id, user.id))
    if user.id == project.owner_id or joined is not None:
        raise members.AlreadyMember()
    # One conditional UPDATE: of two requests with one link, only one moves the row.
    if not await _close(session, invitation_id=invitation.id, state=State.ACCEPTED, now=now):
        raise InvitationGone("was already answered")
    invitation.accepted_by = user.id
    await members.add_member(session, project, user.id, Role(invitation.role))
    return project


async def accept_link(
    session: AsyncSession, key: bytes, token: str, user: User, now: datetime
) -> Project:
    """Accept through a link: 404 forged, 410 used or expired, 403 another email's."""
    return await _accept(session, await by_token(session, key, token), user, now)


async def accept(
    session: AsyncSession, user: User, invitation_id: uuid.UUID, now: datetime
) -> Project:
    """Accept one of the user's invitations in the app."""
    return await _accept(session, await _mine(session, user, invitation_id), user, now)


async def decline(
    session: AsyncSession, user: User, invitation_id: uuid.UUID, now: datetime
) -> None:
    invitation = await _mine(session, user, invitation_id)
    check_open(invitation, now)
    if not await _close(session, invitation_id=invitation.id, state=State.DECLINED, now=now):
        raise InvitationGone("was already answered")


async def admits_signup(
    session: AsyncSession, key: bytes, token: str, email: str, now: datetime
) -> bool:
    """Whether a sign-up with `email` through the link `token` may go ahead even where
    sign-up is otherwise restricted: the link is genuine, pending, unexpired, and made for
    that email."""
    try:
        invitation = await by_token(session, key, token)
        check_open(invitation, now)
    except DoableError:
        return False
    return invitation.email == normalize_email(email)


async def preview(session: AsyncSession, key: bytes, token: str) -> tuple[ProjectInvitation, str]:
    """The invitation a link names and its project's name, for the link's page."""
    invitation = await by_token(session, key, token)
    name = await session.scalar(select(Project.name).where(Project.id == invitation.project_id))
    return invitation, name or ""
