"""StopControl: how a stop ends each moment of ``ots serve``'s start.

In the start-up event loop it cancels the work; Sanic's kill of a server
whose worker a stop ended mid-start is a clean stop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sanic.exceptions import ServerKilled

from ots import stop


class Manager:
    """Sanic's worker manager as far as the stop needs it: run, start, and a kill that raises."""

    def __init__(self) -> None:
        """Not run, started or killed yet; ``during_start`` runs as the workers start."""
        self.killed = 0
        self.calls: list[str] = []
        self.during_start: Callable[[], object] = lambda: None

    def run(self) -> None:
        """Start the workers and wait for them, as Sanic's ``run`` does."""
        self.calls.append("run")
        self.start()

    def start(self) -> None:
        """Start the workers one by one."""
        self.calls.append("start")
        self.during_start()
        self.calls.append("started")

    def kill(self) -> None:
        """Kill the workers, then report the server killed, as Sanic does."""
        self.killed += 1
        raise ServerKilled


class App:
    """An app with its public ``manager``."""

    def __init__(self) -> None:
        """One manager."""
        self.manager = Manager()


def ready(control: stop.StopControl) -> Any:
    """Tell ``control`` that Sanic's manager is ready; return the manager, now wrapped."""
    app = App()
    control.on_manager_ready(app)
    return app.manager


