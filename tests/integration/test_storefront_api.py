"""Public storefront reads and the App Proxy on real PostgreSQL: exact bodies, ETag/304, CORS, 404s, signatures."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

from app.db import Database
from app.domain import waitlist as rules
from app.models import Product, StockState, Store
from app.models.waitlist import ConsentRecord, Subscription
from tests.conftest import TEST_REDIS_URL
from tests.factories import RecordingQueue, make_store, make_variant

pytestmark = pytest.mark.integration

APP_SECRET = "shpss_test"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Rate limits in the test Redis, the App Proxy secret, and the app URL the documents link to."""
    return {"redis_url": TEST_REDIS_URL, "shopify_api_secret": APP_SECRET, "app_url": "https://app.backsoon.example"}


@pytest.fixture
def job_queue() -> RecordingQueue:
    """Records what a signup queues."""
    return RecordingQueue()


@pytest.fixture
def seeded(db: Database, redis_conn: object, client: FlaskClient) -> Iterator[tuple[FlaskClient, dict[str, int], Any]]:
    with db.session() as s:
        store = make_store(s, name="Acme", domain="acme.example", locale="nl", country="BE")
        shop = make_store(s, platform="shopify", domain="acme-shop.myshopify.com", name="Shop")
        demo = make_store(s, platform="demo", domain="demo.local", name="Demo")
        product = Product(
            store_id=store.id,
            external_id="p1",
            title="Hat",
            url="https://acme.example/hat",
            image_url="https://acme.example/hat.png",
        )
        s.add(product)
        s.flush()
        a = make_variant(s, store, product=product, qty=0, external_id="v1", title="Red", position=1)
        b = make_variant(s, store, product=product, qty=3, external_id="v2", title="Blue", position=2)
        make_variant(s, store, product=product, qty=0, external_id="v3", title="Green", position=3)  # no state
        s.add(
            StockState(
                store_id=store.id,
                variant_id=a.id,
                status="out_of_stock",
                restock_eta=date(2026, 12, 3),
                eta_source="incoming",
            )
        )
        s.add(
            StockState(
                store_id=store.id,
                variant_id=b.id,
                status="low_stock",
                badge_kind="only_n_left",
                badge_quantity=3,
                sellable_quantity=3,
            )
        )
        sp = Product(store_id=shop.id, external_id="sp1", title="Shop hat")
        s.add(sp)
        s.flush()
        sv = make_variant(s, shop, product=sp, qty=0, external_id="sv1", title="One")
        s.add(StockState(store_id=shop.id, variant_id=sv.id, status="out_of_stock"))
        s.commit()
        ids = {"store": store.id, "shop": shop.id, "demo": demo.id}
    yield client, ids, db


def _state(
    status: str, kind: str = "none", qty: int | None = None, eta: str | None = None, source: str | None = None
) -> dict[str, Any]:
    return {
        "status": status,
        "badge": {"kind": kind, "quantity": qty},
        "restock_eta": eta,
        "eta_source": source,
        "back_soon": status == "out_of_stock",
        "v": 1,
    }


def test_product_document(seeded: Any) -> None:
    client, ids, _db = seeded
    resp = client.get(f"/storefront/v1/stores/{ids['store']}/products/p1")
    assert resp.status_code == 200
    consent = rules.consent("nl", "Acme")
    assert resp.get_json() == {
        "store": {
            "id": ids["store"],
            "name": "Acme",
            "locale": "nl",
            "double_opt_in": True,
            "consent": {"text": consent.text, "version": consent.version},
            "texts": {},
        },
        "product": {
            "id": "p1",
            "title": "Hat",
            "url": "https://acme.example/hat",
            "image_url": "https://acme.example/hat.png",
            "listing": {"status": "low_stock", "badge": {"kind": "only_n_left", "quantity": 3}},
        },
        "variants": {
            "v1": {**_state("out_of_stock", eta="2026-12-03", source="incoming"), "title": "Red"},
            "v2": {**_state("low_stock", "only_n_left", 3), "title": "Blue"},
            "v3": {**_state("out_of_stock"), "title": "Green"},
        },
    }
    assert resp.headers["Cache-Control"] == "public, max-age=15, stale-while-revalidate=60"
    assert "Origin" in resp.headers["Vary"]
    fr = client.get(f"/storefront/v1/stores/{ids['store']}/products/p1?locale=fr-BE").get_json()
    assert fr["store"]["locale"] == "fr" and fr["store"]["consent"]["text"] == rules.consent("fr", "Acme").text


