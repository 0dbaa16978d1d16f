"""Accounts beyond signing in: who may sign up, admins, invitations and password-reset links."""
