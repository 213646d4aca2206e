"""Which webhook sends may start now, per destination host: a cap, a queue and a backoff.

One receiver that accepts a connection and never answers holds a send for
the whole ``OTS_WEBHOOK_TIMEOUT``. Without a bound per host, its deliveries
would take every send a worker can make at once, and every other
subscriber's would wait behind them. ``HostGate`` keeps, per host name:

- at most ``per_host`` sends in flight (``OTS_WEBHOOK_MAX_PER_HOST``);
- a queue of leased deliveries waiting for one of those sends;
- a backoff: a send that timed out closes the host for ``base`` seconds,
  doubling while it keeps timing out (at most ``longest``), and reopens it
  as soon as it answers anything. Its queue is given back at once, and what
  arrives for it meanwhile is deferred until the backoff ends.

The state lives in one process (each worker keeps its own, and forgets it on
restart): nothing in it is needed for correctness, only for fairness. A
worker learns that a host hangs from its own sends, so a host sees at most
``per_host`` sends per worker. The gate is pure bookkeeping: no I/O, no
clock of its own, so the delivery loop decides what to do with each verdict.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Generic, TypeVar

T = TypeVar("T")

# Hosts remembered before idle ones (nothing in flight, queued or backed off) are
# forgotten, so that a stream of distinct names cannot grow the table without end.
MAX_HOSTS: Final = 4096


class Outcome(Enum):
    """What one send to a host came to, as far as the host's health goes."""

    ANSWERED = "answered"
    """The host sent a status line (any status): it is alive."""
    TIMED_OUT = "timed_out"
    """The attempt ran out of time: the host hangs, or drips."""
    OTHER = "other"
    """Anything else (refused connection, TLS error): quick, says nothing of a hang."""


class Action(Enum):
    """What to do with one leased delivery."""

    SEND = "send"
    """Send it now: it holds one of its host's sends."""
    WAIT = "wait"
    """Keep it (and its lease) in its host's queue until a send of that host ends."""
    DEFER = "defer"
    """Give its lease back: it is due again at the verdict's ``retry_at``."""


@dataclass(frozen=True)
class Verdict:
    """An ``Action``, and for ``DEFER`` when the delivery is due again (epoch seconds, whole)."""

    action: Action
    retry_at: int = 0


SEND: Final = Verdict(Action.SEND)
WAIT: Final = Verdict(Action.WAIT)


@dataclass
class _Host(Generic[T]):
    active: int = 0
    waiting: deque[T] = field(default_factory=deque)
    strikes: int = 0
    closed_until: float = 0.0


class HostGate(Generic[T]):
    """Per-host admission of webhook sends in one process; ``T`` is a leased delivery."""

    def __init__(
        self, per_host: int, base: float, longest: float, max_waiting: int, overflow: int
    ) -> None:
        """Allow ``per_host`` sends per host; back off ``base`` seconds doubling to ``longest``.

        At most ``max_waiting`` deliveries wait in all the queues together; more
        are deferred by ``overflow`` seconds.
        """
        self._per_host = per_host
        self._base = base
        self._longest = longest
        self._max_waiting = max_waiting
        self._overflow = overflow
        self._waiting = 0
        self._hosts: dict[str, _Host[T]] = {}

    def admit(self, host: str, item: T, now: float) -> Verdict:
        """Decide about ``item`` for ``host``: ``SEND`` takes one of the host's sends."""
        state = self._hosts.get(host)
        if state is None:
            if len(self._hosts) >= MAX_HOSTS:
                self._forget_idle(now)
            state = self._hosts[host] = _Host()
        if state.closed_until > now:
            return Verdict(Action.DEFER, math.ceil(state.closed_until))
        if state.active < self._per_host:
            state.active += 1
            return SEND
        if self._waiting < self._max_waiting:
            state.waiting.append(item)
            self._waiting += 1
            return WAIT
        # The queues hold all this process may take on: rather than hold more leases,
        # let the row go for a while (to another worker, or to this one later). Not
        # for long, or a large backlog of one host would be rewritten every second.
        return Verdict(Action.DEFER, math.floor(now) + self._overflow)

    def settle(self, host: str, now: float, outcome: Outcome) -> tuple[list[T], int]:
        """Give back the send that ended with ``outcome``.

        Returns:
            The deliveries that waited for a host now backed off, and when they are
            due again; none and 0 when the host is open.
        """
        state = self._hosts[host]
        state.active -= 1
        if outcome is Outcome.ANSWERED:
            state.strikes, state.closed_until = 0, 0.0
        elif outcome is Outcome.TIMED_OUT and state.closed_until <= now:
            # Sends that started together time out together: one backoff for all of them.
            state.strikes += 1
            delay = min(self._base * 2 ** (state.strikes - 1), self._longest)
            state.closed_until = now + delay
        if state.closed_until <= now:
            self._drop_if_idle(host, state, now)
            return [], 0
        stale = list(state.waiting)
        state.waiting.clear()
        self._waiting -= len(stale)
        return stale, math.ceil(state.closed_until)

    def promote(self, host: str, now: float) -> T | None:
        """Take the next delivery waiting for ``host`` and one of its sends, if it is its turn."""
        state = self._hosts.get(host)
        if (
            state is None
            or not state.waiting
            or state.active >= self._per_host
            or state.closed_until > now
        ):
            return None
        state.active += 1
        self._waiting -= 1
        return state.waiting.popleft()

    def vacate(self, host: str, now: float) -> None:
        """Give back a send taken by ``promote`` that was not made (its lease ran short)."""
        state = self._hosts[host]
        state.active -= 1
        self._drop_if_idle(host, state, now)

    def _drop_if_idle(self, host: str, state: _Host[T], now: float) -> None:
        if _idle(state, now) and state.strikes == 0:
            del self._hosts[host]

    def _forget_idle(self, now: float) -> None:
        # A forgotten host that had timed out starts again from the shortest backoff.
        for host in [name for name, state in self._hosts.items() if _idle(state, now)]:
            del self._hosts[host]


def _idle(state: _Host[T], now: float) -> bool:
    return state.active == 0 and not state.waiting and state.closed_until <= now
