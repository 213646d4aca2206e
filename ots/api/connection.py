"""Connection deadlines that a slow client cannot stretch.

Sanic restarts its request timer on every byte received, so a client that
sends one header line every few seconds holds a connection (and a worker's
attention) forever. Here a request's timers run from its first byte: the
headers and the body must arrive within ``REQUEST_TIMEOUT`` (else 408), and
the whole exchange must end within ``RESPONSE_TIMEOUT``. Idle keep-alive
connections still close after ``KEEP_ALIVE_TIMEOUT``.
"""

from __future__ import annotations

import time

from sanic.exceptions import RequestTimeout
from sanic.http.constants import Stage
from sanic.server.protocols.http_protocol import HttpProtocol


class DeadlineProtocol(HttpProtocol):
    """Sanic's HTTP/1.1 protocol with timers that run from a request's first byte."""

    def data_received(self, data: bytes) -> None:
        """Take the bytes; only an idle connection's timer restarts on them."""
        # Sanic creates _http in the connection task, after the first bytes may arrive.
        http = getattr(self, "_http", None)
        busy = http is not None and http.stage is not Stage.IDLE
        started = self._time
        super().data_received(data)
        if busy:
            self._time = started

    def check_timeouts(self) -> None:
        """Enforce the request deadline on the body too, then Sanic's own timeouts."""
        http, task = getattr(self, "_http", None), self._task
        if (
            http is not None
            and task is not None
            and http.stage is Stage.HANDLER
            and http.request_body
            and time.monotonic() - self._time > self.request_timeout
        ):
            # Sanic reads a body once the handler stage has begun, where only the
            # (longer) response timeout would apply; a slow body is the client's fault.
            http.exception = RequestTimeout("Request Timeout")
            # Sanic would otherwise drain the rest of the body, as slowly as it comes,
            # before closing: answer and hang up instead.
            http.request_body = None
            http.keep_alive = False
            task.cancel()
            return
        super().check_timeouts()  # type: ignore[no-untyped-call]
