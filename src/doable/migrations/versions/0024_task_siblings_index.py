"""an index on a task's siblings, ordered by position

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07

- `ix_tasks_siblings_position` on `tasks (project_id, section_id, parent_id, position)`: the
  top-level tasks of one list (a project, or a section of it), in their order. Placing a task
  reads the first or last key of its list (projects.service.key_for); with this index that is
  one index entry whatever the planner knows. Without it PostgreSQL, before its statistics
  caught up with a grown table (a fresh import, or autovacuum off), read every task of the
  owner to find the last key: 10 ms per create at 30,000 tasks (docs/performance.md, round 10).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Expand/contract (doable.migrations.window): an index, which the release before reads
# through and writes like any other.
previous_release_compatible = True


def upgrade() -> None:
    op.create_index(
        "ix_tasks_siblings_position",
        "tasks",
        ["project_id", "section_id", "parent_id", "position"],
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_siblings_position", table_name="tasks")
