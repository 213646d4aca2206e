"""StopControl: Sanic's kill of a server whose worker a stop ended mid-start is a clean stop."""

from __future__ import annotations

import signal
from typing import Any

import pytest
from sanic.exceptions import ServerKilled

from ots import stop


class Manager:
    """Sanic's worker manager as far as the stop needs it: a kill that raises."""

    def __init__(self) -> None:
        """Not killed yet."""
        self.killed = 0

    def kill(self) -> None:
        """Kill the workers, then report the server killed, as Sanic does."""
        self.killed += 1
        raise ServerKilled


class App:
    """An app with its public ``manager``."""

    def __init__(self) -> None:
        """One manager."""
        self.manager = Manager()


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
    app: Any = App()
    manager = app.manager
    control.on_manager_ready(app)
    control.requested = True
    app.manager.kill()
    assert (manager.killed, ended) == (1, ["ended"])


def test_a_kill_without_a_stop_is_still_a_failed_start(ended: list[str]) -> None:
    """No stop asked for: a worker that died before it was ready is Sanic's failure, as ever."""
    control = stop.StopControl()
    app: Any = App()
    control.on_manager_ready(app)
    with pytest.raises(ServerKilled):
        app.manager.kill()
    assert ended == []
