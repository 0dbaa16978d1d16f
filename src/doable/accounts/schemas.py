"""Request and response bodies for /admin and the password-reset routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from doable.accounts.links import MAX_LINK_TOKEN
from doable.auth.schemas import Email, NewPassword, Strict
from doable.types import NoNulStr

LinkToken = Annotated[NoNulStr, StringConstraints(min_length=1, max_length=MAX_LINK_TOKEN)]


class PasswordResetRequest(Strict):
    email: Email


class PasswordResetIn(Strict):
    token: LinkToken = Field(description="The token of the reset link (its last path segment)")
    new_password: NewPassword


class SignupInvitationCreate(Strict):
    email: Email = Field(description="The only email the invitation lets sign up")


class LinkOut(BaseModel):
    url: str = Field(description="The link itself; shown only in this response")
    expires_at: datetime


class SignupInvitationOut(LinkOut):
    email: str


class AdminUserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str
    is_admin: bool
    disabled_at: datetime | None = Field(description="When an admin disabled it; null: enabled")
    created_at: datetime


class AdminUserPage(BaseModel):
    items: list[AdminUserOut]
    next_cursor: str | None = Field(
        description="Pass as `after` for the next page (users are ordered by email)"
    )
