"""The marketing-signal feed: per store, behind a secret URL, usable as a Google Merchant Center supplemental feed.

A supplemental feed only adds or overrides attributes of items already in the merchant's primary feed, matched by
``id``, so the feed has exactly two columns: ``id`` and ``custom_label_0`` (ok | throttle | pause). An ads campaign
can then lower bids on ``throttle`` and exclude ``pause`` without touching the product data. Any other column would
override the primary feed's value for that attribute, so the CSV carries nothing else; the JSON form adds our own
variant id, SKU and the signal's reason for scripts.

The ``id`` must equal the primary feed's item id, which depends on how the merchant feeds Google. The scheme is a
store setting (``feed_id_scheme`` and ``feed_country`` in the store-scope ``store_settings`` row):

- ``shopify``: ``shopify_<COUNTRY>_<product id>_<variant id>``, the Google & YouTube sales channel's id (default
  for Shopify stores; COUNTRY is the feed's target country, default the store's country, else US);
- ``gla``: ``gla_<variation or product id>``, the Google for WooCommerce extension's id;
- ``sku``: the SKU, falling back to the platform's variant id when a variant has none (default for WooCommerce and
  demo stores; many feed plugins use the SKU);
- ``variant_id``: the platform's variant (WooCommerce: product or variation) id.

The URL's token is 256 random bits (``stores.feed_token``); rotating it makes the old URL a 404 at once.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Product, StockState, Store, StoreSetting, StoreStatus, Variant
from app.services.merchant.exports import csv_lines

__all__ = [
    "FEED_ID_SCHEMES",
    "FeedConfig",
    "feed_config",
    "feed_item_id",
    "find_store",
    "json_chunks",
    "rotate_token",
    "save_feed_config",
    "signal_csv",
]

FEED_ID_SCHEMES: dict[str, str] = {
    "shopify": "shopify_<COUNTRY>_<product id>_<variant id> — Shopify's Google & YouTube channel",
    "gla": "gla_<product or variation id> — Google for WooCommerce",
    "sku": "The SKU (the platform's variant id when a variant has no SKU)",
    "variant_id": "The platform's variant id (WooCommerce: product or variation id)",
}
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
_COUNTRY = re.compile(r"[A-Z]{2}")
FEED_BATCH = 1000


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """How this store's feed names its items."""

    scheme: str
    country: str


def _store_values(session: Session, store_id: int) -> tuple[StoreSetting | None, dict[str, Any]]:
    row = session.scalars(
        select(StoreSetting).where(StoreSetting.store_id == store_id, StoreSetting.scope == "store")
    ).first()
    return row, dict(row.values or {}) if row is not None else {}


def feed_config(session: Session, store: Store, default_scheme: str) -> FeedConfig:
    """The store's id scheme and country, or the defaults (``default_scheme`` is its platform's)."""
    _, values = _store_values(session, store.id)
    scheme = values.get("feed_id_scheme")
    if scheme not in FEED_ID_SCHEMES:
        scheme = default_scheme if default_scheme in FEED_ID_SCHEMES else "sku"
    country = values.get("feed_country")
    if not (isinstance(country, str) and _COUNTRY.fullmatch(country)):
        country = (store.country or "US").upper()
    return FeedConfig(str(scheme), country)


def save_feed_config(session: Session, store: Store, scheme: str, country: str) -> dict[str, str]:
    """Validate and store the id scheme and country; return field → message for anything refused."""
    errors: dict[str, str] = {}
    scheme = scheme.strip()
    country = country.strip().upper()
    if scheme not in FEED_ID_SCHEMES:
        errors["feed_id_scheme"] = "Choose one of the listed id formats."
    if not _COUNTRY.fullmatch(country):
        errors["feed_country"] = "Enter a two-letter country code, such as US or NL."
    if errors:
        return errors
    row, values = _store_values(session, store.id)
    values.update(feed_id_scheme=scheme, feed_country=country)
    if row is None:
        session.add(StoreSetting(store_id=store.id, scope="store", values=values))
    else:
        row.values = values  # a new dict: in-place changes to a JSON column are not tracked
    return {}


def feed_item_id(config: FeedConfig, product_external_id: str, variant_external_id: str, sku: str) -> str:
    """The primary feed's item id of one variant under the store's scheme."""
    if config.scheme == "shopify":
        return f"shopify_{config.country}_{product_external_id}_{variant_external_id}"
    if config.scheme == "gla":
        return f"gla_{variant_external_id}"
    if config.scheme == "sku" and sku.strip():
        return sku.strip()
    return variant_external_id


def rotate_token(session: Session, store: Store) -> str:
    """A new secret feed token for the store (the old URL stops working once this commits)."""
    token = secrets.token_urlsafe(32)
    store.feed_token = token
    session.flush()
    return token


def find_store(session: Session, token: str) -> Store | None:
    """The active store whose feed token this is, or None."""
    if not _TOKEN.fullmatch(token):
        return None  # never a database round trip for junk
    store = session.scalars(select(Store).where(Store.feed_token == token)).first()
    if store is None or store.status == StoreStatus.UNINSTALLED:
        return None
    return store


def _signals(session: Session, store: Store, default_scheme: str) -> Iterator[tuple[str, str, int, str, str]]:
    config = feed_config(session, store, default_scheme)
    query = (
        select(
            Product.external_id,
            Variant.external_id,
            Variant.sku,
            Variant.id,
            StockState.signal,
            StockState.signal_reason,
        )
        .join(Product, Product.id == Variant.product_id)
        .join(StockState, StockState.variant_id == Variant.id)
        .where(
            Variant.store_id == store.id,
            Product.store_id == store.id,
            StockState.store_id == store.id,
            Variant.deleted_at.is_(None),
            Product.deleted_at.is_(None),
        )
        .order_by(Variant.id)
        .execution_options(yield_per=FEED_BATCH)
    )
    for product_ext, variant_ext, sku, variant_id, signal, reason in session.execute(query):
        yield feed_item_id(config, product_ext, variant_ext, sku or ""), signal, variant_id, sku or "", reason


def signal_csv(session: Session, store: Store, default_scheme: str) -> Iterator[str]:
    """The supplemental feed as CSV lines: id, custom_label_0."""
    rows = ((item_id, signal) for item_id, signal, *_ in _signals(session, store, default_scheme))
    return csv_lines(("id", "custom_label_0"), rows)


def json_chunks(session: Session, store: Store, default_scheme: str) -> Iterator[str]:
    """The feed as one JSON document, written item by item."""
    config = feed_config(session, store, default_scheme)
    head = {"store": store.domain, "id_scheme": config.scheme, "country": config.country}
    yield json.dumps(head, separators=(",", ":"))[:-1] + ',"items":['
    first = True
    for item_id, signal, variant_id, sku, reason in _signals(session, store, default_scheme):
        item = {
            "id": item_id,
            "custom_label_0": signal,
            "variant_id": variant_id,
            "sku": sku,
            "reason": reason,
        }
        yield ("" if first else ",") + json.dumps(item, separators=(",", ":"))
        first = False
    yield "]}"
