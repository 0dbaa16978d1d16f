"""Webhooks: users' endpoints, the transactional outbox of task events, and its delivery."""
