"""Which requests get a page: ``Accept`` ranks HTML above JSON, or a browser's form post.

Cheap on purpose: every API request passes through ``wants_page`` once, and
an ``Accept`` without the letters ``html`` (``*/*``, ``application/json``,
none at all: every API client) is answered without parsing anything.
"""

from __future__ import annotations

from typing import Final

FORM: Final = "application/x-www-form-urlencoded"
_HTML: Final = ("text", "html")
_JSON: Final = ("application", "json")


def prefers_html(accept: str | None) -> bool:
    """Tell whether ``accept`` ranks ``text/html`` strictly above ``application/json``.

    Each type takes the quality of the most specific range that matches it
    (RFC 9110, section 12.5.1): ``text/html`` beats ``text/*``, which beats
    ``*/*``. A tie goes to JSON, and an ``Accept`` that does not name HTML
    (``text/*`` alone) gets JSON too: only a client that asks for HTML gets it.
    """
    if not accept:
        return False
    accept = accept.lower()
    if "html" not in accept:
        return False
    return _quality(accept, _HTML) > _quality(accept, _JSON)


def is_form(content_type: str | None) -> bool:
    """Tell whether a body is an HTML form's (``application/x-www-form-urlencoded``)."""
    return content_type is not None and content_type.split(";", 1)[0].strip().lower() == FORM


def _quality(accept: str, wanted: tuple[str, str]) -> float:
    best_specificity, quality = -1, 0.0
    for media_range in accept.split(","):
        kind, _, parameters = media_range.partition(";")
        major, _, minor = kind.strip().partition("/")
        if major == wanted[0] and minor == wanted[1]:
            specificity = 2
        elif major == wanted[0] and minor == "*":
            specificity = 1
        elif major == "*" and minor == "*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, quality = specificity, _q(parameters)
    return quality


def _q(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            # "q=nan" or "q=5" is no quality anyone meant: outside [0, 1] counts as 0.
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0
