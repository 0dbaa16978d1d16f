"""Tasks and tags, always scoped to their owner."""
