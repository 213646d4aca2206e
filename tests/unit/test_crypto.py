"""crypto: keys, lookup hashes, key derivation and the AEAD."""

from __future__ import annotations

import hashlib
import hmac
import re
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ots import crypto
from ots.config import Settings
from ots.crypto import Concealed, DecryptionError
from ots.domain import ClientSealed, KdfParams

CHEAP = KdfParams(time_cost=1, memory_kib=8, parallelism=1)


class TestKeys:
    """new_key and is_wellformed_key."""

    def test_keys_are_long_random_and_url_safe(self) -> None:
        """Keys carry at least 128 bits in [A-Za-z0-9_-] and never repeat."""
        keys = {crypto.new_key() for _ in range(1000)}
        assert len(keys) == 1000
        for key in keys:
            assert re.fullmatch(r"[A-Za-z0-9_-]+", key)
            assert len(key) * 6 >= 128
            assert crypto.is_wellformed_key(key)

    @pytest.mark.parametrize("key", ["", "short", "a" * 129, "has space padding xx", "é" * 20])
    def test_foreign_keys_are_not_wellformed(self, key: str) -> None:
        """Anything ots could not have made is refused before any lookup."""
        assert not crypto.is_wellformed_key(key)


class TestLookupHash:
    """secret_lookup and receipt_lookup."""

    def test_is_stable_and_hides_the_key(self) -> None:
        """Same key, same hash; the hash does not contain the key."""
        key = crypto.new_key()
        digest = crypto.secret_lookup(key)
        assert digest == crypto.secret_lookup(key)
        assert key not in digest
        assert len(digest) == 64

    def test_purposes_are_separated(self) -> None:
        """A secret key and a receipt key with the same text hash differently."""
        key = crypto.new_key()
        assert crypto.secret_lookup(key) != crypto.receipt_lookup(key)

    def test_format_is_pinned(self) -> None:
        """The stored format: sha256 of the label, purpose and key (changing it loses rows)."""
        assert crypto.secret_lookup("k" * 32) == (
            hashlib.sha256(b"ots/v1 secret\0" + b"k" * 32).hexdigest()
        )


WRONG_OPENERS = {
    "passphrase": ("nope", None, None),
    "server-key": (None, b"t" * 32, None),
    "no-server-key": (None, None, "none"),
    "other-row": (None, None, "row"),
}


class TestSealedSecret:
    """seal_secret and open_secret: the whole format of a stored secret."""

    SERVER_KEY = b"s" * 32

    def test_round_trip_with_and_without_a_server_key(self) -> None:
        """v2 (server key) and v1 (none) both open with what sealed them."""
        for server_key, key_id in ((self.SERVER_KEY, "k1"), (None, None)):
            key = crypto.new_key()
            sealed = crypto.seal_secret(b"hello", "pw", key, CHEAP, server_key, key_id)
            assert sealed.key_id == key_id
            assert b"hello" not in sealed.ciphertext
            assert crypto.open_secret(sealed, "pw", key, server_key) == b"hello"

    @pytest.mark.parametrize(
        ("passphrase", "server_key", "change"), WRONG_OPENERS.values(), ids=WRONG_OPENERS
    )
    def test_anything_else_does_not_open_it(
        self, passphrase: str | None, server_key: bytes | None, change: str | None
    ) -> None:
        """A wrong passphrase or server key, or the ciphertext moved to another row, fails."""
        key = crypto.new_key()
        sealed = crypto.seal_secret(b"hello", "pw", key, CHEAP, self.SERVER_KEY, "k1")
        opener = key if change != "row" else crypto.new_key()
        used_key = server_key or (None if change == "none" else self.SERVER_KEY)
        with pytest.raises(DecryptionError):
            crypto.open_secret(sealed, passphrase or "pw", opener, used_key)


