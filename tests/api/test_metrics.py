"""GET /metrics: Prometheus text of what happened, never a key, open to scrapers only as told."""

from __future__ import annotations

import re

from tests.conftest import Client, MakeClient
from tests.support import assert_error, create_secret, raw_request, samples


def counted(
    scrape: dict[tuple[str, tuple[tuple[str, str], ...]], float], *labels: tuple[str, str]
) -> float:
    """The count of answers whose labels include every one of ``labels``."""
    return sum(
        value
        for (name, found), value in scrape.items()
        if name == "ots_http_requests_total" and all(label in found for label in labels)
    )


def requests(
    scrape: dict[tuple[str, tuple[tuple[str, str], ...]], float], operation: str, status: str
) -> float:
    """The count of answers of ``operation`` with ``status``."""
    return counted(scrape, ("operation", operation), ("status", status))


def test_counts_answers_by_operation_and_never_shows_a_key(client: Client) -> None:
    """Known traffic shows up by operation id and status; no key or path is a label."""
    before = samples(client)
    created = create_secret(client, "s3", "pw")
    client.get(f"/secrets/{created.secret_key}")
    client.get("/secrets/" + "A" * 32)
    client.reveal(created.secret_key, "wrong")
    after = samples(client)
    assert (
        requests(after, "generate_secret", "201") - requests(before, "generate_secret", "201") == 1
    )
    assert requests(after, "check_secret", "200") - requests(before, "check_secret", "200") == 1
    assert requests(after, "check_secret", "404") - requests(before, "check_secret", "404") == 1
    assert requests(after, "reveal_secret", "403") - requests(before, "reveal_secret", "403") == 1
    kdf = ("ots_kdf_seconds_count", ())
    assert after[kdf] - before.get(kdf, 0) == 2  # one hash to seal, one to try
    text = client.get("/metrics").text
    for key in (created.secret_key, created.receipt_key, "A" * 32, "/secrets/"):
        assert key not in text
    assert re.search(
        r'ots_http_request_duration_seconds_count\{operation="generate_secret"\}', text
    )
    assert ("ots_live_secrets", ()) in after


def test_a_made_up_method_is_counted_as_other(client: Client) -> None:
    """Any token a client sends as the method counts, as ``other``: it never becomes a series."""
    before = samples(client)
    for method in ("FROB1", "FROB2"):
        head = f"{method} /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        status, _, _ = client.run(raw_request(client.base, head.encode()))
        assert status == 405
    after = samples(client)
    other = ("method", "other")
    assert counted(after, other) - counted(before, other) == 2
    assert "FROB" not in client.get("/metrics").text


def test_scrapes_are_not_rate_limited(make_client: MakeClient, db_url: str) -> None:
    """A scraper is never locked out by the traffic it measures; refusals are counted."""
    client = make_client(db_url, rate_limit="2/minute")
    before = samples(client)
    for _ in range(3):
        client.get("/secrets/" + "A" * 32)
    after = samples(client)
    for _ in range(5):
        response = client.get("/metrics")
        assert response.status == 200
        assert "x-ratelimit-limit" not in response.headers
    refused = ("ots_rate_limited_total", ())
    assert after[refused] - before.get(refused, 0) == 1


def test_metrics_can_be_turned_off(make_client: MakeClient, db_url: str) -> None:
    """OTS_METRICS=false: /metrics is a 404 like any unknown path."""
    client = make_client(db_url, metrics=False)
    assert_error(client.get("/metrics"), 404, "not_found")


def test_a_token_guards_metrics(make_client: MakeClient, db_url: str) -> None:
    """With OTS_METRICS_TOKEN, only the right bearer token scrapes; others get 401."""
    client = make_client(db_url, metrics_token="scrape-me")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-me"}):
        response = client.get("/metrics", headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
    samples(client, Authorization="Bearer scrape-me")
