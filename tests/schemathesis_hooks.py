"""The one schemathesis hook of tests/api/test_conformance.py: no webhook URL in valid cases.

Whether a ``notify.url`` is accepted depends on DNS and on the server's
settings: a default server refuses a host that does not resolve, or that
resolves to a loopback, private, link-local or metadata address, with 422.
No schema keyword can say which host names resolve where, so a schema-valid
URL that schemathesis draws (``https://0``, ``https://localhost``, a made-up
name) is rightly refused, and ``positive_data_acceptance`` would call that a
valid request rejected. Everything else about ``notify`` is in the schema
(its length, the https scheme, the events), and the negative cases that
break it are sent unchanged. A default server accepts no URL in this
sandbox-safe test (a public address would receive the deliveries), so the
valid cases go without ``notify``; tests/api/test_events.py and
tests/api/test_webhook_hosts.py cover webhooks with a fake DNS.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def map_case(ctx: Any, case: Any) -> Any:
    """Drop ``notify`` from a case generated as valid; leave invalid cases alone."""
    del ctx
    positive = case.meta is None or case.meta.generation.mode.is_positive
    if positive and isinstance(case.body, dict):
        case.body.pop("notify", None)
    return case
