"""What happens to secrets, reported once each: the audit log, the metrics, the delivery loop.

The store writes an event's webhook deliveries in the transaction of the
state change itself; once that has committed, the service hands the event
here. ``EventLog`` writes one JSON line to the ``ots.audit`` logger (stdout
unless the operator routes it elsewhere) and counts it. A line holds the
time, the event and the receipt's fingerprint (a one-way hash: it names a
secret without opening anything), and the client address only if the
operator opted in.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Final

from ots import metrics
from ots.crypto import fingerprint
from ots.domain import Event

AUDIT_LOGGER: Final = "ots.audit"
audit_log = logging.getLogger(AUDIT_LOGGER)
# The address of the client whose request is being served; set by the API layer.
CLIENT_ADDRESS: ContextVar[str | None] = ContextVar("ots_client_address", default=None)


def install_audit_handler() -> None:
    """Send the audit log to stdout, one bare JSON line per event; idempotent.

    It does not propagate: an operator's root handler would otherwise print
    each line twice, or wrap the JSON in its own format.
    """
    if not any(getattr(h, "ots_audit", False) for h in audit_log.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.ots_audit = True  # type: ignore[attr-defined]
        audit_log.addHandler(handler)
    audit_log.setLevel(logging.INFO)
    audit_log.propagate = False


def utc_text(epoch_seconds: float) -> str:
    """Return a time as the wire writes it: ISO 8601, UTC, whole seconds, ``Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


class EventLog:
    """Where the service reports each committed event."""

    def __init__(self, *, client_address: bool = False) -> None:
        """Log client addresses only if ``client_address``."""
        self._client_address = client_address

    def emit(self, event: Event, lookup: str, at: float) -> None:
        """Report that ``event`` happened to the secret stored under ``lookup`` at ``at``."""
        line: dict[str, object] = {
            "time": utc_text(at),
            "event": event.value,
            "receipt": fingerprint(lookup),
        }
        client = CLIENT_ADDRESS.get()
        if self._client_address and client is not None:
            line["client"] = client
        audit_log.info(json.dumps(line, separators=(",", ":")))
        metrics.EVENTS.labels(event.value).inc()
