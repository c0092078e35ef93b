"""WooCommerce behind the Platform protocol."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from sqlalchemy.orm import Session

from app import job_specs
from app.config import Settings
from app.models import Product, Store, SyncRun, Variant
from app.platforms.base import NextStep, WebhookIntake, permalink
from app.platforms.woocommerce import intake, sync, webhooks
from app.queue import JobQueue, JobSpec
from app.services.ingest.inbox import Handler


class WooCommerce:
    """A WooCommerce store: REST sync, product meta write-back, webhooks per store URL with our own secret."""

    name = "woocommerce"
    label = "WooCommerce"
    feed_id_scheme = "sku"
    public_in_demo_mode = False
    brand_note = (
        "Without a logo here, your WordPress site logo (Appearance → Customize → Site Identity, or a block theme's "
        "Site Logo block) is used; BackSoon reads it with the store's other settings once a day."
    )

    @property
    def webhook_intake(self) -> WebhookIntake:
        """Its webhook endpoint."""
        return intake.INTAKE

    @property
    def topics(self) -> Mapping[str, Handler]:
        """Every WooCommerce topic BackSoon subscribes to."""
        return webhooks.TOPICS

    def start_sync(self, session: Session, jobs: JobQueue, store_id: int, kind: str = "initial") -> SyncRun | None:
        """Open a full (initial) or modified-since (reconcile) sync run."""
        return sync.start_sync(session, jobs, store_id, kind)

    def sync_job(self, run_id: int, suffix: str = "") -> JobSpec | None:
        """The WooCommerce sync job."""
        return job_specs.woo_sync(run_id, suffix)

    def sync_progress(self, run: SyncRun) -> dict[str, Any]:
        """The run's phase and percentage."""
        return sync.progress(run)

    def publish_job(self, store_id: int) -> JobSpec | None:
        """Product and variation meta that the companion plugin reads."""
        return job_specs.woo_publish(store_id)

    def identity_job(self, store_id: int) -> JobSpec | None:
        """The site index, general settings, administrator and system status (WooCommerce has no settings webhook)."""
        return job_specs.woo_refresh_identity(store_id)

    def fresh_pass_job(self, store_id: int) -> JobSpec | None:
        """Products modified since the last pass, and our webhooks re-enabled or re-created."""
        return job_specs.woo_fresh_pass(store_id)

    def product_url(self, store: Store, product: Product, variant: Variant, storefront_root: str | None) -> str:
        """The product's permalink (else WordPress's ``?p=<id>`` address) with the variation's attributes in the
        query, so the product page opens with that variation selected."""
        base = self.product_page(store, product)
        params = variant.link_params if isinstance(variant.link_params, dict) else {}
        if not params:
            return base
        parts = urlsplit(base)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
        query += sorted((str(k), str(v)) for k, v in params.items())  # JSONB keeps no key order: sort for one URL
        return urlunsplit(parts._replace(query=urlencode(query)))

    def product_page(self, store: Store, product: Product, storefront_root: str | None = None) -> str:
        """The product's permalink, else WordPress's ``?p=<id>`` address, which redirects to it (a language is the
        site's own: WordPress has no locale root of its own)."""
        # stores.domain is the store's base URL (https://shop.example/wp); older rows hold a bare host.
        site = store.domain if "://" in store.domain else f"https://{store.domain}"
        return permalink(product) or f"{site}/?{urlencode({'p': product.external_id})}"

    def landing_url(self, store: Store, product: Product, app_url: str, proxy_path: str) -> str:
        """BackSoon's own landing page for the product."""
        return f"{app_url.rstrip('/')}/p/{store.id}/{quote(product.external_id, safe='')}"

    def home_url(self, store: Store) -> str:
        """The WordPress site's address (stores.domain is its base URL; older rows hold a bare host)."""
        site = store.domain if "://" in store.domain else f"https://{store.domain}"
        return site.rstrip("/") + "/"

    def storefront_origins(self, store: Store, app_url: str) -> set[str]:
        """None besides the store's own address."""
        return set()

    def next_step(self, store: Store, settings: Settings) -> NextStep | None:
        """Install the companion plugin: it sends the store key (our store id) with every storefront call."""
        return NextStep(
            self.name,
            store_key=str(store.id),
            backend_url=settings.app_url.rstrip("/"),
            live_since=store.storefront_seen_at,
            api_key_missing=store.api_key_hash is None,
        )


WOOCOMMERCE = WooCommerce()
