"""``ots tokens add|list|revoke``: the operator's side of API tokens.

Run on the server (it needs the database and the server keyring, as ``ots
keys`` does). ``add`` prints the token once; nothing can print it again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final

from ots.config import Settings
from ots.tokens import MAX_INT, MAX_NAME_CHARS, Token, TokenLimits

if TYPE_CHECKING:  # the database layers load only when a token command runs
    from ots.access import TokenAdmin

EXIT_NOT_FOUND: Final = 1
# A hundred years: far beyond any use, and far from the 64-bit column's end.
MAX_LIFETIME: Final = 100 * 365 * 86400
# What `list` says of a token whose server key was removed (ots keys remove): it opens nothing.
KEY_REMOVED: Final = "key_removed"


def add_arguments(tokens: argparse.ArgumentParser) -> None:
    """Add the ``add``, ``list`` and ``revoke`` actions to the ``tokens`` command."""
    actions = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="make a token; it is printed once, and never again")
    add.add_argument("name", help=f"what the token is for (at most {MAX_NAME_CHARS} characters)")
    add.add_argument("--expires-in", type=int, metavar="SECONDS", help="lifetime (default: none)")
    add.add_argument(
        "--rate-limit", metavar="N/PERIOD", help="the token's own limit, e.g. 100/hour"
    )
    add.add_argument("--max-bytes", type=int, metavar="N", help="bytes of live secrets it may hold")
    add.add_argument("--json", action="store_true", help="print JSON")
    listing = actions.add_parser("list", help="every token: name, times, state (never the token)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    revoke = actions.add_parser("revoke", help="revoke a token for good")
    revoke.add_argument("token_id", type=int, metavar="ID")
    revoke.add_argument("--json", action="store_true", help="print JSON")


def usage_problem(args: argparse.Namespace) -> str | None:
    """Say what is wrong with the command's arguments, before anything is opened; else None."""
    if args.action == "revoke" and not 1 <= args.token_id <= MAX_INT:
        return f"a token's id is between 1 and {MAX_INT}"
    if args.action != "add":
        return None
    name = args.name.strip()
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        return f"a token's name is 1 to {MAX_NAME_CHARS} printable characters"
    if args.expires_in is not None and not 1 <= args.expires_in <= MAX_LIFETIME:
        return f"--expires-in must be between 1 and {MAX_LIFETIME} seconds"
    try:
        TokenLimits(args.rate_limit, args.max_bytes)
    except ValueError as exc:
        return f"--rate-limit must be one rate such as 100/hour, --max-bytes at least 1 ({exc})"
    return None


def run(
    settings: Settings,
    args: argparse.Namespace,
    runner: Callable[[Coroutine[Any, Any, int]], int] = asyncio.run,
) -> int:
    """Carry out ``ots tokens ACTION`` (its arguments checked); return the exit code.

    ``runner`` runs the command's event loop: ``ots`` passes its stop control's,
    under which a stop cancels the work at an ``await`` (``ots.stop``).
    """
    return runner(_run(settings, args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    # Imported here: the database layers are not needed to parse the command line.
    from ots.wiring import token_admin

    async with token_admin(settings) as admin:
        if args.action == "add":
            return await _add(admin, args)
        if args.action == "list":
            return await _list(admin, args.json)
        return await _revoke(admin, args.token_id, args.json)


async def _add(admin: TokenAdmin, args: argparse.Namespace) -> int:
    issued = await admin.add(
        args.name.strip(), args.expires_in, TokenLimits(args.rate_limit, args.max_bytes)
    )
    token = issued.token
    if args.json:
        _print_json(
            {
                "id": token.id,
                "name": token.name,
                "token": issued.text,
                "expires_at": _time(token.expires_at),
            }
        )
    else:
        print(issued.text)
        print(
            f"ots: token {token.id} ({token.name}) made; it is shown once, keep it now",
            file=sys.stderr,
        )
    return 0


async def _list(admin: TokenAdmin, as_json: bool) -> int:
    now = admin.now()
    views = [_view(token, now, admin.has_key(token)) for token in await admin.all()]
    if as_json:
        _print_json({"tokens": views})
        return 0
    for view in views:
        print(
            f"{view['id']}\t{view['name']}\t{view['state']}\tcreated {view['created_at']}\t"
            f"expires {view['expires_at'] or 'never'}\tlast used {view['last_used_at'] or 'never'}"
        )
    return 0


async def _revoke(admin: TokenAdmin, token_id: int, as_json: bool) -> int:
    revoked = await admin.revoke(token_id)
    if as_json:
        _print_json({"id": token_id, "revoked": revoked})
    elif revoked:
        print(f"ots: revoked token {token_id}; it is refused from now on")
    else:
        print(f"ots: there is no token {token_id}, or it was already revoked", file=sys.stderr)
    return 0 if revoked else EXIT_NOT_FOUND


def _view(token: Token, now: int, has_key: bool) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "state": token.state(now).value if has_key else KEY_REMOVED,
        "created_at": _time(token.created_at),
        "expires_at": _time(token.expires_at),
        "last_used_at": _time(token.last_used_at),
        "revoked_at": _time(token.revoked_at),
        "rate_limit": token.limits.rate_limit,
        "max_bytes": token.limits.max_bytes,
    }


def _time(epoch: int | None) -> str | None:
    # As the wire writes times: ISO 8601, UTC, whole seconds.
    return None if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _print_json(value: dict[str, Any]) -> None:
    print(json.dumps(value, ensure_ascii=False))
