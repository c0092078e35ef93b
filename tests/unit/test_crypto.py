"""Encryption at rest: round trips, MultiFernet rotation, the development key, and that secrets never leak."""

from __future__ import annotations

import base64
import hashlib
import hmac
import pickle

import pytest
from cryptography.fernet import Fernet

from app.config import DEV_SECRET_KEY, ConfigError, Settings
from app.infra.crypto import DecryptionError, TokenCipher, cipher_for, derive_dev_key, generate_key

# Fixed keys so failures are reproducible.
KEY_OLD = "kDm6Qy7CxHqEo3p2S8R0a5sFz1uW9vNcLbTjYgXhKeI="
KEY_NEW = "Zl3cV8nQ1wT6yR0pU4iO9aS2dF7gH5jK3lM8bN1vC6x="
CREDS = {
    "access_token": "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",
    "refresh_token": "shprt_7d3f9a1c5e2b8d4f6a0c3e9b1d7f5a2c",
    "scope": "read_products,read_inventory",
    "expires_at": "2026-10-14T15:00:00+00:00",
}


def test_fixed_keys_are_valid_fernet_keys() -> None:
    for key in (KEY_OLD, KEY_NEW):
        Fernet(key)


def test_json_round_trip_is_exact_and_ciphertext_hides_the_plaintext() -> None:
    cipher = TokenCipher([KEY_NEW])
    token = cipher.encrypt_json(CREDS)
    assert isinstance(token, bytes)
    assert cipher.decrypt_json(token) == CREDS
    for secret in (CREDS["access_token"], CREDS["refresh_token"], "shpat_", "shprt_"):
        assert secret.encode() not in token
    assert cipher.decrypt(cipher.encrypt(b"\x00raw bytes\xff")) == b"\x00raw bytes\xff"


def test_newest_key_encrypts_and_every_key_decrypts() -> None:
    old_only = TokenCipher([KEY_OLD])
    both = TokenCipher([KEY_NEW, KEY_OLD])
    new_only = TokenCipher([KEY_NEW])

    legacy = old_only.encrypt_json(CREDS)
    assert both.decrypt_json(legacy) == CREDS  # old ciphertexts stay readable after adding a key

    fresh = both.encrypt_json(CREDS)
    assert new_only.decrypt_json(fresh) == CREDS  # written with the first (newest) key
    with pytest.raises(DecryptionError):
        old_only.decrypt(fresh)


def test_rotate_moves_a_ciphertext_to_the_newest_key() -> None:
    legacy = TokenCipher([KEY_OLD]).encrypt_json(CREDS)
    rotated = TokenCipher([KEY_NEW, KEY_OLD]).rotate(legacy)
    assert rotated != legacy
    assert TokenCipher([KEY_NEW]).decrypt_json(rotated) == CREDS  # the old key can now be retired
    with pytest.raises(DecryptionError):
        TokenCipher([KEY_OLD]).decrypt(rotated)
    with pytest.raises(DecryptionError, match="cannot be rotated"):
        TokenCipher([KEY_NEW]).rotate(legacy)


def test_tampered_or_foreign_ciphertext_is_a_clear_error() -> None:
    cipher = TokenCipher([KEY_NEW])
    token = bytearray(cipher.encrypt_json(CREDS))
    token[-5] ^= 0x01
    with pytest.raises(DecryptionError, match="TOKEN_ENCRYPTION_KEYS"):
        cipher.decrypt(bytes(token))
    with pytest.raises(DecryptionError):
        cipher.decrypt(b"not a fernet token")
    with pytest.raises(DecryptionError, match="not a JSON object"):
        cipher.decrypt_json(cipher.encrypt(b"[1, 2]"))
    with pytest.raises(DecryptionError, match="not JSON"):
        cipher.decrypt_json(cipher.encrypt(b"\xffnot json"))


def test_no_keys_is_a_clear_configuration_error() -> None:
    for keys in ([], ["", "  "]):
        with pytest.raises(ConfigError, match="No token encryption key configured: set TOKEN_ENCRYPTION_KEYS"):
            TokenCipher(keys)
    with pytest.raises(TypeError, match="not a single string"):
        TokenCipher(KEY_NEW)


def test_a_malformed_key_is_named_by_position_never_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        TokenCipher([KEY_NEW, "hunter2-not-a-key"])
    assert str(info.value) == ("TOKEN_ENCRYPTION_KEYS entry #2 is not a Fernet key (32 url-safe base64-encoded bytes)")
    assert "hunter2" not in repr(info.value)


def test_repr_and_pickle_never_expose_keys() -> None:
    cipher = TokenCipher([KEY_NEW, KEY_OLD])
    assert repr(cipher) == "<TokenCipher keys=2 (redacted)>"
    assert KEY_NEW not in repr(cipher) and KEY_NEW not in str(cipher)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(cipher)


def _hkdf_sha256_by_hand(secret: bytes, info: bytes) -> bytes:
    # RFC 5869 with no salt (HashLen zero bytes) and one output block, independent of the cryptography package.
    prk = hmac.new(b"\x00" * 32, secret, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def test_development_key_is_derived_deterministically_from_secret_key() -> None:
    expected = "6CQUIE7vm7pwibvuoZ4tAcoojjTVwn0BlQZD7nkw8_4="
    assert derive_dev_key(DEV_SECRET_KEY) == expected
    by_hand = _hkdf_sha256_by_hand(DEV_SECRET_KEY.encode(), b"backsoon/token-encryption/dev/v1")
    assert base64.urlsafe_b64encode(by_hand).decode() == expected
    assert derive_dev_key("another") == "H1pIkrEBUu9d0TN0j8Y4zbY9RE7JPdicrKlY_uyTrHw="
    # Not SECRET_KEY itself in another encoding: the derived key is useless for signing Flask sessions.
    assert base64.urlsafe_b64decode(expected) != hashlib.sha256(DEV_SECRET_KEY.encode()).digest()


def test_cipher_for_settings() -> None:
    dev = cipher_for(Settings(env="test"))
    token = dev.encrypt_json(CREDS)
    # Stable across processes: a fresh cipher from the derived key reads it.
    assert TokenCipher([derive_dev_key(DEV_SECRET_KEY)]).decrypt_json(token) == CREDS
    assert cipher_for(Settings(env="development")).decrypt_json(token) == CREDS

    configured = cipher_for(Settings(env="test", token_encryption_keys=(KEY_NEW, KEY_OLD)))
    assert TokenCipher([KEY_NEW]).decrypt_json(configured.encrypt_json(CREDS)) == CREDS

    with pytest.raises(ConfigError, match="TOKEN_ENCRYPTION_KEYS is required in production"):
        cipher_for(Settings(env="production", secret_key="real-secret"))
    prod = cipher_for(Settings(env="production", secret_key="real-secret", token_encryption_keys=(KEY_NEW,)))
    assert prod.decrypt_json(TokenCipher([KEY_NEW]).encrypt_json(CREDS)) == CREDS


def test_generate_key_makes_distinct_usable_keys() -> None:
    a, b = generate_key(), generate_key()
    assert a != b
    assert TokenCipher([b]).decrypt_json(TokenCipher([b, a]).encrypt_json(CREDS)) == CREDS
