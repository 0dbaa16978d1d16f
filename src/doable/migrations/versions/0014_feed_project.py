"""calendar feeds for one project

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-06

- `calendar_feeds.project_id`: a feed made for one project publishes only its tasks (issue 15).
  NULL for every existing feed (every project, as before), so the column is added without
  touching a row. No foreign key, as on the task columns of 0010: the feed's query scopes it,
  and a deleted project's feed simply publishes nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("calendar_feeds", sa.Column("project_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("calendar_feeds", "project_id")  # SQLite 3.35+ drops columns in place
