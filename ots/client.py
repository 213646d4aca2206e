"""The official Python client of ots: ``Client`` (sync) and ``AsyncClient``, on httpx.

One method per operation of the API, named as in its OpenAPI document::

    with Client("https://ots.example.org") as ots:
        shared = ots.generate_secret("db password: hunter2", "correct horse", ttl=3600)
        ots.reveal_secret(shared.secret_key, "correct horse")  # -> "db password: hunter2"

Sealed (zero-knowledge) secrets are encrypted and decrypted here, never on
the server (``docs/sealed-v1.md``); the link carries the key after ``#``::

    shared = ots.generate_sealed_secret(b"db password: hunter2")
    ots.reveal_sealed_secret(shared.link)  # -> b"db password: hunter2"

Every error answer raises the exception of its code::

    ClientError
     ├── ConnectionFailed          no answer at all (refused, reset, timed out)
     └── ApiError                  an answer with an error status: .status .code .message
          ├── NotFound             not_found (404)
          ├── WrongPassphrase      wrong_passphrase (403): .attempts_left
          ├── NotPending           not_pending (409): .state
          ├── WrongMode            wrong_mode (409): sealed secret, passphrase mode (or back)
          ├── InvalidRequest       the request itself is refused
          │    ├── InvalidJson, BadRequest, RequestTimeout, PayloadTooLarge,
          │    ├── HeadersTooLarge, MethodNotAllowed, Unauthorized, Forbidden
          │    └── ValidationFailed  .details
          ├── RetryLater           .retry_after (seconds)
          │    ├── RateLimited, Unavailable, Overloaded, StorageFull
          └── ServerError          internal_error, or an answer that is not ots's
     SealedError                   a sealed link or answer that cannot be used
      ├── InvalidLink              not a sealed-v1 link, or a passphrase is missing
      └── NotOpened                the released ciphertext does not open: nothing is shown

Only what cannot lose or duplicate anything is retried, after ``Retry-After``
(at most ``max_wait`` seconds): a request that never reached the server; a
429 or an ``overloaded`` 503, which the server refuses before doing anything;
and, for the GET operations, which change nothing, any 503 or lost answer. A
POST whose answer was lost is never sent again: a reveal could have
succeeded, and the secret would be gone.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Self, TypeVar
from urllib.parse import quote, urlencode

import httpx

from ots import request as request_format
from ots import sealed

DEFAULT_URL: Final = "http://127.0.0.1:8080"
URL_VARIABLE: Final = "OTS_URL"
# An API token (``ots tokens add``) for creating, where the server asks for one.
TOKEN_VARIABLE: Final = "OTS_TOKEN"  # noqa: S105 - a variable's name

T = TypeVar("T")
# Times the server writes as null rather than leaving out.
_ALWAYS_WRITTEN: Final = frozenset({"revealed_at", "opened_at"})


class ClientError(Exception):
    """Base of every error of this client."""


class ConnectionFailed(ClientError):
    """The server could not be reached, or its answer never arrived."""


class ApiError(ClientError):
    """The server answered with an error status."""

    code: ClassVar[str] = ""

    def __init__(self, status: int, body: dict[str, Any], retry_after: int | None = None) -> None:
        """Keep the status, the error body and the ``Retry-After`` seconds, if any."""
        self.status = status
        self.body = body
        self.message = str(body.get("message") or f"HTTP {status}")
        self.retry_after = retry_after
        super().__init__(self.message)

    @property
    def error(self) -> str:
        """The error code the server sent (empty when the answer was not ots's)."""
        return str(self.body.get("error", ""))


class NotFound(ApiError):
    """Unknown, already read, expired, burned or destroyed: one answer for all."""

    code = "not_found"


class WrongPassphrase(ApiError):
    """The passphrase is wrong; the secret stays until ``attempts_left`` reaches 0."""

    code = "wrong_passphrase"

    @property
    def attempts_left(self) -> int:
        """Wrong passphrases left before the secret is destroyed."""
        return int(self.body.get("attempts_left", 0))


class NotPending(ApiError):
    """The secret behind a receipt was already revealed, burned or expired."""

    code = "not_pending"

    @property
    def state(self) -> str:
        """The secret's state: revealed, burned or expired."""
        return str(self.body.get("state", ""))


class WrongMode(ApiError):
    """A passphrase was sent for a sealed secret, or a proof for a passphrase one."""

    code = "wrong_mode"


class AlreadyAnswered(ApiError):
    """The request was answered already: only its first answer is kept (409)."""

    code = "already_answered"


class InvalidRequest(ApiError):
    """The server refused the request itself; sending it again changes nothing."""


class InvalidJson(InvalidRequest):
    """The body was not a JSON object."""

    code = "invalid_json"


class BadRequest(InvalidRequest):
    """The request was malformed on the way (its framing or its headers)."""

    code = "bad_request"


class Unauthorized(InvalidRequest):
    """The endpoint needs the right bearer token (``/metrics`` when the server sets one)."""

    code = "unauthorized"


class Forbidden(InvalidRequest):
    """The server refuses the request from where it came (e.g. another site's page)."""

    code = "forbidden"


class RequestTimeout(InvalidRequest):
    """The request did not reach the server in time."""

    code = "request_timeout"


class PayloadTooLarge(InvalidRequest):
    """The secret, or the whole body, is over the server's limit."""

    code = "payload_too_large"


class HeadersTooLarge(InvalidRequest):
    """The request headers are over the server's limit."""

    code = "headers_too_large"


class MethodNotAllowed(InvalidRequest):
    """The path does not take this method."""

    code = "method_not_allowed"


class ValidationFailed(InvalidRequest):
    """A field is missing, mistyped, empty or out of range; see ``details``."""

    code = "validation_error"

    @property
    def details(self) -> list[dict[str, str]]:
        """One ``{"field", "message"}`` per problem."""
        return list(self.body.get("details", []))


class RetryLater(ApiError):
    """The server cannot take the request now; ``retry_after`` says when to try again."""


class RateLimited(RetryLater):
    """Over the server's rate limit for this client address."""

    code = "rate_limited"


class Unavailable(RetryLater):
    """The server's database cannot be reached."""

    code = "unavailable"


class Overloaded(RetryLater):
    """The server's argon2 work is at its bound; nothing was done."""

    code = "overloaded"


class StorageFull(RetryLater):
    """The server holds as many unread secrets as it may."""

    code = "storage_full"


class ServerError(ApiError):
    """A bug on the server, or an answer that is not from ots (a proxy's error page)."""

    code = "internal_error"


class SealedError(ClientError):
    """A sealed secret that cannot be shared or read as asked (nothing reached the screen)."""


class InvalidLink(SealedError):
    """Not a sealed-v1 link (cut short, or another version), or its passphrase is missing."""


class NotOpened(SealedError):
    """The server released a ciphertext that does not open with the link: it was altered."""


# The exception of each error code the server sends (tests/unit/test_client.py holds
# it to the server's error tree: a code without its exception fails there).
ERRORS: Final[dict[str, type[ApiError]]] = {
    error.code: error
    for error in (
        NotFound,
        WrongPassphrase,
        NotPending,
        WrongMode,
        AlreadyAnswered,
        InvalidJson,
        BadRequest,
        Unauthorized,
        Forbidden,
        RequestTimeout,
        PayloadTooLarge,
        HeadersTooLarge,
        MethodNotAllowed,
        ValidationFailed,
        RateLimited,
        Unavailable,
        Overloaded,
        StorageFull,
        ServerError,
    )
}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class _Answer:
    """An answer body as typed fields; ``to_dict`` gives back the wire form."""

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Self:
        """Read the fields this answer has; times become aware UTC datetimes."""
        values = {}
        for item in fields(cls):
            value = body.get(item.name)
            if isinstance(value, str) and item.name.endswith("_at"):
                value = _time(value)
            values[item.name] = value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return the answer as the server wrote it (times in UTC with ``Z``)."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, datetime):
                value = value.strftime("%Y-%m-%dT%H:%M:%SZ")
            if value is not None or item.name in _ALWAYS_WRITTEN:
                out[item.name] = value
        return out


@dataclass(frozen=True)
class Shared(_Answer):
    """A stored secret: give ``secret_key`` (and the passphrase) away, keep ``receipt_key``."""

    secret_key: str
    receipt_key: str
    expires_at: datetime
    # Only with notify: the key of every event's Ots-Signature, shown this once.
    webhook_secret: str | None = None


@dataclass(frozen=True)
class SealedShare(_Answer):
    """A stored sealed secret: give ``link`` (and the passphrase, if any) away, keep the rest.

    The link holds the key after ``#``: whoever has it can read the secret once.
    """

    link: str
    secret_key: str
    receipt_key: str
    expires_at: datetime
    webhook_secret: str | None = None


@dataclass(frozen=True)
class Asked(_Answer):
    """A stored request (docs/request-v1.md): send ``request_link``, keep ``answer_link``.

    The answer link holds the private key after ``#``: whoever has it can read
    the answer once. Keep it as a password.
    """

    request_link: str
    answer_link: str
    receipt_key: str
    expires_at: datetime
    webhook_secret: str | None = None

    def __repr__(self) -> str:
        """Hide the answer link."""
        return f"Asked(request_link={self.request_link!r}, answer_link=**********)"


@dataclass(frozen=True)
class RequestState(_Answer):
    """A request as the answering side sees it: open (with its note) or answered."""

    state: str
    expires_at: datetime
    max_secret_bytes: int
    note: str | None = None
    answered_at: datetime | None = None


@dataclass(frozen=True)
class Status(_Answer):
    """A secret that can still be revealed."""

    state: str
    expires_at: datetime
    attempts_left: int


@dataclass(frozen=True)
class Receipt(_Answer):
    """What became of a secret; never its content."""

    state: str
    created_at: datetime
    expires_at: datetime
    revealed_at: datetime | None
    failed_attempts: int
    # When the link was first checked (None until then, and from older servers).
    opened_at: datetime | None = None
    # Only for a secret shared with notify: fingerprint, events and deliveries, as sent.
    notify: dict[str, Any] | None = None
    # Only for a request (docs/request-v1.md): when its answer came.
    answered_at: datetime | None = None


@dataclass(frozen=True)
class Listed(_Answer):
    """One secret made with the client's token: its state and times, never a key."""

    id: int
    state: str
    created_at: datetime
    expires_at: datetime
    revealed_at: datetime | None
    failed_attempts: int
    opened_at: datetime | None = None
    # Only for a secret shared with notify: its fingerprint and events.
    notify: dict[str, Any] | None = None


@dataclass(frozen=True)
class ListedPage:
    """A page of the token's secrets, newest first; ``next`` is the cursor of the next page."""

    secrets: list[Listed]
    next: str | None

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> ListedPage:
        """Read a page as the server wrote it."""
        return cls([Listed.from_dict(entry) for entry in body.get("secrets", [])], body.get("next"))


@dataclass(frozen=True)
class Health(_Answer):
    """The server's health: ``status`` ok or degraded."""

    status: str
    database: str
    rate_limiter: str | None = None


@dataclass(frozen=True)
class _Call:
    """One request of an operation, and whether it may be sent again after a lost answer."""

    method: str
    path: str
    success: int = 200
    body: dict[str, Any] | None = None
    # Whether the client's API token goes with it (creates and the token's own list).
    token: bool = False

    @property
    def safe(self) -> bool:
        """GETs are safe: they consume nothing and may always be repeated."""
        return self.method == "GET"


def _segment(key: str) -> str:
    # A key is one path segment, whatever it contains ("../health" stays a key).
    return quote(key, safe="")


def _generate(
    fields: dict[str, Any],
    ttl: int | None,
    notify_url: str | None = None,
    notify_events: Sequence[str] | None = None,
) -> _Call:
    # ``fields``: the secret and passphrase, or the sealed mode's fields.
    body = dict(fields)
    if ttl is not None:
        body["ttl"] = ttl
    if notify_url is not None:
        body["notify"] = {"url": notify_url}
        if notify_events is not None:
            body["notify"]["events"] = list(notify_events)
    return _Call("POST", "/generate", 201, body, token=True)


def _reveal(secret_key: str, fields: dict[str, str]) -> _Call:
    return _Call("POST", f"/secrets/{_segment(secret_key)}", body=fields)


def _seal(secret: bytes | str, passphrase: str | None) -> sealed.SealedSecret:
    # Slow with a passphrase (argon2id, 64 MiB): the async client runs it on a thread.
    data = secret.encode("utf-8") if isinstance(secret, str) else secret
    return sealed.seal(data, passphrase)


def _shared_sealed(server: str, made: sealed.SealedSecret, body: dict[str, Any]) -> SealedShare:
    shared = Shared.from_dict(body)
    return SealedShare(
        link=sealed.make_link(server, shared.secret_key, made.fragment),
        secret_key=shared.secret_key,
        receipt_key=shared.receipt_key,
        expires_at=shared.expires_at,
        webhook_secret=shared.webhook_secret,
    )


def _unlock(link: str, passphrase: str | None) -> tuple[sealed.Link, sealed.Keys]:
    # Slow with a passphrase (argon2id), like _seal.
    try:
        parsed = sealed.parse_link(link)
    except sealed.SealedFormatError as exc:
        raise InvalidLink(str(exc)) from None
    if parsed.needs_passphrase and passphrase is None:
        raise InvalidLink("this link needs its passphrase too")
    return parsed, sealed.derive(parsed.link_key, passphrase if parsed.needs_passphrase else None)


def _sealed_reveal(secret_key: str, keys: sealed.Keys) -> _Call:
    return _reveal(secret_key, {"proof": sealed.b64encode(keys.proof)})


def _opened(body: dict[str, Any], keys: sealed.Keys) -> bytes:
    try:
        envelope = sealed.Envelope.from_json(body.get("envelope"))
        return sealed.open_sealed(sealed.b64decode(str(body.get("ciphertext", ""))), envelope, keys)
    except (sealed.SealedFormatError, sealed.OpenError):
        raise NotOpened(
            "the server's answer does not open with this link: it was altered, nothing is shown"
        ) from None


def _ask(
    asker: request_format.Asker, ttl: int | None, note: str | None, notify_url: str | None
) -> _Call:
    call = _generate({"verifier": sealed.b64encode(asker.verifier)}, ttl, notify_url)
    body = dict(call.body or {})
    if note is not None:
        body["note"] = note
    return _Call("POST", "/requests", 201, body, token=True)


def _asked(server: str, asker: request_format.Asker, body: dict[str, Any]) -> Asked:
    return Asked(
        request_link=request_format.make_request_link(server, str(body["request_key"]), asker),
        answer_link=request_format.make_answer_link(server, str(body["answer_key"]), asker),
        receipt_key=str(body["receipt_key"]),
        expires_at=_time(str(body["expires_at"])),
        webhook_secret=body.get("webhook_secret"),
    )


def _request_link(link: str) -> request_format.RequestLink:
    try:
        return request_format.parse_request_link(link)
    except sealed.SealedFormatError as exc:
        raise InvalidLink(str(exc)) from None


def _request_state(request_key: str) -> _Call:
    return _Call("GET", f"/requests/{_segment(request_key)}")


def _answer_call(parsed: request_format.RequestLink, secret: bytes | str) -> _Call:
    data = secret.encode("utf-8") if isinstance(secret, str) else secret
    body = request_format.seal_answer(data, parsed.public_key).body()
    return _Call("POST", f"/requests/{_segment(parsed.request_key)}/answer", 201, body)


def _answer_link(link: str) -> request_format.AnswerLink:
    try:
        return request_format.parse_answer_link(link)
    except sealed.SealedFormatError as exc:
        raise InvalidLink(str(exc)) from None


def _answer_reveal(parsed: request_format.AnswerLink) -> _Call:
    return _reveal(parsed.secret_key, {"proof": sealed.b64encode(parsed.asker.proof)})


def _opened_answer(body: dict[str, Any], asker: request_format.Asker) -> bytes:
    try:
        envelope = request_format.Envelope.from_json(body.get("envelope"))
        ciphertext = sealed.b64decode(str(body.get("ciphertext", "")))
        return request_format.open_answer(ciphertext, envelope, asker)
    except (sealed.SealedFormatError, sealed.OpenError):
        raise NotOpened(
            "the server's answer does not open with this link: it was altered, nothing is shown"
        ) from None


def _check(secret_key: str) -> _Call:
    return _Call("GET", f"/secrets/{_segment(secret_key)}")


def _receipt(receipt_key: str) -> _Call:
    return _Call("GET", f"/receipts/{_segment(receipt_key)}")


def _burn(receipt_key: str) -> _Call:
    return _Call("POST", f"/receipts/{_segment(receipt_key)}/burn")


def _listed(cursor: str | None, limit: int | None) -> _Call:
    query = {"cursor": cursor, "limit": None if limit is None else str(limit)}
    given = {name: value for name, value in query.items() if value is not None}
    return _Call(
        "GET", "/tokens/self/secrets" + (f"?{urlencode(given)}" if given else ""), token=True
    )


def _burn_listed(secret_id: int) -> _Call:
    return _Call("POST", f"/tokens/self/secrets/{int(secret_id)}/burn", token=True)


def _health() -> _Call:
    return _Call("GET", "/health")


def _answer(call: _Call, response: httpx.Response) -> dict[str, Any]:
    """Return the body of a successful answer; raise the error of any other.

    Raises:
        ApiError: the subclass of the error code (``ServerError`` for an unknown one).
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    if response.status_code == call.success:
        return body
    retry_after = response.headers.get("Retry-After", "")
    error = ERRORS.get(str(body.get("error")), ServerError)
    if error is ServerError and response.status_code < 500:
        error = InvalidRequest
    raise error(response.status_code, body, int(retry_after) if retry_after.isdigit() else None)


def _retry_wait(
    call: _Call, failure: Exception, attempt: int, retries: int, max_wait: float
) -> float | None:
    """Return the seconds to wait before sending ``call`` again, or None not to."""
    if attempt >= retries:
        return None
    if isinstance(failure, httpx.ConnectError | httpx.ConnectTimeout):
        # The request never left: nothing happened on the server.
        return min(0.5 * (1 << attempt), max_wait)
    if isinstance(failure, RateLimited | Overloaded) or (
        call.safe and isinstance(failure, Unavailable)
    ):
        return min(float(failure.retry_after or 1), max_wait)
    if call.safe and isinstance(failure, httpx.TransportError):
        return min(0.5 * (1 << attempt), max_wait)
    return None


class _Base:
    """Settings shared by the sync and async clients."""

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 2,
        max_wait: float = 10.0,
        token: str | None = None,
    ) -> None:
        """Talk to ``url`` (default ``$OTS_URL``, else http://127.0.0.1:8080).

        Args:
            url: the server's base URL.
            token: an API token (default ``$OTS_TOKEN``), sent with creates and the
                token's own list only, never with a reveal, check or receipt.
            timeout: seconds for each request (connect, send, answer).
            retries: how many times a request that is safe to repeat is sent again.
            max_wait: the longest wait before a retry, whatever Retry-After says.
        """
        self.url = (url or os.environ.get(URL_VARIABLE) or DEFAULT_URL).rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.max_wait = max_wait
        # None: $OTS_TOKEN, if set; "" opts out of it.
        self._token = (os.environ.get(TOKEN_VARIABLE) if token is None else token) or None

    def _headers(self, call: _Call) -> dict[str, str] | None:
        """Return the headers of ``call``: the token, where it goes and there is one."""
        if call.token and self._token:
            return {"Authorization": f"Bearer {self._token}"}
        return None

    def _failure(self, call: _Call, failure: Exception, attempt: int) -> float:
        """Return the wait before a retry; raise the client's error when there is none.

        Raises:
            ApiError: the server's answer, when it is not retried.
            ConnectionFailed: no answer, when the request is not retried.
        """
        wait = _retry_wait(call, failure, attempt, self.retries, self.max_wait)
        if wait is not None:
            return wait
        if isinstance(failure, ApiError):
            raise failure
        raise ConnectionFailed(f"no answer from {self.url}: {failure}") from failure


class Client(_Base):
    """A synchronous ots client; use it as a context manager, or ``close()`` it."""

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 2,
        max_wait: float = 10.0,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """See ``_Base``; ``transport`` replaces httpx's (tests, proxies)."""
        super().__init__(url, timeout=timeout, retries=retries, max_wait=max_wait, token=token)
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)

    def __enter__(self) -> Self:
        """Return the client."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the connections."""
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def _send(self, call: _Call) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    call.method, call.path, json=call.body, headers=self._headers(call)
                )
                return _answer(call, response)
            except (ApiError, httpx.TransportError) as failure:
                time.sleep(self._failure(call, failure, attempt))
                attempt += 1

    def generate_secret(
        self,
        secret: str,
        passphrase: str,
        ttl: int | None = None,
        *,
        notify_url: str | None = None,
        notify_events: Sequence[str] | None = None,
    ) -> Shared:
        """Store ``secret`` behind ``passphrase`` for ``ttl`` seconds (the server's default).

        With ``notify_url``, its events (``notify_events``, default all) are
        POSTed there, signed with the returned ``webhook_secret``.
        """
        fields = {"secret": secret, "passphrase": passphrase}
        return Shared.from_dict(self._send(_generate(fields, ttl, notify_url, notify_events)))

    def generate_sealed_secret(
        self,
        secret: bytes | str,
        passphrase: str | None = None,
        ttl: int | None = None,
        *,
        notify_url: str | None = None,
        notify_events: Sequence[str] | None = None,
    ) -> SealedShare:
        """Encrypt ``secret`` here (sealed-v1) and store only the ciphertext; return its link.

        With ``passphrase`` the link alone does not open it. Text is sent as UTF-8.
        """
        made = _seal(secret, passphrase)
        call = _generate(made.request(), ttl, notify_url, notify_events)
        return _shared_sealed(self.url, made, self._send(call))

    def reveal_secret(self, secret_key: str, passphrase: str) -> str:
        """Return the secret; it is gone from the server once this returns."""
        return str(self._send(_reveal(secret_key, {"passphrase": passphrase}))["secret"])

    def reveal_sealed_secret(self, link: str, passphrase: str | None = None) -> bytes:
        """Fetch a sealed secret once from this client's server and decrypt it here.

        Only the link's secret_key and key are used; the request goes to ``url``.

        Raises:
            InvalidLink: not a sealed-v1 link, or it needs ``passphrase``.
            WrongPassphrase: the passphrase (or the link key) is wrong.
            NotOpened: the released ciphertext does not open (it is gone, unread).
        """
        parsed, keys = _unlock(link, passphrase)
        return _opened(self._send(_sealed_reveal(parsed.secret_key, keys)), keys)

    def create_request(
        self, note: str | None = None, ttl: int | None = None, *, notify_url: str | None = None
    ) -> Asked:
        """Ask for a secret (docs/request-v1.md): a request link to send, an answer link to keep."""
        asker = request_format.new_asker()
        return _asked(self.url, asker, self._send(_ask(asker, ttl, note, notify_url)))

    def request_state(self, request_link: str) -> RequestState:
        """Tell whether a request still takes an answer, and its note; changes nothing."""
        parsed = _request_link(request_link)
        return RequestState.from_dict(self._send(_request_state(parsed.request_key)))

    def answer_request(self, request_link: str, secret: bytes | str) -> RequestState:
        """Seal ``secret`` here to the asker's public key and post it as the request's answer.

        Raises:
            InvalidLink: not a request-v1 link (or its key is not a point of P-256).
            AlreadyAnswered: someone answered first.
        """
        call = _answer_call(_request_link(request_link), secret)
        return RequestState.from_dict(self._send(call))

    def reveal_answer(self, answer_link: str) -> bytes:
        """Fetch a request's answer once and decrypt it here with the answer link's key.

        Raises:
            InvalidLink: not a request-v1 answer link.
            NotOpened: the released ciphertext does not open (it is gone, unread).
        """
        parsed = _answer_link(answer_link)
        return _opened_answer(self._send(_answer_reveal(parsed)), parsed.asker)

    def check_secret(self, secret_key: str) -> Status:
        """Tell whether the secret can still be revealed, without revealing it."""
        return Status.from_dict(self._send(_check(secret_key)))

    def get_receipt(self, receipt_key: str) -> Receipt:
        """Return what became of the secret."""
        return Receipt.from_dict(self._send(_receipt(receipt_key)))

    def burn_secret(self, receipt_key: str) -> None:
        """Destroy the secret before it is read."""
        self._send(_burn(receipt_key))

    def list_secrets(self, cursor: str | None = None, limit: int | None = None) -> ListedPage:
        """Return a page of the secrets made with this client's token, newest first."""
        return ListedPage.from_dict(self._send(_listed(cursor, limit)))

    def burn_listed(self, secret_id: int) -> None:
        """Destroy one of the token's secrets (an ``id`` of ``list_secrets``) before it is read."""
        self._send(_burn_listed(secret_id))

    def get_health(self) -> Health:
        """Return the server's health (a 503 raises ``Unavailable``)."""
        return Health.from_dict(self._send(_health()))


