"""Asking for a secret (``docs/request-v1.md``): request, status and answer.

A request is stored with the asker's verifier and a sealed note; its one
answer, sealed to the asker's key by the answering client, becomes a sealed
secret the asker reveals as any other (``ots.service``). The admission of
both is ``ots.admission``'s, as for a create.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Final, Protocol

from ots import crypto
from ots import sealed as sealed_format
from ots.admission import Admission
from ots.domain import (
    ClientSealed,
    CreatedRequest,
    NewRequest,
    NewSecret,
    RequestStatus,
    StoredRequest,
    Subscription,
    Transition,
)
from ots.errors import (
    AlreadyAnsweredError,
    FieldProblem,
    NotFoundError,
    PayloadTooLargeError,
    ValidationFailedError,
)
from ots.events import EventLog
from ots.keyring import KeyFile
from ots.maintenance import Clock, Maintenance
from ots.policy import Policy
from ots.tokens import Token

NO_SUCH_REQUEST: Final = "There is no such request: unknown, expired or burned by its asker."


class RequestRoom(Protocol):
    """What the service needs to keep requests (``ots.store.requests.RequestStore``)."""

    async def add(self, new: NewRequest) -> Transition:
        """Store a request and its answer's receipt (``requested``): its ``requested``."""

    async def find(self, lookup: str, now: int) -> StoredRequest | None:
        """Return the unexpired request (open or answered), or None."""

    async def answer(self, lookup: str, new: NewSecret) -> Transition | None:
        """Store ``new`` as the request's one answer: its ``answered``; None if not the first."""

    async def burn(self, receipt_lookup: str, now: int, purge_at: int) -> Transition | None:
        """Delete the open request behind a receipt: its ``burned``; None if none was open."""


