"""Doable: a self-hostable, multi-user task service."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("doable")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
