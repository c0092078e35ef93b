"""Shopify behind the Platform protocol."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from sqlalchemy.orm import Session

from app import job_specs
from app.config import Settings
from app.domain.waitlist import storefront_root as valid_root
from app.models import Product, Store, SyncRun, Variant
from app.platforms.base import NextStep, WebhookIntake, permalink
from app.platforms.shopify import intake, sync, webhooks
from app.queue import JobQueue, JobSpec
from app.services.ingest.batch import BatchTopic
from app.services.ingest.inbox import Handler
from app.services.merchant.identity import primary_host
from integrations.shopify.app_config import app_embed_editor_url


class Shopify:
    """A Shopify store: GraphQL sync and metafield write-back, webhooks of every shop on one URL."""

    name = "shopify"
    label = "Shopify"
    # Shopify's Google & YouTube channel names its feed items shopify_<COUNTRY>_<product id>_<variant id>.
    feed_id_scheme = "shopify"
    public_in_demo_mode = False
    brand_note = (
        "Shopify's Admin API has no brand field, so BackSoon cannot read your logo or colours from Shopify: "
        "set them here."
    )

    @property
    def webhook_intake(self) -> WebhookIntake:
        """Its webhook endpoint."""
        return intake.INTAKE

    @property
    def topics(self) -> Mapping[str, Handler]:
        """Every Shopify topic BackSoon subscribes to."""
        return webhooks.TOPICS

    @property
    def batched(self) -> Mapping[str, BatchTopic]:
        """The topics a drain may apply many deliveries of in one transaction."""
        return webhooks.BATCHED

    def start_sync(self, session: Session, jobs: JobQueue, store_id: int, kind: str = "initial") -> SyncRun | None:
        """Open a bulk (initial) or incremental (reconcile) sync run."""
        return sync.start_sync(session, jobs, store_id, kind)

    def sync_job(self, run_id: int, suffix: str = "") -> JobSpec | None:
        """The Shopify sync job."""
        return job_specs.shopify_sync(run_id, suffix)

    def sync_progress(self, run: SyncRun) -> dict[str, Any]:
        """The run's phase and percentage."""
        return sync.progress(run)

    def publish_job(self, store_id: int) -> JobSpec | None:
        """Metafields that the theme app extension reads."""
        return job_specs.shopify_publish(store_id)

    def identity_job(self, store_id: int) -> JobSpec | None:
        """The shop query (shop/update keeps it fresh; a re-read catches a lost delivery)."""
        return job_specs.shopify_read_identity(store_id)

    def fresh_pass_job(self, store_id: int) -> JobSpec | None:
        """Products and inventory levels updated since the last pass, each product re-read in full."""
        return job_specs.shopify_fresh_pass(store_id)

    def product_url(self, store: Store, product: Product, variant: Variant, storefront_root: str | None) -> str:
        """The product page with ``?variant=<id>`` (themes preselect it), under the shopper's locale or market root
        (/nl/products/…) so the page is in the language of the email."""
        parts = urlsplit(self.product_page(store, product, storefront_root))
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "variant"]
        query.append(("variant", variant.external_id))
        return urlunsplit(parts._replace(query=urlencode(query)))

    def product_page(self, store: Store, product: Product, storefront_root: str | None = None) -> str:
        """The permalink, else /products/<handle> on the shop's primary domain (its myshopify address before the
        shop's settings were read: Shopify forwards that to the primary domain), under the locale or market root
        (/nl/products/…) when one is given."""
        base = permalink(product)
        if base is None:
            host = primary_host(store) or store.domain
            # A product synced without a permalink still has a page at the conventional address.
            handle = quote(product.handle, safe="")
            base = f"https://{host}/products/{handle}" if product.handle else f"https://{host}/"
        parts = urlsplit(base)
        path = parts.path
        root = valid_root(storefront_root)
        if root is not None and not (path == root or path.startswith(root + "/")):
            path = root + (path if path.startswith("/") else "/" + path)
        return urlunsplit(parts._replace(path=path))

    def landing_url(self, store: Store, product: Product, app_url: str, proxy_path: str) -> str:
        """The App Proxy address on the shop's primary domain: the link a merchant shares stays on their domain."""
        host = primary_host(store) or store.domain
        return f"https://{host}{proxy_path}/p/{quote(product.external_id, safe='')}"

    def home_url(self, store: Store) -> str:
        """The shop's myshopify address, which Shopify forwards to its primary domain."""
        return f"https://{store.domain}/"

    def storefront_origins(self, store: Store, app_url: str) -> set[str]:
        """None besides the shop's domain (the App Proxy serves the theme from it)."""
        return set()

    def next_step(self, store: Store, settings: Settings) -> NextStep | None:
        """Switch on the theme app extension's app embed (no link without the app's API key)."""
        if not settings.shopify_api_key:
            return None
        return NextStep(
            self.name,
            theme_editor_url=app_embed_editor_url(store.domain, settings.shopify_api_key),
            live_since=store.storefront_seen_at,
        )


SHOPIFY = Shopify()
