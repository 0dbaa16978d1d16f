"""calendar feeds for one project

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

- `calendar_feeds.project_id`: a feed made for one project publishes only its tasks (issue 15).
  NULL for every existing feed (every project, as before), so the column is added without
  touching a row. No foreign key, as on the task columns of 0010: the feed's query scopes it,
  and a deleted project's feed simply publishes nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Expand/contract (doable.migrations.window): the release before this migration can still
# serve the schema it leaves (a nullable column it never reads; its feeds cover every project).
previous_release_compatible = True


def upgrade() -> None:
    op.add_column("calendar_feeds", sa.Column("project_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("calendar_feeds", "project_id")  # SQLite 3.35+ drops columns in place
