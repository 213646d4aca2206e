"""The error tree of ots; each class carries its wire code and HTTP status.

No framework is imported here: the API layer maps every ``OtsError`` to the
JSON error body of the contract in one place.

::

    OtsError
    ├── InvalidJsonError        400 invalid_json
    ├── BadRequestError         400 bad_request
    ├── UnauthorizedError       401 unauthorized
    ├── ForbiddenError          403 forbidden
    ├── WrongPassphraseError    403 wrong_passphrase
    ├── NotFoundError           404 not_found
    ├── MethodNotAllowedError   405 method_not_allowed
    ├── RequestTimeoutError     408 request_timeout
    ├── NotPendingError         409 not_pending
    ├── WrongModeError          409 wrong_mode
    ├── AlreadyAnsweredError    409 already_answered
    ├── PayloadTooLargeError    413 payload_too_large
    ├── ValidationFailedError   422 validation_error
    ├── RateLimitedError        429 rate_limited
    ├── HeadersTooLargeError    431 headers_too_large
    ├── InternalError           500 internal_error
    ├── UnavailableError        503 unavailable
    ├── OverloadedError         503 overloaded
    └── StorageFullError        507 storage_full
    ConfigError                 a bad OTS_* setting (not an HTTP error)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ots.domain import State


@dataclass(frozen=True)
class FieldProblem:
    """One field that failed validation, as listed in ``details``."""

    field: str
    message: str


class OtsError(Exception):
    """Base of every error a client can be told about."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Something went wrong on our side."
    # Seconds for a Retry-After header when the caller gives none; None sends no header.
    default_retry_after: ClassVar[int | None] = None
    # Whether a client can ever receive it (the official client has an exception for each).
    sent: ClassVar[bool] = True

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        """Create the error with an optional human sentence and ``Retry-After`` seconds."""
        self.message = message or self.default_message
        self.retry_after = self.default_retry_after if retry_after is None else retry_after
        super().__init__(self.message)

    def extra(self) -> dict[str, Any]:
        """Return the fields this error adds to the JSON body beside code and message."""
        return {}

    def headers(self) -> dict[str, str]:
        """Return the headers this error's answer must carry (beyond Retry-After)."""
        return {}


class InvalidJsonError(OtsError):
    """The body is not valid JSON, or not a JSON object."""

    code = "invalid_json"
    status = 400
    default_message = "The request body must be a JSON object."


class BadRequestError(OtsError):
    """A malformed HTTP request that is not a JSON problem (bad framing, bad headers)."""

    code = "bad_request"
    status = 400
    default_message = "The request is malformed."


class UnauthorizedError(OtsError):
    """A protected endpoint (``/metrics`` with a token) was asked without the right token."""

    code = "unauthorized"
    status = 401
    default_message = "This endpoint needs the right bearer token."

    def headers(self) -> dict[str, str]:
        """Say how to authenticate, as every 401 must."""
        return {"WWW-Authenticate": 'Bearer realm="ots"'}


class ForbiddenError(OtsError):
    """The request may not be made from where it came (e.g. a page of another site)."""

    code = "forbidden"
    status = 403
    default_message = "This request is not allowed from here."


class WrongPassphraseError(OtsError):
    """The passphrase does not open the secret; the secret is still there."""

    code = "wrong_passphrase"
    status = 403
    default_message = "The passphrase is wrong."

    def __init__(self, attempts_left: int, message: str | None = None) -> None:
        """Create the error telling how many wrong passphrases remain before destruction."""
        super().__init__(message)
        self.attempts_left = attempts_left

    def extra(self) -> dict[str, Any]:
        """Return ``attempts_left``."""
        return {"attempts_left": self.attempts_left}


class NotFoundError(OtsError):
    """Unknown, read, expired, burned or destroyed: one answer for all of them."""

    code = "not_found"
    status = 404
    default_message = "There is no such secret, or it is no longer available."


