"""What the Shopify admin says about access Shopify decides: order emails (protected customer data) and the
optional read_all_orders scope, with its prompt, a merchant declining it, and a later grant."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

from app.db import Database
from app.models import Store, SyncRun
from app.platforms.shopify import webhooks as shopify_webhooks
from app.platforms.shopify.access import ORDER_EMAIL_DENIED_NOTICE, ORDERS_DENIED_NOTICE
from app.web.admin.auth import session_fields
from tests.factories import RecordingQueue
from tests.integration.test_shopify_order_history import HORIZON, SCOPES, scopes_update
from tests.unit.test_shopify_auth import API_KEY, API_SECRET, SHOP, make_session_token

pytestmark = pytest.mark.integration

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HOST = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYmFja3Nvb24tZGVtbw"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Signed-in through the embedded Shopify app as well as the standalone admin."""
    return {"app_url": "http://backsoon.test", "shopify_api_key": API_KEY, "shopify_api_secret": API_SECRET}


def make_shop(db: Database, scopes: str = SCOPES, **kw: object) -> int:
    with db.session() as s:
        store = Store(
            platform="shopify",
            domain=SHOP,
            name="Demo",
            scopes=scopes,
            identity_read_at=datetime.now(UTC),
            timezone="America/New_York",
            **kw,
        )
        s.add(store)
        s.flush()
        return store.id


