"""The audit log's lines and counts, batched or one by one."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import get_args

import pytest

from ots import metrics
from ots.api.schemas import NotifiableEvent, NotPendingResponse
from ots.crypto import fingerprint
from ots.domain import (
    ENDED_STATES,
    EVENTS,
    NOTIFIABLE,
    SECRET_EVENTS,
    STATE_AFTER,
    Event,
    State,
    Transition,
)
from ots.events import AUDIT_LOGGER, CLIENT_ADDRESS, RECORD_BYTES, EventLog


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """The audit log records written during the test."""
    caught: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(record)

    handler = Collect()
    logger = logging.getLogger(AUDIT_LOGGER)
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield caught
    logger.setLevel(previous)
    logger.removeHandler(handler)


def count(event: Event) -> float:
    """The metric's current count of ``event``."""
    return metrics.EVENTS.labels(event.value)._value.get()  # type: ignore[no-any-return]


def test_a_batch_is_one_record_with_a_json_line_per_secret(
    records: list[logging.LogRecord],
) -> None:
    """A batch: one record, one valid JSON line each, counted once by the number."""
    before = count(Event.EXPIRED)
    EventLog().record(Transition(Event.EXPIRED, ("a", "b", "c"), 0))
    assert len(records) == 1
    lines = [json.loads(line) for line in records[0].getMessage().splitlines()]
    assert lines == [
        {"time": "1970-01-01T00:00:00Z", "event": "expired", "receipt": fingerprint(k)}
        for k in "abc"
    ]
    assert count(Event.EXPIRED) == before + 3


def test_a_large_batch_is_split_into_records_a_pipe_takes_whole(
    records: list[logging.LogRecord],
) -> None:
    """A sweep batch of 1,000: records of at most RECORD_BYTES, whole lines, in order."""
    lookups = [f"lookup {i}" for i in range(1000)]
    EventLog().record(Transition(Event.EXPIRED, tuple(lookups), 0))
    assert len(records) > 1
    assert all(len(r.getMessage().encode()) + 1 <= RECORD_BYTES for r in records)
    lines = [json.loads(line) for r in records for line in r.getMessage().splitlines()]
    assert [line["receipt"] for line in lines] == [fingerprint(k) for k in lookups]
    assert RECORD_BYTES <= 4096  # Linux's PIPE_BUF


def test_nothing_to_report_writes_nothing(records: list[logging.LogRecord]) -> None:
    """An empty batch (a sweep that found nothing) logs and counts nothing."""
    before = count(Event.EXPIRED)
    EventLog().record(Transition(Event.EXPIRED, (), 0))
    assert records == [] and count(Event.EXPIRED) == before


@pytest.mark.parametrize("opted_in", [True, False])
def test_the_client_address_only_when_opted_in(
    records: list[logging.LogRecord], opted_in: bool
) -> None:
    """The address (JSON-escaped, whatever it holds) is there only with client_address."""
    token = CLIENT_ADDRESS.set('203.0.113.9"\\')
    try:
        EventLog(client_address=opted_in).record(Transition(Event.CREATED, ("k",), 0))
    finally:
        CLIENT_ADDRESS.reset(token)
    line = json.loads(records[0].getMessage())
    assert line.get("client") == ('203.0.113.9"\\' if opted_in else None)
    assert line["event"] == "created"


QUEUED = {"queued": True, "not-queued": False}


@pytest.mark.parametrize("queued", QUEUED.values(), ids=QUEUED.keys())
def test_a_transition_that_queued_deliveries_wakes_the_delivery_loop(queued: bool) -> None:
    """Only a write that queued outbox rows wakes the loop; every one is logged."""
    woken: list[int] = []
    log = EventLog(on_queued=lambda: woken.append(1))
    log.record(Transition(Event.BURNED, ("k",), 0, queued=queued))
    assert woken == ([1] if queued else [])


def test_the_event_table_names_every_event_and_derives_the_lists() -> None:
    """One table: every event has a meaning, and the lists are what the table says."""
    assert set(EVENTS) == set(Event)
    assert NOTIFIABLE == (
        Event.REVEALED,
        Event.WRONG_PASSPHRASE,
        Event.DESTROYED,
        Event.BURNED,
        Event.EXPIRED,
        Event.ANSWERED,
    )
    assert NOTIFIABLE[:-1] == SECRET_EVENTS
    assert STATE_AFTER[Event.DESTROYED] is State.BURNED
    assert ENDED_STATES == (State.REVEALED, State.BURNED, State.EXPIRED)
    assert get_args(NotifiableEvent) == NOTIFIABLE
    assert get_args(NotPendingResponse.model_fields["state"].annotation) == ENDED_STATES
