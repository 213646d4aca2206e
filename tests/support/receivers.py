"""Webhook receivers for tests: one that records each delivery, one that never answers."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.servers import free_port


class Receiver:
    """A real webhook receiver: an HTTP server in a thread that records each delivery.

    It answers ``fail_status`` to the first ``fail_first`` requests (a 3xx
    redirects to itself), then 204.
    """

    def __init__(
        self, port: int | None = None, fail_first: int = 0, fail_status: int = 500
    ) -> None:
        """Listen on 127.0.0.1:``port`` (a free one by default) once entered."""
        self.port = port or free_port()
        self.fail_first = fail_first
        self.attempts = 0
        self.received: list[tuple[dict[str, str], bytes]] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    outer.attempts += 1
                    failing = outer.attempts <= outer.fail_first
                    if not failing:
                        outer.received.append((dict(self.headers.items()), body))
                self.send_response(fail_status if failing else 204)
                if failing and 300 <= fail_status < 400:
                    self.send_header("Location", outer.url)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                del args

        self._handler = Handler
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Where to send events."""
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self) -> list[dict[str, Any]]:
        """The JSON bodies received so far."""
        return [json.loads(body) for _, body in self.received]

    def __enter__(self) -> Receiver:
        """Start serving."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop serving."""
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


class HungReceiver:
    """A webhook receiver that accepts every connection and never answers a byte.

    It counts the connections it accepted, those open right now and the most
    that were open at once (``peak``): each is one send under way to it.
    """

    def __init__(self) -> None:
        """Listen on a free port of 127.0.0.1 once entered."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.accepted = 0
        self.open = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: list[socket.socket] = []

    def url(self, host: str = "127.0.0.1") -> str:
        """Where to send events, naming the receiver ``host`` (which must resolve here)."""
        return f"http://{host}:{self.port}/hook"

    def __enter__(self) -> HungReceiver:
        """Start accepting."""
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop accepting and drop every connection."""
        self._stopping.set()
        self._listener.close()
        with self._lock:
            for connection in self._connections:
                connection.close()

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self.open += 1
                self.peak = max(self.peak, self.open)
                self._connections.append(connection)
            threading.Thread(target=self._hold, args=(connection,), daemon=True).start()

    def _hold(self, connection: socket.socket) -> None:
        # Read the request and say nothing, until the sender gives up and closes.
        with contextlib.suppress(OSError):
            while connection.recv(65536):
                pass
        with self._lock:
            self.open -= 1
