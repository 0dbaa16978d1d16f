"""The `doable` command: the cyclic garbage collector stays off while Doable's modules load.

Loading builds tens of thousands of objects that live as long as the process (routes, schemas,
tables) and frees almost none, so the collector's passes over them, three of them full, were a
fifth of a cold start and found nothing. It is back on before the command runs; `doable serve`
turns it off again until the app has started (see `serve` and the app's lifespan).
"""

import gc


def main() -> None:
    gc.disable()
    from doable.cli import app

    gc.enable()
    app(prog_name="doable")
