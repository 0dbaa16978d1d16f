"""import batches

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

- `tasks.import_batch_id`: set while an import stages its tasks in chunks, each in a short
  transaction of its own; a task with one is hidden from every list, count, feed and export.
  The import's last transaction clears it for the whole batch, so the file appears at once, and
  a failed import's staged tasks are deleted without ever having been seen. NULL for every
  existing task, so the column is added without touching a row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("import_batch_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("tasks", "import_batch_id")  # SQLite 3.35+ drops columns in place
