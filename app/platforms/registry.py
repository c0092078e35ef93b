"""The only place that lists the platforms: adding one is a package under app/platforms/ and a line here."""

from __future__ import annotations

from collections.abc import Mapping

from app.models import Product, Store, Variant
from app.platforms.base import Platform
from app.platforms.demo.platform import DEMO
from app.platforms.shopify.platform import SHOPIFY
from app.platforms.woocommerce.platform import WOOCOMMERCE
from app.queue import JobSpec
from app.services.ingest.batch import BatchTopic
from app.services.ingest.inbox import Handler

PLATFORMS: dict[str, Platform] = {p.name: p for p in (SHOPIFY, WOOCOMMERCE, DEMO)}


class UnknownPlatform(LookupError):
    """A store row names a platform this code does not have."""


def get(name: str) -> Platform:
    """The platform of that name."""
    try:
        return PLATFORMS[name]
    except KeyError:
        raise UnknownPlatform(name) from None


def of(store: Store) -> Platform:
    """The store's platform."""
    return get(store.platform)


def handler_for(platform: str, topic: str) -> Handler | None:
    """The function that applies a platform's webhook topic (None for a platform or topic nobody handles)."""
    found = PLATFORMS.get(platform)
    return found.topics.get(topic) if found is not None else None


def batch_topic_for(platform: str, topic: str) -> BatchTopic | None:
    """How a drain batches a platform's topic (None: its deliveries are processed one at a time).

    Only while the topic's handler is the one the batch stands for: a platform that handles the topic otherwise
    gets every delivery through its handler.
    """
    found = PLATFORMS.get(platform)
    batched: Mapping[str, BatchTopic] = getattr(found, "batched", None) or {}
    entry = batched.get(topic)
    if entry is None or found is None or found.topics.get(topic) is not entry.handler:
        return None
    return entry


def sync_job_for(platform: str, run_id: int, suffix: str = "") -> JobSpec | None:
    """The job that advances a sync run of a platform's store (None where the platform has no sync)."""
    found = PLATFORMS.get(platform)
    return found.sync_job(run_id, suffix) if found is not None else None


def product_url(store: Store, product: Product, variant: Variant, storefront_root: str | None) -> str:
    """Where a buy link for the store's variant leads."""
    return of(store).product_url(store, product, variant, storefront_root)


def product_page(store: Store, product: Product, storefront_root: str | None = None) -> str:
    """The product's own page on the store."""
    return of(store).product_page(store, product, storefront_root)


def landing_url(store: Store, product: Product, app_url: str, proxy_path: str) -> str:
    """Where the product's landing page is shared from."""
    return of(store).landing_url(store, product, app_url, proxy_path)


def home_url(store: Store) -> str:
    """The store's front page."""
    return of(store).home_url(store)


def feed_id_scheme(store: Store) -> str:
    """The product-feed id format the store gets until its merchant picks one."""
    return of(store).feed_id_scheme
