"""Signed links in shopper emails: unsubscribe, buy (click tracking) and double-opt-in confirmation.

Unsubscribe and buy links carry a signed id (itsdangerous, keyed by SECRET_KEY, one salt per purpose so a
token for one purpose is refused by the other). They never expire: an unsubscribe link in a months-old email must
still work, and a buy link only records a click and redirects. The confirmation link is different: it carries a
random single-use token whose sha256 is stored on the subscription with an expiry, so it can be spent once.
"""

from __future__ import annotations

import hashlib
import secrets

from itsdangerous import BadSignature, URLSafeSerializer

__all__ = [
    "buy_url",
    "confirm_url",
    "hash_token",
    "new_confirm_token",
    "read_buy_token",
    "read_unsubscribe_token",
    "unsubscribe_mailto",
    "unsubscribe_url",
]

_UNSUBSCRIBE_SALT = "backsoon.unsubscribe.v1"
_BUY_SALT = "backsoon.buy.v1"


def _serializer(secret_key: str, salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=salt)


def _read(secret_key: str, salt: str, token: str) -> int | None:
    try:
        value = _serializer(secret_key, salt).loads(token)
    except BadSignature:
        return None
    # bool is an int subclass; a signed True must not read as id 1.
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def unsubscribe_token(secret_key: str, subscription_id: int) -> str:
    """The signed token naming one subscription for its unsubscribe link."""
    return str(_serializer(secret_key, _UNSUBSCRIBE_SALT).dumps(subscription_id))


def read_unsubscribe_token(secret_key: str, token: str) -> int | None:
    """The subscription id an unsubscribe token names, or None when it is forged or malformed."""
    return _read(secret_key, _UNSUBSCRIBE_SALT, token)


def unsubscribe_url(app_url: str, secret_key: str, subscription_id: int) -> str:
    """https link for List-Unsubscribe and the footer: GET shows a page, POST unsubscribes (RFC 8058)."""
    return f"{app_url.rstrip('/')}/u/{unsubscribe_token(secret_key, subscription_id)}"


def unsubscribe_mailto(mail_from_address: str, secret_key: str, subscription_id: int) -> str:
    """mailto: form of List-Unsubscribe, for mail clients that do not do the one-click POST."""
    return f"mailto:{mail_from_address}?subject=unsubscribe%20{unsubscribe_token(secret_key, subscription_id)}"


def buy_token(secret_key: str, delivery_id: int) -> str:
    """The signed token naming one delivery for its buy link."""
    return str(_serializer(secret_key, _BUY_SALT).dumps(delivery_id))


def read_buy_token(secret_key: str, token: str) -> int | None:
    """The delivery id a buy token names, or None when it is forged or malformed."""
    return _read(secret_key, _BUY_SALT, token)


def buy_url(app_url: str, secret_key: str, delivery_id: int) -> str:
    """The restock email's buy link: records the click on the delivery, then redirects to the product."""
    return f"{app_url.rstrip('/')}/r/{buy_token(secret_key, delivery_id)}"


def new_confirm_token() -> tuple[str, str]:
    """A fresh confirmation token and the sha256 hex to store; only the hash ever reaches the database."""
    raw = secrets.token_urlsafe(32)
    return raw, hash_token(raw)


def hash_token(raw: str) -> str:
    """sha256 hex of a confirmation token, as stored in ``subscriptions.confirm_token_hash``."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def confirm_url(app_url: str, raw_token: str) -> str:
    """The double-opt-in link: GET shows a confirm button, POST confirms (mail scanners only GET)."""
    return f"{app_url.rstrip('/')}/c/{raw_token}"
