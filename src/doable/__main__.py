"""Allow `python -m doable`."""

from doable.cli import app

app(prog_name="doable")
