r"""The sealed-secret format: keys, one-way lookup hashes and passphrase-bound AEAD.

Every label of the format lives here and nowhere else. Pure bytes in, bytes
out: no framework, no database, no event loop. The
secret is sealed with AES-256-GCM under a key derived from
``argon2id(passphrase, salt)``, the ``secret_key`` and a server-held key
together, so neither the passphrase, nor the link, nor a copy of the database
opens it alone or together without the server key. ``derive_key`` is slow on
purpose, and so are ``seal_secret`` and ``open_secret`` that call it;
callers run them off the event loop.

Format v1/v2, as stored:

- lookup hash: ``sha256("ots/v1 <purpose>\0<key>")`` in hex, purpose
  ``secret`` or ``receipt``;
- AEAD key: ``HKDF-SHA256(argon2id(passphrase, salt) || secret_key [|| server_key],
  salt, info)``, info ``ots/v1 aes-256-gcm key`` without a server key (secrets
  stored before keys existed), ``ots/v2 aes-256-gcm key`` with one;
- AES-256-GCM with a random 96-bit nonce and associated data
  ``"ots/v1 secret <lookup hash>"``, which binds the ciphertext to its row.

A webhook subscription (its URL and signing secret, as JSON) is sealed with
AES-256-GCM under ``HKDF-SHA256(server_key, info "ots/v1 webhook key")``,
associated data ``"ots/v1 webhook <lookup hash>"``. A receipt's fingerprint,
which names a secret in the audit log and in webhook bodies, is the first 20
hex digits of ``sha256("ots/v1 fingerprint\0<lookup hash>")``.

The client a secret counts against for its share of the storage quota is
stored only as its quota tag: ``HMAC-SHA256(HKDF-SHA256(server_key, info
"ots/v1 quota tag key"), quota key)`` in hex, where the quota key names the
client (``ip:<address or IPv6 prefix>``). Without the server key a copy of
the database cannot tell whose a row is, not even by trying every address.

Format v3, a secret its client sealed (``docs/sealed-v1.md``): the client's
ciphertext, after its envelope (JSON) and a NUL byte, sealed again with
AES-256-GCM under ``HKDF-SHA256(server_key || secret_key, salt, info "ots/v3
sealed secret key")``, same associated data as above; beside it only
``"hmac-sha256:" || base64url(HMAC-SHA256(HKDF-SHA256(server_key, info "ots/v1
verifier key"), sha256("ots/v1 verifier\0" || verifier)))``, where the
verifier is itself a hash of the access proof the recipient will present.
Keyed, so that a copy of the database (with a ``.p`` link) cannot test
passphrase guesses offline: that needs the server key too. Rows stored
before verifiers were keyed hold the inner digest alone, in hex (64
characters, never with the prefix); ``db.migrate`` keys them where the
server key is at hand, and until then they are checked as they were.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
import secrets
from typing import Final

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ots.domain import (
    ClientSealed,
    EncryptedSecret,
    KdfParams,
    NewWebhook,
    SealedField,
    Subscription,
)

KEY_BYTES: Final = 24  # 192 bits from the CSPRNG, 32 URL-safe characters
SALT_BYTES: Final = 16
NONCE_BYTES: Final = 12
AEAD_KEY_BYTES: Final = 32
# A key in a path can only be one we made; anything else is refused before any lookup.
KEY_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{16,128}")
# v1 secrets (stored before the server key existed) derive without it; v2 mix it in.
_HKDF_INFO_V1: Final = b"ots/v1 aes-256-gcm key"
_HKDF_INFO_V2: Final = b"ots/v2 aes-256-gcm key"
_HKDF_INFO_WEBHOOK: Final = b"ots/v1 webhook key"
_HKDF_INFO_V3: Final = b"ots/v3 sealed secret key"
_HKDF_INFO_QUOTA: Final = b"ots/v1 quota tag key"
_HKDF_INFO_TOKEN: Final = b"ots/v1 api token key"
_VERIFIER_LABEL: Final = b"ots/v1 verifier\0"
_HKDF_INFO_VERIFIER: Final = b"ots/v1 verifier key"
_HKDF_INFO_ANSWER: Final = b"ots/v1 answer key"
_HKDF_INFO_NOTE: Final = b"ots/v1 request note key"
# What a keyed verifier starts with: no hex digest (a legacy row) ever does.
KEYED_VERIFIER_PREFIX: Final = "hmac-sha256:"
_LEGACY_VERIFIER: Final = re.compile(r"[0-9a-f]{64}")
FINGERPRINT_CHARS: Final = 20
_WEBHOOK_SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - a prefix, not a secret
# Prefix of the lookup hashes and of the associated data (unchanged since v1).
_LABEL: Final = "ots/v1"
# Hash domains: a secret key and a receipt key never share a lookup hash.
_SECRET_PURPOSE: Final = "secret"  # noqa: S105 - a hash domain label, not a password
_RECEIPT_PURPOSE: Final = "receipt"
_REQUEST_PURPOSE: Final = "request"


class Concealed:
    """A string that must never be printed: its ``repr`` and ``str`` are stars."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        """Wrap ``value``."""
        self._value = value

    def reveal(self) -> str:
        """Return the wrapped value, for the one place that needs it."""
        return self._value

    def __repr__(self) -> str:
        """Hide the value."""
        return "Concealed('**********')"

    __str__ = __repr__


class DecryptionError(Exception):
    """The AEAD refused the ciphertext: wrong passphrase, wrong key or tampering."""


def new_key() -> str:
    """Return a fresh random key: 192 bits, URL-safe alphabet, never starting with ``-``.

    A key that starts with ``-`` reads as an option on a command line (``ots
    burn -abc…`` is a usage error); skipping those costs 0.02 bits.
    """
    while (key := secrets.token_urlsafe(KEY_BYTES)).startswith("-"):
        pass
    return key


def is_wellformed_key(key: str) -> bool:
    """Tell whether ``key`` could be a key ots made (alphabet and length)."""
    return KEY_PATTERN.fullmatch(key) is not None


def secret_lookup(secret_key: str) -> str:
    """Return the one-way hash under which a secret's row is stored."""
    return _lookup_hash(secret_key, _SECRET_PURPOSE)


