"""Events across processes: what one process's event bus publishes reaches every other's."""
