"""A worker stops once its main process is gone: its parent's handle closing is the sign."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvloop

from ots import parent
from tests.support import until

# Sanic runs its workers on uvloop where it is installed (it is, with ots), else asyncio.
LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


class App:
    """A Sanic app as far as the watch needs it: ``stop``, recorded."""

    def __init__(self) -> None:
        """Not stopped yet."""
        self.stops: list[dict[str, Any]] = []

    def stop(self, **options: Any) -> None:
        """Record a stop and how it was asked for."""
        self.stops.append(options)


class Parent:
    """``multiprocessing``'s handle on the parent: a pipe whose write end the parent holds."""

    def __init__(self) -> None:
        """The parent is alive while ``write_end`` is open."""
        self.sentinel, self.write_end = os.pipe()


@pytest.fixture
def the_parent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Parent]:
    """This process's parent, as a worker of ``ots serve`` sees it."""
    handle = Parent()
    monkeypatch.setattr(parent.multiprocessing, "parent_process", lambda: handle)
    monkeypatch.setattr(parent, "ASK_AGAIN", 0.05)
    yield handle
    for fd in (handle.sentinel, handle.write_end):
        with contextlib.suppress(OSError):
            os.close(fd)


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Any], Any]:
    """Run a coroutine to its end on a new loop of each kind a worker may use."""
    new_loop = LOOPS[request.param]

    def run_on_loop(main: Any) -> Any:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            return runner.run(main)

    return run_on_loop


def test_the_worker_stops_gracefully_once_the_parent_is_gone(
    the_parent: Parent, run: Callable[[Any], Any]
) -> None:
    """Nothing while the parent lives; a graceful stop (not a terminate) when it ends."""
    app = App()
    watch = parent.ParentWatch()

    async def main() -> list[list[dict[str, Any]]]:
        await watch.watch(app)  # type: ignore[arg-type]
        await asyncio.sleep(0.1)
        while_alive = list(app.stops)
        os.close(the_parent.write_end)
        await until(lambda: app.stops, "the stop")
        # The server begins to stop: no more asks, however long the closed pipe stays readable.
        await watch.unwatch(app)  # type: ignore[arg-type]
        await asyncio.sleep(0.2)
        return [while_alive, app.stops]

    assert run(main()) == [[], [{"terminate": False}]]


def test_a_stop_that_was_lost_is_asked_for_again(
    the_parent: Parent, run: Callable[[Any], Any]
) -> None:
    """Until the server begins to stop, the stop is asked for again."""
    app = App()
    watch = parent.ParentWatch()

    async def main() -> None:
        await watch.watch(app)  # type: ignore[arg-type]
        os.close(the_parent.write_end)
        await until(lambda: len(app.stops) >= 3, "three asks")
        await watch.unwatch(app)  # type: ignore[arg-type]

    run(main())


def test_a_process_that_multiprocessing_did_not_start_is_not_watched(
    monkeypatch: pytest.MonkeyPatch, run: Callable[[Any], Any]
) -> None:
    """A single-process server or an embedded app: nothing to watch, nothing stops."""
    monkeypatch.setattr(parent.multiprocessing, "parent_process", lambda: None)
    app = App()
    watch = parent.ParentWatch()

    async def main() -> None:
        await watch.watch(app)  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        await watch.unwatch(app)  # type: ignore[arg-type]

    run(main())
    assert app.stops == []
