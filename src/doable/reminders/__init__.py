"""Reminders on tasks, the notifications they create, the scheduler that fires them and the
live event stream."""
