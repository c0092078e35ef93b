"""Encryption at rest for store secrets (access/refresh tokens, consumer secrets): Fernet with key rotation.

Keys come from ``TOKEN_ENCRYPTION_KEYS`` (comma-separated Fernet keys, newest first): the newest encrypts, every
key decrypts, and :meth:`TokenCipher.rotate` re-encrypts an old ciphertext under the newest key. Nothing here
ever puts a key or a plaintext into a log line, an exception message or a ``repr``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.config import ConfigError, Settings

__all__ = [
    "DecryptionError",
    "TokenCipher",
    "cipher_for",
    "derive_dev_key",
    "generate_key",
]

# Domain separation: the derived key can never equal another use of SECRET_KEY (Flask session signing).
_DEV_KEY_INFO = b"backsoon/token-encryption/dev/v1"


class DecryptionError(Exception):
    """A ciphertext that none of the configured keys can open (wrong key, truncated or tampered)."""


class TokenCipher:
    """Fernet encryption over one or more keys: the first encrypts, any decrypts (MultiFernet)."""

    __slots__ = ("_fernet", "_key_count")

    def __init__(self, keys: Sequence[str]) -> None:
        if isinstance(keys, str):  # a lone string would silently become one key per character
            raise TypeError("TokenCipher takes a sequence of keys, not a single string")
        cleaned = [k.strip() for k in keys if k and k.strip()]
        if not cleaned:
            raise ConfigError(
                "No token encryption key configured: set TOKEN_ENCRYPTION_KEYS to one or more Fernet keys "
                "(newest first), e.g. from `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`."
            )
        fernets: list[Fernet] = []
        for position, key in enumerate(cleaned, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError) as exc:
                # Name the key by position only: the message must not echo the secret.
                raise ConfigError(
                    f"TOKEN_ENCRYPTION_KEYS entry #{position} is not a Fernet key (32 url-safe base64-encoded bytes)"
                ) from exc
        self._fernet = MultiFernet(fernets)
        self._key_count = len(fernets)

    def __repr__(self) -> str:
        return f"<TokenCipher keys={self._key_count} (redacted)>"

    def __reduce__(self) -> Any:
        # Refuse pickling so keys never travel into an RQ job payload or a cache by accident.
        raise TypeError("TokenCipher cannot be pickled")

    def encrypt(self, plaintext: bytes) -> bytes:
        """Encrypt bytes under the newest key."""
        return self._fernet.encrypt(plaintext)

    def decrypt(self, token: bytes) -> bytes:
        """Decrypt bytes encrypted under any configured key, or raise DecryptionError."""
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise DecryptionError(
                "stored secret cannot be decrypted with TOKEN_ENCRYPTION_KEYS (was its key removed?)"
            ) from exc

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt a ciphertext under the newest key (keeps its original timestamp)."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken as exc:
            raise DecryptionError("stored secret cannot be rotated: no configured key decrypts it") from exc

    def encrypt_json(self, data: Mapping[str, Any]) -> bytes:
        """Encrypt a JSON object (compact, keys sorted so equal dicts give equal plaintexts)."""
        return self.encrypt(json.dumps(dict(data), separators=(",", ":"), sort_keys=True).encode("utf-8"))

    def decrypt_json(self, token: bytes) -> dict[str, Any]:
        """Decrypt a JSON object written by encrypt_json."""
        raw = self.decrypt(token)
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise DecryptionError("decrypted secret is not JSON") from exc
        if not isinstance(value, dict):
            raise DecryptionError("decrypted secret is not a JSON object")
        return value


def generate_key() -> str:
    """A new random Fernet key, for TOKEN_ENCRYPTION_KEYS."""
    return Fernet.generate_key().decode("ascii")


def derive_dev_key(secret_key: str) -> str:
    """A deterministic Fernet key derived from SECRET_KEY (HKDF-SHA256), for development and tests only.

    Stable across restarts so a local database stays readable, but anyone who knows SECRET_KEY can derive it:
    production must set TOKEN_ENCRYPTION_KEYS (load_settings already refuses to start without it).
    """
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DEV_KEY_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode("utf-8"))).decode("ascii")


def cipher_for(settings: Settings) -> TokenCipher:
    """The cipher for these settings: TOKEN_ENCRYPTION_KEYS, or in development/test a key derived from SECRET_KEY."""
    return _cipher(settings.token_encryption_keys, settings.secret_key, settings.production)


@lru_cache(maxsize=8)
def _cipher(keys: tuple[str, ...], secret_key: str, production: bool) -> TokenCipher:
    if keys:
        return TokenCipher(keys)
    if production:
        raise ConfigError("TOKEN_ENCRYPTION_KEYS is required in production to encrypt store credentials.")
    return TokenCipher([derive_dev_key(secret_key)])
