"""Browser fixtures: the app served by a live thread on a free port, the demo store seeded on PostgreSQL,
and Debian's Chromium driven by Playwright. Reusable for any end-to-end flow.

- ``live_server`` (session): a running app; ``make_live_server(pg_url, **settings)`` starts another one with
  different settings (e.g. an SMTP_URL pointing at an aiosmtpd sink).
- ``demo_store_id`` (function): the seeded demo store's id, re-seeded when an integration test's TRUNCATE
  removed it earlier in the session.
- ``embedded_server`` (function): a live server with a Shopify app key and the Shopify store ``SHOP`` (name
  "Embedded Shop"), for the admin embedded in Shopify (session tokens from tests.unit.test_shopify_auth).
- ``browser`` (session) and ``page`` (function): headless Chromium; the page has a 10 s default timeout.
Chromium missing: skipped loudly outside CI, a failure under CI=true (like PostgreSQL in tests/conftest.py).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, make_server

from app.config import Settings
from app.db import Database
from app.models import Product, StockState, Store, Variant
from app.runtime import Runtime
from app.web.factory import build_app
from tests.conftest import PG_STATE
from tests.unit.test_shopify_auth import API_KEY, API_SECRET, SHOP

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() == "true"
HOST = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYmFja3Nvb24tZGVtbw"  # Shopify's base64 admin host of the embedded shop
DEMO_VARIANTS = 60
DEMO_DAYS = 60


@dataclass
class LiveServer:
    """A running app: its base URL (no trailing slash), the Flask app and its database."""

    url: str
    app: Flask
    db: Database
    runtime: Runtime
    server: BaseWSGIServer
    thread: threading.Thread

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


def make_live_server(pg_url: str, **overrides: Any) -> LiveServer:
    """Start the app on 127.0.0.1 and a free port, in demo mode with in-process jobs unless overridden."""
    PG_STATE["clean"] = False  # whatever it serves may write rows the next test using db must not inherit
    # Bind first so APP_URL (signed links, redirects) carries the real port.
    server = make_server("127.0.0.1", 0, Flask("placeholder"), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    values: dict[str, Any] = {"env": "test", "database_url": pg_url, "demo": True, "app_url": url}
    values.update(overrides)
    settings = Settings(**values)
    db = Database(pg_url)
    from app.queue import make_queue

    runtime = Runtime(settings, db, make_queue(settings.redis_url))
    app = build_app(runtime=runtime)
    server.app = app
    thread = threading.Thread(target=server.serve_forever, name=f"live-server-{server.server_port}", daemon=True)
    thread.start()
    return LiveServer(url=url, app=app, db=db, runtime=runtime, server=server, thread=thread)


def ensure_demo_store(db: Database) -> int:
    """The demo store's id, seeding it (small, deterministic) and computing its stock states when absent."""
    from app.platforms.demo.seed import seed_demo
    from app.services.stock.recompute import recompute

    with db.session() as session:
        existing = session.scalars(select(Store.id).where(Store.platform == "demo").order_by(Store.id)).first()
    if existing is not None:
        return int(existing)
    result = seed_demo(db, variants=DEMO_VARIANTS, days=DEMO_DAYS)
    with db.session() as session:
        recompute(session, result.store_id)
    return result.store_id


def sold_out_variant(session: Session, store_id: int, *, last: bool = False) -> tuple[int, str, int, str]:
    """A published sold-out variant of the store (the lowest id, or the highest): its id and external id, and its
    product's."""
    row = session.execute(
        select(Variant.id, Variant.external_id, Product.id, Product.external_id)
        .join(Product, Product.id == Variant.product_id)
        .join(StockState, StockState.variant_id == Variant.id)
        .where(
            Variant.store_id == store_id,
            StockState.status == "out_of_stock",
            Variant.published.is_(True),
            Product.published.is_(True),
        )
        .order_by(Variant.id.desc() if last else Variant.id)
        .limit(1)
    ).one()
    return int(row[0]), str(row[1]), int(row[2]), str(row[3])


@pytest.fixture(scope="session")
def live_server(pg_url: str) -> Iterator[LiveServer]:
    """The app served on a free port in demo mode (in-process jobs, no Redis)."""
    server = make_live_server(pg_url)
    try:
        yield server
    finally:
        server.stop()
        server.db.dispose()


@pytest.fixture
def demo_store_id(live_server: LiveServer) -> int:
    """The seeded demo store's id."""
    return ensure_demo_store(live_server.db)


@pytest.fixture
def embedded_server(pg_url: str, demo_store_id: int) -> Iterator[LiveServer]:
    """A live server that knows the Shopify app's key, with a Shopify store for the signed session tokens."""
    server = make_live_server(pg_url, shopify_api_key=API_KEY, shopify_api_secret=API_SECRET)
    with server.db.session() as s:
        s.execute(delete(Store).where(Store.platform == "shopify", Store.domain == SHOP))
        s.add(Store(platform="shopify", domain=SHOP, name="Embedded Shop"))
    try:
        yield server
    finally:
        with server.db.session() as s:
            s.execute(delete(Store).where(Store.platform == "shopify", Store.domain == SHOP))
        server.stop()
        server.db.dispose()


def missing_tool(message: str) -> None:
    """A system tool a browser test needs is absent: a failure under CI=true, a loud skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{message}; under CI=true nothing may be skipped", pytrace=False)
    banner = "\n" + "!" * 78 + f"\n!! SKIPPING BROWSER TESTS: {message}\n" + "!" * 78
    warnings.warn(banner, stacklevel=2)
    print(banner)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright."""
    if not Path(CHROMIUM).is_file():
        missing_tool(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - playwright is a dev dependency
        missing_tool(f"playwright is not installed ({exc})")
    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:
            missing_tool(f"Chromium failed to start ({exc.__class__.__name__}: {exc})")
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page (en-GB, 1280×900), closed after the test."""
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    PG_STATE["clean"] = False  # a browser test writes through a live server
    try:
        yield pg
    finally:
        context.close()
