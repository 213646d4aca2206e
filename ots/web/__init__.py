"""Pages for browsers: share a secret at ``/``, open one at its link, read a receipt.

Same server, same origin, same links as the API: ``install`` adds the share
page and the static files, and ``serve_pages`` (a request middleware) answers
``/secrets/{secret_key}``, ``/receipts/{receipt_key}`` and the form posts with
a page when the request asks for one. ``OTS_WEB=false`` installs none of it.
"""

from __future__ import annotations

from typing import Any

from sanic import Sanic

from ots.web.errors import ErrorPages
from ots.web.pages import bp, serve_pages
from ots.web.render import Renderer


def install(app: Sanic[Any, Any], renderer: Renderer) -> None:
    """Add the pages' routes to ``app``; its request middleware is ``serve_pages``."""
    app.ctx.web = renderer
    app.blueprint(bp)


__all__ = ["ErrorPages", "Renderer", "install", "serve_pages"]
