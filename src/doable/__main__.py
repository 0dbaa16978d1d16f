"""Allow `python -m doable`."""

from doable.entry import main

main()
