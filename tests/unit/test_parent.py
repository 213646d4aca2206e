"""A worker stops once its main process is gone: its parent's handle closing is the sign."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import pytest

from ots import parent
from tests.support import until


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
def the_parent(monkeypatch: pytest.MonkeyPatch) -> Any:
    """This process's parent, as a worker of ``ots serve`` sees it."""
    handle = Parent()
    monkeypatch.setattr(parent.multiprocessing, "parent_process", lambda: handle)
    yield handle
    for fd in (handle.sentinel, handle.write_end):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_the_worker_stops_gracefully_once_the_parent_is_gone(the_parent: Parent) -> None:
    """Nothing while the parent lives; one graceful stop (not a terminate) when it ends."""
    app = App()

    async def main() -> list[list[dict[str, Any]]]:
        await parent.stop_with_parent(app)
        await asyncio.sleep(0.05)
        while_alive = list(app.stops)
        os.close(the_parent.write_end)
        await until(lambda: app.stops, "the stop")
        # Once, however long the closed pipe stays readable.
        await asyncio.sleep(0.05)
        return [while_alive, app.stops]

    assert asyncio.run(main()) == [[], [{"terminate": False}]]


def test_a_process_that_multiprocessing_did_not_start_is_not_watched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A single-process server or an embedded app: nothing to watch, nothing stops."""
    monkeypatch.setattr(parent.multiprocessing, "parent_process", lambda: None)
    app = App()

    async def main() -> None:
        await parent.stop_with_parent(app)
        await asyncio.sleep(0.05)

    asyncio.run(main())
    assert app.stops == []
