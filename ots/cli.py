"""Command line: ``ots serve``, ``ots migrate``, ``ots sweep``. No business logic here."""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from collections.abc import Sequence

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
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
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
            return await SecretService(settings, time.time, pool).sweep_expired()
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
