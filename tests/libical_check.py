"""Check an iCalendar file with libical: run by Debian's /usr/bin/python3 (python3-gi and
gir1.2-ical-3.0), not the project's venv, whose PyPI PyGObject needs a newer GLib.

Usage: /usr/bin/python3 tests/libical_check.py FILE. Prints one JSON object: the component
counts libical parsed, whether its restriction check passed, and every X-LIC-ERROR it added
(parse errors and failed restrictions). Exits 0 only when the file is clean.
"""

import json
import sys

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib  # noqa: E402


def walk(component, counts, errors):
    kind = ICalGLib.Component.kind_to_string(component.isa())
    counts[kind] = counts.get(kind, 0) + 1
    prop = component.get_first_property(ICalGLib.PropertyKind.XLICERROR_PROPERTY)
    while prop is not None:
        errors.append(f"{kind}: {prop.get_xlicerror()}")
        prop = component.get_next_property(ICalGLib.PropertyKind.XLICERROR_PROPERTY)
    child = component.get_first_component(ICalGLib.ComponentKind.ANY_COMPONENT)
    while child is not None:
        walk(child, counts, errors)
        child = component.get_next_component(ICalGLib.ComponentKind.ANY_COMPONENT)


def main() -> int:
    with open(sys.argv[1], encoding="utf-8", newline="") as f:
        text = f.read()
    component = ICalGLib.Component.new_from_string(text)
    if component is None or component.isa() != ICalGLib.ComponentKind.VCALENDAR_COMPONENT:
        print(json.dumps({"restrictions": False, "errors": ["not a VCALENDAR"], "counts": {}}))
        return 1
    restrictions = bool(component.check_restrictions())
    counts: dict[str, int] = {}
    errors: list[str] = []
    walk(component, counts, errors)
    print(json.dumps({"restrictions": restrictions, "errors": errors, "counts": counts}))
    return 0 if restrictions and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