class MethodNotAllowedError(OtsError):
    """The path exists but not with this method."""

    code = "method_not_allowed"
    status = 405
    default_message = "This method is not allowed on this path."


class RequestTimeoutError(OtsError):
    """The client sent its request (headers or body) too slowly."""

    code = "request_timeout"
    status = 408
    default_message = "The request was not received in time."


class NotPendingError(OtsError):
    """The secret behind a receipt is no longer waiting to be read."""

    code = "not_pending"
    status = 409
    default_message = "The secret is no longer pending."

    def __init__(self, state: State) -> None:
        """Create the error carrying the secret's current state."""
        super().__init__()
        self.state = state

    def extra(self) -> dict[str, Any]:
        """Return the current ``state``."""
        return {"state": self.state.value}


class WrongModeError(OtsError):
    """The secret was stored in the other mode (passphrase or sealed); nothing was counted."""

    code = "wrong_mode"
    status = 409
    default_message = "This secret was stored in the other mode (passphrase or sealed)."


class AlreadyAnsweredError(OtsError):
    """The request was answered already: only its first answer is kept."""

    code = "already_answered"
    status = 409
    default_message = "This request was answered already; only the first answer is kept."


class PayloadTooLargeError(OtsError):
    """The body, or the secret in it, is over the configured limit."""

    code = "payload_too_large"
    status = 413
    default_message = "The request is too large."


class ValidationFailedError(OtsError):
    """A field is missing, of the wrong type, empty, out of range or not encodable."""

    code = "validation_error"
    status = 422
    default_message = "The request has invalid fields."

    def __init__(self, details: list[FieldProblem]) -> None:
        """Create the error listing every field problem."""
        super().__init__()
        self.details = details

    def extra(self) -> dict[str, Any]:
        """Return ``details`` as a list of ``{field, message}`` objects."""
        return {"details": [{"field": d.field, "message": d.message} for d in self.details]}


class RateLimitedError(OtsError):
    """The client sent more requests than the rate limit allows."""

    code = "rate_limited"
    status = 429
    default_message = "Too many requests; slow down and retry later."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Create the error, with the ``headers`` of the limit that refused.

        None when it is the instance's limit: the API adds that one's itself.
        """
        super().__init__(message, retry_after=retry_after)
        self._headers = headers or {}

    def headers(self) -> dict[str, str]:
        """Return the refusing limit's ``X-RateLimit-*`` headers, when another limit refused."""
        return dict(self._headers)


class HeadersTooLargeError(OtsError):
    """The request headers are over the server's limit."""

    code = "headers_too_large"
    status = 431
    default_message = "The request headers are too large."


class ClientClosedError(OtsError):
    """The client went away before its answer was ready (nginx's 499).

    Never sent (there is no one to send it to): it is what the access log and
    the metrics record, so that an abandoned request does not count as a 500.
    """

    code = "client_closed_request"
    status = 499
    sent = False
    default_message = "The client closed the connection before the answer was ready."


class InternalError(OtsError):
    """A bug: never caused by client input."""


class UnavailableError(OtsError):
    """The database cannot be reached right now."""

    code = "unavailable"
    status = 503
    default_message = "The service is temporarily unavailable; retry shortly."
    default_retry_after = 5


class OverloadedError(OtsError):
    """The argon2 work that may wait in this worker is at its bound; nothing was queued."""

    code = "overloaded"
    status = 503
    default_message = "The server is busy; retry shortly."
    default_retry_after = 1


class StorageFullError(OtsError):
    """Too many secrets are waiting to be read."""

    code = "storage_full"
    status = 507
    default_message = "Too many secrets are waiting to be read; retry later."


def error_body(error: OtsError) -> dict[str, Any]:
    """Return the contract's JSON error body for ``error``: code, message and its extras."""
    return {"error": error.code, "message": error.message, **error.extra()}


class ConfigError(ValueError):
    """An ``OTS_*`` setting has a bad value; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        """Create the error for ``variable``, explaining ``problem``."""
        self.variable = variable
        super().__init__(f"{variable}: {problem}")
