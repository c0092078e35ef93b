"""What BackSoon needs of a store platform: the Platform protocol that every platform package implements."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.infra.http import Answer
from app.models import Product, Store, StoreStatus, SyncRun, Variant
from app.queue import JobQueue, JobSpec
from app.runtime import Runtime
from app.services.ingest.inbox import Handler


@dataclass(frozen=True)
class WebhookIntake:
    """Where a platform's stores deliver webhooks, and how one delivery is verified, recorded and answered."""

    # The URL rule under /webhooks, in werkzeug's syntax (e.g. "/woocommerce/<int:store_id>").
    rule: str
    # (runtime, WSGI environ, raw body, the rule's values) -> the answer. Nothing is stored unless it verifies.
    receive: Callable[[Runtime, dict[str, Any], bytes, Mapping[str, Any]], Answer]
    # The OpenAPI path item of the rule.
    openapi: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class NextStep:
    """What a newly connected store's merchant does next so shoppers see BackSoon (the connected page, dashboard).

    WooCommerce: install the companion plugin and enter BackSoon's address and the store key; Shopify: switch on the
    theme app extension's app embed through the theme editor deep link.
    """

    platform: str  # woocommerce | shopify
    store_key: str | None = None
    backend_url: str | None = None
    theme_editor_url: str | None = None
    # When the storefront first asked BackSoon for stock (Store.storefront_seen_at): the step is done from then on.
    live_since: datetime | None = None
    # WooCommerce: no admin API key issued yet for the plugin's privacy tools (still offered once the plugin is live).
    api_key_missing: bool = False


class Platform(Protocol):
    """One store platform (registry.py lists them): its webhook topics, sync, write-back and storefront links."""

    @property
    def name(self) -> str:
        """The value of ``stores.platform`` for its stores."""
        ...

    @property
    def label(self) -> str:
        """How the merchant admin names it in a sentence ("from Shopify", "WooCommerce says EUR")."""
        ...

    @property
    def topics(self) -> Mapping[str, Handler]:
        """Every webhook topic it delivers and the function that applies it (empty: no webhooks)."""
        ...

    @property
    def webhook_intake(self) -> WebhookIntake | None:
        """Its webhook endpoint (None: its stores send no webhooks)."""
        ...

    @property
    def feed_id_scheme(self) -> str:
        """The product-feed id format a store gets until its merchant picks one."""
        ...

    @property
    def public_in_demo_mode(self) -> bool:
        """Whether its stores' admin API is readable without a key while the app runs in demo mode."""
        ...

    def start_sync(self, session: Session, jobs: JobQueue, store_id: int, kind: str = "initial") -> SyncRun | None:
        """Open a catalog sync run (or return the running one) and enqueue it after commit; None: nothing to sync."""
        ...

    def sync_job(self, run_id: int, suffix: str = "") -> JobSpec | None:
        """The job that advances a sync run (the sweeper re-drives stalled runs with it)."""
        ...

    def sync_progress(self, run: SyncRun) -> dict[str, Any]:
        """What the admin API, the dashboard and the CLI show of a sync run."""
        ...

    def publish_job(self, store_id: int) -> JobSpec | None:
        """The job that writes changed stock states back to the store (None: the storefront reads our API)."""
        ...

    def identity_job(self, store_id: int) -> JobSpec | None:
        """The job that reads the store's own settings again (None: no platform to read them from)."""
        ...

    def fresh_pass_job(self, store_id: int) -> JobSpec | None:
        """The job that reads what changed since the store's last freshness pass (None: nothing can be missed)."""
        ...

    def product_url(self, store: Store, product: Product, variant: Variant, storefront_root: str | None) -> str:
        """Where a restock email's buy link leads: the product page with the variant selected where it can be."""
        ...

    def product_page(self, store: Store, product: Product, storefront_root: str | None = None) -> str:
        """The product's own page on the store (no variant chosen), under the locale root where the platform has
        one: where a landing page's canonical link points."""
        ...

    def landing_url(self, store: Store, product: Product, app_url: str, proxy_path: str) -> str:
        """Where the product's landing page is shared from (on the store's own domain where the platform can serve
        it there; ``proxy_path`` is Shopify's App Proxy path)."""
        ...

    def storefront_origins(self, store: Store, app_url: str) -> set[str]:
        """Browser origins besides the store's own domain that may call the storefront API for this store."""
        ...

    def home_url(self, store: Store) -> str:
        """The store's front page: where the shopper pages' "Back to <store>" leads when no product is named."""
        ...

    @property
    def brand_note(self) -> str:
        """What the settings' Brand section says of the platform's own logo and colours (empty: nothing)."""
        ...

    def next_step(self, store: Store, settings: Settings) -> NextStep | None:
        """The store's next setup step, or None when it needs none."""
        ...


def permalink(product: Product) -> str | None:
    """The product's own page as the platform reported it, when it is an http(s) address."""
    return product.url if product.url and urlsplit(product.url).scheme in ("http", "https") else None


def active_store(session: Session, store_id: int, platform: str) -> Store | None:
    """The store, when it is an active store of that platform (a job for another platform's store does nothing)."""
    store = session.get(Store, store_id)
    if store is None or store.platform != platform or store.status != StoreStatus.ACTIVE:
        return None
    return store


def active_store_ids(session: Session, platform: str, *, synced: bool = False) -> list[int]:
    """Ids of the platform's active stores; with ``synced``, only those that finished their initial sync."""
    q = select(Store.id).where(Store.platform == platform, Store.status == StoreStatus.ACTIVE)
    if synced:
        q = q.where(Store.last_synced_at.is_not(None))
    return list(session.execute(q.order_by(Store.id)).scalars().all())