def dashboard(client: FlaskClient, store_id: int) -> str:
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))
    resp = client.get("/admin/")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def embedded_dashboard(client: FlaskClient) -> str:
    resp = client.get(f"/admin/?shop={SHOP}&host={HOST}&embedded=1&id_token={make_session_token()}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def declined_at(db: Database, store_id: int) -> datetime | None:
    with db.session() as s:
        return s.execute(select(Store.all_orders_declined_at).where(Store.id == store_id)).scalar_one()


def test_a_store_shopify_refuses_order_emails_to_is_told_why_conversions_are_off(
    db: Database, client: FlaskClient
) -> None:
    store_id = make_shop(db, order_email_access="denied")
    html = dashboard(client, store_id)
    notice = escape(ORDER_EMAIL_DENIED_NOTICE)  # "app's" is written &#39;
    assert f'<section class="card notice" role="status" id="attribution-off">\n    <p>{notice}</p>' in html
    assert ORDER_EMAIL_DENIED_NOTICE.startswith("Restock-email conversions are off: Shopify has not approved")
    assert 'id="conversions-off">Off until Shopify lets BackSoon read order emails (see above).</dd>' in html


def test_a_store_shopify_refuses_its_orders_is_told_what_works_and_what_to_request(
    db: Database, client: FlaskClient
) -> None:
    store_id = make_shop(db, order_email_access="no_orders")
    html = dashboard(client, store_id)
    notice = escape(ORDERS_DENIED_NOTICE)  # "store's" is written &#39;
    assert f'<section class="card notice" role="status" id="attribution-off">\n    <p>{notice}</p>' in html
    assert ORDERS_DENIED_NOTICE == (
        "BackSoon cannot read this store's orders: Shopify has not approved the app for protected customer data, so "
        "Shopify refuses it the orders and sends it no order webhooks. Products, stock levels, badges, waitlists and "
        "restock emails work; stock status runs from inventory only, without sales velocity or stockout dates, and "
        "restock-email conversions are off. To turn orders on, the app's developer requests access to protected "
        "customer data in the Shopify Partner Dashboard (API access requests: protected customer data, and the Email "
        "field for conversions). BackSoon asks Shopify again every day and loads the order history by itself once it "
        "is approved."
    )
    assert 'id="conversions-off">Off until Shopify lets BackSoon read orders (see above).</dd>' in html
    assert 'id="all-orders"' not in html  # older orders are not the question while none can be read


@pytest.mark.parametrize("access", [None, "granted"])
def test_no_notice_while_order_emails_are_read_or_not_known_yet(
    db: Database, client: FlaskClient, access: str | None
) -> None:
    html = dashboard(client, make_shop(db, order_email_access=access))
    assert 'id="attribution-off"' not in html and 'id="conversions-off"' not in html


def test_a_woocommerce_store_never_gets_either_notice(db: Database, client: FlaskClient) -> None:
    with db.session() as s:
        store = Store(platform="woocommerce", domain="shop.example", name="Woo", order_email_access="denied")
        s.add(store)
        s.flush()
        store_id = store.id
    html = dashboard(client, store_id)
    assert 'id="attribution-off"' not in html and 'id="all-orders"' not in html


def test_the_all_orders_prompt_asks_through_shopify_inside_the_admin(db: Database, client: FlaskClient) -> None:
    make_shop(db)
    html = embedded_dashboard(client)
    assert 'id="all-orders"' in html
    assert "Shopify shows BackSoon the last 60 days of orders" in html
    assert 'data-scope-request="read_all_orders"' in html
    assert 'action="/admin/all-orders/declined?shop=' in html
    assert '<button type="button" data-scope-ask>Allow reading all orders</button>' in html
    assert 'id="all-orders-declined"' not in html


def test_outside_the_shopify_admin_the_prompt_says_where_to_allow_it(db: Database, client: FlaskClient) -> None:
    html = dashboard(client, make_shop(db))
    assert 'id="all-orders"' in html
    assert "Open BackSoon from your Shopify admin (Apps → BackSoon) to allow it" in html
    assert "data-scope-request" not in html


def test_a_declined_scope_is_recorded_and_the_admin_says_what_it_means(db: Database, client: FlaskClient) -> None:
    store_id = make_shop(db, orders_history_from=HORIZON, last_synced_at=datetime.now(UTC))
    html = dashboard(client, store_id)
    token = _CSRF.search(html)
    assert token is not None
    before = datetime.now(UTC)

    resp = client.post("/admin/all-orders/declined", data={"csrf_token": token.group(1)})

    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/admin/#all-orders")
    at = declined_at(db, store_id)
    assert at is not None and before <= at <= datetime.now(UTC)
    html = client.get("/admin/").get_data(as_text=True)
    assert "BackSoon keeps using the last 60 days of orders. You can allow all orders here at any time." in html
    assert 'id="all-orders-declined"' in html and "BackSoon works from\n      the last 60 days of orders" in html
    assert '<button type="button" data-scope-ask>Ask again</button>' in embedded_dashboard(client)
    # Declining changes nothing else: no run starts, the horizon stays, the scopes are as granted.
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        assert (store.scopes, store.orders_history_from) == (SCOPES, HORIZON)
        assert s.execute(select(SyncRun.id)).all() == []


def test_a_later_grant_clears_the_decline_and_the_prompt(db: Database, client: FlaskClient) -> None:
    declined = datetime.now(UTC) - timedelta(days=3)
    store_id = make_shop(db, all_orders_declined_at=declined, orders_history_from=HORIZON, last_synced_at=declined)
    granted = [*SCOPES.split(","), "read_all_orders"]
    with db.session() as s:
        assert shopify_webhooks.on_scopes_update(s, RecordingQueue(), scopes_update(store_id, granted)) == (
            "applied:read_history"
        )
    assert declined_at(db, store_id) is None
    assert 'id="all-orders"' not in dashboard(client, store_id)


def test_nothing_to_decline_is_a_409_and_writes_nothing(db: Database, client: FlaskClient) -> None:
    store_id = make_shop(db, scopes=SCOPES + ",read_all_orders")
    html = dashboard(client, store_id)
    assert 'id="all-orders"' not in html
    token = _CSRF.search(html)
    assert token is not None
    resp = client.post("/admin/all-orders/declined", data={"csrf_token": token.group(1)})
    assert resp.status_code == 409
    assert resp.get_json() == {
        "error": {"code": "nothing_to_decline", "message": "This store has no pending request for all orders."}
    }
    assert declined_at(db, store_id) is None
