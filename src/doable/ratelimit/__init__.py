"""Rate limits shared by every worker and replica: Redis, the database, or one process's memory."""
