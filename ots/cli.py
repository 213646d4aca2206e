"""Command line: ``ots serve|migrate|sweep|keys|tokens``, and the client.

The client subcommands (share, reveal, status, receipt, burn) live in
``ots.client_cli``. No business logic here.
"""

from __future__ import annotations

import argparse
import errno
import functools
import importlib.metadata
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ots.stop import Interrupted, StopControl

# Installed at import, before the slower imports below: a stop during start-up
# is then a quiet exit 0 from the very first moments of `ots serve`.
STOP = StopControl()


def _quiet_exit(*_: object) -> None:
    # A worker that is not serving yet has accepted nothing, so it has nothing to
    # finish. Raising SystemExit instead would unwind through whatever start-up
    # code runs at that moment (a connection pool half made) and print its
    # traceback; whatever it had begun in the database is rolled back.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if "__mp_main__" in sys.modules:  # pragma: no cover - only in Sanic's spawned workers
    # A worker imports this module (as part of __mp_main__) first of all: until
    # Sanic installs its own handlers, a stop ends it quietly, with no
    # KeyboardInterrupt traceback.
    for _signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(_signal, _quiet_exit)
elif __name__ == "__main__" or Path(sys.argv[0]).name == "ots":
    STOP.install()

from ots import keyring, listen, token_cli  # noqa: E402 - after the signal handlers, on purpose
from ots.config import (  # noqa: E402
    COMMAND_SETTINGS,
    HELP,
    Settings,
    describe_settings,
    sqlite_path,
    unknown_variables,
)
from ots.domain import Swept  # noqa: E402
from ots.errors import ConfigError  # noqa: E402