def _listing_product(db: Database, store_id: int, ref: str, states: list[dict[str, Any]]) -> None:
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        product = Product(store_id=store_id, external_id=ref, title=ref)
        s.add(product)
        s.flush()
        for i, values in enumerate(states):
            qty = values.get("sellable_quantity", 0)
            v = make_variant(s, store, product=product, qty=qty, external_id=f"{ref}-{i}", position=i)
            s.add(StockState(store_id=store_id, variant_id=v.id, **values))
        s.commit()


@pytest.mark.parametrize(
    ("states", "listing"),
    [
        # One variant's "Only 5 left" does not speak for a product with 409 units.
        (
            [
                {"status": "low_stock", "badge_kind": "only_n_left", "badge_quantity": 5, "sellable_quantity": 5},
                {"status": "in_stock", "sellable_quantity": 404},
            ],
            {"status": "in_stock", "badge": {"kind": "none", "quantity": None}},
        ),
        (
            [
                {"status": "low_stock", "badge_kind": "only_n_left", "badge_quantity": 2, "sellable_quantity": 2},
                {"status": "low_stock", "badge_kind": "only_n_left", "badge_quantity": 1, "sellable_quantity": 1},
            ],
            {"status": "low_stock", "badge": {"kind": "only_n_left", "quantity": 3}},
        ),
        (
            [{"status": "out_of_stock"}, {"status": "out_of_stock", "sellable_quantity": -2}],
            {"status": "out_of_stock", "badge": {"kind": "none", "quantity": None}},
        ),
    ],
)
def test_product_listing_is_true_for_the_whole_product(
    seeded: Any, states: list[dict[str, Any]], listing: dict[str, Any]
) -> None:
    client, ids, db = seeded
    _listing_product(db, ids["store"], "lp", states)
    doc = client.get(f"/storefront/v1/stores/{ids['store']}/products/lp").get_json()
    assert doc["product"]["listing"] == listing


def test_product_listing_threshold_is_the_products_setting(seeded: Any) -> None:
    from app.models import StoreSetting

    client, ids, db = seeded
    states = [{"status": "low_stock", "sellable_quantity": 4}, {"status": "low_stock", "sellable_quantity": 3}]
    _listing_product(db, ids["store"], "own", states)
    _listing_product(db, ids["store"], "default", states)
    with db.session() as s:
        pid = s.scalars(select(Product.id).where(Product.external_id == "own")).one()
        s.add(StoreSetting(store_id=ids["store"], scope="product", product_id=pid, values={"low_stock_threshold": 8}))
        s.commit()
    assert client.get(f"/storefront/v1/stores/{ids['store']}/products/own").get_json()["product"]["listing"] == {
        "status": "low_stock",
        "badge": {"kind": "only_n_left", "quantity": 7},
    }
    assert client.get(f"/storefront/v1/stores/{ids['store']}/products/default").get_json()["product"]["listing"] == {
        "status": "in_stock",
        "badge": {"kind": "none", "quantity": None},
    }


