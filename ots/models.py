"""Tortoise ORM models: what a row holds, and nothing else.

Times are whole seconds since the Unix epoch (UTC) so that comparisons are
plain integer comparisons on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class SecretRecord(Model):
    """One sealed secret waiting to be read.

    Holds no key, passphrase or plaintext: ``lookup`` is a one-way hash of
    the ``secret_key`` and ``ciphertext`` opens only with the key, the
    passphrase and the server key ``key_id`` names (None: sealed before server
    keys existed). A secret its client sealed (sealed mode) has no passphrase
    cost (``kdf_*`` 0) and a ``verifier``: an HMAC, under the server key, of
    the hash of the access proof its recipient must present (``hmac-sha256:``
    and base64url; a bare hex digest in rows of earlier releases until
    ``db.migrate`` keys them). The row is written once and deleted once,
    never updated (but for that one-time upgrade): on PostgreSQL every update
    would leave one more copy of the ciphertext in a dead tuple, so the
    wrong-passphrase count lives in the receipt. ``quota_tag`` is a keyed
    pseudonym of the client the secret counts against (never its address);
    None for rows stored before per-client shares existed, which count for
    nobody.
    """

    id = fields.BigIntField(primary_key=True)
    lookup = fields.CharField(max_length=64, unique=True)
    salt = fields.BinaryField()
    nonce = fields.BinaryField()
    ciphertext = fields.BinaryField()
    kdf_time_cost = fields.BigIntField()
    kdf_memory_kib = fields.BigIntField()
    kdf_parallelism = fields.BigIntField()
    key_id = fields.CharField(max_length=32, null=True)
    verifier = fields.CharField(max_length=64, null=True)
    created_at = fields.BigIntField()
    expires_at = fields.BigIntField()
    quota_tag = fields.CharField(max_length=64, null=True)

    class Meta:
        """Table name, the index the sweeper and expiry checks use, and a client's usage."""

        table = "secret"
        indexes = (("expires_at",), ("quota_tag", "expires_at"))


class ReceiptRecord(Model):
    """What the creator may learn about a secret: its state and times, never its content.

        ``lookup`` is a one-way hash of the ``receipt_key``; ``secret_lookup`` is
        the secret's own lookup hash, which cannot give the ``secret_key`` back.
        ``state`` is pending, revealed or burned; a pending receipt whose
        ``expires_at`` has passed reads as expired. ``failed_attempts`` is the
        secret's wrong-passphrase count. ``opened_at`` is when the recipient's
        link was first checked (a status GET or HEAD, JSON or page); None until
        then, and written once. ``token_id`` names the API token the secret was
        created with (None: created without one); its holder may list and burn
        it by the receipt's ``id``. A request's receipt (``ots.store.requests``) is
    stored ``requested`` until the answer comes; ``answered_at`` is then set and
    the state becomes pending, as any secret's. The sweeper deletes the row once
        ``purge_at`` has passed. Every secret has one (secrets stored before
        receipts existed were given one with an unguessable, unissued lookup).
    """

    id = fields.BigIntField(primary_key=True)
    lookup = fields.CharField(max_length=64, unique=True)
    secret_lookup = fields.CharField(max_length=64, unique=True)
    state = fields.CharField(max_length=16)
    created_at = fields.BigIntField()
    expires_at = fields.BigIntField()
    revealed_at = fields.BigIntField(null=True)
    failed_attempts = fields.IntField()
    purge_at = fields.BigIntField()
    opened_at = fields.BigIntField(null=True)
    token_id = fields.BigIntField(null=True)
    answered_at = fields.BigIntField(null=True)

    class Meta:
        """Table name, the index the purge uses, and a token holder's list."""

        table = "receipt"
        indexes = (("purge_at",), ("token_id", "id"))


class WebhookRecord(Model):
    """A creator's subscription to the events of one secret.

    ``sealed`` holds the URL and the signing secret, sealed under the server
    key ``key_id`` (a copy of the database shows neither); ``events`` lists
    the subscribed events between commas (``,revealed,burned,``). Deleted with
    the receipt.
    """

    id = fields.BigIntField(primary_key=True)
    secret_lookup = fields.CharField(max_length=64, unique=True)
    events = fields.CharField(max_length=128)
    key_id = fields.CharField(max_length=32)
    nonce = fields.BinaryField()
    sealed = fields.BinaryField()

    class Meta:
        """Table name."""

        table = "webhook"


