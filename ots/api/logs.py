"""Log redaction: no log line may carry a secret key or a receipt key."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, Final, TextIO
from urllib.parse import unquote

from sanic.log import LOGGING_CONFIG_DEFAULTS

# A path segment (letters, possibly percent-encoded), a slash (possibly encoded),
# then the key. Whether the segment is "secrets" or "receipts" is decided after
# decoding, so /Secrets/, /%73ecrets/ and /%2573ecrets/ are all caught.
# Zero-width, so that every slash starts a candidate (a key may itself look like
# a segment: /x/secrets/KEY). Group 1 is the segment with its slashes, group 2 the key.
SEGMENT_AND_KEY: Final = re.compile(
    r"(?=(/(?:[A-Za-z0-9]|%[0-9A-Fa-f]{2})+(?:/|%2[Ff]))([^/\s?#\"']+))"
)
KEYED_SEGMENTS: Final = frozenset({"secrets", "receipts"})
REDACTED: Final = "[redacted]"
MAX_DECODINGS: Final = 3
# Sanic's own loggers, and ours; a filter on a logger sees every record logged there.
REDACTED_LOGGERS: Final = (
    "sanic.root",
    "sanic.error",
    "sanic.access",
    "sanic.server",
    "ots",
    "uvicorn.access",
    "uvicorn.error",
)


def redact(text: str) -> str:
    """Replace the key segment of ``/secrets/…`` and ``/receipts/…`` paths.

    Case-insensitive and through percent-encoding (applied up to three times),
    as the router and a client may spell the path either way.
    """
    pieces = []
    done = 0
    for match in SEGMENT_AND_KEY.finditer(text):
        start, end = match.span(2)
        if start >= done and _is_keyed(match.group(1)):
            pieces += [text[done:start], REDACTED]
            done = end
    return "".join(pieces) + text[done:] if pieces else text


def _is_keyed(segment: str) -> bool:
    for _ in range(MAX_DECODINGS):
        segment = unquote(segment)
    return segment.strip("/").lower() in KEYED_SEGMENTS


class RedactKeys(logging.Filter):
    """Rewrite records so that key segments of paths never reach a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the message, its arguments and Sanic's ``request`` extra in place."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        # Arguments are redacted one by one, not merged into the message: some
        # formatters (uvicorn's access log) read them by position.
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(arg) for arg in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: _redact_value(arg) for key, arg in record.args.items()}
        request = getattr(record, "request", None)
        if isinstance(request, str):
            record.request = redact(request)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _redact_value(value: object) -> object:
    # Numbers stay numbers for %d; anything else may print a URL, so it is redacted as text.
    if value is None or isinstance(value, int | float):
        return value
    return redact(str(value))


def install_redaction() -> None:
    """Attach the redaction filter to every logger that might print a path (idempotent)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactKeys) for f in logger.filters):
            logger.addFilter(RedactKeys())


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler on the current ``sys.stderr``, as ``logging.lastResort`` is.

    Not the one there when it was made: a test runner, say, may swap it.
    """

    def __init__(self) -> None:
        """Skip StreamHandler's own ``__init__``, which would store a stream."""
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        """The current ``sys.stderr``."""
        return sys.stderr


def install_ots_handler() -> None:
    """Print ots's own lines (sweeps, migrations, warnings) on stderr, redacted (idempotent).

    A handler of its own rather than an entry in Sanic's logging config:
    ``dictConfig`` resets the handlers of a configured logger's children,
    which would take the audit log's (``ots.audit``) away.
    """
    logger = logging.getLogger("ots")
    if not any(getattr(h, "ots_lines", False) for h in logger.handlers):
        handler = _Stderr()
        handler.ots_lines = True  # type: ignore[attr-defined]
        # Child loggers' records skip the "ots" logger's filter: the handler redacts.
        handler.addFilter(RedactKeys())
        handler.setFormatter(
            logging.Formatter("%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")
        )
        logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


def log_config() -> dict[str, Any]:
    """Return Sanic's logging config with the redaction filter on every handler."""
    # A shallow copy per section: the handlers hold streams, which cannot be deep-copied.
    config = dict(LOGGING_CONFIG_DEFAULTS)
    config["filters"] = {"redact_keys": {"()": RedactKeys}}
    # Handlers are rebuilt by every dictConfig; loggers persist, so their filter is
    # attached once by install_redaction() instead of once per app.
    config["handlers"] = {
        name: {**entry, "filters": ["redact_keys"]}
        for name, entry in LOGGING_CONFIG_DEFAULTS["handlers"].items()
    }
    return config
