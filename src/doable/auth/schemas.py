"""Request and response bodies for /auth and /me."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from doable.auth.security import COMMON_PASSWORDS
from doable.types import NO_NUL, NoNulStr, TimeZoneName

Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), NO_NUL]


def _strong_password(value: str) -> str:
    if value.lower() in COMMON_PASSWORDS:
        raise ValueError("is too common; choose another password")
    return value


NewPassword = Annotated[
    NoNulStr, StringConstraints(min_length=8, max_length=256), AfterValidator(_strong_password)
]
AnyPassword = Annotated[NoNulStr, StringConstraints(min_length=1, max_length=256)]
Email = Annotated[EmailStr, StringConstraints(max_length=254)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignupIn(Strict):
    email: Email
    password: NewPassword
    name: Name = ""
    timezone: TimeZoneName = "UTC"


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
