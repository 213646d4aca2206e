"""Which routes the rate limit counts: each route's own declaration, and what follows from it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ots.api.throttle import is_limited


def _handler(auto: bool) -> Any:
    def handler() -> None:
        """Stand in for a handler."""

    if auto:
        handler.__auto_handler__ = True  # type: ignore[attr-defined]
    return handler


def _route(path: str, declared: bool | None = None, auto: bool = False) -> Any:
    ctx = SimpleNamespace() if declared is None else SimpleNamespace(rate_limited=declared)
    return SimpleNamespace(path=path, ctx=ctx, handler=_handler(auto), router=None)


def _router(*routes: Any) -> None:
    router = SimpleNamespace(routes=routes)
    for route in routes:
        route.router = router


def test_no_route_counts() -> None:
    """A request the router matched to nothing (404, 405) counts."""
    assert is_limited(None) is True


@pytest.mark.parametrize("declared", [True, False], ids=["limited", "exempt"])
def test_a_route_is_what_it_declares(declared: bool) -> None:
    """ctx_rate_limited=True or False on the route decides."""
    route = _route("generate", declared)
    _router(route)
    assert is_limited(route) is declared


def test_a_route_that_declares_nothing_counts() -> None:
    """Forgetting the declaration fails closed (and the route-listing test fails)."""
    route = _route("new")
    _router(route)
    assert is_limited(route) is True


AUTOMATIC = {
    "exempt-path": ([False], False),
    "limited-path": ([True], True),
    "mixed-path": ([False, True], True),
    "undeclared-sibling": ([None], True),
    "no-sibling": ([], True),
}


@pytest.mark.parametrize(("siblings", "limited"), AUTOMATIC.values(), ids=AUTOMATIC.keys())
def test_an_automatic_route_follows_the_routes_on_its_path(
    siblings: list[bool | None], limited: bool
) -> None:
    """sanic-ext's HEAD and OPTIONS count when any route on their path does; worked out once."""
    automatic = _route("secrets/<key>", auto=True)
    elsewhere = _route("health", False)
    _router(automatic, elsewhere, *(_route("secrets/<key>", each) for each in siblings))
    assert is_limited(automatic) is limited
    assert automatic.ctx.rate_limited is limited
