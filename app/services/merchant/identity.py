"""The store's identity as BackSoon uses it: what the platform reports, what the merchant set here, and the result.

Platforms call ``record_reported`` whenever they read the store's own settings (at install or connect, on Shopify's
shop/update, on WooCommerce's daily re-read); the settings page calls ``set_overrides``. Both leave the store's
columns (name, admin_email, timezone, currency, country, locale) at the effective values that
app.domain.store_identity decides, which is what every email, digest, date, price and feed reads.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import available_timezones

from app.domain.store_identity import FIELDS, IdentityField, effective_identity, normalize
from app.models import Store


@functools.cache
def known_zones() -> frozenset[str]:
    """Every IANA timezone name this machine knows (read once: scanning tzdata is slow)."""
    return frozenset(available_timezones())


def identity(store: Store) -> dict[str, IdentityField]:
    """Each identity field of the store: its effective value, where it comes from, and the platform's value."""
    return effective_identity(store.reported_identity, store.identity_overrides, store.domain, known_zones())


def record_reported(store: Store, reported: Mapping[str, Any], now: datetime) -> list[str]:
    """Keep what the platform reports about the store and apply it; the fields whose effective value changed.

    Fields the platform did not report this time keep their last reported value (a partial read, e.g. Shopify's
    shop/update without a locale, must not erase the rest).
    """
    merged = dict(store.reported_identity or {})
    merged.update({k: v for k, v in reported.items() if k in FIELDS and v is not None})
    store.reported_identity = merged
    store.identity_read_at = now
    return _apply(store)


def set_overrides(store: Store, values: Mapping[str, str | None]) -> dict[str, str]:
    """Set (a value) or clear (None or "") the merchant's own values; errors by field for values that are not valid.

    Nothing is changed when any value is not valid.
    """
    zones = known_zones()
    errors = {
        k: f"not a valid {k.replace('_', ' ')}"
        for k, v in values.items()
        if k in FIELDS and v and normalize(k, v, zones) is None
    }
    unknown = sorted(k for k in values if k not in FIELDS)
    if unknown:
        raise ValueError(f"unknown identity fields: {', '.join(unknown)}")
    if errors:
        return errors
    overrides = dict(store.identity_overrides or {})
    for k, v in values.items():
        if v:
            overrides[k] = normalize(k, v, zones)
        else:
            overrides.pop(k, None)
    store.identity_overrides = overrides or None
    _apply(store)
    return {}


def _apply(store: Store) -> list[str]:
    changed = []
    for field, value in identity(store).items():
        column = field
        if getattr(store, column) != value.value:
            setattr(store, column, value.value)
            changed.append(field)
    return changed
