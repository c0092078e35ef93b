"""A store's admin API key: what the WordPress plugin's privacy tools (and scripts) call BackSoon's admin API with.

Only its sha256 is stored; the key itself is shown once, when it is issued. Issuing a key replaces the previous one.
"""

from __future__ import annotations

import hashlib
import secrets

from app.models import Store

PREFIX = "bsk_"


def hash_api_key(key: str) -> str:
    """The stored form of an admin API key."""
    return hashlib.sha256(key.encode()).hexdigest()


def issue_api_key(store: Store) -> str:
    """A new admin API key for the store, replacing its previous one; the caller commits and shows it once."""
    key = PREFIX + secrets.token_urlsafe(32)
    store.api_key_hash = hash_api_key(key)
    return key
