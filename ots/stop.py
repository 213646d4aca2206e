"""A clean stop of ``ots serve`` at any moment, with any number of workers.

Sanic's worker manager waits for every worker to report ready before it
looks at anything else; a worker that a SIGTERM kills while it is still
importing never reports, and the manager then waits forever. So:

- before serving (settings, key, migrations) a SIGTERM or SIGINT raises
  ``Interrupted``, which the command turns into a quiet exit 0 (a
  migration runs in a transaction, so it is rolled back whole);
- but in the event loop of ``run`` (migrations, a sweep), the signal
  cancels the loop's task at its next ``await`` instead of raising at
  whatever line runs: an exception thrown into the database driver's
  callbacks (asyncpg's protocol, Tortoise's transaction half entered) left
  it broken, and the process failed its exit, or crashed in the driver's
  clean-up; ``Interrupted`` follows once the loop has ended;
- while Sanic starts, the signal is only noted, and the manager then starts
  no worker;
- while the manager starts its workers, a signal waits until all are
  started: Sanic's stop reaches only the workers started so far, and the
  manager went on to start the others, which served until the watchdog below
  ended them;
- a worker that imported ``ots.cli`` but is not serving yet when Sanic stops
  it (with SIGINT) exits quietly instead of printing a KeyboardInterrupt
  traceback (``ots.cli`` installs that handler first thing);
- a worker that the stop ends before it reported ready makes Sanic's
  manager kill the server as a failed start (exit 1); once a stop was
  asked for, that kill is the stop, and ends with exit 0;
- once Sanic handles the stop, a watchdog gives it ``STOP_GRACE`` seconds
  (Sanic's own graceful shutdown is shorter), then ends whatever is left and
  exits 0. Nothing acknowledged is lost: a 201 is sent after the commit, and
  erasure still due is done at the next start.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any, Final, TypeVar, cast

log = logging.getLogger("ots.stop")

STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
STOP_GRACE: Final = 4.0
# Sanic's graceful shutdown (in-flight requests) must end well before the watchdog.
GRACEFUL_SHUTDOWN: Final = 2.5

# Sanic names its worker processes "Sanic-<server>-<n>".
WORKER_PREFIX: Final = "Sanic-"
POLL: Final = 0.1
# How long the manager may outlive its last worker before it is deemed stuck.
LINGER: Final = 0.5

Handler = Callable[[int, FrameType | None], Any]
T = TypeVar("T")


class Interrupted(SystemExit):
    """A stop signal arrived before serving began: unwind and exit 0, quietly.

    A ``SystemExit(0)``, so that even where nothing catches it (during the
    command's imports) the interpreter exits 0 without a traceback.
    """

    def __init__(self) -> None:
        """Exit status 0."""
        super().__init__(0)


class StopControl:
    """Owns SIGTERM and SIGINT from the first moment of ``ots serve`` to its end."""

    def __init__(self) -> None:
        """Nothing requested yet."""
        self.requested = False
        self._serving = False
        self._armed = False
        # While ``run`` runs: what a stop does instead of raising (cancel its task).
        self._in_loop: Callable[[], object] | None = None
        # While Sanic's manager starts its workers: a stop waits in ``_deferred``.
        self._starting = False
        self._deferred: Callable[[], None] | None = None

    def install(self) -> None:
        """Take over the stop signals; until ``serving()``, they interrupt."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._before_sanic)

    def serving(self) -> None:
        """Sanic is about to start: from now on a signal is noted, not raised."""
        self._serving = True

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run ``main`` in a new event loop, which a stop ends at its next ``await``.

        Returns:
            What ``main`` returned; without a stop, its own errors pass through.

        Raises:
            Interrupted: a stop arrived meanwhile: ``main`` was cancelled, or had
                ended (then even an error of its own ends in a clean stop).
        """
        self._in_loop = _noted
        try:
            result = asyncio.run(self._cancellable(main))
        except BaseException:
            # Whatever the cancelled work raised on its way out, it was the stop.
            if not self.requested:
                raise
            raise Interrupted from None
        finally:
            self._in_loop = None
        if self.requested:
            raise Interrupted
        return result

    async def _cancellable(self, main: Coroutine[Any, Any, T]) -> T:
        loop = asyncio.get_running_loop()
        # asyncio.run runs this coroutine as a task.
        task = cast("asyncio.Task[T]", asyncio.current_task())

        def cancel_once() -> None:
            # Runs in the loop, one callback at a time: a second stop (Ctrl-C twice, or
            # SIGINT then SIGTERM) must not cancel the clean-up the first one began.
            if not task.cancelling():
                task.cancel()

        self._in_loop = functools.partial(loop.call_soon_threadsafe, cancel_once)
        if self.requested:  # arrived while the loop started
            cancel_once()
        try:
            return await main
        finally:
            # The loop closes next: a later stop must not reach it.
            self._in_loop = _noted

    def _before_sanic(self, signum: int, frame: FrameType | None) -> None:
        del signum, frame
        self.requested = True
        if self._in_loop is not None:
            self._in_loop()
        elif not self._serving:
            raise Interrupted

    def on_manager_ready(self, app: Any, *_: object) -> None:
        """Wrap the handlers Sanic's manager installed, and its run, start and kill.

        Registered as a ``main_process_ready`` listener (Sanic passes the app,
        whose public ``manager`` runs the workers). Sanic's stop reaches only
        the workers already started, and the manager starts the others after
        it all the same: so a stop asked for before the manager runs starts no
        worker, and one that comes while it starts them waits until all are.
        """
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._wrap(signal.getsignal(sig)))
        manager = app.manager
        manager.kill = self._wrap_kill(manager.kill)
        manager.run = self._wrap_run(manager.run)
        manager.start = self._wrap_start(manager.start)

    def _wrap(self, sanic_handler: object) -> Handler:
        def handler(signum: int, frame: FrameType | None) -> None:
            self.requested = True
            self._arm_watchdog()
            if self._starting:
                self._deferred = functools.partial(_call_sanic, sanic_handler, signum)
            else:
                _call_sanic(sanic_handler, signum)

        return handler

    def _wrap_run(self, sanic_run: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            # From here a signal waits (until the workers are started), so none lands
            # between this check and the start.
            self._starting = True
            if self.requested:
                # Before any worker started: Sanic stops with nothing to wait for, and
                # its own handler has nothing to stop.
                self._starting = False
                self._deferred = None
                log.info("stopping before any worker started")
                return
            sanic_run()

        return run

    def _wrap_start(self, sanic_start: Callable[[], None]) -> Callable[[], None]:
        def start() -> None:
            self._starting = True
            try:
                sanic_start()
            finally:
                self._starting = False
                deferred, self._deferred = self._deferred, None
                if deferred is not None:
                    # Sanic's stop, now that it reaches every worker. Its manager then
                    # waits for them to report ready (they never will) until the
                    # watchdog sees them all gone.
                    deferred()

        return start

    def _wrap_kill(self, sanic_kill: Callable[[], None]) -> Callable[[], None]:
        # Imported here: ots.cli imports this module first thing, before Sanic.
        from sanic.exceptions import ServerKilled

        def kill() -> None:
            try:
                sanic_kill()
            except ServerKilled:
                if not self.requested:
                    raise
                # A worker the stop ended mid-start never reported ready, and the
                # manager took that for a failed start: it was the stop.
                log.info("stopping: a worker ended before it was ready")
                _end()

        return kill

    def _arm_watchdog(self) -> None:
        if not self._armed:
            self._armed = True
            threading.Thread(target=self._hard_stop, name="ots-stop", daemon=True).start()

    def _hard_stop(self) -> None:
        # Normally the process ends long before this thread does anything. It acts
        # when every worker is gone but the manager still waits (a worker killed
        # mid-start never reports ready), or when the grace period is over.
        deadline = time.monotonic() + STOP_GRACE
        workers_gone_at: float | None = None
        while time.monotonic() < deadline:
            time.sleep(POLL)
            if any(c.name.startswith(WORKER_PREFIX) for c in multiprocessing.active_children()):
                continue
            workers_gone_at = workers_gone_at or time.monotonic()
            if time.monotonic() - workers_gone_at >= LINGER:
                break
        log.info("the server did not stop by itself; ending it")
        _end()


def _call_sanic(sanic_handler: object, signum: int) -> None:
    # Sanic's own handler: it stops the workers started so far.
    if callable(sanic_handler):
        try:
            sanic_handler(signum, None)
        except Exception as exc:
            # Its pipe to a worker that died mid-start broke: the watchdog
            # ends what is left.
            log.info("stopping: %s: %s", type(exc).__name__, exc)


def _noted() -> None:
    # A stop while ``run`` starts or ends its loop: ``requested`` is enough.
    pass


def _end() -> None:
    # A clean stop's end when Sanic's own cannot come: whatever is left goes, exit 0.
    for child in multiprocessing.active_children():
        child.kill()
    os._exit(0)
