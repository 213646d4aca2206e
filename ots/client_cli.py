"""The client subcommands of ``ots``: share, reveal, status, receipt and burn.

They talk to a server over HTTP through ``ots.client`` and import nothing of
the server. Exit codes, for scripts: 0 ok, 1 not found or not pending (or a
sealed answer that does not open), 2 usage (a bad argument, a bad link, or a
request the server refuses as such), 3 wrong passphrase, 4 retry later (429,
503, 507, a server error, or no answer).

``share --sealed`` encrypts here and prints one link; ``reveal LINK``
decrypts here (``docs/sealed-v1.md``). A link names its server, which is
used unless ``--url`` is given.
"""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TextIO

from ots import sealed
from ots.client import (
    DEFAULT_URL,
    URL_VARIABLE,
    ApiError,
    Client,
    ClientError,
    InvalidLink,
    InvalidRequest,
    NotFound,
    NotOpened,
    NotPending,
    WrongMode,
    WrongPassphrase,
)
from ots.domain import NOTIFIABLE

EXIT_OK: Final = 0
EXIT_NOT_FOUND: Final = 1
EXIT_USAGE: Final = 2
EXIT_WRONG_PASSPHRASE: Final = 3
EXIT_RETRY_LATER: Final = 4
EXIT_INTERRUPTED: Final = 130
CLI_MAX_WAIT: Final = 2.0
# 128 bits, in the URL-safe alphabet the keys use.
GENERATED_PASSPHRASE_BYTES: Final = 16
NOTIFY_EVENTS: Final = tuple(event.value for event in NOTIFIABLE)
COMMANDS: Final = ("share", "reveal", "status", "receipt", "burn")
EXIT_CODES_HELP: Final = (
    "exit codes: 0 ok, 1 not found or not pending, 2 usage, 3 wrong passphrase, "
    "4 retry later (429, 503, 507, no answer)"
)


class UsageError(Exception):
    """The command cannot run as asked (exit 2)."""


def add_commands(commands: Any) -> None:
    """Add the client subcommands to ``ots``'s subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        help=f"the ots server (default: ${URL_VARIABLE}, else {DEFAULT_URL})",
    )
    common.add_argument("--json", action="store_true", help="print JSON, for scripts")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(  # type: ignore[no-any-return]
            name, parents=[common], help=text, description=text, epilog=EXIT_CODES_HELP
        )

    share = command("share", "store a secret (from stdin or --file) and print its keys")
    share.add_argument("--file", type=Path, help="read the secret from this file, not stdin")
    share.add_argument(
        "--sealed",
        action="store_true",
        help="encrypt here, so the server never sees the secret; print one link to hand over "
        "(no passphrase unless --with-passphrase, --passphrase-file or --generate-passphrase)",
    )
    passphrase = share.add_mutually_exclusive_group()
    passphrase.add_argument(
        "--with-passphrase",
        action="store_true",
        help="with --sealed: ask for a passphrase that the link alone does not give",
    )
    passphrase.add_argument(
        "--passphrase-file", type=Path, help="read the passphrase from the file's first line"
    )
    passphrase.add_argument(
        "--generate-passphrase",
        action="store_true",
        help="make up a strong passphrase and print it with the keys",
    )
    share.add_argument("--ttl", type=int, help="seconds until it expires (the server's default)")
    share.add_argument(
        "--notify", metavar="URL", help="POST its events to this webhook (prints webhook_secret)"
    )
    share.add_argument(
        "--notify-event",
        action="append",
        choices=NOTIFY_EVENTS,
        metavar="EVENT",
        help=f"only this event (repeatable): {', '.join(NOTIFY_EVENTS)}; default all",
    )
    reveal = command("reveal", "write a secret to stdout, exactly as stored; it is then gone")
    reveal.add_argument(
        "secret_key", metavar="KEY_OR_LINK", help="a secret_key, or a sealed link (decrypted here)"
    )
    reveal.add_argument(
        "--passphrase-file", type=Path, help="read the passphrase from the file's first line"
    )
    command("status", "tell whether a secret can still be revealed (reads nothing)").add_argument(
        "secret_key"
    )
    command("receipt", "show what became of a secret (its receipt)").add_argument("receipt_key")
    command("burn", "destroy a secret before it is read").add_argument("receipt_key")


def run(args: argparse.Namespace) -> int:
    """Run one client subcommand; return its exit code."""
    out = _Output(args.json)
    try:
        # Retried once, briefly: a script that gets exit 4 decides when to come back.
        with Client(_server(args), retries=1, max_wait=CLI_MAX_WAIT) as client:
            return _RUNNERS[args.command](client, args, out)
    except (UsageError, InvalidLink) as exc:
        return out.failure(EXIT_USAGE, {"error": "usage", "message": str(exc)})
    except NotOpened as exc:
        return out.failure(EXIT_NOT_FOUND, {"error": "not_opened", "message": str(exc)})
    except ApiError as exc:
        # An answer that is not ots's (a proxy's error page) still gets a code.
        failure = {**exc.body, "error": exc.error or "unexpected_answer", "message": exc.message}
        return out.failure(_exit_code(exc), failure)
    except ClientError as exc:
        return out.failure(EXIT_RETRY_LATER, {"error": "no_answer", "message": str(exc)})
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED


def _server(args: argparse.Namespace) -> str | None:
    # A sealed link names its server; --url still wins, as it does everywhere.
    if args.url is None and args.command == "reveal" and sealed.is_link(args.secret_key):
        try:
            return sealed.parse_link(args.secret_key).server
        except sealed.SealedFormatError as exc:
            raise UsageError(str(exc)) from None
    return args.url  # type: ignore[no-any-return]


def _exit_code(error: ApiError) -> int:
    if isinstance(error, NotFound | NotPending):
        return EXIT_NOT_FOUND
    if isinstance(error, WrongPassphrase):
        return EXIT_WRONG_PASSPHRASE
    if isinstance(error, InvalidRequest | WrongMode):
        return EXIT_USAGE
    return EXIT_RETRY_LATER


class _Output:
    """Writes results and failures, as text for people or JSON for scripts."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def result(self, fields: dict[str, Any], stream: TextIO | None = None) -> int:
        stream = stream or sys.stdout
        if self.as_json:
            print(json.dumps(fields), file=stream)
        else:
            width = max(len(name) for name in fields)
            for name, value in fields.items():
                shown = "-" if value is None else value
                if isinstance(value, dict | list):
                    shown = json.dumps(value)
                print(f"{name.ljust(width)}  {shown}", file=stream)
        return EXIT_OK

    def failure(self, code: int, body: dict[str, Any]) -> int:
        if self.as_json:
            print(json.dumps(body))
        else:
            message = str(body.get("message", ""))
            if "attempts_left" in body:
                message += f" ({body['attempts_left']} attempts left)"
            problems = [f"{p['field']} {p['message']}" for p in body.get("details") or []]
            if problems:
                message = f"{message.rstrip('.')}: {'; '.join(problems)}"
            print(f"ots: {message}", file=sys.stderr)
        return code


