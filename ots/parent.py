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
as on a SIGTERM: it takes no new connection, finishes what is under way,
and exits.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from typing import Any

log = logging.getLogger("ots.parent")


async def stop_with_parent(app: Any) -> None:
    """A worker's start-up listener: stop this worker once the process that started it ends.

    Does nothing in a process that ``multiprocessing`` did not start (a single
    process server, the tests' embedded servers).
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel
    loop = asyncio.get_running_loop()

    def gone() -> None:
        loop.remove_reader(sentinel)
        log.warning("the main process of ots serve is gone: this worker stops")
        # What Sanic's own SIGTERM handler in a worker does: a graceful stop.
        app.stop(terminate=False)

    loop.add_reader(sentinel, gone)
