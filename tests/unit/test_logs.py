"""Log redaction."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from ots.api.logs import REDACTED, RedactKeys, install_redaction, log_config, redact

KEY = "y7ItGjC6pCjSdWnhBpQhUE6bHfdChPMR"

PATHS = {
    "secret": (f"POST http://h/secrets/{KEY} 200", "POST http://h/secrets/[redacted] 200"),
    "receipt-burn": (f"/receipts/{KEY}/burn", "/receipts/[redacted]/burn"),
    "query": (f"/secrets/{KEY}?x=1", "/secrets/[redacted]?x=1"),
    "quoted": (f"uri: 'http://h/secrets/{KEY}'", "uri: 'http://h/secrets/[redacted]'"),
    "other": ("/generate", "/generate"),
    "upper-case": (f"GET /Secrets/{KEY} 404", "GET /Secrets/[redacted] 404"),
    "all-caps": (f"/RECEIPTS/{KEY}", "/RECEIPTS/[redacted]"),
    "percent-encoded": (f"/%73ecrets/{KEY}", "/%73ecrets/[redacted]"),
    "double-encoded": (f"/%2573ecrets/{KEY}", "/%2573ecrets/[redacted]"),
    "encoded-slash": (f"/secrets%2F{KEY}", "/secrets%2F[redacted]"),
    "key-after-a-segment": (f"/x/secrets/{KEY}", "/x/secrets/[redacted]"),
    "two-in-one-line": (
        f"/secrets/{KEY} then /receipts/{KEY}",
        "/secrets/[redacted] then /receipts/[redacted]",
    ),
    "no-key": ("/secrets/", "/secrets/"),
    "other-segment": ("/docs/openapi.json", "/docs/openapi.json"),
    "empty-segment": (f"/secrets//{KEY}", "/secrets//[redacted]"),
    "path-parameter-on-the-key": (f"/secrets/{KEY};x", "/secrets/[redacted]"),
    "path-parameter-on-the-segment": (f"/secrets;x/{KEY}", "/secrets;x/[redacted]"),
    "backslash": (f"/secrets\\{KEY}", "/secrets\\[redacted]"),
    "backslashes-only": (f"\\receipts\\{KEY}", "\\receipts\\[redacted]"),
    "encoded-backslash": (f"/secrets%5C{KEY}", "/secrets%5C[redacted]"),
    "encoded-backslash-lower-case": (f"/secrets%5c{KEY}", "/secrets%5c[redacted]"),
    "encoded-tab-after-the-segment": (f"/secrets%09/{KEY}", "/secrets%09/[redacted]"),
    "decoded-tab-after-the-segment": (f"/secrets\t/{KEY}", "/secrets\t/[redacted]"),
    "double-encoded-slash": (f"/secrets%252F{KEY}", "/secrets%252F[redacted]"),
    "double-encoded-backslash": (f"/secrets%255C{KEY}", "/secrets%255C[redacted]"),
    "triple-encoded-slash": (f"/%2573ecrets%25252f{KEY}", "/%2573ecrets%25252f[redacted]"),
    "encoded-slash-then-a-path": (f"/receipts%2F{KEY}/burn", "/receipts%2F[redacted]/burn"),
    "prose-is-left-alone": (
        "swept 3 expired secrets and 1 receipts past retention",
        "swept 3 expired secrets and 1 receipts past retention",
    ),
}


@pytest.mark.parametrize(("text", "expected"), PATHS.values(), ids=PATHS.keys())
def test_redact(text: str, expected: str) -> None:
    """The key segment of /secrets/… and /receipts/… is replaced."""
    assert redact(text) == expected


# Every way seen of spelling the segment, of separating it from the key, and of
# what may follow the key: each combination must leave no key in the line.
SEGMENTS = {
    "plain": "secrets",
    "receipts": "receipts",
    "capitalised": "Secrets",
    "encoded-letter": "%73ecrets",
    "double-encoded-letter": "%2573ecrets",
    "upper-case-hex": "%52eceipts",
}
GAPS = {
    "slash": "/",
    "two-slashes": "//",
    "backslash": "\\",
    "encoded-slash": "%2F",
    "encoded-slash-lower": "%2f",
    "double-encoded-slash": "%252F",
    "encoded-backslash": "%5C",
    "double-encoded-backslash": "%255c",
    "encoded-tab-then-slash": "%09/",
    "slash-then-encoded-tab": "/%09",
    "raw-tab-then-slash": "\t/",
    "path-parameter": ";v=1/",
    "slash-encoded-slash": "/%2F",
    "decoded-space": "/ ",
}
TAILS = {"end": "", "parameter": ";x", "burn": "/burn", "query": "?x=1", "quote": "'", "tab": "%09"}


@pytest.mark.parametrize("tail", TAILS.values(), ids=TAILS.keys())
@pytest.mark.parametrize("gap", GAPS.values(), ids=GAPS.keys())
@pytest.mark.parametrize("segment", SEGMENTS.values(), ids=SEGMENTS.keys())
def test_no_spelling_of_the_path_leaves_a_key(segment: str, gap: str, tail: str) -> None:
    """However the segment, its separator and the rest are spelled, the key is redacted."""
    for lead in ("/", "\\", "http://h/x/"):
        line = f"POST {lead}{segment}{gap}{KEY}{tail} 404"
        redacted = redact(line)
        assert KEY not in redacted, line
        assert REDACTED in redacted


def _record(msg: str, args: tuple[object, ...] = (), **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("sanic.access", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_filter_rewrites_message_args_and_request_extra() -> None:
    """Formatted args and Sanic's `request` extra are redacted before any handler sees them."""
    record = _record("handling %s", (f"/secrets/{KEY}",), request=f"GET /secrets/{KEY}")
    assert RedactKeys().filter(record)
    assert KEY not in record.getMessage()
    assert KEY not in record.request  # type: ignore[attr-defined]


def test_filter_redacts_tracebacks() -> None:
    """An exception whose text holds a key is redacted too."""
    try:
        raise ValueError(f"bad /secrets/{KEY}")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "sanic.error", logging.ERROR, __file__, 1, "boom", (), sys.exc_info()
        )
    RedactKeys().filter(record)
    assert record.exc_text is not None
    assert KEY not in record.exc_text
    assert KEY not in logging.Formatter().format(record)


def test_install_is_idempotent_and_config_filters_every_handler() -> None:
    """The filter is attached once per logger and on every configured handler."""
    install_redaction()
    install_redaction()
    assert sum(isinstance(f, RedactKeys) for f in logging.getLogger("sanic.access").filters) == 1
    config = log_config()
    assert all(h["filters"] == ["redact_keys"] for h in config["handlers"].values())


def test_ots_info_lines_reach_stderr_redacted() -> None:
    """After the app's set-up, ots's INFO lines (sweeps) print on stderr, without keys."""
    script = (
        "import logging, logging.config\n"
        "from ots.api.logs import install_ots_handler, log_config\n"
        "install_ots_handler()\n"
        "install_ots_handler()\n"
        "logging.config.dictConfig(log_config())\n"
        "logging.getLogger('ots.sweeper').info('swept 3 expired secrets')\n"
        "logging.getLogger('ots.sweeper').debug('not this')\n"
        f"logging.getLogger('ots.api').warning('failed on /secrets/{KEY}')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stderr.count("swept 3 expired secrets") == 1
    assert "failed on /secrets/[redacted]" in result.stderr
    assert "not this" not in result.stderr + result.stdout
    assert KEY not in result.stderr + result.stdout
