"""``/docs``: the OpenAPI document and a Swagger UI that ots serves itself, with no CDN.

The UI's script and styles come from the ``swagger-ui-bundle`` package and
are answered by ots, so the page works with no network and is covered by a
Content-Security-Policy that allows nothing but this origin: users type keys
and passphrases on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import file, html, json
from swagger_ui_bundle import swagger_ui_path

from ots.errors import NotFoundError

bp = Blueprint("docs", url_prefix="/docs")

# Nothing inline and nothing from elsewhere; Swagger UI draws its icons as data: images.
# (Checked in headless Chromium with every non-local request refused: the page renders.)
DOCS_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
_UI_DIR: Final = Path(str(swagger_ui_path))
_ASSETS: Final = {
    "swagger-ui.css": (_UI_DIR / "swagger-ui.css", "text/css; charset=utf-8"),
    "swagger-ui-bundle.js": (_UI_DIR / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "favicon-32x32.png": (_UI_DIR / "favicon-32x32.png", "image/png"),
}
# validatorUrl null: the default sends the spec to validator.swagger.io for a badge.
_START_SCRIPT: Final = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/docs/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null
  });
};
"""
_PAGE: Final = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>ots API</title>
    <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/assets/swagger-ui-bundle.js"></script>
    <script src="/docs/assets/start.js"></script>
  </body>
</html>
"""


@bp.get("", ctx_rate_limited=False)
async def page(request: Request) -> HTTPResponse:
    """Serve the Swagger UI page."""
    del request
    return html(_PAGE, headers={"Content-Security-Policy": DOCS_CSP})


@bp.get("/openapi.json", ctx_rate_limited=False)
async def spec(request: Request) -> HTTPResponse:
    """Serve the OpenAPI document built for this app and its settings."""
    return json(request.app.ctx.openapi)


@bp.get("/assets/<name:str>", ctx_rate_limited=False)
async def asset(request: Request, name: str) -> HTTPResponse:
    """Serve one of the UI's files from the installed package.

    Raises:
        NotFoundError: ``name`` is not one of the files the page uses.
    """
    del request
    headers = {"Content-Security-Policy": DOCS_CSP}
    if name == "start.js":
        return HTTPResponse(
            _START_SCRIPT, content_type="text/javascript; charset=utf-8", headers=headers
        )
    if name not in _ASSETS:
        raise NotFoundError("There is no such file.")
    path, content_type = _ASSETS[name]
    return await file(path, mime_type=content_type, headers=headers)
