"""Doable: a self-hostable, multi-user task service."""

# The release, as pyproject.toml names it (tests/test_startup_imports.py checks that the two
# agree). Written here, not read from the installed package's metadata: importing
# importlib.metadata and finding the distribution was 25 ms of every start.
__version__ = "0.1.0"