def _read_secret(path: Path | None) -> bytes:
    # Kept exactly: trailing newlines and all.
    if path is None:
        if sys.stdin.isatty():
            print("Type the secret, then Ctrl-D on a line of its own:", file=sys.stderr)
        return sys.stdin.buffer.read()
    return _read_file(path)


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the secret must be UTF-8 text (or use --sealed)") from None


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _passphrase_from(path: Path) -> str:
    # The first line, without its line ending: files made by `echo` end in one.
    try:
        lines = _read_file(path).decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    if not lines or not lines[0]:
        raise UsageError(f"{path} holds no passphrase on its first line")
    return lines[0]


def _prompt(confirm: bool) -> str:
    try:
        # Refuse rather than let getpass fall back to stdin, which holds the secret.
        Path("/dev/tty").open("rb").close()
    except OSError:
        raise UsageError(
            "no terminal to ask for the passphrase; use --passphrase-file"
            + (" or --generate-passphrase" if confirm else "")
        ) from None
    passphrase = getpass.getpass("Passphrase: ")
    if not passphrase:
        raise UsageError("the passphrase must not be empty")
    if confirm and getpass.getpass("Passphrase again: ") != passphrase:
        raise UsageError("the passphrases differ")
    return passphrase


def _share(client: Client, args: argparse.Namespace, out: _Output) -> int:
    if args.with_passphrase and not args.sealed:
        raise UsageError("--with-passphrase goes with --sealed (a passphrase is asked anyway)")
    if args.notify_event and args.notify is None:
        raise UsageError("--notify-event needs --notify URL")
    secret = _read_secret(args.file)
    if not secret:
        raise UsageError("the secret must not be empty")
    notify = {"notify_url": args.notify, "notify_events": args.notify_event}
    passphrase: str | None = None
    if args.sealed:
        if args.with_passphrase or args.generate_passphrase or args.passphrase_file:
            passphrase = _share_passphrase(args)
        fields = client.generate_sealed_secret(secret, passphrase, args.ttl, **notify).to_dict()
    else:
        passphrase = _share_passphrase(args)
        fields = client.generate_secret(_text(secret), passphrase, args.ttl, **notify).to_dict()
    if args.generate_passphrase:
        fields["passphrase"] = passphrase
    return out.result(fields)


def _share_passphrase(args: argparse.Namespace) -> str:
    if args.generate_passphrase:
        return secrets.token_urlsafe(GENERATED_PASSPHRASE_BYTES)
    if args.passphrase_file is not None:
        return _passphrase_from(args.passphrase_file)
    return _prompt(confirm=True)


def _reveal(client: Client, args: argparse.Namespace, out: _Output) -> int:
    if sealed.is_link(args.secret_key):
        needs = sealed.parse_link(args.secret_key).needs_passphrase
        passphrase = _reveal_passphrase(args) if needs else None
        secret = client.reveal_sealed_secret(args.secret_key, passphrase)
    else:
        text = client.reveal_secret(args.secret_key, _reveal_passphrase(args))
        secret = text.encode("utf-8")
    if out.as_json:
        try:
            return out.result({"secret": secret.decode("utf-8")})
        except UnicodeDecodeError:
            # JSON holds text only: a binary sealed secret comes as base64url.
            return out.result({"secret_base64url": sealed.b64encode(secret)})
    # The exact secret and nothing else: no newline is added.
    sys.stdout.buffer.write(secret)
    sys.stdout.flush()
    return EXIT_OK


def _reveal_passphrase(args: argparse.Namespace) -> str:
    if args.passphrase_file is not None:
        return _passphrase_from(args.passphrase_file)
    return _prompt(confirm=False)


def _status(client: Client, args: argparse.Namespace, out: _Output) -> int:
    return out.result(client.check_secret(args.secret_key).to_dict())


def _receipt(client: Client, args: argparse.Namespace, out: _Output) -> int:
    return out.result(client.get_receipt(args.receipt_key).to_dict())


def _burn(client: Client, args: argparse.Namespace, out: _Output) -> int:
    client.burn_secret(args.receipt_key)
    return out.result({"state": "burned"})


_RUNNERS: Final[dict[str, Callable[[Client, argparse.Namespace, _Output], int]]] = {
    "share": _share,
    "reveal": _reveal,
    "status": _status,
    "receipt": _receipt,
    "burn": _burn,
}
