"""The connected page's next step ends once the storefront asks BackSoon for stock: the plugin (WooCommerce) or the
app embed (Shopify) is live. Only the WooCommerce privacy tools' API key is still offered while none was issued."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import Database
from app.models import Product, Store
from app.services.merchant.api_keys import hash_api_key
from app.web.admin.auth import session_fields
from tests.conftest import TEST_REDIS_URL
from tests.factories import make_store, make_variant

pytestmark = pytest.mark.integration

APP_SECRET = "shpss_test"
SHOP = "acme-shop.myshopify.com"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """The App Proxy secret and the app's API key (the theme editor link needs it), limits in the test Redis."""
    return {
        "redis_url": TEST_REDIS_URL,
        "shopify_api_secret": APP_SECRET,
        "shopify_api_key": "a1b2c3d4e5",
        "app_url": "https://app.backsoon.example",
    }


def _store(db: Database, platform: str, domain: str, **kw: Any) -> int:
    with db.session() as s:
        store = make_store(s, platform=platform, domain=domain, **kw)
        product = Product(store_id=store.id, external_id="p1", title="Hat")
        s.add(product)
        s.flush()
        make_variant(s, store, product=product, qty=4, external_id="v1", title="Red")
        s.commit()
        return store.id


def _seen(db: Database, store_id: int) -> datetime | None:
    with db.session() as s:
        return s.execute(select(Store.storefront_seen_at).where(Store.id == store_id)).scalar_one()


def _proxy_query(secret: str = APP_SECRET) -> str:
    pairs = [("shop", SHOP), ("path_prefix", "/apps/backsoon"), ("timestamp", str(int(time.time())))]
    message = "".join(sorted(f"{k}={v}" for k, v in pairs))
    return urlencode([*pairs, ("signature", hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest())])


def _dashboard(client: FlaskClient, store_id: int) -> str:
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))
    resp = client.get("/admin/")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_the_plugins_first_state_read_marks_the_woocommerce_storefront_live(
    db: Database, redis_conn: object, client: FlaskClient
) -> None:
    store_id = _store(db, "woocommerce", "https://shop.example.com", api_key_hash=None)
    other_id = _store(db, "woocommerce", "https://other.example.com")
    html = _dashboard(client, store_id)
    assert 'data-next-step="woocommerce"' in html and "Next: install the BackSoon plugin" in html
    assert _seen(db, store_id) is None

    before = datetime.now(UTC)
    assert client.get(f"/storefront/v1/stores/{store_id}/products/p1").status_code == 200
    first = _seen(db, store_id)
    assert first is not None and before <= first <= datetime.now(UTC)
    # Later calls leave the first time alone; another store is not touched.
    assert client.get(f"/storefront/v1/stores/{store_id}/variants/v1?locale=fr").status_code == 200
    assert (_seen(db, store_id), _seen(db, other_id)) == (first, None)

    # The plugin step is done; the privacy tools' API key is still offered (none issued).
    html = _dashboard(client, store_id)
    assert "Next: install the BackSoon plugin" not in html and "data-store-key" not in html
    assert 'data-next-step="woocommerce-privacy"' in html and ">Create an API key</button>" in html
    # With a key issued, nothing is left to do: no card at all.
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        store.api_key_hash = hash_api_key("bsk_issued")
    assert 'id="next-step"' not in _dashboard(client, store_id)


def test_the_app_embeds_first_proxy_read_marks_the_shopify_storefront_live(
    db: Database, redis_conn: object, client: FlaskClient
) -> None:
    store_id = _store(db, "shopify", SHOP)
    html = _dashboard(client, store_id)
    assert 'data-next-step="shopify"' in html and "data-theme-editor" in html
    # A request without a valid signature is not the storefront: nothing recorded.
    assert client.get(f"/storefront/proxy/v1/products/p1?{_proxy_query('wrong')}").status_code == 401
    assert _seen(db, store_id) is None
    assert 'data-next-step="shopify"' in _dashboard(client, store_id)

    assert client.get(f"/storefront/proxy/v1/products/p1?{_proxy_query()}").status_code == 200
    assert _seen(db, store_id) is not None
    assert 'id="next-step"' not in _dashboard(client, store_id)


def test_reads_of_an_unknown_store_or_an_inactive_one_record_nothing(
    db: Database, redis_conn: object, client: FlaskClient
) -> None:
    store_id = _store(db, "woocommerce", "https://shop.example.com", status="disconnected")
    assert client.get(f"/storefront/v1/stores/{store_id}/products/p1").status_code == 404
    assert client.get(f"/storefront/v1/stores/{store_id + 1000}/products/p1").status_code == 404
    assert _seen(db, store_id) is None
