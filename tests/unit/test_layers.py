"""The module map holds: imports flow one way, with no cycle, layer by layer.

Each module of ``ots`` sits in a layer (CONTRIBUTING's map); a module may
import only modules of its own layer or below, and no chain of imports may
come back to where it started. A new module must be given its layer here.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "ots"

# From the bottom up. A package (``store``, ``api``) is one layer with all its modules.
LAYERS: list[set[str]] = [
    # The vocabulary and leaves: anyone may import these.
    {
        "domain",
        "tokens",
        "errors",
        "sealed",
        "request",
        "models",
        "metrics",
        "hostgate",
        "ssrf",
        "stop",
        "listen",
        "parent",
        "threads",
    },
    {"config"},
    {"policy"},
    {"crypto", "keyring", "terminal", "link", "client"},
    {"db", "events", "quota", "erasure", "ratelimit", "kdf", "tasks", "client_cli"},
    {"store"},
    {"maintenance"},
    {"admission"},
    {"service", "asking", "webhooks", "access"},
    {"wiring"},
    {"api"},
    {"web"},
    {"app"},
    {"asgi", "cli", "token_cli"},
]
# The client side speaks HTTP only: it may lift out of ots with these.
CLIENT_SIDE = {"client", "client_cli", "link", "terminal"}
CLIENT_MAY_IMPORT = CLIENT_SIDE | {"sealed", "request", "domain"}
# The store's room: the database, and the shared vocabulary.
STORE_MAY_IMPORT = {"store", "models", "db", "domain", "tokens", "errors", "metrics"}


def modules() -> dict[str, Path]:
    """Every module of ots, by dotted name without the ``ots.`` prefix."""
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            found[".".join(parts)] = path
    return found


@cache
def graph() -> dict[str, frozenset[str]]:
    """Each module's imports of other ots modules (at any depth of its code)."""
    known = modules()
    edges: dict[str, frozenset[str]] = {}
    for name, path in known.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
            else:
                continue
            for target in targets:
                short = target.removeprefix("ots.")
                if target.startswith("ots.") and short in known:
                    found.add(short)
        # ``from ots.store import sql`` names the submodule, not the package too.
        submodules = {m for m in found if "." in m}
        found -= {m.rsplit(".", 1)[0] for m in submodules if m.rsplit(".", 1)[0] != name}
        edges[name] = frozenset(found - {name})
    return edges


def group(module: str) -> str:
    """The module's place in LAYERS: its top-level name (a package counts as one)."""
    return module.split(".")[0]


def layer(module: str) -> int:
    """The index of the module's layer."""
    for index, members in enumerate(LAYERS):
        if group(module) in members:
            return index
    raise AssertionError(f"ots.{module} has no layer: add it to LAYERS (and CONTRIBUTING's map)")


def test_every_module_has_a_layer() -> None:
    """A new module is placed on purpose."""
    for module in modules():
        layer(module)


def test_no_module_imports_a_layer_above_it() -> None:
    """Lower layers never import upper ones."""
    upward = [
        f"ots.{a} -> ots.{b}"
        for a, targets in graph().items()
        for b in targets
        if layer(b) > layer(a)
    ]
    assert upward == []


def cycle(edges: dict[str, frozenset[str]]) -> list[str] | None:
    """Return a chain of imports that comes back to where it started, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for target in sorted(edges.get(module, frozenset())):
            if (found := visit(target, [*path, module])) is not None:
                return found
        done.add(module)
        return None

    for module in sorted(edges):
        if (found := visit(module, [])) is not None:
            return found
    return None


def test_no_import_cycle() -> None:
    """No chain of imports between modules comes back to where it started."""
    assert cycle(graph()) is None


def test_the_checks_have_teeth() -> None:
    """The graph has the edges the map names, and a cycle is found where there is one."""
    assert "models" in graph()["store.sql"]
    assert "wiring" in graph()["api.context"]
    looped = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"})}
    assert cycle(looped) == ["a", "b", "c", "a"]


RULES = {"client side": (CLIENT_SIDE, CLIENT_MAY_IMPORT), "store": ({"store"}, STORE_MAY_IMPORT)}


@pytest.mark.parametrize(("who", "may"), RULES.values(), ids=RULES.keys())
def test_rooms_import_only_what_they_may(who: set[str], may: set[str]) -> None:
    """The client side imports nothing of the server; the store only the database's modules."""
    stray = [
        f"ots.{a} -> ots.{b}"
        for a, targets in graph().items()
        if group(a) in who
        for b in targets
        if group(b) not in may
    ]
    assert stray == []
