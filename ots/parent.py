"""A worker of ``ots serve`` stops when its main process is gone.

Sanic's worker manager stops its workers when it stops, but a main process
that is killed outright (``kill -9``, the kernel's out-of-memory killer, a
supervisor that signals only the process it started) cannot. Its workers
would live on as orphans: still answering on their own listening sockets
(``ots.listen``), which a restarted ``ots serve`` on the same address then
shares with them, and still sweeping and delivering webhooks with the old
settings. So each worker watches its parent: the standard library hands a
spawned child a handle that becomes readable when the parent ends, and the
worker's event loop waits on it at no cost. When it fires, the worker stops
as Sanic stops it on a SIGTERM: it takes no new connection, finishes what
is under way, and exits.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from sanic import Sanic

log = logging.getLogger("ots.parent")

# Seconds between two asks to stop, until the server begins to: asyncio's loop drops
# a stop asked for in the very pass that ends one of Sanic's start-up steps.
ASK_AGAIN: Final = 1.0


class ParentWatch:
    """Stops this worker once the process that started it ends; its two methods are listeners."""

    def __init__(self) -> None:
        """Not watching yet."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sentinel: int | None = None
        self._again: asyncio.TimerHandle | None = None

    async def watch(self, app: Sanic[Any, Any]) -> None:
        """``before_server_start``: watch the parent, if ``multiprocessing`` started this process.

        Does nothing in a process it did not start (a single process server,
        the tests' embedded servers).
        """
        parent = multiprocessing.parent_process()
        if parent is None:
            return
        self._loop = asyncio.get_running_loop()
        self._sentinel = parent.sentinel
        self._loop.add_reader(self._sentinel, self._gone, app)

    async def unwatch(self, _app: Sanic[Any, Any]) -> None:
        """``before_server_stop``: the worker stops; a stop asked for now would cut that short."""
        self._forget()
        if self._again is not None:
            self._again.cancel()
            self._again = None

    def _gone(self, app: Sanic[Any, Any]) -> None:
        self._forget()
        log.warning("the main process of ots serve is gone: this worker stops")
        self._stop(app)

    def _stop(self, app: Sanic[Any, Any]) -> None:
        # What Sanic's own SIGTERM handler in a worker does: a graceful stop.
        app.stop(terminate=False)
        if self._loop is not None:
            self._again = self._loop.call_later(ASK_AGAIN, self._stop, app)

    def _forget(self) -> None:
        if self._loop is not None and self._sentinel is not None:
            self._loop.remove_reader(self._sentinel)
            self._sentinel = None
