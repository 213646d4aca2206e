"""Catalogs: every language complete, and the right one chosen for a request."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ots.web.i18n import LOCALES, CatalogError, Catalogs
from ots.web.render import Renderer
from ots.web.ttl import duration

ENGLISH = json.loads((LOCALES / "en.json").read_text())
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def placeholders(message: object) -> set[str]:
    """The placeholders of a message or of all its plural forms."""
    texts = message.values() if isinstance(message, dict) else [message]
    return {name for text in texts for name in PLACEHOLDER.findall(str(text))}


def test_three_languages_at_least() -> None:
    """English and at least two more languages ship."""
    assert {"en", "de", "fr"} <= set(Catalogs.load().by_code)


@pytest.mark.parametrize("path", sorted(LOCALES.glob("*.json")), ids=lambda path: path.stem)
def test_every_catalog_has_every_key(path: Path) -> None:
    """Each catalog has exactly English's keys, the same shapes and the same placeholders."""
    catalog = json.loads(path.read_text())
    assert set(catalog) == set(ENGLISH), set(catalog) ^ set(ENGLISH)
    for key, message in ENGLISH.items():
        if key.startswith("_"):
            continue
        assert type(catalog[key]) is type(message), key
        assert placeholders(catalog[key]) == placeholders(message), key
        assert str(catalog[key]).strip(), key


def test_every_key_is_used(tmp_path: Path) -> None:
    """No catalog entry is dead: each key appears in a template, a page script or the code."""
    web = LOCALES.parent
    sources = "".join(
        path.read_text()
        for pattern in ("templates/*.html", "static/js/*.js", "*.py")
        for path in web.glob(pattern)
    )
    unused = [key for key in ENGLISH if not key.startswith("_") and key not in sources]
    # Keys built from a value: receipt.state.<state>, error.title.*, unit.* and error.<code>.
    dynamic = ("receipt.state.", "unit.", "error.")
    assert [key for key in unused if not key.startswith(dynamic)] == []


CHOICES = {
    "nothing": (None, None, "en"),
    "accept-german": (None, "de-DE,de;q=0.9,en;q=0.8", "de"),
    "region-falls-back": (None, "fr-CH", "fr"),
    "quality-order": (None, "en;q=0.5, fr;q=0.9", "fr"),
    "unknown-then-known": (None, "ja, de;q=0.1", "de"),
    "refused": (None, "de;q=0", "en"),
    "wildcard": (None, "*", "en"),
    "query-wins": ("fr", "de", "fr"),
    "query-case": ("DE", None, "de"),
    "query-unknown": ("xx", "fr", "fr"),
    "garbage": (None, ";;q=,de;q=abc", "en"),
}


@pytest.mark.parametrize(("asked", "accept", "code"), CHOICES.values(), ids=CHOICES.keys())
def test_language_choice(asked: str | None, accept: str | None, code: str) -> None:
    """?lang= first, then Accept-Language by quality (regions fall back), then English."""
    assert Catalogs.load().choose(asked, accept).code == code


PLURALS = {
    "en-one": ("en", 1, "1 day"),
    "en-many": ("en", 7, "7 days"),
    "de-one": ("de", 1, "1 Tag"),
    "fr-zero-is-singular": ("fr", 0, "0 jour"),
    "fr-many": ("fr", 30, "30 jours"),
}


@pytest.mark.parametrize(("code", "count", "text"), PLURALS.values(), ids=PLURALS.keys())
def test_plural_forms_follow_the_language(code: str, count: int, text: str) -> None:
    """Each catalog says which counts take the singular."""
    assert Catalogs.load().by_code[code].plural("unit.day", count) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(300, "5 minutes"), (5400, "90 minutes"), (86400, "1 day"), (61, "61 seconds")],
)
def test_durations_use_the_largest_whole_unit(seconds: int, text: str) -> None:
    """A ttl reads in days, hours, minutes or seconds, whichever divides it."""
    assert duration(seconds, Catalogs.load().default) == text


def test_a_broken_catalog_is_refused(tmp_path: Path) -> None:
    """A catalog without its language's name, or with a bad entry, does not load."""
    (tmp_path / "en.json").write_text('{"_name": "English", "_plural_one": [1], "a": 3}')
    with pytest.raises(CatalogError):
        Catalogs.load(tmp_path)
    (tmp_path / "en.json").write_text("[1, 2]")
    with pytest.raises(CatalogError):
        Catalogs.load(tmp_path)
    (tmp_path / "en.json").unlink()
    with pytest.raises(CatalogError):
        Catalogs.load(tmp_path)


def test_a_message_is_asked_for_in_its_own_shape() -> None:
    """text() of a plural message, or plural() of a plain one, is a bug and says so."""
    catalog = Catalogs.load().default
    with pytest.raises(CatalogError):
        catalog.text("unit.day")
    with pytest.raises(CatalogError):
        catalog.plural("share.title", 2)


def test_receipt_page_tells_opened_from_revealed() -> None:
    """A receipt whose JSON carries opened_at shows "opened, not revealed"; without it, nothing."""
    renderer = Renderer.create()
    catalog = renderer.catalogs.default
    receipt = {
        "state": "pending",
        "created_at": "2026-11-25T10:00:00Z",
        "expires_at": "2026-11-25T11:00:00Z",
        "revealed_at": None,
        "failed_attempts": 0,
    }
    common = {"key": "k", "path": "/receipts/k", "lang_query": "", "get_only": True}
    without = renderer.render("receipt.html", catalog, receipt=receipt, **common)
    opened = {**receipt, "opened_at": "2026-11-25T10:30:00Z"}
    with_opened = renderer.render("receipt.html", catalog, receipt=opened, **common)
    assert catalog.text("receipt.opened") not in without
    assert catalog.text("receipt.opened") in with_opened
    assert 'datetime="2026-11-25T10:30:00Z"' in with_opened
