"""Which Accept and Content-Type headers get a page: only those that ask for HTML."""

from __future__ import annotations

import pytest

from ots.web.negotiation import is_form, prefers_html
from tests.support import BROWSER_ACCEPT

ACCEPTS = {
    "chromium": (BROWSER_ACCEPT, True),
    "firefox": ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
    "safari": ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
    "html-only": ("text/html", True),
    "text-wildcard-names-no-html": ("text/*", False),
    "text-wildcard-under-html": ("text/*;q=0.1, text/html, */*;q=0.5", True),
    "json-lower": ("application/json;q=0.5, text/html", True),
    "case-and-spaces": ("  TEXT/HTML ; Q=0.9 , application/json;q=0.2", True),
    "none": (None, False),
    "empty": ("", False),
    "anything": ("*/*", False),
    "json": ("application/json", False),
    "tie-goes-to-json": ("text/html, application/json", False),
    "json-higher": ("text/html;q=0.5, application/json", False),
    "html-refused": ("text/html;q=0, */*", False),
    "json-by-wildcard-wins": ("text/html;q=0.4, */*;q=0.5", False),
    "specific-beats-wildcard": ("*/*;q=0.9, text/html;q=0.1", False),
    "bad-q": ("text/html;q=high", False),
    "q-out-of-range": ("text/html;q=5", False),
    "q-nan": ("text/html;q=nan", False),
    "xhtml-only": ("application/xhtml+xml", False),
    "curl": ("*/*", False),
    "garbage": ("html;;;,,//", False),
}


@pytest.mark.parametrize(("accept", "page"), ACCEPTS.values(), ids=ACCEPTS.keys())
def test_a_page_only_when_html_ranks_above_json(accept: str | None, page: bool) -> None:
    """text/html must rank strictly above application/json, by the most specific range."""
    assert prefers_html(accept) is page


FORMS = {
    "form": ("application/x-www-form-urlencoded", True),
    "form-charset": ("application/x-www-form-urlencoded; charset=UTF-8", True),
    "form-case": ("Application/X-WWW-Form-Urlencoded", True),
    "json": ("application/json", False),
    "multipart": ("multipart/form-data; boundary=x", False),
    "none": (None, False),
}


@pytest.mark.parametrize(("content_type", "form"), FORMS.values(), ids=FORMS.keys())
def test_forms_are_told_by_their_content_type(content_type: str | None, form: bool) -> None:
    """Only an urlencoded body is a form post."""
    assert is_form(content_type) is form
