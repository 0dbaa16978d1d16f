"""admins and disabled accounts

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

- `users.is_admin`: named explicitly (`doable users create --admin`, `doable users set-admin`),
  never the first sign-up. False for every existing account.
- `users.disabled_at`: when an admin disabled the account (NULL: enabled). A disabled account
  cannot sign in, and disabling revoked its sessions, tokens and feeds.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Expand/contract (doable.migrations.window): the release before this migration can still
# serve the schema it leaves (a column with a server default and a nullable one, neither of
# which it reads). While both run side by side, the older release does not refuse a password
# sign-in to a disabled account; disabling also revoked everything the account held, so only
# a new password sign-in through an older process gets in.
previous_release_compatible = True


def utc_datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("users", sa.Column("disabled_at", utc_datetime(), nullable=True))


def downgrade() -> None:
    # SQLite 3.35+ drops columns in place (a rebuilt users table would cascade its deletes).
    op.drop_column("users", "disabled_at")
    op.drop_column("users", "is_admin")
