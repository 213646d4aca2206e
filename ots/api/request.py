r"""The request class ots serves with: an unreadable request target is answered, not dropped.

Sanic answers an error before routing with a stand-in request that it builds
from the same request target (``create_empty_request``). When the target
itself is what httptools cannot parse (``secrets/KEY`` without its leading
slash, ``\secrets\KEY``, ``sip:x``) or is over 65,535 bytes, building the
stand-in raises again: the connection is dropped without an answer and a
traceback is logged per request (sanic-org/sanic#2735, open). Here the
stand-in falls back to the target ``*``, so the client gets its 400 (or 414).
"""

from __future__ import annotations

from typing import Any, Final

from sanic import Request
from sanic.exceptions import BadRequest, URITooLong

# The method of the stand-in request Sanic builds to answer an error (http1.py).
STAND_IN_METHOD: Final = "NONE"


class OtsRequest(Request):
    """Sanic's request, whose error stand-in never fails on the target it was sent."""

    def __init__(self, url_bytes: bytes, *args: Any, **kwargs: Any) -> None:
        """Parse the request as Sanic does; the error stand-in takes ``*`` for a bad target."""
        try:
            super().__init__(url_bytes, *args, **kwargs)
        except (BadRequest, URITooLong):
            if kwargs.get("method") != STAND_IN_METHOD:
                raise
            super().__init__(b"*", *args, **kwargs)
