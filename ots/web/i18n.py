"""Message catalogs: one JSON file per language, chosen by ``?lang=`` or ``Accept-Language``.

A catalog maps a key to a text, or to its two plural forms
(``{"one": ..., "other": ...}``), with ``{name}`` placeholders. Two entries
describe the language itself: ``_name`` (what the language switch shows)
and ``_plural_one`` (the counts that take the ``one`` form: ``[1]`` in
English and German, ``[0, 1]`` in French). Adding a language is adding one
file to ``locales/``; a test holds every catalog to the English one's keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DEFAULT_LANGUAGE: Final = "en"
LOCALES: Final = Path(__file__).parent / "locales"
# Keys under these prefixes are what the page scripts need; pages embed them as JSON.
SCRIPT_PREFIXES: Final = ("js.", "error.")

Message = str | Mapping[str, str]


class CatalogError(ValueError):
    """A catalog file is not what this module reads (a bug in the package, not input)."""


@dataclass(frozen=True)
class Catalog:
    """The messages of one language."""

    code: str
    name: str
    plural_one: frozenset[int]
    messages: Mapping[str, Message]

    def text(self, key: str, **values: object) -> str:
        """Return the message ``key`` with ``values`` put in its placeholders."""
        message = self.messages[key]
        if not isinstance(message, str):
            raise CatalogError(f"{key} has plural forms: use plural()")
        return message.format(**values) if values else message

    def plural(self, key: str, count: int, **values: object) -> str:
        """Return the form of message ``key`` for ``count``, which fills ``{n}``."""
        message = self.messages[key]
        if isinstance(message, str):
            raise CatalogError(f"{key} has no plural forms: use text()")
        form = message["one"] if count in self.plural_one else message["other"]
        return form.format(n=count, **values)

    def for_script(self) -> dict[str, object]:
        """Return what the page scripts need: their messages and the plural rule."""
        return {
            "plural_one": sorted(self.plural_one),
            "messages": {
                key: message
                for key, message in self.messages.items()
                if key.startswith(SCRIPT_PREFIXES)
            },
        }


@dataclass(frozen=True)
class Catalogs:
    """Every language ots speaks, and how a request picks one."""

    by_code: Mapping[str, Catalog]

    @classmethod
    def load(cls, directory: Path = LOCALES) -> Catalogs:
        """Read every ``<code>.json`` in ``directory``.

        Raises:
            CatalogError: a file is not a catalog, or the default language is missing.
        """
        found = {path.stem: _read(path) for path in sorted(directory.glob("*.json"))}
        if DEFAULT_LANGUAGE not in found:
            raise CatalogError(f"no {DEFAULT_LANGUAGE}.json in {directory}")
        return cls(found)

    @property
    def default(self) -> Catalog:
        """The language of last resort."""
        return self.by_code[DEFAULT_LANGUAGE]

    def choose(self, asked: str | None, accept_language: str | None) -> Catalog:
        """Pick the catalog for a request: ``?lang=`` first, then ``Accept-Language``.

        A regional tag falls back to its language (``de-CH`` reads German);
        ranges are tried by their quality, highest first; ``q=0`` refuses.
        """
        if asked and asked.lower() in self.by_code:
            return self.by_code[asked.lower()]
        for tag in _ranked(accept_language or ""):
            if tag == "*":
                return self.default
            for candidate in (tag, tag.split("-", 1)[0]):
                if candidate in self.by_code:
                    return self.by_code[candidate]
        return self.default


def _ranked(accept_language: str) -> list[str]:
    ranked: list[tuple[float, int, str]] = []
    # A header of hundreds of ranges is nobody's browser: look at the first few only.
    for position, item in enumerate(accept_language.split(",")[:16]):
        tag, _, parameters = item.partition(";")
        quality = 1.0
        name, _, value = parameters.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        if tag.strip() and 0.0 < quality <= 1.0:
            ranked.append((-quality, position, tag.strip().lower()))
    return [tag for _, _, tag in sorted(ranked)]


def _read(path: Path) -> Catalog:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise CatalogError(f"{path.name}: not a JSON object")
    name = raw.pop("_name", None)
    plural_one = raw.pop("_plural_one", None)
    if not isinstance(name, str) or not isinstance(plural_one, list):
        raise CatalogError(f"{path.name}: _name and _plural_one are required")
    for key, message in raw.items():
        plural = isinstance(message, dict) and set(message) == {"one", "other"}
        if not (isinstance(message, str) or plural):
            raise CatalogError(f"{path.name}: {key} is neither a text nor one/other forms")
    return Catalog(path.stem, name, frozenset(int(n) for n in plural_one), raw)
