"""Log redaction: no log line may carry a secret key or a receipt key."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, Final, TextIO
from urllib.parse import unquote

from sanic.log import LOGGING_CONFIG_DEFAULTS

# "%", "%25", "%2525", ...: a percent sign, encoded again any number of times.
_PERCENT: Final = r"%(?:25)*"
# What a router, a proxy or a log that decodes the path may take for the boundary
# between two segments, encoded at any depth: a slash (%2F, %252F), a backslash
# (%5C), a control character or a space (%09, %0A, %20), DEL (%7F).
_ENCODED_SEPARATOR: Final = r"(?:2[Ff]|5[Cc]|[01][0-9A-Fa-f]|20|7[Ff])"
# Before the segment: a slash, a backslash or a tab, raw or encoded.
_LEAD: Final = rf"(?:[/\\\t]|{_PERCENT}{_ENCODED_SEPARATOR})"
# The segment: letters and digits, raw or percent-encoded, but no encoded separator
# (else /receipts%2FKEY/burn would read as one segment "receipts/KEY").
_NAME: Final = rf"(?:[A-Za-z0-9]|%(?!(?:25)*{_ENCODED_SEPARATOR})[0-9A-Fa-f]{{2}})+"
# Between segment and key: any run of separators, raw whitespace (a log of the
# decoded path) and ;parameters: /secrets//KEY, /secrets;x/KEY, /secrets%252FKEY.
_GAP: Final = rf"(?:[/\\\s]|{_PERCENT}{_ENCODED_SEPARATOR}|;[^/\\\s?#\"';]*)+"
# The key runs to the next separator, query or quote; a ;parameter stays inside it.
_KEY: Final = r"[^/\\\s?#\"']+"
# Zero-width, so that every separator starts a candidate (a key may itself look like
# a segment: /x/secrets/KEY). Whether the segment (group 1) is "secrets" or
# "receipts" is decided after decoding, so /Secrets/, /%73ecrets/ and /%2573ecrets/
# are all caught; group 2 is the key.
SEGMENT_AND_KEY: Final = re.compile(rf"(?={_LEAD}({_NAME}){_GAP}({_KEY}))")
KEYED_SEGMENTS: Final = frozenset({"secrets", "receipts", "requests"})
REDACTED: Final = "[redacted]"
# Percent-decodings tried on a segment name: %2573ecrets is "secrets" twice encoded.
MAX_DECODINGS: Final = 8
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
    """Replace the key segment of ``/secrets/…``, ``/receipts/…`` and ``/requests/…`` paths.

    Case-insensitive and through percent-encoding (applied several times over),
    whatever separates the segment from the key: slashes or backslashes, raw or
    encoded (``%2F``, ``%252F``, ``%5C``), encoded control characters (``%09``),
    empty segments (``//``) and ``;`` parameters. A router, a proxy or a client
    may spell the path any of these ways; over-redacting is harmless.
    """
    pieces = []
    done = 0
    for match in SEGMENT_AND_KEY.finditer(text):
        start, end = match.span(2)
        if start >= done and _is_keyed(match.group(1)):
            pieces += [text[done:start], REDACTED]
            done = end
    return "".join(pieces) + text[done:] if pieces else text


def _is_keyed(name: str) -> bool:
    for _ in range(MAX_DECODINGS):
        decoded = unquote(name)
        if decoded == name:
            break
        name = decoded
    return name.lower() in KEYED_SEGMENTS


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