class TestSealing:
    """derive_key, seal and unseal."""

    def test_round_trip(self) -> None:
        """What is sealed with the derived key opens with the same inputs."""
        salt = crypto.new_salt()
        key = crypto.derive_key("pass", "k" * 32, salt, CHEAP)
        nonce, ciphertext = crypto.seal(key, b"hello", b"row-1")
        assert b"hello" not in ciphertext
        assert crypto.unseal(key, nonce, ciphertext, b"row-1") == b"hello"

    @pytest.mark.parametrize(
        ("passphrase", "secret_key", "aad"),
        [("wrong", "k" * 32, b"row-1"), ("pass", "j" * 32, b"row-1"), ("pass", "k" * 32, b"row-2")],
        ids=["wrong-passphrase", "wrong-secret-key", "moved-to-another-row"],
    )
    def test_any_wrong_input_fails(self, passphrase: str, secret_key: str, aad: bytes) -> None:
        """The passphrase, the secret key and the row are all needed to open it."""
        salt = crypto.new_salt()
        nonce, ciphertext = crypto.seal(
            crypto.derive_key("pass", "k" * 32, salt, CHEAP), b"hello", b"row-1"
        )
        key = crypto.derive_key(passphrase, secret_key, salt, CHEAP)
        with pytest.raises(DecryptionError):
            crypto.unseal(key, nonce, ciphertext, aad)

    def test_tampering_is_detected(self) -> None:
        """A flipped ciphertext bit fails authentication."""
        key = crypto.derive_key("pass", "k" * 32, crypto.new_salt(), CHEAP)
        nonce, ciphertext = crypto.seal(key, b"hello", b"")
        tampered = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
        with pytest.raises(DecryptionError):
            crypto.unseal(key, nonce, tampered, b"")

    def test_kdf_parameters_change_the_key(self) -> None:
        """Stored KDF parameters matter: other costs derive another key."""
        salt = crypto.new_salt()
        stronger = KdfParams(time_cost=2, memory_kib=16, parallelism=1)
        assert crypto.derive_key("p", "k" * 32, salt, CHEAP) != crypto.derive_key(
            "p", "k" * 32, salt, stronger
        )

    def test_server_key_is_needed_to_open(self) -> None:
        """Sealed under a server key, it opens with that key only: not without one, not another."""
        salt, server_key = crypto.new_salt(), b"s" * 32
        key = crypto.derive_key("p", "k" * 32, salt, CHEAP, server_key)
        nonce, ciphertext = crypto.seal(key, b"hello", b"row")
        for other in (None, b"t" * 32):
            with pytest.raises(DecryptionError):
                crypto.unseal(
                    crypto.derive_key("p", "k" * 32, salt, CHEAP, other), nonce, ciphertext, b"row"
                )
        assert crypto.unseal(key, nonce, ciphertext, b"row") == b"hello"

    def test_v1_derivation_is_unchanged(self) -> None:
        """Secrets stored before server keys still derive the key they were sealed with."""
        salt = bytes(range(16))
        expected = "0f6b5c4d"  # computed by the release before server keys
        assert crypto.derive_key("p", "k" * 32, salt, CHEAP).hex()[:8] == expected

    def test_salt_changes_the_key(self) -> None:
        """Each secret has its own salt, hence its own key."""
        assert crypto.derive_key("p", "k" * 32, b"a" * 16, CHEAP) != crypto.derive_key(
            "p", "k" * 32, b"b" * 16, CHEAP
        )


def test_concealed_never_prints() -> None:
    """A concealed value shows stars in repr, str and f-strings."""
    hidden = Concealed("hunter2")
    assert "hunter2" not in repr(hidden)
    assert "hunter2" not in f"{hidden}"
    assert hidden.reveal() == "hunter2"


def test_production_kdf_defaults_meet_owasp() -> None:
    """What ships is no weaker than OWASP's argon2id minimum (m=19456 KiB, t=2, p=1)."""
    shipped = Settings()
    assert shipped.argon2_memory_kib >= 19456
    assert shipped.argon2_time_cost >= 2
    assert shipped.argon2_parallelism >= 1


