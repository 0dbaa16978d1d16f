"""Comments on tasks, mentions, and who hears about them (docs/sharing.md)."""
