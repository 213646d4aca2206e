"""Prometheus metrics of ots (the ``prometheus-client`` library), correct across workers.

``ots serve`` runs several worker processes; each writes its samples to files
in ``PROMETHEUS_MULTIPROC_DIR`` (which ``ots serve`` creates fresh at start
when the operator set none) and ``/metrics`` adds them all up. That mode is
chosen when prometheus-client is first imported, so the directory must be in
the environment before any worker starts: ``use_multiprocess_dir``.

No label ever carries a key: requests are labelled by operation id (the
route's, never its path), method (a standard one; any other as ``other``)
and status.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

REQUESTS = Counter(
    "ots_http_requests_total", "Requests answered", ["operation", "method", "status"]
)
REQUEST_SECONDS = Histogram(
    "ots_http_request_duration_seconds",
    "Time from a request's arrival to its answer",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
KDF_SECONDS = Histogram(
    "ots_kdf_seconds",
    "argon2id time per hash, on the KDF threads",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
KDF_IN_FLIGHT = Gauge(
    "ots_kdf_in_flight", "argon2id jobs running or waiting", multiprocess_mode="livesum"
)
KDF_SHED = Counter("ots_kdf_shed_total", "Requests refused with 503 overloaded")
RATE_LIMITED = Counter("ots_rate_limited_total", "Requests refused with 429 rate_limited")
CLIENT_SHARE_REFUSED = Counter(
    "ots_client_share_refused_total",
    "Creates refused with 507 storage_full because the client's share was used",
)
CREATE_REFUSED = Counter(
    "ots_create_refused_total",
    "Creates refused by who may create (OTS_CREATE_ACCESS) or a token's own limits, by reason",
    ["reason"],
)
DATABASE_ERRORS = Counter(
    "ots_database_errors_total", "Database calls that failed (503 unavailable)"
)
RATE_LIMITER_DEGRADED = Gauge(
    "ots_rate_limiter_degraded",
    "1 while the shared rate-limit storage (Redis) is unreachable and workers count alone",
    multiprocess_mode="livemax",
)
EVENTS = Counter("ots_events_total", "Events of secrets, as in the audit log", ["event"])
WEBHOOK_DELIVERIES = Counter(
    "ots_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: delivered, failed (retried later), dead, refused",
    ["outcome"],
)
LIVE_SECRETS = Gauge(
    "ots_live_secrets",
    "Secrets waiting to be read, and open requests (estimate)",
    multiprocess_mode="max",
)
STORED_BYTES = Gauge(
    "ots_stored_bytes", "Bytes stored for secrets and receipts (estimate)", multiprocess_mode="max"
)


def exposition() -> bytes:
    """Return every worker's metrics in Prometheus' text format."""
    if os.environ.get(MULTIPROC_VARIABLE):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def worker_stopped(pid: int) -> None:
    """Drop a stopped worker's live gauges (its in-flight KDF count) from the sums."""
    if os.environ.get(MULTIPROC_VARIABLE):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


@contextmanager
def use_multiprocess_dir() -> Iterator[None]:
    """Give the workers about to start one fresh directory to share their samples in.

    An operator's own ``PROMETHEUS_MULTIPROC_DIR`` is used as it is and kept.
    """
    if os.environ.get(MULTIPROC_VARIABLE):
        yield
        return
    directory = tempfile.mkdtemp(prefix="ots-metrics-")
    os.environ[MULTIPROC_VARIABLE] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROC_VARIABLE]
        shutil.rmtree(directory, ignore_errors=True)
