"""Webhooks: users' endpoints, the transactional outbox of task events, and its delivery.

Importing the package (any of its modules) registers the outbox's before-commit hook, so a
process that knows the webhook tables also fills them: the app, the CLI, scripts."""

from doable.webhooks import outbox as outbox