def test_crypto_and_config_import_no_framework() -> None:
    """Crypto and config stay pure: importing them loads neither Sanic nor Tortoise."""
    code = (
        "import sys, ots.crypto, ots.config; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sanic', 'tortoise')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class TestClientSealed:
    """seal_client_secret / open_client_secret and the verifier digest (sealed mode)."""

    CLIENT = ClientSealed(ciphertext=b"\x00opaque\xff" * 10, envelope='{"v":1,"nonce":"x"}')

    def test_round_trip_hides_what_the_client_sent(self) -> None:
        """It opens with the server key and secret key; the row shows neither part."""
        server_key, key = bytes(range(32)), crypto.new_key()
        row = crypto.seal_client_secret(self.CLIENT, b"v" * 32, key, server_key, "k1")
        assert (row.kdf, row.key_id, row.by_client) == (None, "k1", True)
        assert self.CLIENT.ciphertext not in row.ciphertext
        assert b"nonce" not in row.ciphertext
        assert crypto.open_client_secret(row, key, server_key) == self.CLIENT

    def test_needs_the_right_server_key_row_and_mode(self) -> None:
        """Another server key or another row's secret key does not open it; nor a passphrase."""
        server_key, key = bytes(range(32)), crypto.new_key()
        row = crypto.seal_client_secret(self.CLIENT, b"v" * 32, key, server_key, "k1")
        with pytest.raises(DecryptionError):
            crypto.open_client_secret(row, key, bytes(32))
        with pytest.raises(DecryptionError):
            crypto.open_client_secret(row, crypto.new_key(), server_key)
        with pytest.raises(DecryptionError):
            crypto.open_secret(row, "any passphrase", key, server_key)

    def test_only_the_verifier_matches_its_keyed_digest(self) -> None:
        """The stored value is keyed; comparison wants the exact verifier and server key."""
        server_key = bytes(range(32))
        stored = crypto.keyed_verifier(b"v" * 32, server_key)
        assert crypto.verifier_matches(stored, b"v" * 32, server_key)
        assert not crypto.verifier_matches(stored, b"w" * 32, server_key)
        assert not crypto.verifier_matches(stored, b"v" * 32, bytes(32))

    def test_the_stored_verifier_needs_the_server_key(self) -> None:
        """Nothing computed from the verifier alone equals the row: not the old digest, no hash."""
        verifier, server_key = b"v" * 32, bytes(range(32))
        stored = crypto.keyed_verifier(verifier, server_key)
        unkeyed = hashlib.sha256(b"ots/v1 verifier\0" + verifier)
        assert stored.startswith("hmac-sha256:")
        assert len(stored) <= 64  # the column holds it
        body = stored.removeprefix("hmac-sha256:")
        assert body not in (unkeyed.hexdigest(), hashlib.sha256(verifier).hexdigest())
        assert unkeyed.hexdigest() not in stored
        assert crypto.keyed_verifier(verifier, bytes(32)) != stored

    def test_a_legacy_digest_keys_to_the_same_value(self) -> None:
        """An upgraded row holds what a new row would: both are checked alike."""
        verifier, server_key = b"v" * 32, bytes(range(32))
        legacy = hashlib.sha256(b"ots/v1 verifier\0" + verifier).hexdigest()
        upgraded = crypto.key_legacy_verifier(legacy, server_key)
        assert upgraded == crypto.keyed_verifier(verifier, server_key)
        assert crypto.key_legacy_verifier(upgraded, server_key) is None
        assert crypto.key_legacy_verifier(legacy.upper(), server_key) is None

    def test_a_legacy_row_is_still_checked_as_it_was(self) -> None:
        """A bare digest (a row not upgraded yet) matches its verifier, and nothing else."""
        verifier, server_key = b"v" * 32, bytes(range(32))
        legacy = hashlib.sha256(b"ots/v1 verifier\0" + verifier).hexdigest()
        assert crypto.verifier_matches(legacy, verifier, server_key)
        assert not crypto.verifier_matches(legacy, b"w" * 32, server_key)
        assert not crypto.verifier_matches("hmac-sha256:" + legacy[:43], verifier, server_key)


def test_a_new_key_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key drawn with a leading '-' (an option on a command line) is drawn again."""
    drawn = iter(["-" + "a" * 31, "b" * 32])
    monkeypatch.setattr(crypto.secrets, "token_urlsafe", lambda _: next(drawn))
    assert crypto.new_key() == "b" * 32


class TestQuotaTag:
    """quota_tag: the pseudonym a row keeps of the client it counts against."""

    def test_format_is_pinned(self) -> None:
        """HMAC-SHA256 of the quota key under HKDF(server key, its own label), in hex."""
        server_key = bytes(range(32))
        tag_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"ots/v1 quota tag key"
        ).derive(server_key)
        expected = hmac.new(tag_key, b"ip:192.0.2.7", "sha256").hexdigest()
        assert crypto.quota_tag("ip:192.0.2.7", server_key) == expected

    def test_keyed_one_way_and_per_client(self) -> None:
        """Same client and key, same tag; another client or key, another; no address in it."""
        key = bytes(range(32))
        tag = crypto.quota_tag("ip:192.0.2.7", key)
        assert tag == crypto.quota_tag("ip:192.0.2.7", key)
        assert tag != crypto.quota_tag("ip:192.0.2.8", key)
        assert tag != crypto.quota_tag("ip:192.0.2.7", bytes(32))
        assert tag != hashlib.sha256(b"ip:192.0.2.7").hexdigest()
        assert re.fullmatch(r"[0-9a-f]{64}", tag)
        assert "192.0.2.7" not in tag

    def test_any_text_is_a_quota_key(self) -> None:
        """A lone surrogate (never from an address, but text all the same) cannot make it fail."""
        assert len(crypto.quota_tag("ip:\udcff", bytes(32))) == 64