@pytest.fixture
def ended(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the process's end instead of ending it; keep the signal handlers as they were."""
    calls: list[str] = []
    monkeypatch.setattr(stop, "_end", lambda: calls.append("ended"))
    monkeypatch.setattr(stop.signal, "signal", lambda *_: None)
    monkeypatch.setattr(stop.signal, "getsignal", lambda _: signal.SIG_DFL)
    return calls


def test_a_kill_during_a_stop_ends_cleanly(ended: list[str]) -> None:
    """Once a stop was asked for, the manager's kill (a worker never ready) ends with exit 0."""
    control = stop.StopControl()
    manager = ready(control)
    control.requested = True
    manager.kill()
    assert (manager.killed, ended) == (1, ["ended"])


def test_a_kill_without_a_stop_is_still_a_failed_start(ended: list[str]) -> None:
    """No stop asked for: a worker that died before it was ready is Sanic's failure, as ever."""
    manager = ready(stop.StopControl())
    with pytest.raises(ServerKilled):
        manager.kill()
    assert ended == []


def test_a_stop_while_serving_is_a_stop_asked_for(
    ended: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once Sanic's handlers are wrapped, a signal still marks the stop as asked for.

    What waits for the workers (the serving line) gives up on it.
    """
    installed: dict[int, Any] = {}
    monkeypatch.setattr(stop.signal, "signal", installed.__setitem__)
    monkeypatch.setattr(stop, "STOP_GRACE", 0.0)  # the watchdog it arms ends at once
    control = stop.StopControl()
    ready(control)
    installed[signal.SIGTERM](signal.SIGTERM, None)
    assert control.requested
    _join_watchdog()
    assert ended == ["ended"]


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> tuple[dict[int, Any], list[str]]:
    """The handlers installed, by signal, and what Sanic's own (wrapped) handler saw."""
    installed: dict[int, Any] = {}
    seen: list[str] = []
    monkeypatch.setattr(stop.signal, "signal", installed.__setitem__)
    monkeypatch.setattr(stop.signal, "getsignal", lambda _: lambda *_: seen.append("sanic stop"))
    return installed, seen


def test_a_stop_before_the_manager_runs_starts_no_worker(ended: list[str]) -> None:
    """Asked for while Sanic started: the manager returns at once, and nothing is started."""
    control = stop.StopControl()
    control.serving()
    control.requested = True
    manager = ready(control)
    manager.run()
    assert manager.calls == []


class SignalledAtTheLook(stop.StopControl):
    """A stop control that gets a signal right after its run looks for a stop (and sees none)."""

    def __init__(self) -> None:
        """No signal due yet: ``due`` is called after the next look."""
        self._requested = False
        self.due: Callable[[], object] | None = None
        super().__init__()

    @property
    def requested(self) -> bool:  # type: ignore[override]
        """Whether a stop was asked for; the signal due lands right after this look."""
        seen, due, self.due = self._requested, self.due, None
        if due is not None:
            due()
        return seen

    @requested.setter
    def requested(self, value: bool) -> None:
        self._requested = value


def test_a_stop_as_the_manager_looks_for_one_still_waits_for_the_start(
    ended: list[str], handlers: tuple[dict[int, Any], list[str]]
) -> None:
    """A signal right after the run found no stop: Sanic's stop comes once all are started."""
    installed, seen = handlers
    control = SignalledAtTheLook()
    manager = ready(control)
    control.due = lambda: installed[signal.SIGTERM](signal.SIGTERM, None)
    manager.during_start = lambda: manager.calls.append(f"Sanic asked to stop: {seen}")
    manager.run()
    assert manager.calls == ["run", "start", "Sanic asked to stop: []", "started"]
    assert seen == ["sanic stop"]
    _join_watchdog()


def test_a_stop_while_the_workers_start_reaches_all_of_them(
    ended: list[str], handlers: tuple[dict[int, Any], list[str]]
) -> None:
    """Sanic's stop waits until every worker was started, then comes once."""
    installed, seen = handlers
    control = stop.StopControl()
    manager = ready(control)

    def signalled() -> None:
        installed[signal.SIGTERM](signal.SIGTERM, None)
        seen.append("signal")

    manager.during_start = signalled
    manager.run()
    assert manager.calls + seen == ["run", "start", "started", "signal", "sanic stop"]
    assert control.requested
    # Once, and not again at the next start.
    manager.during_start = lambda: None
    manager.start()
    assert seen == ["signal", "sanic stop"]
    _join_watchdog()


def test_without_a_stop_the_manager_runs_as_ever(
    ended: list[str], handlers: tuple[dict[int, Any], list[str]]
) -> None:
    """No stop: run and start pass through; a stop once serving goes straight to Sanic."""
    installed, seen = handlers
    manager = ready(stop.StopControl())
    manager.run()
    assert manager.calls == ["run", "start", "started"]
    installed[signal.SIGINT](signal.SIGINT, None)
    assert seen == ["sanic stop"]
    _join_watchdog()


def _join_watchdog() -> None:
    # The watchdog a stop arms must be done before the fixtures put the real end back.
    for thread in threading.enumerate():
        if thread.name == "ots-stop":
            thread.join(5)


@pytest.fixture
def control() -> Iterator[stop.StopControl]:
    """A stop control that owns the stop signals; their handlers are put back afterwards."""
    before = {sig: signal.getsignal(sig) for sig in stop.STOP_SIGNALS}
    installed = stop.StopControl()
    installed.install()
    yield installed
    for sig, handler in before.items():
        signal.signal(sig, handler)


def _stopped() -> None:
    # A real SIGTERM to this process: its handler runs at the next bytecode.
    os.kill(os.getpid(), signal.SIGTERM)


def test_a_stop_in_run_cancels_the_work_at_its_next_await(control: stop.StopControl) -> None:
    """The signal raises nowhere in the work's code: its task is cancelled, then Interrupted."""
    steps: list[str] = []

    async def work() -> None:
        try:
            _stopped()
            steps.append("went on")  # the handler did not raise here
            await asyncio.sleep(5)
            steps.append("slept")
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise

    with pytest.raises(stop.Interrupted):
        control.run(work())
    assert steps == ["went on", "cancelled"]


def test_a_stop_as_the_work_ends_still_interrupts(control: stop.StopControl) -> None:
    """A stop after the work's last await: the work ends, its result is dropped, it stops."""
    steps: list[str] = []

    async def work() -> str:
        _stopped()
        steps.append("returned")
        return "done"

    with pytest.raises(stop.Interrupted):
        control.run(work())
    assert steps == ["returned"]


def test_whatever_the_cancelled_work_raises_a_stop_is_a_stop(control: stop.StopControl) -> None:
    """A driver that turns the cancel into its own error still ends in Interrupted."""
    steps: list[str] = []

    async def work() -> None:
        _stopped()
        try:
            await asyncio.wait_for(asyncio.Event().wait(), 5)
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise ConnectionError("connection was closed in the middle of operation") from None

    with pytest.raises(stop.Interrupted):
        control.run(work())
    assert steps == ["cancelled"]


def test_a_second_stop_leaves_the_first_ones_clean_up_alone(control: stop.StopControl) -> None:
    """Ctrl-C twice, or SIGINT then SIGTERM: the work is cancelled once, its clean-up runs whole."""
    steps: list[str] = []

    async def work() -> None:
        _stopped()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            steps.append("cancelled")
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.sleep(0.01)  # a rollback, a connection closed
            steps.append("cleaned up")
            raise

    with pytest.raises(stop.Interrupted):
        control.run(work())
    assert steps == ["cancelled", "cleaned up"]


def test_a_stop_while_the_loop_starts_cancels_the_work_at_its_first_await(
    control: stop.StopControl,
) -> None:
    """Noted before the work began: it is cancelled as soon as it awaits."""
    steps: list[str] = []

    async def work() -> None:
        steps.append("began")
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise

    control.requested = True  # as the handler does while asyncio.run sets up its loop
    with pytest.raises(stop.Interrupted):
        control.run(work())
    assert steps == ["began", "cancelled"]


def test_run_without_a_stop_returns_or_raises_as_the_work_does(control: stop.StopControl) -> None:
    """No stop: the work's result, or its own error; outside run, a stop raises at once."""

    async def fails() -> None:
        await asyncio.sleep(0)
        raise ConnectionError("no database")

    async def answers() -> int:
        await asyncio.sleep(0)
        return 42

    assert control.run(answers()) == 42
    with pytest.raises(ConnectionError, match="no database"):
        control.run(fails())
    with pytest.raises(stop.Interrupted):
        _stopped()