EXIT_CONFIG = 2
EXIT_DATABASE = 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ots`` command; return the process exit code."""
    # Imported here, not at the top: each server worker imports this module, and
    # the client (httpx) has no business slowing down a worker's start.
    from ots import client_cli

    args = _parser(client_cli.add_commands).parse_args(argv)
    if args.command in client_cli.COMMANDS:
        # A client waits on a person or the network: Ctrl-C ends it with 130, at once.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        return client_cli.run(args)
    STOP.install()
    try:
        return _run(args, STOP)
    except Interrupted:
        # SIGTERM or SIGINT before serving began: a normal stop.
        return 0


def _parser(add_client_commands: Callable[[Any], None]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ots",
        description="One-time secrets: the server (serve, migrate, sweep, keys, tokens) and its "
        "client (share, reveal, status, receipt, burn, list).",
    )
    parser.add_argument("--version", action="version", version=f"ots {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def server_command(name: str, text: str) -> argparse.ArgumentParser:
        settings = COMMAND_SETTINGS.get(name, tuple(HELP))
        return commands.add_parser(
            name,
            help=text,
            description=text,
            epilog="settings (environment variables):\n" + describe_settings(settings),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    server_command("serve", "apply pending migrations, then serve HTTP")
    server_command("migrate", "apply pending migrations and exit")
    server_command("sweep", "delete expired secrets once and exit (for a scheduler)")
    keys = server_command(
        "keys", "list the server keyring (OTS_SERVER_KEY_FILE); rotate or remove a key"
    )
    actions = keys.add_subparsers(dest="action")
    actions.add_parser("rotate", help="add a new key; new secrets are sealed under it")
    remove = actions.add_parser(
        "remove", help="drop a key: the secrets it sealed can never be read again"
    )
    remove.add_argument("key_id")
    token_cli.add_arguments(
        server_command("tokens", "API tokens that may create secrets: add, list, revoke")
    )
    add_client_commands(commands)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("ots")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout
        return "unknown"


def _run(args: argparse.Namespace, stop: StopControl) -> int:
    for warning in unknown_variables():
        print(f"ots: warning: {warning}", file=sys.stderr)
    try:
        settings = Settings.from_env()
        if args.command == "keys":
            return _keys(settings, args.action, getattr(args, "key_id", ""))
        if args.command == "tokens":
            problem = token_cli.usage_problem(args)
            if problem:
                print(f"ots: {problem}", file=sys.stderr)
                return EXIT_CONFIG
            problem = _database_problem(settings, args.command)
            if problem:
                print(f"ots: {problem}", file=sys.stderr)
                return EXIT_DATABASE
            if not _migrate(settings, _ensure_keyring(settings), stop):
                return EXIT_DATABASE
            return token_cli.run(settings, args, stop.run)
        if args.command == "serve":
            _check_port(settings)
            _check_argon2(settings)
        problem = _database_problem(settings, args.command)
        if problem:
            print(f"ots: {problem}", file=sys.stderr)
            return EXIT_DATABASE
        # Sweeping decrypts nothing, so it never needs (or creates) the key.
        ring = None if args.command == "sweep" else _ensure_keyring(settings)
    except ConfigError as exc:
        print(f"ots: bad setting {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not _migrate(settings, ring, stop):
        return EXIT_DATABASE
    if args.command == "serve":
        stop.serving()
        return _serve(settings, stop)
    if args.command == "sweep":
        swept = stop.run(_sweep(settings))
        print(
            f"ots: swept {swept.secrets} expired secrets "
            f"and {swept.receipts} receipts past retention"
        )
    return 0


def _database_problem(settings: Settings, command: str) -> str | None:
    """Say why the SQLite file cannot be used as ``command`` expects, or say it is new.

    ``sweep`` never creates a database: a wrong path would sweep an empty new
    file and report success. ``serve`` and ``migrate`` create one, and say so.
    """
    if not settings.is_sqlite:
        return None
    path = Path(sqlite_path(settings.database_url))
    if not path.parent.is_dir():
        return (
            f"there is no directory {path.parent.resolve()} for the database "
            "(OTS_DATABASE_URL); create it, or fix the path"
        )
    if not path.exists():
        if command == "sweep":
            return f"there is no database at {path.resolve()} (OTS_DATABASE_URL); nothing to sweep"
        print(f"ots: creating a new database at {path.resolve()}", file=sys.stderr)
    return None


def _check_port(settings: Settings) -> None:
    """Fail in one line, before migrating, when the address cannot be listened on.

    Raises:
        ConfigError: the port is taken or the address is not this machine's.
    """
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As Sanic binds: a port left in TIME_WAIT by a previous run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host, settings.port))
        except OSError as exc:
            raise ConfigError(
                "OTS_PORT" if exc.errno == errno.EADDRINUSE else "OTS_HOST",
                f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
            ) from None


def _check_argon2(settings: Settings) -> None:
    # Imported here: only `serve` hashes, and the KDF pool pulls in the metrics.
    from ots.kdf import check_argon2

    check_argon2(settings)


def _ensure_keyring(settings: Settings) -> keyring.Keyring:
    ring, created = keyring.ensure(settings.server_key_path)
    if created:
        print(f"ots: {keyring.created_message(settings.server_key_path, ring)}", file=sys.stderr)
    return ring


def _keys(settings: Settings, action: str | None, key_id: str) -> int:
    path = settings.server_key_path
    if action == "rotate":
        added = keyring.rotate(path)
        print(f"ots: added key {added.id} to {path}; it seals new secrets once servers restart")
        return 0
    if action == "remove":
        try:
            keyring.remove(path, key_id)
        except keyring.KeyRemovalError as exc:
            print(f"ots: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        print(f"ots: removed key {key_id}; restart the servers so none still holds it")
        return 0
    ring = keyring.load(path)
    for key in ring.keys:
        print(f"{key.id}{'  (seals new secrets)' if key is ring.newest else ''}")
    return 0


def _migrate(settings: Settings, ring: keyring.Keyring | None, stop: StopControl) -> bool:
    from ots import db

    try:
        migrated = stop.run(db.migrate(settings, ring))
    except Exception as exc:
        if stop.requested:  # the stop came as the error did: it is the stop
            raise Interrupted from None
        print(
            f"ots: cannot prepare the database ({type(exc).__name__}: {exc}); "
            "check OTS_DATABASE_URL and that the database is running",
            file=sys.stderr,
        )
        return False
    if migrated.applied:
        print(f"ots: applied migrations {', '.join(migrated.applied)}", file=sys.stderr)
    if migrated.keyed_verifiers:
        print(
            f"ots: keyed the access verifiers of {migrated.keyed_verifiers} sealed secrets "
            "under the server key",
            file=sys.stderr,
        )
    return True


async def _sweep(settings: Settings) -> Swept:
    # Imported here: the server's modules are not needed by the other commands.
    from ots.wiring import sweep_once

    return await sweep_once(settings)


def _serve(settings: Settings, stop: StopControl) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from ots import metrics
    from ots.api.connection import DeadlineProtocol

    # Workers are separate processes that rebuild the app from this loader.
    shared = settings.workers > 1 and listen.can_share_port()
    loader = AppLoader(factory=functools.partial(_worker_app, settings, shared))
    app = loader.load()
    app.main_process_ready(stop.on_manager_ready)
    say = _say_once_listening if shared else _say_listening
    app.main_process_ready(functools.partial(say, settings, stop))
    try:
        app.prepare(
            **_address(settings, shared),
            workers=settings.workers,
            access_log=settings.access_log,
            motd=False,
            protocol=DeadlineProtocol,
        )
        with metrics.use_multiprocess_dir():
            Sanic.serve(primary=app, app_loader=loader)
    except OSError as exc:
        if stop.requested:
            return 0
        # Taken between the check and the bind (ours or Sanic's).
        print(f"ots: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except Exception:
        # A stop that lands while the manager is still spawning workers can break
        # its pipe to a worker that was stopped mid-spawn. Nothing was served by
        # that worker; the stop was asked for, so it is still a clean stop.
        if not stop.requested:
            raise
    return 0


def _address(settings: Settings, shared: bool) -> dict[str, Any]:
    # Where Sanic serves: the address it binds, or (workers sharing the port) a socket
    # bound here, which each worker replaces with a listening one of its own.
    if shared:
        return {"sock": listen.reserve(settings.host, settings.port)}
    return {"host": settings.host, "port": settings.port}


def _worker_app(settings: Settings, shared: bool) -> Any:
    # A worker's app: it stops with the main process (``ots.parent``) and, when the
    # workers share the port (``ots.listen``), listens on a socket of its own.
    from ots.app import create_app
    from ots.parent import ParentWatch

    app = create_app(settings)
    parent = ParentWatch()
    app.before_server_start(parent.watch)
    app.before_server_stop(parent.unwatch)
    if shared:
        app.before_server_start(listen.own_socket)
    return app


def _say_once_listening(settings: Settings, stop: StopControl, *_: object) -> None:
    # The workers listen on sockets of their own once they have started (ots.listen).
    listen.when_listening(
        settings.host,
        settings.port,
        functools.partial(_say_listening, settings),
        lambda: stop.requested,
    )


def _say_listening(settings: Settings, *_: object) -> None:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    workers = f"{settings.workers} worker{'s' if settings.workers > 1 else ''}"
    print(
        f"ots: serving http://{host}:{settings.port} ({workers}); API docs at /docs",
        file=sys.stderr,
        flush=True,
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
