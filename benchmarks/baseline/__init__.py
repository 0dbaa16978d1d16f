"""The ceiling: a bare Starlette app that answers Doable's list and get requests."""