class DeliveryRecord(Model):
    """One event to send to a webhook: the outbox.

    Written in the transaction of the state change it reports. ``state`` is
    pending, delivered or dead; a pending row is due at ``next_attempt_at``
    unless a worker holds its lease (``lease_until`` in the future).
    ``event_id`` is sent as ``Ots-Event-Id``, the same on every attempt.
    """

    id = fields.BigIntField(primary_key=True)
    event_id = fields.CharField(max_length=36, unique=True)
    secret_lookup = fields.CharField(max_length=64)
    event = fields.CharField(max_length=32)
    occurred_at = fields.BigIntField()
    state = fields.CharField(max_length=16)
    attempts = fields.IntField()
    next_attempt_at = fields.BigIntField()
    lease_until = fields.BigIntField()
    last_status = fields.IntField(null=True)
    last_error = fields.CharField(max_length=128, null=True)
    delivered_at = fields.BigIntField(null=True)

    class Meta:
        """Table name, the index the delivery loop scans, and the receipt's index."""

        table = "delivery"
        indexes = (("state", "next_attempt_at"), ("secret_lookup",))


class TokenRecord(Model):
    """An API token that may create secrets (``ots tokens``): never the token itself.

    A token reads ``ots_<id>_<random>``: ``id`` finds the row, and ``digest``
    is an HMAC of the random part under the server key ``key_id`` names, so a
    copy of the database holds nothing that passes for a token. Times are
    epoch seconds; ``expires_at`` None never expires, ``revoked_at`` set is
    revoked for good, ``last_used_at`` is coarse (written at most hourly).
    ``rate_limit`` (``N/PERIOD``) and ``max_bytes`` are the token's own
    limits, None for none beyond the instance's.
    """

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=64)
    key_id = fields.CharField(max_length=32)
    digest = fields.CharField(max_length=64)
    created_at = fields.BigIntField()
    expires_at = fields.BigIntField(null=True)
    last_used_at = fields.BigIntField(null=True)
    revoked_at = fields.BigIntField(null=True)
    rate_limit = fields.CharField(max_length=64, null=True)
    max_bytes = fields.BigIntField(null=True)

    class Meta:
        """Table name."""

        table = "token"


class RequestRecord(Model):
    """A request for a secret (``docs/request-v1.md``), waiting for its one answer.

    ``lookup`` is a one-way hash of the ``request_key``; ``secret_lookup`` is the
    lookup the answer will be stored under (its receipt's too). ``verifier`` is
    the answer's access verifier keyed under the server key ``key_id``, which
    also derives the answer's key and seals the note (``note``, with
    ``note_nonce``; None without one). ``answered_at`` is set, and the note
    cleared, by the one answer that wins; the row then stays until
    ``expires_at`` so the request link can say it was answered. ``ttl`` is how
    long the answer lives; ``quota_tag`` and ``max_bytes`` (the token's own byte
    quota, None: none) say whom the answer counts against. Holds nothing that
    reads the answer: the asker's private key never reaches the server.
    """

    id = fields.BigIntField(primary_key=True)
    lookup = fields.CharField(max_length=64, unique=True)
    secret_lookup = fields.CharField(max_length=64, unique=True)
    key_id = fields.CharField(max_length=32)
    verifier = fields.CharField(max_length=64)
    note_nonce = fields.BinaryField(null=True)
    note = fields.BinaryField(null=True)
    created_at = fields.BigIntField()
    expires_at = fields.BigIntField()
    ttl = fields.BigIntField()
    answered_at = fields.BigIntField(null=True)
    quota_tag = fields.CharField(max_length=64, null=True)
    max_bytes = fields.BigIntField(null=True)

    class Meta:
        """Table name; the index the sweeper uses, and one client's count of open requests."""

        table = "request"
        indexes = (("expires_at",), ("quota_tag", "expires_at"))
