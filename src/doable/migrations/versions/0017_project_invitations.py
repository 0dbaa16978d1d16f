"""project invitations: signed, single-use, expiring links bound to an email

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

- `project_invitations`: one row per invitation to a project, bound to the (lower-cased)
  email it was sent to, in a role (viewer, editor or admin). The link carries the row's id and
  an HMAC of it with the email under the app's secret (projects/invitations.py); the row makes
  it single use (`state` leaves `pending` once: accepted, declined or revoked) and expiring
  (`expires_at`). Indexed by (email, state) for "my pending invitations" and (project, state)
  for a project's. `invited_by` and `accepted_by` carry no foreign key: an invitation's
  history outlives the accounts it names.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Expand/contract (doable.migrations.window): a new table the previous release never reads.
previous_release_compatible = True

TABLE_KW: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}


def utc_datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def key_string(length: int) -> sa.types.TypeEngine[Any]:
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def upgrade() -> None:
    op.create_table(
        "project_invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("email", key_string(254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("invited_by", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("expires_at", utc_datetime(), nullable=False),
        sa.Column("decided_at", utc_datetime(), nullable=True),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_invitations_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_invitations")),
        **TABLE_KW,
    )
    op.create_index("ix_project_invitations_email_state", "project_invitations", ["email", "state"])
    op.create_index(
        "ix_project_invitations_project_state", "project_invitations", ["project_id", "state"]
    )


def downgrade() -> None:
    op.drop_table("project_invitations")  # with its indexes
