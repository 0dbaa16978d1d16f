"""Idempotent POSTs: the first response to an `Idempotency-Key` is stored and replayed."""
