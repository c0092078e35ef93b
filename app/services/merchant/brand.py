"""The store's brand on the shopper pages: the merchant's colour and logo, else the logo its platform reports.

``set_brand`` takes the settings form (all or nothing); ``brand_of`` is what the shopper pages are drawn with.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.domain.brand import Brand, check_brand, effective_brand
from app.models import Store

__all__ = ["brand_of", "reported_logo", "set_brand"]


def reported_logo(store: Store) -> str | None:
    """The logo the store's platform last reported (WooCommerce's site logo), None when none or never read."""
    return (store.reported_identity or {}).get("logo_url") or None


def brand_of(store: Store) -> Brand:
    """The store's effective brand: the merchant's colour and logo, else the logo its platform reports."""
    return effective_brand(store.brand, reported_logo(store))


def set_brand(store: Store, values: Mapping[str, str | None]) -> dict[str, str]:
    """Set the merchant's primary colour and logo (empty clears one); errors by field, and nothing set when any."""
    cleaned, errors = check_brand(values)
    if errors:
        return errors
    store.brand = cleaned or None
    return {}
