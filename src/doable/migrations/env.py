"""Alembic environment: always runs on a connection handed in by doable.migrations."""

from __future__ import annotations

from alembic import context

import doable.activity.models
import doable.auth.models
import doable.comments.models
import doable.feeds.models
import doable.idempotency.models
import doable.notify.models
import doable.ops.models
import doable.projects.models
import doable.ratelimit.models
import doable.relay.models
import doable.reminders.models
import doable.tasks.models
import doable.trash.models
import doable.webhooks.models  # noqa: F401  (registers the tables)
from doable.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `doable migrate`, not the alembic CLI")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported")
run_migrations_online()