def receipt_lookup(receipt_key: str) -> str:
    """Return the one-way hash under which a receipt's row is stored."""
    return _lookup_hash(receipt_key, _RECEIPT_PURPOSE)


def request_lookup(request_key: str) -> str:
    """Return the one-way hash under which a request's row is stored."""
    return _lookup_hash(request_key, _REQUEST_PURPOSE)


def answer_key(request_key: str, server_key: bytes) -> str:
    """Return the secret_key of a request's answer: the asker gets it, the database never.

    ``b64url(HMAC-SHA256(HKDF(server_key, "ots/v1 answer key"), request_key))``
    cut to 32 characters (192 bits, as ``new_key``), a leading ``-`` read as
    ``A`` so that it never reads as an option. Derived again when the answer
    arrives: whoever holds the request_key but not the server key cannot
    compute it, and the row keeps only its lookup hash.
    """
    mac = hmac.new(
        _server_subkey(server_key, _HKDF_INFO_ANSWER), request_key.encode("ascii"), "sha256"
    ).digest()
    key = base64.urlsafe_b64encode(mac[:KEY_BYTES]).decode("ascii")
    return "A" + key[1:] if key.startswith("-") else key


def seal_note(note: str, server_key: bytes, key_id: str, lookup: str) -> SealedField:
    """Seal a request's note for the row of ``lookup`` (nothing readable at rest)."""
    nonce, ciphertext = seal(
        _server_subkey(server_key, _HKDF_INFO_NOTE), note.encode("utf-8"), _note_data(lookup)
    )
    return SealedField(nonce=nonce, ciphertext=ciphertext, key_id=key_id)


