"""Command line: ``ots serve|migrate|sweep`` and ``ots keys [rotate|remove ID]``.

No business logic here.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from ots.stop import Interrupted, StopControl

# Installed at import, before the slower imports below: a stop during start-up
# is then a quiet exit 0 from the very first moments of `ots serve`.
STOP = StopControl()


def _quiet_exit(*_: object) -> None:
    # Once: a second signal while exiting would interrupt the interpreter's shutdown.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, signal.SIG_IGN)
    sys.exit(0)


if "__mp_main__" in sys.modules:  # pragma: no cover - only in Sanic's spawned workers
    # A worker imports this module (as part of __mp_main__) first of all: until
    # Sanic installs its own handlers, a stop ends it quietly, with no
    # KeyboardInterrupt traceback.
    for _signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(_signal, _quiet_exit)
elif __name__ == "__main__" or Path(sys.argv[0]).name == "ots":
    STOP.install()

from ots import keyring  # noqa: E402 - after the signal handlers, on purpose
from ots.config import Settings  # noqa: E402
from ots.domain import Swept  # noqa: E402
from ots.errors import ConfigError  # noqa: E402

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
    STOP.install()
    try:
        return _run(args, STOP)
    except Interrupted:
        # SIGTERM or SIGINT before serving began: a normal stop.
        return 0


def _run(args: argparse.Namespace, stop: StopControl) -> int:
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
        stop.serving()
        _serve(settings, stop)
    elif args.command == "sweep":
        swept = asyncio.run(_sweep(settings))
        print(
            f"ots: swept {swept.secrets} expired secrets "
            f"and {swept.receipts} receipts past retention"
        )
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


async def _sweep(settings: Settings) -> Swept:
    from concurrent.futures import ThreadPoolExecutor

    from ots import db
    from ots.kdf import KdfPool
    from ots.service import SecretService
    from ots.store import TortoiseStore

    context = await db.open_database(settings)
    try:
        # Sweeping hashes nothing and reads no key: an idle pool and an empty
        # ring keep `ots sweep` free of both.
        kdf = KdfPool(ThreadPoolExecutor(max_workers=1), capacity=0)
        keys = keyring.KeyFile(settings.server_key_path, keyring.Keyring(()))
        service = SecretService(settings, TortoiseStore(), kdf, keys)
        try:
            return await service.sweep()
        finally:
            await service.close()
            kdf.shutdown()
    finally:
        await db.close_database(context)


def _serve(settings: Settings, stop: StopControl) -> None:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from ots.api.connection import DeadlineProtocol
    from ots.app import create_app

    # Workers are separate processes that rebuild the app from this loader.
    loader = AppLoader(factory=functools.partial(create_app, settings))
    app = loader.load()
    app.main_process_ready(stop.on_manager_ready)
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=True,
        motd=False,
        protocol=DeadlineProtocol,
    )
    try:
        Sanic.serve(primary=app, app_loader=loader)
    except Exception:
        # A stop that lands while the manager is still spawning workers can break
        # its pipe to a worker that was stopped mid-spawn. Nothing was served by
        # that worker; the stop was asked for, so it is still a clean stop.
        if not stop.requested:
            raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
