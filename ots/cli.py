"""Command line: ``ots serve|migrate|sweep`` and ``ots keys [rotate|remove ID]``.

No business logic here.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from collections.abc import Sequence

from ots import keyring
from ots.config import Settings
from ots.errors import ConfigError

EXIT_CONFIG = 2
EXIT_DATABASE = 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ots`` command; return the process exit code."""
    parser = argparse.ArgumentParser(prog="ots", description="One-time secret service.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="apply pending migrations, then serve HTTP")
    commands.add_parser("migrate", help="apply pending migrations and exit")
    commands.add_parser("sweep", help="delete expired secrets once and exit (for a scheduler)")
    keys = commands.add_parser(
        "keys", help="list the server keyring (OTS_SERVER_KEY_FILE); rotate or remove a key"
    )
    actions = keys.add_subparsers(dest="action")
    actions.add_parser("rotate", help="add a new key; new secrets are sealed under it")
    remove = actions.add_parser(
        "remove", help="drop a key: the secrets it sealed can never be read again"
    )
    remove.add_argument("key_id")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "keys":
            return _keys(settings, args.action, getattr(args, "key_id", ""))
        if args.command != "sweep":
            # Sweeping decrypts nothing, so it never needs (or creates) the key.
            _ensure_keyring(settings)
    except ConfigError as exc:
        print(f"ots: bad setting {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not _migrate(settings):
        return EXIT_DATABASE
    if args.command == "serve":
        _serve(settings)
    elif args.command == "sweep":
        removed = asyncio.run(_sweep(settings))
        print(f"ots: swept {removed} expired secrets")
    return 0


def _ensure_keyring(settings: Settings) -> None:
    ring, created = keyring.ensure(settings.server_key_path)
    if created:
        print(f"ots: {keyring.created_message(settings.server_key_path, ring)}", file=sys.stderr)


def _keys(settings: Settings, action: str | None, key_id: str) -> int:
    path = settings.server_key_path
    if action == "rotate":
        added = keyring.rotate(path)
        print(f"ots: added key {added.id} to {path}; it seals new secrets once servers restart")
        return 0
    if action == "remove":
        keyring.remove(path, key_id)
        print(f"ots: removed key {key_id}; restart the servers so none still holds it")
        return 0
    ring = keyring.load(path)
    for key in ring.keys:
        print(f"{key.id}{'  (seals new secrets)' if key is ring.newest else ''}")
    return 0


def _migrate(settings: Settings) -> bool:
    from ots import db

    try:
        applied = asyncio.run(db.migrate(settings))
    except Exception as exc:
        print(
            f"ots: cannot prepare the database ({type(exc).__name__}: {exc}); "
            "check OTS_DATABASE_URL and that the database is running",
            file=sys.stderr,
        )
        return False
    if applied:
        print(f"ots: applied migrations {', '.join(applied)}", file=sys.stderr)
    return True


async def _sweep(settings: Settings) -> int:
    import time
    from concurrent.futures import ThreadPoolExecutor

    from ots import db
    from ots.service import SecretService

    context = await db.open_database(settings)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            # The ring is never read by a sweep: an empty one keeps `ots sweep` key-free.
            keys = keyring.KeyFile(settings.server_key_path, keyring.Keyring(()))
            service = SecretService(settings, time.time, pool, keys)
            try:
                return await service.sweep_expired()
            finally:
                await service.close()
    finally:
        await db.close_database(context)


def _serve(settings: Settings) -> None:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from ots.app import create_app

    # Workers are separate processes that rebuild the app from this loader.
    loader = AppLoader(factory=functools.partial(create_app, settings))
    app = loader.load()
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=True,
        motd=False,
    )
    Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