def open_note(sealed: SealedField, server_key: bytes, lookup: str) -> str:
    """Return the note that ``seal_note`` sealed.

    Raises:
        DecryptionError: the server key is wrong, or the data was altered or moved.
    """
    key = _server_subkey(server_key, _HKDF_INFO_NOTE)
    return unseal(key, sealed.nonce, sealed.ciphertext, _note_data(lookup)).decode("utf-8")


def _note_data(lookup: str) -> bytes:
    return f"{_LABEL} note {lookup}".encode()


def _lookup_hash(key: str, purpose: str) -> str:
    # The keys carry 192 random bits, so a plain SHA-256 cannot be inverted or
    # brute-forced; ``purpose`` separates secret keys from receipt keys.
    return hashlib.sha256(f"{_LABEL} {purpose}\0{key}".encode()).hexdigest()


def new_webhook_secret() -> str:
    """Return a fresh signing secret for one subscription (shown once, to its creator)."""
    return _WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)


def fingerprint(lookup: str) -> str:
    """Return the name of a secret for logs and webhooks: one-way, from its lookup hash.

    80 bits tell secrets apart; nothing about the keys can be learnt from it.
    """
    digest = hashlib.sha256(f"{_LABEL} fingerprint\0{lookup}".encode()).hexdigest()
    return digest[:FINGERPRINT_CHARS]


def quota_tag(quota_key: str, server_key: bytes) -> str:
    """Return the pseudonym under which a secret counts against its client's quota.

    Keyed and one-way: the database holds this, never the address (or token)
    the quota key names. The same client gets the same tag under one server
    key; after a rotation the service asks for the tags under every key of the ring.
    """
    return hmac.new(
        _server_subkey(server_key, _HKDF_INFO_QUOTA),
        quota_key.encode("utf-8", "surrogatepass"),
        "sha256",
    ).hexdigest()


def new_token_secret() -> str:
    """Return the random part of a new API token: 256 bits, URL-safe, shown once."""
    return secrets.token_urlsafe(32)


def token_digest(token_secret: str, server_key: bytes) -> str:
    """Return what the database keeps of an API token's random part: an HMAC under the server key.

    Without the server key, a copy of the database gives nothing to test a
    guess against; each row's random part is its own, so a digest matches
    only the token made with it.
    """
    return hmac.new(
        _server_subkey(server_key, _HKDF_INFO_TOKEN),
        token_secret.encode("utf-8", "surrogatepass"),
        "sha256",
    ).hexdigest()


def digests_match(stored: str, computed: str) -> bool:
    """Compare two digests in constant time."""
    return hmac.compare_digest(stored.encode(), computed.encode())


def seal_webhook(
    url: str, signing_secret: str, server_key: bytes, key_id: str, lookup: str
) -> SealedField:
    """Seal a subscription's URL and signing secret for the row of ``lookup``."""
    plaintext = json.dumps({"url": url, "secret": signing_secret}).encode()
    nonce, ciphertext = seal(_webhook_key(server_key), plaintext, _webhook_data(lookup))
    return SealedField(nonce=nonce, ciphertext=ciphertext, key_id=key_id)


def new_webhook(
    notify: Subscription | None, server_key: bytes, key_id: str, lookup: str
) -> tuple[str | None, NewWebhook | None]:
    """Return a new signing secret and the webhook to store for ``notify`` (None: none)."""
    if notify is None:
        return None, None
    signing_secret = new_webhook_secret()
    sealed = seal_webhook(notify.url, signing_secret, server_key, key_id, lookup)
    return signing_secret, NewWebhook(events=notify.events, sealed=sealed)


def open_webhook(sealed: SealedField, server_key: bytes, lookup: str) -> tuple[str, str]:
    """Return the URL and signing secret that ``seal_webhook`` sealed.

    Raises:
        DecryptionError: the server key is wrong, or the data was altered or moved.
    """
    plaintext = unseal(
        _webhook_key(server_key), sealed.nonce, sealed.ciphertext, _webhook_data(lookup)
    )
    opened = json.loads(plaintext)
    return str(opened["url"]), str(opened["secret"])


