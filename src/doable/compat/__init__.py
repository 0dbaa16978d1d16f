"""The original spec's task API under /api/{user_id}/tasks, for existing frontends."""
