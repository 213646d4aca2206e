"""schemathesis hooks for tests/api/test_conformance.py: webhook URLs the test server accepts.

Whether a ``notify.url`` is accepted depends on DNS and on the operator's
settings, which no schema can express: a random schema-valid URL, or the
documented example's host (which resolves nowhere here), is rightly refused
with 422. So the documented examples' URL, and in every generated case a
schema-valid URL (a string within the schema's lengths), become one that the
conformance server, which allows plain-http loopback targets, accepts.
Invalid ones are left alone for the negative checks.
"""

from __future__ import annotations

from typing import Any, Final

import schemathesis

from ots.api.schemas import EXAMPLE_WEBHOOK_URL
from ots.ssrf import MAX_URL_CHARS

ACCEPTED_URL: Final = "http://127.0.0.1:9/hook"


def _swap_examples(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _swap_examples(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_swap_examples(item) for item in node]
    return ACCEPTED_URL if node == EXAMPLE_WEBHOOK_URL else node


@schemathesis.hook
def before_load_schema(ctx: Any, raw_schema: dict[str, Any]) -> None:
    """Make the documented examples' webhook URL one this server accepts."""
    del ctx
    swapped = _swap_examples(raw_schema)
    raw_schema.clear()
    raw_schema.update(swapped)


@schemathesis.hook
def map_case(ctx: Any, case: Any) -> Any:
    """Swap a schema-valid ``notify.url`` for one this server accepts."""
    del ctx
    body = case.body
    notify = body.get("notify") if isinstance(body, dict) else None
    if isinstance(notify, dict):
        url = notify.get("url")
        if isinstance(url, str) and 1 <= len(url) <= MAX_URL_CHARS:
            notify["url"] = ACCEPTED_URL
    return case
