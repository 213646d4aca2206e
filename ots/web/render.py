"""Pages: Jinja2 templates rendered in the request's language, with each kind's headers.

The headers are the pages' part of the security story (the JSON answers keep
their own, set app-wide with ``setdefault``, which these override): a CSP that
allows nothing inline and nothing from another host, ``'wasm-unsafe-eval'``
only where argon2 runs; no referrer, no cache, no indexing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sanic import HTTPResponse, Request
from sanic.response import html

from ots.web.assets import Assets
from ots.web.i18n import Catalog, Catalogs

TEMPLATES: Final = Path(__file__).parent / "templates"
_POLICY: Final = (
    "default-src 'none'; script-src {script}; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class Kind(enum.Enum):
    """What a page runs, which decides its CSP."""

    PLAIN = "'self'"
    """Scripts from this origin only: receipts, results, errors."""
    ARGON2 = "'self' 'wasm-unsafe-eval'"
    """Also compiles WebAssembly (argon2id in the browser): the share and recipient pages."""

    @property
    def policy(self) -> str:
        """The Content-Security-Policy of pages of this kind."""
        return _POLICY.format(script=self.value)


PAGE_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    # Another window keeps no handle on a page that shows a secret.
    "Cross-Origin-Opener-Policy": "same-origin",
    # The same URL answers JSON or a page, in any language.
    "Vary": "Accept, Accept-Language",
}


@dataclass(frozen=True)
class Renderer:
    """Templates, catalogs and static files of one app."""

    environment: Environment
    catalogs: Catalogs
    assets: Assets
    # Whether the header links to the token holders' page: where creating needs a token or
    # a network, tokens are likely in use; an open instance keeps its header plain.
    mine_link: bool = False

    @classmethod
    def create(cls, *, mine_link: bool = False) -> Renderer:
        """Load the templates, catalogs and static files shipped in the package."""
        environment = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        return cls(environment, Catalogs.load(), Assets.load(), mine_link)

    def catalog(self, request: Request) -> Catalog:
        """The language of this request: ``?lang=``, else ``Accept-Language``, else English."""
        return self.catalogs.choose(
            request.args.get("lang"), request.headers.get("accept-language")
        )

    def page(
        self,
        request: Request,
        template: str,
        *,
        kind: Kind = Kind.PLAIN,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTTPResponse:
        """Render ``template`` for ``request`` with its kind's headers."""
        catalog = self.catalog(request)
        body = self.render(
            template,
            catalog,
            path=request.path,
            # A choice made with ?lang= is carried on by the forms and links.
            lang_query=f"?lang={catalog.code}" if request.args.get("lang") else "",
            # The language switch links to this URL: only for a page a GET can load again.
            get_only=request.method in ("GET", "HEAD"),
            **context,
        )
        return html(
            body,
            status=status,
            headers={
                **PAGE_HEADERS,
                "Content-Security-Policy": kind.policy,
                "Content-Language": catalog.code,
                **(headers or {}),
            },
        )

    def render(self, template: str, catalog: Catalog, **context: Any) -> str:
        """Render ``template`` in ``catalog``'s language; ``context`` as the page needs it."""
        return self.environment.get_template(template).render(
            t=catalog.text,
            plural=catalog.plural,
            lang=catalog.code,
            languages=[(c.code, c.name) for c in self.catalogs.by_code.values()],
            static=self.assets.url,
            when=when,
            script_text=catalog.for_script(),
            mine_link=self.mine_link,
            **context,
        )


def when(moment: int | str | None) -> dict[str, str] | None:
    """Return a time (epoch seconds, or ISO 8601 as the JSON answers carry) as ``<time>`` needs.

    That is ISO 8601 and a readable UTC text; the page script rewrites the
    text in the reader's time zone and language.
    """
    if moment is None:
        return None
    if isinstance(moment, str):
        at = datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)
    else:
        at = datetime.fromtimestamp(moment, UTC)
    return {"iso": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "text": at.strftime("%Y-%m-%d %H:%M UTC")}
