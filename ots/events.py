"""What happens to secrets, reported once each: the audit log, the metrics, the delivery loop.

The store writes an event's webhook deliveries in the transaction of the
state change itself, and returns what it committed (a ``Transition``); the
service hands exactly that here. ``EventLog`` writes one JSON line to the
``ots.audit`` logger (stdout unless the operator routes it elsewhere) and
counts it; events that happen together (a sweep's batch) share log records
of up to 4,000 bytes, a line each. A line holds the time, the event and the receipt's fingerprint (a
one-way hash: it names a secret without opening anything), and the client
address only if the operator opted in.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Final

from ots import metrics
from ots.crypto import fingerprint
from ots.domain import Transition

AUDIT_LOGGER: Final = "ots.audit"
audit_log = logging.getLogger(AUDIT_LOGGER)
# The largest audit record (lines joined): a record reaches stdout in one
# write(), and a pipe takes writes of at most PIPE_BUF (4,096 bytes on Linux)
# whole, so the lines of workers sharing stdout never interleave mid-line.
# The lines are ASCII (json.dumps escapes the rest): characters are bytes.
RECORD_BYTES: Final = 4000
# The address of the client whose request is being served; set by the API layer.
CLIENT_ADDRESS: ContextVar[str | None] = ContextVar("ots_client_address", default=None)
# The id of the API token the request showed (never the token); set by the API layer.
TOKEN_ID: ContextVar[int | None] = ContextVar("ots_token_id", default=None)


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
    return _utc_second(int(epoch_seconds // 1))


# Every event of one second has the same text: formatted once (it was a twentieth of a create).
@functools.lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


def _write(text: str) -> None:
    # One audit record, without logging's search of the stack for the caller's file
    # and line (findCaller), which no audit line prints; levels and filters still apply.
    if audit_log.isEnabledFor(logging.INFO):
        audit_log.handle(audit_log.makeRecord(AUDIT_LOGGER, logging.INFO, "", 0, text, (), None))


class EventLog:
    """The bookkeeper: where the service hands each transition the store committed.

    One call per committed write (``record``): its events go to the audit log
    and the metrics, and a write that queued webhook deliveries wakes the
    delivery loop. Nothing here chooses an event; the transition says which.
    """

    def __init__(
        self, *, client_address: bool = False, on_queued: Callable[[], None] | None = None
    ) -> None:
        """Log client addresses only if ``client_address``; call ``on_queued`` for outbox rows."""
        self._client_address = client_address
        self._on_queued = on_queued

    def record(self, transition: Transition) -> None:
        """Report ``transition``: one audit line per secret, one count, and the outbox wake-up.

        Log records of up to RECORD_BYTES (one line per secret) and one count
        for them all: a sweep ends a thousand secrets per batch, and a record
        each would cost the worker's event loop more than the database's
        delete does.
        """
        if transition.queued and self._on_queued is not None:
            self._on_queued()
        lookups = transition.lookups
        if not lookups:
            return
        event = transition.event
        # Formatted by hand: every value but the client address is ASCII from
        # ots itself (a time, an event name, a hex digest), and json.dumps per
        # line was most of a sweep batch's cost.
        head = f'{{"time":"{utc_text(transition.at)}","event":"{event.value}","receipt":"'
        client = CLIENT_ADDRESS.get()
        token_id = TOKEN_ID.get()
        tail = '"' if token_id is None else f'","token":{token_id}'
        if self._client_address and client is not None:
            tail += f',"client":{json.dumps(client)}'
        tail += "}"
        chunk: list[str] = []
        size = 0
        for lookup in lookups:
            line = f"{head}{fingerprint(lookup)}{tail}"
            if chunk and size + len(line) + 1 > RECORD_BYTES:
                _write("\n".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line) + 1
        _write("\n".join(chunk))
        metrics.EVENTS.labels(event.value).inc(len(lookups))