def _webhook_key(server_key: bytes) -> bytes:
    return _server_subkey(server_key, _HKDF_INFO_WEBHOOK)


# A few keys per server key (quota, webhook, verifier) over a handful of ring keys.
@functools.lru_cache(maxsize=64)
def _server_subkey(server_key: bytes, info: bytes) -> bytes:
    # HKDF of the server key alone, for one purpose: the same on every call, so derived
    # once per process (it was a tenth of a sealed reveal). Held in memory beside the
    # server key it comes from, which the process holds anyway.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=AEAD_KEY_BYTES, salt=None, info=info)
    return hkdf.derive(server_key)


def _webhook_data(lookup: str) -> bytes:
    return f"{_LABEL} webhook {lookup}".encode()


def seal_secret(
    plaintext: bytes,
    passphrase: str,
    secret_key: str,
    kdf: KdfParams,
    server_key: bytes | None,
    key_id: str | None,
) -> EncryptedSecret:
    """Seal ``plaintext`` for the row of ``secret_key``: derive the key, then encrypt.

    ``server_key`` (with its ``key_id``) is None only to write the v1 format
    of secrets stored before server keys existed. Slow by design (argon2id).
    """
    salt = new_salt()
    key = derive_key(passphrase, secret_key, salt, kdf, server_key)
    nonce, ciphertext = seal(key, plaintext, _associated_data(secret_key))
    return EncryptedSecret(salt=salt, nonce=nonce, ciphertext=ciphertext, kdf=kdf, key_id=key_id)


def open_secret(
    encrypted: EncryptedSecret, passphrase: str, secret_key: str, server_key: bytes | None
) -> bytes:
    """Open what ``seal_secret`` sealed, with the server key named by ``encrypted.key_id``.

    Slow by design (argon2id).

    Raises:
        DecryptionError: the passphrase, the key or the server key is wrong, or the
            data was altered or moved to another row.
    """
    if encrypted.kdf is None:
        # Sealed by its client: no passphrase opens it here.
        raise DecryptionError
    key = derive_key(passphrase, secret_key, encrypted.salt, encrypted.kdf, server_key)
    return unseal(key, encrypted.nonce, encrypted.ciphertext, _associated_data(secret_key))


def seal_client_secret(
    client: ClientSealed, verifier: bytes, secret_key: str, server_key: bytes, key_id: str
) -> EncryptedSecret:
    """Seal a client's ciphertext and envelope again, under the server key, for its row.

    Cheap (no argon2id): the client did the slow part, if any. A copy of the
    database then shows neither the ciphertext nor its parameters.
    """
    salt = new_salt()
    framed = client.envelope.encode("utf-8") + b"\0" + client.ciphertext
    nonce, ciphertext = seal(
        _client_key(server_key, secret_key, salt), framed, _associated_data(secret_key)
    )
    return EncryptedSecret(
        salt=salt,
        nonce=nonce,
        ciphertext=ciphertext,
        kdf=None,
        key_id=key_id,
        verifier=keyed_verifier(verifier, server_key),
    )


def open_client_secret(
    encrypted: EncryptedSecret, secret_key: str, server_key: bytes
) -> ClientSealed:
    """Return the client's ciphertext and envelope that ``seal_client_secret`` encrypted.

    Raises:
        DecryptionError: the server key is wrong, or the row was altered or moved.
    """
    framed = unseal(
        _client_key(server_key, secret_key, encrypted.salt),
        encrypted.nonce,
        encrypted.ciphertext,
        _associated_data(secret_key),
    )
    # JSON text never holds a raw NUL: the first one ends the envelope.
    envelope, _, ciphertext = framed.partition(b"\0")
    return ClientSealed(ciphertext=ciphertext, envelope=envelope.decode("utf-8"))


