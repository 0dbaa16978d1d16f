"""Icons as inline SVG (`{{ icon("check") }}` in templates): they draw in `currentColor`
wherever no emoji font is installed, and are hidden from assistive technology (the control
that holds one carries the words: a label, or visually hidden text).

Drawn for Doable on a 24 by 24 grid, strokes 2 wide with round ends."""

from __future__ import annotations

from markupsafe import Markup, escape

# Path data; a shape that is filled rather than stroked starts with "fill:".
_SHAPES: dict[str, tuple[str, ...]] = {
    "check": ("M4 12.5l5 5L20 6.5",),
    "menu": ("M4 6h16M4 12h16M4 18h16",),
    "grip": ("M9 5.5h.01M15 5.5h.01M9 12h.01M15 12h.01M9 18.5h.01M15 18.5h.01",),
    "star": ("fill:M12 3l2.8 5.7 6.2.9-4.5 4.4 1.1 6.2L12 17.3l-5.6 2.9 1.1-6.2L3 9.6l6.2-.9z",),
    "repeat": (
        "M17 2l4 4-4 4",
        "M3 11V9a3 3 0 0 1 3-3h15",
        "M7 22l-4-4 4-4",
        "M21 13v2a3 3 0 0 1-3 3H3",
    ),
    "chevron": ("M6 9l6 6 6-6",),
    "back": ("M19 12H5", "M12 19l-7-7 7-7"),
    "bell": ("M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9", "M10.3 21a1.9 1.9 0 0 0 3.4 0"),
    # A smaller bell with a plus at its top right: "allow notifications", told apart from the
    # inbox's bell beside it.
    "bell-plus": (
        "M4.5 9a5.5 5.5 0 0 1 11 0c0 6.5 2.5 8 2.5 8H2s2.5-1.5 2.5-8",
        "M8.4 21a1.8 1.8 0 0 0 3.2 0",
        "M20 2v6M17 5h6",
    ),
    "sun": (
        "M12 8a4 4 0 1 0 0 8a4 4 0 1 0 0-8z",
        "M12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4"
        "M17.7 6.3l1.4-1.4",
    ),
    "moon": ("M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z",),
    "contrast": ("M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z", "fill:M12 3a9 9 0 0 1 0 18z"),
    "alarm": ("M12 7a7 7 0 1 0 0 14a7 7 0 1 0 0-14z", "M12 10v4l2 2", "M5 3L2 6M19 3l3 3"),
}
NAMES = frozenset(_SHAPES)


def icon(name: str, extra_class: str = "") -> Markup:
    """The icon as an `<svg>` element, decorative (aria-hidden); 1em square by default."""
    paths = []
    for shape in _SHAPES[name]:
        if shape.startswith("fill:"):
            paths.append(f'<path d="{shape[5:]}" fill="currentColor" stroke="none"/>')
        else:
            paths.append(f'<path d="{shape}"/>')
    classes = escape(f"icon icon-{name} {extra_class}".strip())
    # Safe: the shapes are constants above, and the class is escaped.
    return Markup(  # noqa: S704
        f'<svg class="{classes}" width="1em" height="1em" viewBox="0 0 24 24" fill="none"'
        ' stroke="currentColor" stroke-width="2" stroke-linecap="round"'
        f' stroke-linejoin="round" aria-hidden="true" focusable="false">{"".join(paths)}</svg>'
    )
