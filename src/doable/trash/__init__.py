"""The trash: deleted tasks, sections and projects, kept for TRASH_DAYS and restorable."""
