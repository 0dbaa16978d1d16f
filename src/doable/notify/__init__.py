"""Notifications beyond the inbox: Web Push subscriptions and sending, VAPID keys, channels."""
