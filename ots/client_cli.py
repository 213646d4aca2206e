"""The client subcommands of ``ots``: share, reveal, status, receipt and burn.

They talk to a server over HTTP through ``ots.client`` and import nothing of
the server. Exit codes, for scripts: 0 ok, 1 not found or not pending (or a
sealed answer that does not open), 2 usage (a bad argument, a bad link, or a
request the server refuses as such), 3 wrong passphrase, 4 retry later (429,
503, 507, a server error, or no answer).

``share`` prints a link to hand over; ``share --sealed`` encrypts here and
its link carries the key (``reveal LINK`` decrypts here, ``docs/sealed-v1.md``).
``reveal``, ``status``, ``receipt`` and ``burn`` take a key or any link ots
prints (``ots.link``). A link names its server, and that server is used: at
once when it is the user's own (``--url``, else ``OTS_URL``, else the
default), else only after a yes at the terminal or ``--yes``; the same for
plain HTTP to any host but this machine. What reaches a terminal is escaped
(``ots.terminal``): a secret unless ``--raw``, a server's message always.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TextIO

from ots import link, sealed, terminal
from ots import request as request_format
from ots.client import (
    DEFAULT_URL,
    TOKEN_VARIABLE,
    URL_VARIABLE,
    AlreadyAnswered,
    ApiError,
    Asked,
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
from ots.link import Kind, LinkError, Target

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
COMMANDS: Final = ("share", "reveal", "status", "receipt", "burn", "list", "request", "answer")
KINDS: Final = {
    "reveal": Kind.SECRET,
    "status": Kind.SECRET,
    "receipt": Kind.RECEIPT,
    "burn": Kind.RECEIPT,
}
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

    keyed = argparse.ArgumentParser(add_help=False)
    keyed.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="follow a link to a server that is not yours (--url, OTS_URL), or over plain "
        "HTTP to another machine, without asking",
    )

    def command(name: str, text: str) -> argparse.ArgumentParser:
        parents = [common] if name == "share" else [common, keyed]
        return commands.add_parser(  # type: ignore[no-any-return]
            name, parents=parents, help=text, description=text, epilog=EXIT_CODES_HELP
        )

    def key_argument(
        parser: argparse.ArgumentParser, kind: Kind, optional: bool = False
    ) -> argparse.ArgumentParser:
        name = "secret" if kind is Kind.SECRET else "receipt"
        parser.add_argument(
            "key",
            metavar="KEY_OR_LINK",
            nargs="?" if optional else None,
            help=f"the {name} key, or its link as ots prints it (<server>/{kind}/<key>...)",
        )
        return parser

    def token_argument(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--token",
            help=f"an API token, where the server asks for one (default: ${TOKEN_VARIABLE}, "
            "which keeps it out of the process list)",
        )

    share = command("share", "store a secret (from stdin or --file) and print its link and keys")
    share.add_argument("--file", type=Path, help="read the secret from this file, not stdin")
    token_argument(share)
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
    reveal = key_argument(
        command("reveal", "write a secret to stdout, exactly as stored; it is then gone"),
        Kind.SECRET,
    )
    reveal.add_argument(
        "--passphrase-file", type=Path, help="read the passphrase from the file's first line"
    )
    reveal.add_argument(
        "--raw",
        action="store_true",
        help="write the exact bytes to a terminal too (control characters are escaped there "
        "otherwise; a pipe or file always gets the exact bytes)",
    )
    key_argument(
        command("status", "tell whether a secret can still be revealed (reads nothing)"),
        Kind.SECRET,
    )
    key_argument(command("receipt", "show what became of a secret (its receipt)"), Kind.RECEIPT)
    burn = key_argument(command("burn", "destroy a secret before it is read"), Kind.RECEIPT, True)
    burn.add_argument(
        "--id", type=int, help="burn the secret with this id of `ots list` (needs the token)"
    )
    token_argument(burn)
    asking = commands.add_parser(
        "request",
        parents=[common],
        help="ask someone for a secret: print a request link to send, keep the answer link",
        description="ask someone for a secret (docs/request-v1.md): print a request link to "
        "send out; the answer link, which reads the answer once, is printed too, or written "
        "to --key-file",
        epilog=EXIT_CODES_HELP,
    )
    asking.add_argument("--note", help="a short note shown to whoever answers (plain text)")
    asking.add_argument("--ttl", type=int, help="seconds the request, then the answer, wait")
    asking.add_argument(
        "--key-file",
        type=Path,
        help="write the answer link to this new file (mode 0600) instead of printing it",
    )
    token_argument(asking)
    answering = commands.add_parser(
        "answer",
        parents=[common, keyed],
        help="answer a request: seal a secret (stdin or --file) to the one who asked",
        description="answer a request link: the secret is sealed here to the asker's key",
        epilog=EXIT_CODES_HELP,
    )
    answering.add_argument("link", metavar="REQUEST_LINK", help="the request link you were sent")
    answering.add_argument("--file", type=Path, help="read the secret from this file, not stdin")
    listing = commands.add_parser(
        "list",
        parents=[common],
        help="list the secrets made with your API token (state and times, never a key)",
        description="list the secrets made with your API token, newest first",
        epilog=EXIT_CODES_HELP,
    )
    listing.add_argument("--limit", type=int, help="entries per page (the server's default)")
    listing.add_argument("--cursor", help="start after this page (the next of a JSON page)")
    token_argument(listing)


def run(args: argparse.Namespace) -> int:
    """Run one client subcommand; return its exit code."""
    out = _Output(args.json)
    try:
        if args.command == "share":
            with _client(args.url, args.token) as client:
                return _share(client, args, out)
        if args.command == "list":
            with _client(args.url, args.token) as client:
                return _list(client, args, out)
        if args.command == "request":
            with _client(args.url, args.token) as client:
                return _ask(client, args, out)
        if args.command == "answer":
            return _answer(args, out)
        if args.command == "burn" and (args.id is None) == (args.key is None):
            raise UsageError("give a receipt key or link, or --id with the token, not both")
        if args.command == "burn" and args.id is not None:
            with _client(args.url, args.token) as client:
                client.burn_listed(args.id)
                return out.result({"state": "burned"})
        target = link.read_target(args.key, KINDS[args.command])
        with _client(_server(args, target)) as client:
            return _RUNNERS[args.command](client, target, args, out)
    except (UsageError, InvalidLink, LinkError, sealed.SealedFormatError) as exc:
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


def _client(url: str | None, token: str | None = None) -> Client:
    # Retried once, briefly: a script that gets exit 4 decides when to come back.
    return Client(url, retries=1, max_wait=CLI_MAX_WAIT, token=token)


def _server(args: argparse.Namespace, target: Target) -> str:
    """Return the server to ask: the user's own, or the link's once trusted.

    Raises:
        UsageError: the link's server needs a yes, and none was given.
    """
    own: str = args.url or os.environ.get(URL_VARIABLE) or DEFAULT_URL
    if target.server is None:
        return own
    concerns = link.trust_concerns(target.server, own)
    if concerns and not args.yes:
        # Asked before any passphrase: nothing is typed for a server the user did not choose.
        reason = "; and ".join(concerns)
        host = link.host_of(target.server)
        answer = terminal.ask(f"ots: {reason}.\nSend the request to {host} anyway? [y/N] ")
        if answer is None:
            raise UsageError(f"{reason}; add --yes to send the request there anyway")
        if not answer:
            raise UsageError(f"nothing was sent to {host}")
    return target.server


def _exit_code(error: ApiError) -> int:
    if isinstance(error, NotFound | NotPending | AlreadyAnswered):
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
                # Values come from the server: none may drive the terminal.
                print(f"{name.ljust(width)}  {terminal.escaped(str(shown))}", file=stream)
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
            # One line whatever the server sent: its text cannot drive the terminal.
            print(f"ots: {terminal.escaped(message)}", file=sys.stderr)
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
        shared = client.generate_secret(_text(secret), passphrase, args.ttl, **notify)
        # The link to hand over (with the passphrase, by another way): it opens in a browser too.
        fields = {"link": link.secret_link(client.url, shared.secret_key), **shared.to_dict()}
    if args.generate_passphrase:
        fields["passphrase"] = passphrase
    return out.result(fields)


def _share_passphrase(args: argparse.Namespace) -> str:
    if args.generate_passphrase:
        return secrets.token_urlsafe(GENERATED_PASSPHRASE_BYTES)
    if args.passphrase_file is not None:
        return _passphrase_from(args.passphrase_file)
    return _prompt(confirm=True)


def _ask(client: Client, args: argparse.Namespace, out: _Output) -> int:
    key_file: Path | None = args.key_file
    if key_file is None:
        return out.result(_asked_fields(client.create_request(args.note, args.ttl)))
    # The file first, created 0600 and never over another one (it reads the answer, as a
    # password would): a request made before a file that cannot be written would lose
    # its answer link.
    try:
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(
            f"{key_file} exists already: the answer link is never written over"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot create {key_file}: {exc.strerror}") from None
    try:
        try:
            asked = client.create_request(args.note, args.ttl)
        except BaseException:
            key_file.unlink(missing_ok=True)
            raise
        fields = _asked_fields(asked)
        try:
            _write_all(descriptor, (asked.answer_link + "\n").encode())
            os.fsync(descriptor)
        except (OSError, KeyboardInterrupt) as exc:
            # The request exists now: its answer link is printed rather than lost.
            key_file.unlink(missing_ok=True)
            reason = exc.strerror if isinstance(exc, OSError) else "interrupted"
            print(
                f"ots: cannot write {key_file}: {reason}; the answer link is printed "
                "instead: keep it safe",
                file=sys.stderr,
            )
            out.result(fields)
            return EXIT_USAGE if isinstance(exc, OSError) else EXIT_INTERRUPTED
    finally:
        os.close(descriptor)
    del fields["answer_link"]
    fields["key_file"] = str(key_file)
    return out.result(fields)


def _write_all(descriptor: int, data: bytes) -> None:
    # os.write may write part of it (a signal, a nearly full disk): the rest, until done.
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def _asked_fields(asked: Asked) -> dict[str, Any]:
    # Send request_link; keep answer_link (it reads the answer once) and receipt_key.
    return {
        "request_link": asked.request_link,
        "answer_link": asked.answer_link,
        "receipt_key": asked.receipt_key,
        "expires_at": asked.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _answer(args: argparse.Namespace, out: _Output) -> int:
    parsed = request_format.parse_request_link(args.link)
    target = Target(link.Kind.SECRET, parsed.request_key, parsed.server)
    secret = _read_secret(args.file)
    with _client(_server(args, target)) as client:
        own = f"{client.url}/requests/{parsed.request_key}#{args.link.split('#', 1)[1]}"
        answered = client.answer_request(own, secret)
    return out.result({"state": answered.state, "expires_at": answered.to_dict()["expires_at"]})


def _reveal(client: Client, target: Target, args: argparse.Namespace, out: _Output) -> int:
    sealed_link = target.sealed_link
    answer_link = target.answer_link
    if answer_link is not None:
        secret = client.reveal_answer(answer_link)
    elif sealed_link is not None:
        passphrase = _reveal_passphrase(args) if target.needs_passphrase else None
        secret = client.reveal_sealed_secret(sealed_link, passphrase)
    else:
        try:
            secret = client.reveal_secret(target.key, _reveal_passphrase(args)).encode("utf-8")
        except WrongMode as exc:
            # Likelier since a link without '#...' means passphrase mode: say what is missing.
            hint = "It is sealed: its link, with the part after '#', reveals it."
            raise WrongMode(exc.status, {**exc.body, "message": f"{exc.message} {hint}"}) from None
    if out.as_json:
        try:
            return out.result({"secret": secret.decode("utf-8")})
        except UnicodeDecodeError:
            # JSON holds text only: a binary sealed secret comes as base64url.
            return out.result({"secret_base64url": sealed.b64encode(secret)})
    if not args.raw and sys.stdout.isatty():
        shown, escaped = terminal.shown(secret)
        if escaped:
            print(
                "ots: the secret holds control characters (or bytes that are not UTF-8), shown "
                "escaped below; --raw, or a pipe, gives the exact bytes",
                file=sys.stderr,
            )
        secret = shown.encode("utf-8")
    # The exact secret and nothing else: no newline is added.
    sys.stdout.buffer.write(secret)
    sys.stdout.flush()
    return EXIT_OK


def _reveal_passphrase(args: argparse.Namespace) -> str:
    if args.passphrase_file is not None:
        return _passphrase_from(args.passphrase_file)
    return _prompt(confirm=False)


def _status(client: Client, target: Target, args: argparse.Namespace, out: _Output) -> int:
    return out.result(client.check_secret(target.key).to_dict())


def _receipt(client: Client, target: Target, args: argparse.Namespace, out: _Output) -> int:
    return out.result(client.get_receipt(target.key).to_dict())


def _list(client: Client, args: argparse.Namespace, out: _Output) -> int:
    page = client.list_secrets(args.cursor, args.limit)
    entries = [entry.to_dict() for entry in page.secrets]
    if out.as_json:
        return out.result({"secrets": entries, "next": page.next})
    for entry in entries:
        opened = entry.get("opened_at") or "-"
        ended = entry.get("revealed_at") or "-"
        # Values come from the server: none may drive the terminal.
        line = (
            f"{entry['id']}\t{entry['state']}\tcreated {entry['created_at']}\t"
            f"expires {entry['expires_at']}\topened {opened}\trevealed {ended}\t"
            f"failed {entry['failed_attempts']}"
        )
        print(terminal.escaped(line, keep="\t"))
    if page.next is not None:
        print(f"ots: more with --cursor {terminal.escaped(page.next)}", file=sys.stderr)
    return EXIT_OK


def _burn(client: Client, target: Target, args: argparse.Namespace, out: _Output) -> int:
    client.burn_secret(target.key)
    return out.result({"state": "burned"})


_RUNNERS: Final[dict[str, Callable[[Client, Target, argparse.Namespace, _Output], int]]] = {
    "reveal": _reveal,
    "status": _status,
    "receipt": _receipt,
    "burn": _burn,
}
