"""The per-host rules of webhook sends: the cap, the queue, the backoff after a timeout."""

from __future__ import annotations

import pytest

from ots.hostgate import MAX_HOSTS, SEND, WAIT, Action, HostGate, Outcome, Verdict

NOW = 1_800_000_000.0
BASE = 10
OVERFLOW = 25


def gate(per_host: int = 2, longest: float = 3600, max_waiting: int = 100) -> HostGate[str]:
    """A gate of ``per_host`` sends per host, backing off from ``BASE`` seconds."""
    return HostGate(per_host, BASE, longest, max_waiting, OVERFLOW)


def time_out(hosts: HostGate[str], host: str, now: float) -> tuple[list[str], int]:
    """Admit one send to ``host`` and let it time out at ``now``."""
    assert hosts.admit(host, "probe", now) == SEND
    return hosts.settle(host, now, Outcome.TIMED_OUT)


class TestCap:
    """At most ``per_host`` sends per host; the rest wait their turn, first come first served."""

    def test_a_host_at_its_cap_queues_and_others_still_send(self) -> None:
        """Two sends to a; the third waits; b is not affected."""
        hosts = gate()
        assert [hosts.admit("a", item, NOW) for item in ("a1", "a2", "a3", "a4")] == [
            SEND,
            SEND,
            WAIT,
            WAIT,
        ]
        assert hosts.admit("b", "b1", NOW) == SEND

    def test_a_send_that_ends_gives_its_turn_to_the_first_waiting(self) -> None:
        """When a send ends, promote returns the oldest waiting delivery, one per free send."""
        hosts = gate()
        for item in ("a1", "a2", "a3", "a4"):
            hosts.admit("a", item, NOW)
        assert hosts.promote("a", NOW) is None  # both sends still under way
        assert hosts.settle("a", NOW, Outcome.ANSWERED) == ([], 0)
        assert hosts.promote("a", NOW) == "a3"
        assert hosts.promote("a", NOW) is None
        hosts.settle("a", NOW, Outcome.OTHER)
        assert hosts.promote("a", NOW) == "a4"
        assert hosts.promote("b", NOW) is None  # a host never seen has nothing waiting

    def test_a_send_given_back_unmade_frees_its_place(self) -> None:
        """vacate: the place promote took is free again for the next waiting delivery."""
        hosts = gate(per_host=1)
        for item in ("a1", "a2", "a3"):
            hosts.admit("a", item, NOW)
        hosts.settle("a", NOW, Outcome.ANSWERED)
        assert hosts.promote("a", NOW) == "a2"
        hosts.vacate("a", NOW)
        assert hosts.promote("a", NOW) == "a3"

    def test_when_every_queue_is_full_a_delivery_is_deferred(self) -> None:
        """Beyond max_waiting, a delivery for a busy host is given back, due ``overflow`` later."""
        hosts = gate(per_host=1, max_waiting=1)
        assert hosts.admit("a", "a1", NOW + 0.5) == SEND
        assert hosts.admit("a", "a2", NOW + 0.5) == WAIT
        assert hosts.admit("a", "a3", NOW + 0.5) == Verdict(Action.DEFER, int(NOW) + OVERFLOW)
        assert hosts.admit("b", "b1", NOW + 0.5) == SEND


class TestBackoff:
    """A timeout closes the host; an answer opens it again."""

    def test_a_timeout_gives_back_the_queue_and_defers_what_comes(self) -> None:
        """The waiting deliveries are returned with the backoff's end; new ones are deferred."""
        hosts = gate()
        for item in ("a1", "a2", "a3", "a4"):
            hosts.admit("a", item, NOW)
        assert hosts.settle("a", NOW, Outcome.TIMED_OUT) == (["a3", "a4"], NOW + BASE)
        assert hosts.promote("a", NOW) is None
        assert hosts.admit("a", "a5", NOW + BASE - 1) == Verdict(Action.DEFER, NOW + BASE)
        assert hosts.admit("b", "b1", NOW) == SEND
        # The send still under way ends (timed out too): still one backoff, nothing waiting.
        assert hosts.settle("a", NOW + 1, Outcome.TIMED_OUT) == ([], NOW + BASE)
        assert hosts.admit("a", "a6", NOW + BASE) == SEND

    def test_sends_that_time_out_together_count_as_one(self) -> None:
        """Two sends started together and timed out together back off BASE, not 2 x BASE."""
        hosts = gate()
        hosts.admit("a", "a1", NOW)
        hosts.admit("a", "a2", NOW)
        assert hosts.settle("a", NOW, Outcome.TIMED_OUT) == ([], NOW + BASE)
        assert hosts.settle("a", NOW, Outcome.TIMED_OUT) == ([], NOW + BASE)

    def test_each_timeout_after_a_backoff_doubles_it_up_to_the_longest(self) -> None:
        """10, 20, 40, then capped at 50."""
        hosts = gate(longest=50)
        now = NOW
        for delay in (10, 20, 40, 50, 50):
            assert time_out(hosts, "a", now) == ([], now + delay)
            now += delay

    def test_an_answer_opens_the_host_and_forgets_its_timeouts(self) -> None:
        """Any status line, even a 500: the next timeout backs off BASE again."""
        hosts = gate()
        time_out(hosts, "a", NOW)
        time_out(hosts, "a", NOW + BASE)
        assert hosts.admit("a", "a1", NOW + 3 * BASE) == SEND
        hosts.settle("a", NOW + 3 * BASE, Outcome.ANSWERED)
        assert time_out(hosts, "a", NOW + 3 * BASE) == ([], NOW + 4 * BASE)

    @pytest.mark.parametrize("outcome", [Outcome.ANSWERED, Outcome.OTHER], ids=["answer", "other"])
    def test_a_quick_failure_does_not_back_off(self, outcome: Outcome) -> None:
        """A refused connection or an answer frees the send without closing the host."""
        hosts = gate(per_host=1)
        hosts.admit("a", "a1", NOW)
        hosts.admit("a", "a2", NOW)
        assert hosts.settle("a", NOW, outcome) == ([], 0)
        assert hosts.promote("a", NOW) == "a2"

    def test_the_table_forgets_idle_hosts_when_full(self) -> None:
        """Past MAX_HOSTS, a host idle since its backoff ended starts again from BASE."""
        hosts = gate()
        time_out(hosts, "a", NOW)
        later = NOW + BASE + 1
        for number in range(MAX_HOSTS):
            assert hosts.admit(f"busy{number}", "x", later) == SEND
        assert time_out(hosts, "a", later) == ([], later + BASE)
