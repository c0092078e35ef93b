"""The marketing-signal feed: secret URL created and rotated from the admin, exact CSV/JSON, unknown token 404."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from app.db import Database
from app.models import Product, Store, StoreSetting
from app.services.stock.recompute import recompute
from tests.factories import make_store, make_variant
from tests.integration.test_exports import CSRF, signed_in

pytestmark = pytest.mark.integration


@dataclass
class Feed:
    app: Flask
    db: Database
    store_id: int
    other_id: int
    ids: tuple[int, int]

    def token(self, store_id: int | None = None) -> str | None:
        with self.db.session() as s:
            return s.scalar(select(Store.feed_token).where(Store.id == (store_id or self.store_id)))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Admin links on the test app URL."""
    return {"app_url": "http://backsoon.test"}


@pytest.fixture
def feed(db: Database, app: Flask) -> Iterator[Feed]:
    now = datetime.now(UTC)
    with db.session() as s:
        store = make_store(s, platform="shopify", domain="feed.myshopify.com", name="Feed", country="nl")
        other = make_store(s, platform="woocommerce", name="Other", feed_token="o" * 43)
        product = Product(store_id=store.id, external_id="7001", title="Tee")
        s.add(product)
        s.flush()
        sold_out = make_variant(s, store, qty=0, product=product, external_id="9001", sku="TEE-S")
        plenty = make_variant(s, store, qty=50, product=product, external_id="9002", sku="")
        make_variant(s, other, qty=0, external_id="5", sku="OTHER")
        recompute(s, store.id, now=now)
        recompute(s, other.id, now=now)
        ids = (store.id, other.id, (sold_out.id, plenty.id))
    yield Feed(app, db, *ids)


def test_no_feed_until_created_then_rotation_kills_the_old_url(feed: Feed) -> None:
    client = signed_in(feed.app, feed.store_id)
    assert feed.token() is None
    # CSRF is required: nothing changes without it.
    assert client.post("/admin/exports/feed-token", data={"action": "rotate"}).status_code == 403
    assert feed.token() is None

    resp = client.post("/admin/exports/feed-token", data={"action": "rotate", **CSRF})
    assert (resp.status_code, resp.headers["Location"]) == (302, "/admin/exports")
    first = feed.token()
    assert first is not None and re.fullmatch(r"[A-Za-z0-9_-]{43}", first)
    page = client.get("/admin/exports").get_data(as_text=True)
    assert f"http://localhost/feeds/{first}/signals.csv" in page
    assert feed.app.test_client().get(f"/feeds/{first}/signals.csv").status_code == 200

    # Replacing a live URL needs the confirm step: without it nothing changes and the step is shown.
    refused = client.post("/admin/exports/feed-token", data={"action": "rotate", **CSRF})
    assert refused.status_code == 400
    assert '<h1 id="confirm-heading">Replace the feed URL?</h1>' in refused.get_data(as_text=True)
    assert feed.token() == first
    step = client.get("/admin/exports/feed-token?action=rotate").get_data(as_text=True)
    assert (
        "The current URL stops working at once" in step and '<input type="hidden" name="action" value="rotate">' in step
    )
    client.post("/admin/exports/feed-token", data={"action": "rotate", "confirm": "yes", **CSRF})
    second = feed.token()
    assert second not in (None, first)
    old = feed.app.test_client().get(f"/feeds/{first}/signals.csv")
    assert old.status_code == 404
    assert old.get_json() == {"error": {"code": "not_found", "message": "No such feed."}}
    assert feed.app.test_client().get(f"/feeds/{second}/signals.json").status_code == 200

    assert client.post("/admin/exports/feed-token", data={"action": "disable", **CSRF}).status_code == 400
    assert feed.token() == second
    client.post("/admin/exports/feed-token", data={"action": "disable", "confirm": "yes", **CSRF})
    assert feed.token() is None
    assert feed.app.test_client().get(f"/feeds/{second}/signals.csv").status_code == 404
    assert feed.token(feed.other_id) == "o" * 43  # another store's feed is untouched


def test_csv_feed_is_a_supplemental_feed_with_shopify_ids(feed: Feed) -> None:
    with feed.db.session() as s:
        s.execute(update(Store).where(Store.id == feed.store_id).values(feed_token="t" * 43))
    resp = feed.app.test_client().get("/feeds/" + "t" * 43 + "/signals.csv")
    assert (resp.status_code, resp.mimetype, resp.is_streamed) == (200, "text/csv", True)
    assert resp.headers["X-Robots-Tag"] == "noindex"
    assert resp.get_data(as_text=True) == (
        "id,custom_label_0\r\nshopify_NL_7001_9001,pause\r\nshopify_NL_7001_9002,ok\r\n"
    )


def test_json_feed_and_a_configured_id_scheme(feed: Feed) -> None:
    with feed.db.session() as s:
        s.execute(update(Store).where(Store.id == feed.store_id).values(feed_token="t" * 43))
    client = signed_in(feed.app, feed.store_id)
    bad = client.post("/admin/exports/feed-settings", data={"feed_id_scheme": "nope", "feed_country": "x1", **CSRF})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert '<p class="field-error" id="feed_id_scheme-error">Choose one of the listed id formats.</p>' in html
    assert '<p class="field-error" id="feed_country-error">Enter a two-letter country code' in html
    with feed.db.session() as s:
        assert s.scalars(select(StoreSetting)).all() == []

    ok = client.post("/admin/exports/feed-settings", data={"feed_id_scheme": "sku", "feed_country": "be", **CSRF})
    assert ok.status_code == 302
    body = json.loads(feed.app.test_client().get("/feeds/" + "t" * 43 + "/signals.json").get_data(as_text=True))
    v1, v2 = feed.ids
    assert body == {
        "store": "feed.myshopify.com",
        "id_scheme": "sku",
        "country": "BE",
        "items": [
            {"id": "TEE-S", "custom_label_0": "pause", "variant_id": v1, "sku": "TEE-S", "reason": "out_of_stock"},
            {"id": "9002", "custom_label_0": "ok", "variant_id": v2, "sku": "", "reason": "no_recent_sales"},
        ],
    }


@pytest.mark.parametrize(
    "path",
    ["/feeds/" + "x" * 43 + "/signals.csv", "/feeds/short/signals.json", "/feeds/" + "o" * 43 + "/signals.xml"],
)
def test_unknown_tokens_and_formats_are_json_404s(feed: Feed, path: str) -> None:
    resp = feed.app.test_client().get(path)
    assert resp.status_code == 404
    assert resp.get_json() == {"error": {"code": "not_found", "message": "No such feed."}}
