"""The share page's choice of lifetimes: round durations within this server's bounds."""

from __future__ import annotations

from typing import Final

from ots.config import Settings
from ots.web.i18n import Catalog

PRESETS: Final = (300, 3600, 86400, 7 * 86400, 30 * 86400)
_UNITS: Final = (("unit.day", 86400), ("unit.hour", 3600), ("unit.minute", 60))


def duration(seconds: int, catalog: Catalog) -> str:
    """Say ``seconds`` in the largest unit that divides it (``7 days``, ``90 minutes``)."""
    for key, size in _UNITS:
        if seconds % size == 0:
            return catalog.plural(key, seconds // size)
    return catalog.plural("unit.second", seconds)


def ttl_choices(settings: Settings, catalog: Catalog) -> list[tuple[int, str]]:
    """Return ``(seconds, label)`` for each lifetime the server accepts, the default among them."""
    allowed = {s for s in PRESETS if settings.min_ttl <= s <= settings.max_ttl}
    allowed.add(settings.default_ttl)
    return [(seconds, duration(seconds, catalog)) for seconds in sorted(allowed)]