def _client_key(server_key: bytes, secret_key: str, salt: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=AEAD_KEY_BYTES, salt=salt, info=_HKDF_INFO_V3)
    return hkdf.derive(server_key + secret_key.encode("ascii"))


def keyed_verifier(verifier: bytes, server_key: bytes) -> str:
    """Return what a row stores of a sealed secret's access verifier: keyed under the server key.

    Nothing computed from the proof alone (a guessed passphrase) can be
    compared with it: that takes the server key too.
    """
    return _keyed(_verifier_digest(verifier), server_key)


def key_legacy_verifier(stored: str, server_key: bytes) -> str | None:
    """Return the keyed form of a row's legacy verifier digest; None if ``stored`` is none.

    Equal to ``keyed_verifier`` of the same verifier: an upgraded row and a
    new one are checked alike.
    """
    if not _LEGACY_VERIFIER.fullmatch(stored):
        return None
    return _keyed(bytes.fromhex(stored), server_key)


def verifier_matches(stored: str, verifier: bytes, server_key: bytes) -> bool:
    """Tell, in constant time, whether ``verifier`` is the one whose keyed form is stored.

    A legacy row (the bare digest, stored before verifiers were keyed and
    not upgraded yet) is checked as it always was; the prefix tells them apart.
    """
    if stored.startswith(KEYED_VERIFIER_PREFIX):
        expected = keyed_verifier(verifier, server_key)
    else:
        expected = _verifier_digest(verifier).hex()
    return hmac.compare_digest(stored, expected)


def _verifier_digest(verifier: bytes) -> bytes:
    return hashlib.sha256(_VERIFIER_LABEL + verifier).digest()


def _keyed(digest: bytes, server_key: bytes) -> str:
    mac = hmac.new(_server_subkey(server_key, _HKDF_INFO_VERIFIER), digest, hashlib.sha256).digest()
    return KEYED_VERIFIER_PREFIX + base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def _associated_data(secret_key: str) -> bytes:
    # Binds the ciphertext to the row it was written for.
    return f"{_LABEL} {_SECRET_PURPOSE} {secret_lookup(secret_key)}".encode()


def derive_key(
    passphrase: str,
    secret_key: str,
    salt: bytes,
    kdf: KdfParams,
    server_key: bytes | None = None,
) -> bytes:
    """Derive the AEAD key from the passphrase (argon2id), the secret key and the server key.

    ``server_key`` is None only for secrets stored before the server key
    existed (format v1). Slow by design (argon2id); run it in a worker thread.
    """
    stretched = hash_secret_raw(
        passphrase.encode("utf-8"),
        salt,
        time_cost=kdf.time_cost,
        memory_cost=kdf.memory_kib,
        parallelism=kdf.parallelism,
        hash_len=AEAD_KEY_BYTES,
        type=Type.ID,
    )
    material = stretched + secret_key.encode("ascii")
    info = _HKDF_INFO_V1
    if server_key is not None:
        # Fixed-length parts on both ends keep the concatenation unambiguous.
        material += server_key
        info = _HKDF_INFO_V2
    hkdf = HKDF(algorithm=hashes.SHA256(), length=AEAD_KEY_BYTES, salt=salt, info=info)
    return hkdf.derive(material)


def new_salt() -> bytes:
    """Return a fresh per-secret salt."""
    return secrets.token_bytes(SALT_BYTES)


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> tuple[bytes, bytes]:
    """Encrypt ``plaintext``; return ``(nonce, ciphertext)``.

    ``associated_data`` binds the ciphertext to its row: moved to another row
    it no longer opens.
    """
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, associated_data)


def unseal(key: bytes, nonce: bytes, ciphertext: bytes, associated_data: bytes) -> bytes:
    """Decrypt and authenticate.

    Raises:
        DecryptionError: the key is wrong or the data was altered.
    """
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, associated_data)
    except InvalidTag:
        raise DecryptionError from None
