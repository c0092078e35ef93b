"""The demo store behind the Platform protocol: no webhooks, no sync, no write-back; its shop is served here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import Product, Store, SyncRun, Variant
from app.platforms.base import NextStep
from app.queue import JobQueue, JobSpec
from app.services.ingest import sync_runs
from app.services.ingest.inbox import Handler


class Demo:
    """The seeded demo store."""

    name = "demo"
    label = "the demo store"
    feed_id_scheme = "sku"
    # `make demo` needs no key: the seeded store is public while the app runs in demo mode.
    public_in_demo_mode = True
    brand_note = ""

    webhook_intake = None  # the demo's changes are applied in-process

    @property
    def topics(self) -> Mapping[str, Handler]:
        """No webhooks: the demo's changes are applied in-process."""
        return {}

    def start_sync(self, session: Session, jobs: JobQueue, store_id: int, kind: str = "initial") -> SyncRun | None:
        """Nothing to sync: the seed wrote the catalog."""
        return None

    def sync_job(self, run_id: int, suffix: str = "") -> JobSpec | None:
        """No sync job."""
        return None

    def sync_progress(self, run: SyncRun) -> dict[str, Any]:
        """A run's progress, should one exist."""
        return sync_runs.describe(run, (run.phase,))

    def publish_job(self, store_id: int) -> JobSpec | None:
        """Nothing to write back: the demo shop reads the storefront API."""
        return None

    def identity_job(self, store_id: int) -> JobSpec | None:
        """Nothing to read: the demo store's settings are seeded."""
        return None

    def fresh_pass_job(self, store_id: int) -> JobSpec | None:
        """None: the demo store changes only through the app itself."""
        return None

    def product_url(self, store: Store, product: Product, variant: Variant, storefront_root: str | None) -> str:
        """The demo shop's product page, with the variant selected."""
        return (
            f"/demo/shop/products/{quote(product.external_id, safe='')}?{urlencode({'variant': variant.external_id})}"
        )

    def product_page(self, store: Store, product: Product, storefront_root: str | None = None) -> str:
        """The demo shop's product page (a path on BackSoon itself; one language)."""
        return f"/demo/shop/products/{quote(product.external_id, safe='')}"

    def landing_url(self, store: Store, product: Product, app_url: str, proxy_path: str) -> str:
        """BackSoon's own landing page for the product."""
        return f"{app_url.rstrip('/')}/p/{store.id}/{quote(product.external_id, safe='')}"

    def home_url(self, store: Store) -> str:
        """The demo shop BackSoon serves itself."""
        return "/demo/shop/"

    def storefront_origins(self, store: Store, app_url: str) -> set[str]:
        """The demo shop is served by BackSoon itself."""
        parts = urlsplit(app_url)
        return {f"{parts.scheme}://{parts.netloc.lower()}"}

    def next_step(self, store: Store, settings: Settings) -> NextStep | None:
        """Nothing: the demo shop shows BackSoon already."""
        return None


DEMO = Demo()


def demo_store(session: Session) -> Store | None:
    """The seeded demo store (the first, should there be several)."""
    return session.scalars(select(Store).where(Store.platform == DEMO.name).order_by(Store.id).limit(1)).first()
