"""The numbers and switches the use cases obey, taken once from the settings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ots.config import Settings
from ots.domain import KdfParams


@dataclass(frozen=True)
class Policy:
    """The numbers and switches the rules use: what the service needs of the settings."""

    default_ttl: int
    min_ttl: int
    max_ttl: int
    max_secret_bytes: int
    max_attempts: int
    # Seconds a receipt is kept after its secret ended.
    receipt_retention: int
    max_live_secrets: int
    max_stored_bytes: int
    # One client's share (OTS_CLIENT_SHARE) of each: live secrets, and ciphertext bytes;
    # 0: no per-client share.
    max_client_secrets: int
    max_client_bytes: int
    # The argon2id cost of a new passphrase secret.
    kdf: KdfParams
    webhooks: bool
    webhook_allow_http: bool
    webhook_allow_private: bool

    def purge_at(self, ended_at: int) -> int:
        """Return when the receipt of a secret that ended at ``ended_at`` is deleted."""
        return ended_at + self.receipt_retention

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        """Return the policy ``settings`` configure."""
        return cls(
            default_ttl=settings.default_ttl,
            min_ttl=settings.min_ttl,
            max_ttl=settings.max_ttl,
            max_secret_bytes=settings.max_secret_bytes,
            max_attempts=settings.max_attempts,
            receipt_retention=settings.receipt_retention,
            max_live_secrets=settings.max_live_secrets,
            max_stored_bytes=settings.max_stored_bytes,
            max_client_secrets=_share_of(settings.max_live_secrets, settings.client_share, 1),
            max_client_bytes=_share_of(
                settings.max_stored_bytes, settings.client_share, settings.max_secret_bytes
            ),
            kdf=KdfParams(
                settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
            ),
            webhooks=settings.webhooks,
            webhook_allow_http=settings.webhook_allow_http,
            webhook_allow_private=settings.webhook_allow_private,
        )


def _share_of(quota: int, share: Fraction, one_secret: int) -> int:
    # A client's part of a quota, never less than one secret's worth (0: no share at all).
    return 0 if share == 1 else max(one_secret, math.floor(quota * share))