class AsyncClient(_Base):
    """An asyncio ots client; use it with ``async with``, or ``await aclose()``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 2,
        max_wait: float = 10.0,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """See ``_Base``; ``transport`` replaces httpx's (tests, proxies)."""
        super().__init__(url, timeout=timeout, retries=retries, max_wait=max_wait, token=token)
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout, transport=transport)

    async def __aenter__(self) -> Self:
        """Return the client."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close the connections."""
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def _send(self, call: _Call) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method, call.path, json=call.body, headers=self._headers(call)
                )
                return _answer(call, response)
            except (ApiError, httpx.TransportError) as failure:
                await asyncio.sleep(self._failure(call, failure, attempt))
                attempt += 1

    async def generate_secret(
        self,
        secret: str,
        passphrase: str,
        ttl: int | None = None,
        *,
        notify_url: str | None = None,
        notify_events: Sequence[str] | None = None,
    ) -> Shared:
        """Store ``secret`` behind ``passphrase`` for ``ttl`` seconds (the server's default).

        With ``notify_url``, its events (``notify_events``, default all) are
        POSTed there, signed with the returned ``webhook_secret``.
        """
        fields = {"secret": secret, "passphrase": passphrase}
        call = _generate(fields, ttl, notify_url, notify_events)
        return Shared.from_dict(await self._send(call))

    async def generate_sealed_secret(
        self,
        secret: bytes | str,
        passphrase: str | None = None,
        ttl: int | None = None,
        *,
        notify_url: str | None = None,
        notify_events: Sequence[str] | None = None,
    ) -> SealedShare:
        """Encrypt ``secret`` here (sealed-v1) and store only the ciphertext; return its link.

        With ``passphrase`` the link alone does not open it; argon2id then runs
        on a thread, not on the event loop.
        """
        made = await asyncio.to_thread(_seal, secret, passphrase)
        call = _generate(made.request(), ttl, notify_url, notify_events)
        return _shared_sealed(self.url, made, await self._send(call))

    async def reveal_secret(self, secret_key: str, passphrase: str) -> str:
        """Return the secret; it is gone from the server once this returns."""
        return str((await self._send(_reveal(secret_key, {"passphrase": passphrase})))["secret"])

    async def reveal_sealed_secret(self, link: str, passphrase: str | None = None) -> bytes:
        """Fetch a sealed secret once from this client's server and decrypt it here.

        See ``Client.reveal_sealed_secret``.
        """
        parsed, keys = await asyncio.to_thread(_unlock, link, passphrase)
        return _opened(await self._send(_sealed_reveal(parsed.secret_key, keys)), keys)

    async def create_request(
        self, note: str | None = None, ttl: int | None = None, *, notify_url: str | None = None
    ) -> Asked:
        """Ask for a secret (docs/request-v1.md): a request link to send, an answer link to keep."""
        asker = request_format.new_asker()
        return _asked(self.url, asker, await self._send(_ask(asker, ttl, note, notify_url)))

    async def request_state(self, request_link: str) -> RequestState:
        """Tell whether a request still takes an answer, and its note; changes nothing."""
        parsed = _request_link(request_link)
        return RequestState.from_dict(await self._send(_request_state(parsed.request_key)))

    async def answer_request(self, request_link: str, secret: bytes | str) -> RequestState:
        """Seal ``secret`` here to the asker's public key and post it as the request's answer."""
        call = _answer_call(_request_link(request_link), secret)
        return RequestState.from_dict(await self._send(call))

    async def reveal_answer(self, answer_link: str) -> bytes:
        """Fetch a request's answer once and decrypt it here with the answer link's key."""
        parsed = _answer_link(answer_link)
        return _opened_answer(await self._send(_answer_reveal(parsed)), parsed.asker)

    async def check_secret(self, secret_key: str) -> Status:
        """Tell whether the secret can still be revealed, without revealing it."""
        return Status.from_dict(await self._send(_check(secret_key)))

    async def get_receipt(self, receipt_key: str) -> Receipt:
        """Return what became of the secret."""
        return Receipt.from_dict(await self._send(_receipt(receipt_key)))

    async def burn_secret(self, receipt_key: str) -> None:
        """Destroy the secret before it is read."""
        await self._send(_burn(receipt_key))

    async def list_secrets(self, cursor: str | None = None, limit: int | None = None) -> ListedPage:
        """Return a page of the secrets made with this client's token, newest first."""
        return ListedPage.from_dict(await self._send(_listed(cursor, limit)))

    async def burn_listed(self, secret_id: int) -> None:
        """Destroy one of the token's secrets (an ``id`` of ``list_secrets``) before it is read."""
        await self._send(_burn_listed(secret_id))

    async def get_health(self) -> Health:
        """Return the server's health (a 503 raises ``Unavailable``)."""
        return Health.from_dict(await self._send(_health()))
