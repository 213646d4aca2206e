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
    keys existed). The row is written once and deleted once, never updated:
    on PostgreSQL every update would leave one more copy of the ciphertext in
    a dead tuple, so the wrong-passphrase count lives in the receipt.
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
    created_at = fields.BigIntField()
    expires_at = fields.BigIntField()

    class Meta:
        """Table name and the index the sweeper and expiry checks use."""

        table = "secret"
        indexes = (("expires_at",),)


class ReceiptRecord(Model):
    """What the creator may learn about a secret: its state and times, never its content.

    ``lookup`` is a one-way hash of the ``receipt_key``; ``secret_lookup`` is
    the secret's own lookup hash, which cannot give the ``secret_key`` back.
    ``state`` is pending, revealed or burned; a pending receipt whose
    ``expires_at`` has passed reads as expired. ``failed_attempts`` is the
    secret's wrong-passphrase count. The sweeper deletes the row once
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

    class Meta:
        """Table name and the index the purge uses."""

        table = "receipt"
        indexes = (("purge_at",),)