def test_etag_and_304(seeded: Any) -> None:
    client, ids, db = seeded
    url = f"/storefront/v1/stores/{ids['store']}/variants/v1"
    first = client.get(url)
    assert first.status_code == 200
    assert first.get_json() == {
        "variant": "v1",
        "product": "p1",
        "state": _state("out_of_stock", eta="2026-12-03", source="incoming"),
    }
    etag = first.headers["ETag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    with db.session() as s:
        st = s.scalars(
            select(StockState).where(StockState.store_id == ids["store"], StockState.status == "out_of_stock")
        ).one()
        st.restock_eta = None
        s.commit()
    # Within the read cache's TTL the rendered document is served as it was (Cache-Control allows more).
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    with client.application.app_context():
        from app.web.read_cache import read_cache

        read_cache().clear()  # what the TTL does 15 s later
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.get_json()["state"]["restock_eta"] is None


def test_cors_only_for_the_stores_origins(seeded: Any) -> None:
    client, ids, _db = seeded
    url = f"/storefront/v1/stores/{ids['store']}/products/p1"
    ok = client.get(url, headers={"Origin": "https://acme.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://acme.example"
    other = client.get(url, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    pre = client.options(
        f"/storefront/v1/stores/{ids['store']}/subscriptions",
        headers={"Origin": "https://acme.example", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "https://acme.example"
    assert pre.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert pre.headers["Access-Control-Allow-Headers"] == "Content-Type"
    bad = client.options(f"/storefront/v1/stores/{ids['store']}/subscriptions", headers={"Origin": "https://x.example"})
    assert bad.status_code == 204 and "Access-Control-Allow-Origin" not in bad.headers
    # The demo store also answers the app's own origin (the demo shop pages live there).
    demo = client.options(
        f"/storefront/v1/stores/{ids['demo']}/subscriptions", headers={"Origin": "https://app.backsoon.example"}
    )
    assert demo.headers["Access-Control-Allow-Origin"] == "https://app.backsoon.example"


@pytest.mark.parametrize(
    "path",
    [
        "/storefront/v1/stores/{store}/products/nope",
        "/storefront/v1/stores/{store}/variants/nope",
        "/storefront/v1/stores/{shop}/variants/v1",
        "/storefront/v1/stores/999999/products/p1",
        "/storefront/v1/stores/99999999999999999999/products/p1",
        "/storefront/v1/stores/{store}/products/" + "x" * 200,
    ],
)
def test_unknown_things_are_404_json(seeded: Any, path: str) -> None:
    client, ids, _db = seeded
    resp = client.get(path.format(**ids))
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"


def test_inactive_store_is_404(seeded: Any) -> None:
    client, ids, db = seeded
    with db.session() as s:
        store = s.get(Store, ids["store"])
        assert store is not None
        store.status = "disconnected"
        s.commit()
    assert client.get(f"/storefront/v1/stores/{ids['store']}/products/p1").status_code == 404


def _proxy_query(
    shop: str = "acme-shop.myshopify.com",
    secret: str = APP_SECRET,
    ts: int | None = None,
    path_prefix: str = "/apps/backsoon",
) -> str:
    pairs = [
        ("shop", shop),
        ("logged_in_customer_id", "77"),
        ("path_prefix", path_prefix),
        ("timestamp", str(ts if ts is not None else int(time.time()))),
    ]
    message = "".join(sorted(f"{k}={v}" for k, v in pairs))
    sig = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode([*pairs, ("signature", sig)])


def test_app_proxy_reads_and_signup(seeded: Any) -> None:
    client, ids, db = seeded
    resp = client.get(f"/storefront/proxy/v1/variants/sv1?{_proxy_query()}")
    assert resp.status_code == 200
    assert resp.get_json() == {"variant": "sv1", "product": "sp1", "state": _state("out_of_stock")}
    assert client.get(f"/storefront/proxy/v1/products/sp1?{_proxy_query()}").get_json()["product"]["id"] == "sp1"
    resp = client.post(
        f"/storefront/proxy/v1/subscriptions?{_proxy_query()}",
        json={
            "email": "eve@example.com",
            "variant_id": "sv1",
            "consent": True,
            "consent_version": rules.consent("en", "Shop").version,
        },
        headers={"X-Forwarded-For": "198.51.100.9, 10.0.0.1"},
    )
    assert resp.status_code == 202 and resp.get_json()["ok"] is True
    with db.session() as s:
        sub = s.scalars(select(Subscription)).one()
        assert (sub.store_id, sub.source, sub.customer_external_id) == (ids["shop"], "app_proxy", "77")


def test_app_proxy_form_post_redirects_back(seeded: Any) -> None:
    client, _ids, db = seeded
    resp = client.post(
        f"/storefront/proxy/subscribe?{_proxy_query()}",
        data={
            "email": "f@example.com",
            "variant_id": "sv1",
            "product_id": "sp1",
            "consent": "on",
            "consent_version": rules.consent("en", "Shop").version,
            "return_to": "/products/shop-hat?variant=sv1",
        },
    )
    assert resp.status_code == 303
    assert resp.headers["Location"] == "/products/shop-hat?variant=sv1&backsoon=subscribed&backsoon_reason=subscribed"
    bad = client.post(
        f"/storefront/proxy/subscribe?{_proxy_query()}",
        data={
            "email": "nope",
            "variant_id": "sv1",
            "consent": "on",
            "consent_version": rules.consent("en", "Shop").version,
            "return_to": "//evil.example/",
        },
    )
    assert bad.status_code == 400 and bad.mimetype == "text/html"
    with db.session() as s:
        assert [x.email for x in s.scalars(select(Subscription))] == ["f@example.com"]


def test_app_proxy_form_without_a_consent_version_shows_the_consent_text_first(seeded: Any) -> None:
    # The theme's form without JavaScript cannot know our consent text: a page shows it before anything is stored.
    client, _ids, db = seeded
    form = {"email": "g@example.com", "variant_id": "sv1", "product_id": "sp1", "consent": "on", "locale": "fr"}
    resp = client.post(f"/storefront/proxy/subscribe?{_proxy_query()}", data={**form, "evil": "x"})
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    french = rules.consent("fr", "Shop")
    assert f'<span class="bs-consent-text">{escape(french.text)}</span>' in page
    assert f'<input type="hidden" name="consent_version" value="{french.version}">' in page
    assert '<form method="post" action="/apps/backsoon/subscribe"' in page
    assert '<input type="hidden" name="email" value="g@example.com">' in page
    assert 'name="evil"' not in page
    assert f'<h1 id="page-title">{escape(rules.message("fr", "agree_title"))}</h1>' in page
    # In the shop's frame, not BackSoon's: its name, the way back to its front page, no developer links.
    assert '<p class="shopper-store" data-store-name>Shop</p>' in page
    assert '<a href="https://acme-shop.myshopify.com/" data-back-to-store>Retour à Shop</a>' in page
    assert "/openapi.json" not in page and "/healthz" not in page
    assert '<button type="submit" class="shopper-button">' in page
    with db.session() as s:
        assert s.scalars(select(Subscription)).all() == []
        assert s.scalars(select(ConsentRecord)).all() == []
    # Agreeing on that page signs up with exactly the text it showed.
    agreed = client.post(
        f"/storefront/proxy/subscribe?{_proxy_query()}",
        data={**form, "consent": "true", "consent_version": french.version, "return_to": "/products/shop-hat"},
    )
    assert agreed.status_code == 303
    with db.session() as s:
        [record] = s.scalars(select(ConsentRecord)).all()
        assert (record.text, record.text_version) == (french.text, french.version)


@pytest.mark.parametrize(
    ("path_prefix", "action"),
    [
        ("/a/restock", "/a/restock/subscribe"),
        ("/tools/back-soon/", "/tools/back-soon/subscribe"),
        ("/community/bs_1", "/community/bs_1/subscribe"),
        # Not a proxy path Shopify can send: the configured one, never a foreign path or another host.
        ("//evil.example/x", "/apps/backsoon/subscribe"),
        ("/shop/backsoon", "/apps/backsoon/subscribe"),
    ],
)
def test_the_consent_page_posts_back_to_the_shops_own_proxy_path(seeded: Any, path_prefix: str, action: str) -> None:
    # Merchants can move the App Proxy (prefix apps, a, community or tools; any subpath): Shopify signs where.
    client, _ids, db = seeded
    form = {"email": "g@example.com", "variant_id": "sv1", "product_id": "sp1", "consent": "on"}
    resp = client.post(f"/storefront/proxy/subscribe?{_proxy_query(path_prefix=path_prefix)}", data=form)
    assert resp.status_code == 200
    assert f'<form method="post" action="{action}"' in resp.get_data(as_text=True)
    back = client.post(f"/storefront/proxy/subscribe?{_proxy_query(path_prefix=path_prefix)}",
                       data={**form, "product_handle": "shop-hat"}).get_data(as_text=True)  # fmt: skip
    assert '<a href="/products/shop-hat" data-back-to-store>Back to Shop</a>' in back  # on the shop's own domain
    with db.session() as s:
        assert s.scalars(select(Subscription)).all() == []


@pytest.mark.parametrize(
    "query",
    [
        _proxy_query(secret="wrong"),
        _proxy_query(ts=1_000_000),
        "shop=acme-shop.myshopify.com",
        "",
    ],
)
def test_app_proxy_bad_signature_is_401(seeded: Any, query: str) -> None:
    client, _ids, db = seeded
    resp = client.post(
        f"/storefront/proxy/v1/subscriptions?{query}",
        json={"email": "eve@example.com", "variant_id": "sv1", "consent": True},
    )
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "invalid_signature"
    with db.session() as s:
        assert s.scalars(select(Subscription)).all() == []


def test_app_proxy_unknown_shop_is_404(seeded: Any) -> None:
    client, _ids, _db = seeded
    resp = client.get(f"/storefront/proxy/v1/variants/sv1?{_proxy_query(shop='other.myshopify.com')}")
    assert resp.status_code == 404


def test_product_document_carries_the_merchants_saved_texts(seeded: Any) -> None:
    from app.models import StoreSetting
    from app.web.read_cache import read_cache

    client, ids, db = seeded
    with db.session() as s:
        s.add(
            StoreSetting(
                store_id=ids["store"],
                scope="store",
                values={
                    "texts": {
                        "nl": {
                            "only_n_left": "Nog maar [count]!",
                            "back_soon": "Terug rond [date]",
                            "consent": "Ja, [store] mag me één keer mailen.",
                        },
                        "fr": {"selling_fast": "  Ça part vite  "},
                    }
                },
            )
        )
    with client.application.app_context():
        read_cache().clear()
    nl = client.get(f"/storefront/v1/stores/{ids['store']}/products/p1").get_json()["store"]
    assert nl["texts"] == {"only_n_left": "Nog maar [count]!", "back_soon": "Terug rond [date]"}
    assert nl["consent"] == {
        "text": "Ja, Acme mag me één keer mailen.",
        "version": rules.consent_version("Ja, Acme mag me één keer mailen."),
    }
    fr = client.get(f"/storefront/v1/stores/{ids['store']}/products/p1?locale=fr").get_json()["store"]
    assert fr["texts"] == {"selling_fast": "Ça part vite"}
    assert fr["consent"]["text"] == rules.consent("fr", "Acme").text


def test_cache_hits_are_answered_in_front_of_flask_with_the_same_headers(seeded: Any) -> None:
    client, ids, _db = seeded
    url = f"/storefront/v1/stores/{ids['store']}/variants/v1"
    first = client.get(url, headers={"Origin": "https://acme.example"})
    app = client.application
    # A hit never reaches Flask: no request hook runs for it.
    calls: list[str] = []
    app.before_request_funcs.setdefault(None, []).insert(0, lambda: calls.append("flask") and None)
    hit = client.get(url, headers={"Origin": "https://acme.example"})
    assert calls == []
    assert (hit.status_code, hit.data) == (200, first.data)
    for name in ("ETag", "Cache-Control", "Vary", "Content-Type", "Access-Control-Allow-Origin"):
        assert hit.headers[name] == first.headers[name], name
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    other = client.get(url, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert calls == []
    # Unknown refs, other queries and the preflight still go through Flask.
    assert client.get(f"/storefront/v1/stores/{ids['store']}/variants/nope").status_code == 404
    assert client.get(url + "?locale=nl&x=1").status_code == 200
    assert calls == ["flask", "flask"]