class RequestService:
    """The use cases of requests, over the request room and the shared admission."""

    def __init__(
        self,
        policy: Policy,
        rooms: RequestRoom,
        admission: Admission,
        keys: KeyFile,
        *,
        maintenance: Maintenance,
        events: EventLog,
        clock: Clock = time.time,
    ) -> None:
        """Bind the use cases to the request room, the admission, the keyring and the clock."""
        self._policy = policy
        self._rooms = rooms
        self._admission = admission
        self._keys = keys
        self._maintenance = maintenance
        self._events = events
        self._clock = clock

    async def create_request(
        self,
        verifier: bytes,
        ttl: int | None,
        note: str | None = None,
        notify: Subscription | None = None,
        *,
        quota_key: str | None,
        token: Token | None = None,
    ) -> CreatedRequest:
        """Store a request for a secret (``docs/request-v1.md``): its answer comes later.

        Nothing of the answer exists yet. The request keeps ``verifier`` keyed
        under the server key, ``note`` sealed under it, and whom the answer will
        count against (``quota_key``'s share, ``token``'s own quota). The
        answer's key is derived from the request's, so the row never holds it.

        Raises:
            ValidationFailedError: ``ttl`` or ``notify`` as for ``create_secret``.
            StorageFullError: the instance's storage is used up.
        """
        rooms = self._rooms
        ttl = await self._admission.admit(ttl, 0, "", notify, hashes=False)
        now = self._clock()
        expires_at = math.ceil(now) + ttl
        server_key = self._keys.newest
        request_key, receipt_key = crypto.new_key(), crypto.new_key()
        lookup = crypto.request_lookup(request_key)
        answer_key = crypto.answer_key(request_key, server_key.secret)
        answer_lookup = crypto.secret_lookup(answer_key)
        signing_secret, webhook = crypto.new_webhook(
            notify, server_key.secret, server_key.id, answer_lookup
        )
        # An open request holds a place in its client's share (it counts as a live
        # secret): one client cannot fill the instance with requests.
        async with self._admission.client_share(quota_key, 0, token) as quota_tag:
            requested = await rooms.add(
                NewRequest(
                    lookup=lookup,
                    secret_lookup=answer_lookup,
                    receipt_lookup=crypto.receipt_lookup(receipt_key),
                    key_id=server_key.id,
                    verifier=crypto.keyed_verifier(verifier, server_key.secret),
                    note=None
                    if note is None
                    else crypto.seal_note(note, server_key.secret, server_key.id, lookup),
                    created_at=int(now),
                    expires_at=expires_at,
                    ttl=ttl,
                    purge_at=self._policy.purge_at(expires_at),
                    webhook=webhook,
                    quota_tag=quota_tag,
                    max_bytes=None if token is None else token.limits.max_bytes,
                    token_id=None if token is None else token.id,
                )
            )
        self._committed(requested)
        self._maintenance.stored(0)
        await self._maintenance.after_create()
        return CreatedRequest(
            request_key=request_key,
            answer_key=answer_key,
            receipt_key=receipt_key,
            expires_at=expires_at,
            webhook_secret=signing_secret,
        )

    async def request_status(self, request_key: str) -> RequestStatus:
        """Tell the answering side whether the request is open (with its note); changes nothing.

        Raises:
            NotFoundError: unknown, expired or burned.
        """
        lookup, found, server_key = await self._find_request(request_key)
        note = None
        if found.note is not None:
            note = crypto.open_note(found.note, server_key, lookup)
        return RequestStatus(
            expires_at=found.expires_at,
            max_secret_bytes=self._policy.max_secret_bytes,
            note=note,
            answered_at=found.answered_at,
        )

    async def answer_request(self, request_key: str, client: ClientSealed) -> RequestStatus:
        """Store the first answer of a request as a sealed secret for its asker.

        The answer was sealed to the asker's public key by its client; the
        server seals it again under its own key, as a sealed secret, with the
        request's verifier, so the asker reveals it as any sealed secret. It
        counts against the asker's share (or token quota), not the answerer's.

        Raises:
            NotFoundError: unknown, expired or burned by its asker.
            AlreadyAnsweredError: another answer came first.
            ValidationFailedError: a ciphertext too short to hold a secret.
            PayloadTooLargeError: the plaintext inside is over ``max_secret_bytes``.
            StorageFullError: the instance's storage, or the asker's share or quota, is used.
        """
        rooms = self._rooms
        # The shape and size first: refusing must stay cheap, and says the same to all.
        size = len(client.ciphertext) - sealed_format.TAG_BYTES
        if size < 1:
            raise ValidationFailedError(
                [FieldProblem("ciphertext", "is too short to hold a secret (AES-GCM tag only)")]
            )
        too_large = f"The ciphertext holds over {self._policy.max_secret_bytes} bytes of secret."
        if size > self._policy.max_secret_bytes:
            raise PayloadTooLargeError(too_large)
        lookup, found, server_key = await self._find_request(request_key)
        if found.answered_at is not None:
            raise AlreadyAnsweredError
        await self._admission.admit(None, size, too_large, None, hashes=False, new_secrets=0)
        async with self._admission.askers_share(found, size):
            answer_key = crypto.answer_key(request_key, server_key)
            encrypted = dataclasses.replace(
                # The verifier is the request's, already keyed under this server key.
                crypto.seal_client_secret(client, b"", answer_key, server_key, found.key_id),
                verifier=found.verifier,
            )
            clock = self._clock()
            now = int(clock)
            # Rounded up, as a secret's: the answer lives at least ttl seconds.
            expires_at = math.ceil(clock) + found.ttl
            answered = await rooms.answer(
                lookup,
                NewSecret(
                    lookup=found.secret_lookup,
                    receipt_lookup="",
                    encrypted=encrypted,
                    created_at=now,
                    expires_at=expires_at,
                    purge_at=self._policy.purge_at(expires_at),
                    quota_tag=found.quota_tag,
                ),
            )
            if answered is None:
                # Another answer, a burn or the expiry came first: say which.
                again = await rooms.find(lookup, now)
                if again is not None and again.answered_at is not None:
                    raise AlreadyAnsweredError
                raise NotFoundError(NO_SUCH_REQUEST)
        self._committed(answered)
        # Bytes only: the open request was counted live already, and now its answer is.
        self._maintenance.stored(len(encrypted.ciphertext), secrets=0)
        await self._maintenance.after_create()
        return RequestStatus(
            expires_at=expires_at, max_secret_bytes=self._policy.max_secret_bytes, answered_at=now
        )

    async def _find_request(self, request_key: str) -> tuple[str, StoredRequest, bytes]:
        # The lookup, the unexpired request, and the server key its row was made under.
        if not crypto.is_wellformed_key(request_key):
            raise NotFoundError(NO_SUCH_REQUEST)
        lookup = crypto.request_lookup(request_key)
        found = await self._rooms.find(lookup, int(self._clock()))
        server_key = None if found is None else self._keys.find(found.key_id)
        if found is None or server_key is None:
            raise NotFoundError(NO_SUCH_REQUEST)
        return lookup, found, server_key

    def _committed(self, transition: Transition) -> None:
        # As ``SecretService``'s: the audit log, metrics and webhooks, then the chores.
        self._events.record(transition)
        self._maintenance.committed(transition)
