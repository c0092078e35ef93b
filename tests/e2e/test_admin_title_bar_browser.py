"""The admin embedded in Shopify, in headless Chromium with App Bridge stubbed (tests/e2e/app_bridge_stub.js in
place of Shopify's CDN script): each page's title and actions go to App Bridge's title bar, a title bar action
works, and flash messages become toasts (errors as error toasts) instead of the in-page notice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from app.models import Product, Store, StoreSetting
from app.models.waitlist import Subscription
from app.web.admin.auth import APP_BRIDGE_URL
from tests.e2e.conftest import HOST, SHOP, LiveServer
from tests.factories import make_variant
from tests.unit.test_shopify_auth import make_session_token

pytestmark = pytest.mark.e2e

STUB = Path(__file__).with_name("app_bridge_stub.js").read_text(encoding="utf-8")
EMBEDDED = f"shop={SHOP}&host={HOST}&embedded=1"


@pytest.fixture
def shopify_page(page: Any) -> Any:
    """The page with every load of App Bridge answered by the stub, carrying a fresh session token."""
    assert APP_BRIDGE_URL == "https://cdn.shopify.com/shopifycloud/app-bridge.js"

    def app_bridge(route: Any) -> None:
        body = STUB.replace("__ID_TOKEN__", make_session_token(ttl=600))
        route.fulfill(status=200, content_type="application/javascript", body=body)

    page.route(APP_BRIDGE_URL, app_bridge)
    return page


def _open(page: Any, server: LiveServer, path: str) -> None:
    """Open an admin page as the Shopify admin does: the bounce page gets a session token and reloads with it."""
    page.goto(f"{server.url}{path}?{EMBEDDED}")
    page.wait_for_url(f"**{path}?*id_token=*")
    page.wait_for_load_state("load")


def _title_bar(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("window.__appBridge.titleBar"))


def _action(tag: str, label: str, variant: str | None = None, href: str | None = None) -> dict[str, Any]:
    return {"tag": tag, "label": label, "variant": variant, "tone": None, "href": href}


def test_the_embedded_dashboard_puts_its_title_and_actions_in_the_title_bar(
    embedded_server: LiveServer, shopify_page: Any
) -> None:
    page = shopify_page
    _open(page, embedded_server, "/admin/")
    assert _title_bar(page) == {
        "title": "Embedded Shop",
        "items": [
            _action("button", "Sync now", variant="primary"),
            _action("a", "Results", href=f"/admin/results?{EMBEDDED}"),
        ],
    }
    # The in-page copy is gone: the buttons are hidden, the h1 is there for screen readers only.
    assert page.locator(".page-actions").is_hidden()
    assert page.get_by_role("heading", level=1).inner_text() == "Embedded Shop"
    box = page.locator(".page-head h1").bounding_box()
    assert box is not None and box["width"] <= 1 and box["height"] <= 1
    assert page.evaluate("window.__appBridge.toasts") == []

    # The title bar's link leads to the page it names, still embedded.
    page.evaluate("window.__appBridge.click('Results')")
    page.wait_for_url("**/admin/results?*id_token=*")
    assert _title_bar(page)["title"] == "Results"


def test_standalone_the_same_declaration_is_an_h1_with_buttons(
    live_server: LiveServer, demo_store_id: int, page: Any
) -> None:
    page.goto(f"{live_server.url}/admin/settings")
    assert page.locator("ui-title-bar").count() == 0
    assert page.locator(".page-head h1").inner_text() == "Settings"
    buttons = page.locator(".page-actions button")
    assert buttons.count() == 1
    assert buttons.inner_text() == "Save settings"
    assert buttons.get_attribute("form") == "settings-form"
    assert buttons.is_visible()


def test_a_settings_save_from_the_title_bar_shows_a_toast(embedded_server: LiveServer, shopify_page: Any) -> None:
    page = shopify_page
    _open(page, embedded_server, "/admin/settings")
    assert _title_bar(page) == {"title": "Settings", "items": [_action("button", "Save settings", variant="primary")]}

    page.fill("#low_stock_threshold", "7")
    page.evaluate("window.__appBridge.click('Save settings')")
    page.wait_for_function("window.__appBridge.toasts.length > 0")
    assert page.evaluate("window.__appBridge.toasts") == [
        {"message": "Settings saved. Stock states and the storefront update within a minute.", "isError": False}
    ]
    assert page.url.startswith(f"{embedded_server.url}/admin/settings?")
    assert page.locator(".flashes").is_hidden()
    with embedded_server.db.session() as s:
        store_id = s.scalars(select(Store.id).where(Store.platform == "shopify", Store.domain == SHOP)).one()
        saved = s.scalars(
            select(StoreSetting.values).where(StoreSetting.store_id == store_id, StoreSetting.scope == "store")
        ).one()
    assert saved["low_stock_threshold"] == 7


@pytest.fixture
def unsubscribed(embedded_server: LiveServer) -> Iterator[int]:
    """A shopper of the embedded store who unsubscribed: a resend is refused."""
    with embedded_server.db.session() as s:
        store = s.scalars(select(Store).where(Store.platform == "shopify", Store.domain == SHOP)).one()
        product = Product(store_id=store.id, external_id="gid://shopify/Product/1", title="Harbour Mug")
        s.add(product)
        s.flush()
        variant = make_variant(s, store, qty=0, product=product, title="Harbour Mug")
        sub = Subscription(store_id=store.id, variant_id=variant.id, email="gone@example.com", state="unsubscribed")
        s.add(sub)
        s.flush()
        sub_id = sub.id
    yield sub_id
    with embedded_server.db.session() as s:
        s.execute(delete(Subscription).where(Subscription.id == sub_id))


def test_an_error_flash_is_an_error_toast(embedded_server: LiveServer, shopify_page: Any, unsubscribed: int) -> None:
    page = shopify_page
    _open(page, embedded_server, "/admin/subscribers")
    assert _title_bar(page) == {
        "title": "Subscribers",
        "items": [_action("a", "Notification log", href=f"/admin/subscribers/log?{EMBEDDED}")],
    }
    # The Resend button's own form, as the page builds it: admin.js adds the session token on submit.
    page.evaluate(
        """([action, shop, host]) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = action;
            for (const [name, value] of [['shop', shop], ['host', host], ['id_token', '']]) {
                const input = document.createElement('input');
                input.type = 'hidden';
                input.name = name;
                input.value = value;
                form.appendChild(input);
            }
            document.body.appendChild(form);
            form.requestSubmit();
        }""",
        [f"/admin/subscribers/{unsubscribed}/resend?{EMBEDDED}", SHOP, HOST],
    )
    page.wait_for_function("window.__appBridge && window.__appBridge.toasts.length > 0")
    assert page.evaluate("window.__appBridge.toasts") == [
        {"message": "This shopper unsubscribed; they get no email until they sign up again.", "isError": True}
    ]
    assert page.locator(".flash--error").is_hidden()
    with embedded_server.db.session() as s:
        assert s.scalars(select(Subscription.state).where(Subscription.id == unsubscribed)).one() == "unsubscribed"
