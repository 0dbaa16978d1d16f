"""Request and response bodies for /auth, /me and /tokens."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
)

from doable.auth.security import API_TOKEN_PREFIX, COMMON_PASSWORDS, Scope
from doable.db import utcnow
from doable.types import NOT_BLANK, TRIMMED, NoNulStr, TimeZoneName

Name = Annotated[str, StringConstraints(max_length=100), TRIMMED]


def _strong_password(value: str) -> str:
    if value.lower() in COMMON_PASSWORDS:
        raise ValueError("is too common; choose another password")
    return value


NewPassword = Annotated[
    NoNulStr,
    StringConstraints(min_length=8, max_length=256),
    AfterValidator(_strong_password),
    Field(
        description="8 to 256 characters, and not one of the most common passwords (in any case).",
        json_schema_extra={
            "not": {"enum": sorted(p for p in COMMON_PASSWORDS if 8 <= len(p) <= 256)}
        },
    ),
]
AnyPassword = Annotated[NoNulStr, StringConstraints(min_length=1, max_length=256)]


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


# email-validator refuses the special-use domains (RFC 6761: test, local, …) and their
# subdomains, which `format: email` allows; the pattern says so.
_SPECIAL_USE = "|".join(_any_case(name) for name in SPECIAL_USE_DOMAIN_NAMES)
Email = Annotated[
    EmailStr,
    StringConstraints(max_length=254),
    Field(json_schema_extra={"pattern": rf"^(?!.*@(.*\.)?({_SPECIAL_USE})$)"}),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignupIn(Strict):
    email: Email
    password: NewPassword
    name: Name = ""
    timezone: TimeZoneName = "UTC"
    invitation: Annotated[NoNulStr, StringConstraints(min_length=1, max_length=2000)] | None = (
        Field(
            default=None,
            description="The token of an invitation link (its last path segment); required "
            "when the server's SIGNUP is `invite`, and then only for the invited email",
        )
    )


class LoginIn(Strict):
    email: Email
    password: AnyPassword


class RefreshIn(Strict):
    refresh_token: Annotated[NoNulStr, StringConstraints(min_length=1, max_length=200)]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str
    timezone: str
    created_at: datetime


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Access-token lifetime in seconds")
    user: UserOut


class MePatch(Strict):
    name: Name | None = None
    timezone: TimeZoneName | None = None


class PasswordChangeIn(Strict):
    current_password: AnyPassword
    new_password: NewPassword


class DeleteAccountIn(Strict):
    password: AnyPassword


# Personal API tokens

MAX_TOKEN_LIFETIME = timedelta(days=3660)
TokenName = Annotated[str, StringConstraints(min_length=1, max_length=100), NOT_BLANK]


def _future(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    now = utcnow()
    if value <= now:
        raise ValueError("must be in the future")
    if value - now > MAX_TOKEN_LIFETIME:
        raise ValueError(
            "must be at most 10 years ahead; leave it out for a token that never expires"
        )
    return value


def _distinct(scopes: list[Scope]) -> list[Scope]:
    return sorted(set(scopes))


class TokenCreate(Strict):
    name: TokenName = Field(description="What the token is for, to tell tokens apart (1-100)")
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=10), AfterValidator(_distinct)]
    expires_at: Annotated[
        AwareDatetime | None,
        AfterValidator(_future),
        Field(description="RFC 3339 with an offset; leave out for a token that never expires"),
    ] = None


class TokenOut(BaseModel):
    id: uuid.UUID
    name: str
    scopes: list[Scope]
    hint: str = Field(description=f"`{API_TOKEN_PREFIX}` and the token's first characters")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Updated at most once a minute")


class TokenCreated(TokenOut):
    token: str | None = Field(
        description="The token itself, shown only in this response. An idempotent replay "
        "of the request answers null here."
    )
