"""remembered view and sort

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06

- `users.preferences`: a small JSON object of what the web app remembers for the user (the
  task list's sort, a project's layout); NULL means the defaults. It rides on the user's row,
  which every request already reads, so remembering costs no query.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Expand/contract (doable.migrations.window): the release before this migration can still
# serve the schema it leaves (a nullable column it never reads).
previous_release_compatible = True


def upgrade() -> None:
    op.add_column("users", sa.Column("preferences", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "preferences")  # SQLite 3.35+ drops columns in place
