"""The shopper journey through both platform surfaces, in headless Chromium, with a real SMTP server.

A shopper on a store's own domain signs up on a sold-out variant through what BackSoon puts there (Shopify: the
theme app extension's app block and app embed, rendered from the app's own metafield values, talking to the app
through a signed App Proxy; WooCommerce: the companion plugin's markup on the captured product page, talking to the
storefront API), confirms from the double-opt-in email, the platform reports the restock with a signed webhook, and
exactly one restock email arrives in the shopper's language with the buy link for that variant. A duplicate
delivery of the same webhook sends nothing more. Only the platforms are stand-ins (see tests/e2e/shops.py).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, cast
from urllib.parse import parse_qsl

import pytest
import requests
import responses
from sqlalchemy import func, select
from werkzeug.wrappers import Request, Response

from app.infra.crypto import cipher_for
from app.models import Delivery, StockEvent, StockState, Store, Subscription, Variant, WebhookEvent
from app.queue import InProcessJobQueue
from app.services import catalog
from app.services.stock.recompute import recompute
from app.services.stock.storefront_state import unpublished_states
from integrations.shopify.auth import AccessToken
from integrations.woocommerce.payloads import parse_product
from integrations.woocommerce.storefront import meta_value
from tests.conftest import FIXTURES, hashed_name
from tests.e2e.conftest import LiveServer, make_live_server, missing_tool
from tests.e2e.shops import (
    EXTENSION,
    JQUERY,
    PLUGIN,
    PROXY_PREFIX,
    WC_VARIATION_STANDIN,
    ShopifyAdmin,
    ShopServer,
    file_response,
    forward_app_proxy,
    proxy_signature,
    shopify_product_page,
    shopify_webhook_headers,
    start_shop_server,
    woo_product_page,
    woo_signature,
)
from tests.factories import RecordingQueue
from tests.smtpd import Collector, smtp_server

pytestmark = [
    pytest.mark.integration,
    pytest.mark.e2e,
    pytest.mark.truncating("live servers write on connections of their own"),
]

SHOPIFY_SECRET = "shpss_e2e_app_secret"  # not the fixtures' secret: every delivery below is re-signed
SHOP = "backsoon-demo.myshopify.com"
SHOPIFY_HOOKS = FIXTURES / "shopify" / "webhooks"
WOO = FIXTURES / "woocommerce"
WOO_SECRET = "wc-e2e-webhook-secret"  # not the fixtures' secret either

# Shopify fixtures: "Merino Crew Sweater", size S is sold out (inventory_levels/update available 0).
SWEATER = "9587413528877"
SIZE_S = "49712345678125"
SIZE_S_ITEM = "51823456789301"
SIZE_M_ITEM = "51823456822069"
# WooCommerce fixtures: Hoodie (14), variation S (15) is out of stock.
HOODIE = "14"
HOODIE_S = "15"


@dataclass
class Surfaces:
    live: LiveServer
    mail: Collector
    shop: ShopServer
    platform_http: responses.RequestsMock  # the platforms' APIs; everything on 127.0.0.1 is real

    @property
    def jobs(self) -> InProcessJobQueue:
        return cast("InProcessJobQueue", self.live.runtime.jobs)

    def settle(self) -> None:
        """Wait until every background job has run, and fail on any that raised."""
        self.jobs.drain()
        assert [(spec.func, repr(exc)) for spec, exc in self.jobs.errors] == []

    def mail_to(self, address: str, subject: str, timeout: float = 20.0) -> EmailMessage:
        """The one message to ``address`` with exactly this subject, waiting for it up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r.message for r in list(self.mail.received) if address in r.rcpt_tos]
            matching = [m for m in found if str(m["Subject"]) == subject]
            if matching:
                assert len(matching) == 1, subject
                return matching[0]
            time.sleep(0.1)
        got = [(r.rcpt_tos, str(r.message["Subject"])) for r in self.mail.received]
        raise AssertionError(f"no mail to {address} with subject {subject!r}; received {got}")

    def link(self, msg: EmailMessage, path: str) -> str:
        """The first app link to ``path`` in the plain-text part."""
        body = cast("EmailMessage", msg.get_body(("plain",))).get_content()
        match = re.search(rf"{re.escape(self.live.url)}{path}[\w.\-~]+", body)
        assert match is not None, body
        return match.group(0)

    def confirm(self, page: Any, msg: EmailMessage, email: str) -> None:
        """Open the confirmation link (a page with a button) and confirm; the subscription becomes active."""
        page.goto(self.link(msg, "/c/"))
        page.get_by_role("button").click()
        page.get_by_role("heading").first.wait_for()
        with self.live.db.session() as s:
            assert s.execute(select(Subscription.state).where(Subscription.email == email)).scalar_one() == "active"

    def buy_link_target(self, msg: EmailMessage) -> str:
        """Where the restock email's buy link leads (the click is recorded by the app)."""
        answer = requests.get(self.link(msg, "/r/"), allow_redirects=False, timeout=10)
        assert answer.status_code in (302, 303), answer.status_code
        return answer.headers["Location"]

    def mail_count(self, address: str) -> int:
        return self.mail.by_rcpt().get(address, 0)


@pytest.fixture
def surfaces(db: Any, pg_url: str) -> Iterator[Surfaces]:
    with smtp_server() as (mail, smtp_url):
        live = make_live_server(pg_url, smtp_url=smtp_url, demo=False, shopify_api_secret=SHOPIFY_SECRET)
        shop = start_shop_server()
        try:
            with responses.RequestsMock(assert_all_requests_are_fired=False) as platform_http:
                platform_http.add_passthru("http://127.0.0.1:")
                yield Surfaces(live, mail, shop, platform_http)
        finally:
            shop.stop()
            live.stop()
            live.db.dispose()


def _fixture(path: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _variant_state(live: LiveServer, store_id: int, external_id: str) -> str:
    with live.db.session() as s:
        return str(
            s.execute(
                select(StockState.status)
                .join(Variant, Variant.id == StockState.variant_id)
                .where(Variant.store_id == store_id, Variant.external_id == external_id)
            ).scalar_one()
        )


# --- Shopify ----------------------------------------------------------------------------------------------------------


def _post_shopify(live: LiveServer, name: str, body: bytes | None = None, webhook_id: str | None = None) -> Any:
    hook = _fixture(SHOPIFY_HOOKS / f"{name}.json")
    raw = hook["body_text"].encode() if body is None else body
    headers = shopify_webhook_headers(hook, raw, SHOPIFY_SECRET, webhook_id or str(uuid.uuid4()))
    return requests.post(f"{live.url}/webhooks/shopify", data=raw, headers=headers, timeout=10)


@dataclass
class ShopifyShop:
    """A Shopify store in the app, its catalog from the fixtures' webhooks, and its product page on the shop server."""

    store_id: int
    admin: ShopifyAdmin
    product: dict[str, Any]


def _shopify_shop(
    x: Surfaces, *, embed_settings: dict[str, Any], with_block: bool, proxy_prefix: str = PROXY_PREFIX
) -> ShopifyShop:
    """The shop's App Proxy answers at ``proxy_prefix`` (a merchant may change it; the blocks' settings say so)."""
    # The App Proxy signer used by the stand-in reproduces Shopify's published vectors.
    for vector in _fixture(FIXTURES / "shopify" / "vectors.json")["app_proxy_signature"]:
        params = parse_qsl(vector["inputs"]["query_string"], keep_blank_values=True)
        assert proxy_signature(params, vector["secret"]) == vector["expected_signature"]

    # A Dutch Shopify store (EU: double opt-in), English by default; its catalog arrives by the fixtures' webhooks.
    admin = ShopifyAdmin(SHOP, {}, [])
    x.platform_http.add_callback(
        responses.POST, re.compile(rf"https://{re.escape(SHOP)}/admin/api/[\w-]+/graphql\.json"), admin.handle
    )
    token = AccessToken(access_token="shpat_e2e_offline", scope="write_products,read_inventory,read_orders")
    with x.live.db.session() as s:
        store = Store(
            platform="shopify",
            domain=SHOP,
            name="Merino & Co",
            timezone="America/New_York",
            country="NL",
            credentials_encrypted=cipher_for(x.live.runtime.settings).encrypt_json(token.to_credentials()),
        )
        s.add(store)
        s.flush()
        store_id = store.id
    for name in ("products-update", "inventory_levels-update-available_0"):
        answer = _post_shopify(x.live, name)
        assert (answer.status_code, answer.json()["duplicate"]) == (200, False), answer.text
    x.settle()
    assert _variant_state(x.live, store_id, SIZE_S) == "out_of_stock"

    # The storefront renders the metafield values the app wrote back for each variant ($app:backsoon.state).
    states = admin.state_values()
    assert sorted(states) == sorted([SIZE_S, "49712345710893", "49712345743661"])
    assert (states[SIZE_S]["status"], states[SIZE_S]["back_soon"]) == ("out_of_stock", True)
    body = json.loads(_fixture(SHOPIFY_HOOKS / "products-update.json")["body_text"])
    product = {
        "id": body["id"],
        "title": body["title"],
        "handle": body["handle"],
        "variants": [{"id": v["id"], "title": v["title"]} for v in body["variants"]],
    }
    asset_base = "/cdn/shop/extensions/backsoon-theme/assets"
    html = shopify_product_page(
        locale="nl",
        root_url="/nl",
        product=product,
        selected_variant_id=SIZE_S,
        states=states,
        asset_base=asset_base,
        embed_settings=embed_settings,
        with_block=with_block,
    )

    def shop_handler(request: Request) -> Response:
        if request.path == f"/nl/products/{product['handle']}":
            return Response(html, mimetype="text/html")
        if request.path.startswith(f"{asset_base}/"):
            name = request.path.rsplit("/", 1)[1]
            kind = "text/css" if name.endswith(".css") else "text/javascript"
            return file_response(EXTENSION / "assets" / name, kind)
        if request.path.startswith(f"{proxy_prefix}/"):
            return forward_app_proxy(
                request,
                app_url=x.live.url,
                proxy_url_path="/storefront/proxy",
                shop=SHOP,
                secret=SHOPIFY_SECRET,
                prefix=proxy_prefix,
            )
        return Response("not found", status=404)

    x.shop.handler = shop_handler
    return ShopifyShop(store_id, admin, product)


def test_shopify_theme_extension_and_app_proxy(page: Any, surfaces: Surfaces) -> None:
    x = surfaces
    shopper = "anouk.devries@example.com"
    # The merchant placed the "Back soon" block, so the embed only loads the widget (as its setting says).
    shop = _shopify_shop(x, embed_settings={"auto_mount": False}, with_block=True)
    store_id, admin, product = shop.store_id, shop.admin, shop.product

    # 1. The sold-out variant's page in Dutch: the block's form replaces nothing (no buy_area) and appears once.
    ctx = page.context.browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    shopper_page = ctx.new_page()
    try:
        shopper_page.goto(f"{x.shop.origin}/nl/products/{product['handle']}?variant={SIZE_S}")
        panel = shopper_page.locator(".bs-panel")
        panel.get_by_text("Binnenkort terug").wait_for()
        assert panel.count() == 1
        shopper_page.get_by_label("E-mailadres").fill(shopper)
        shopper_page.locator(".bs-consent input[type=checkbox]").check()
        shopper_page.get_by_role("button", name="Mail me als het terug is").click()
        shopper_page.get_by_text("Bijna klaar: bevestig via de link die we je net hebben gemaild.").wait_for()
        with x.live.db.session() as s:
            sub = s.execute(select(Subscription).where(Subscription.email == shopper)).scalar_one()
            variant_ext = s.get(Variant, sub.variant_id).external_id  # type: ignore[union-attr]
            assert (sub.state, variant_ext, sub.locale, sub.source, sub.store_id) == (
                "pending_confirmation",
                SIZE_S,
                "nl",
                "app_proxy",  # whatever the widget says, a signup through the App Proxy is recorded as such
                store_id,
            )

        # 2. Double opt-in, in Dutch.
        confirm = x.mail_to(shopper, "Bevestig je e-mailadres voor Merino & Co")
        x.confirm(shopper_page, confirm, shopper)
    finally:
        ctx.close()

    # 3. Shopify reports the restock: S at the primary location goes 0 → 7 (the fixture delivery, S's ids, later).
    restock = (
        _fixture(SHOPIFY_HOOKS / "inventory_levels-update-available_7.json")["body_text"]
        .replace(SIZE_M_ITEM, SIZE_S_ITEM)
        .replace("2026-10-14T10:42:18-04:00", "2026-10-14T14:05:00-04:00")
        .encode()
    )
    delivery_id = str(uuid.uuid4())
    answer = _post_shopify(x.live, "inventory_levels-update-available_7", restock, delivery_id)
    assert (answer.status_code, answer.json()["duplicate"]) == (200, False), answer.text
    email = x.mail_to(shopper, "Weer op voorraad: Merino Crew Sweater")
    x.settle()
    assert _variant_state(x.live, store_id, SIZE_S) == "in_stock"
    assert (admin.state_values()[SIZE_S]["status"], admin.state_values()[SIZE_S]["back_soon"]) == ("in_stock", False)
    # Back to the Dutch page: the email is Dutch, so is the page its buy link opens.
    assert x.buy_link_target(email) == f"https://{SHOP}/nl/products/{product['handle']}?variant={SIZE_S}"

    # 4. Shopify delivers the same webhook again: recorded as a duplicate, nothing more is sent.
    before = len(x.mail.received)
    again = _post_shopify(x.live, "inventory_levels-update-available_7", restock, delivery_id)
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    x.settle()
    assert len(x.mail.received) == before
    assert x.mail_count(shopper) == 2  # the confirmation and exactly one restock email
    with x.live.db.session() as s:
        deliveries = s.execute(select(Delivery.status, Delivery.clicks).join(Subscription)).all()
        assert [tuple(d) for d in deliveries] == [("sent", 1)]
        assert s.scalar(select(func.count()).select_from(StockEvent).where(StockEvent.kind == "restock")) == 1
        assert s.scalar(select(func.count()).select_from(WebhookEvent).where(WebhookEvent.store_id == store_id)) == 3


# --- WooCommerce ------------------------------------------------------------------------------------------------------


def _rest(name: str) -> Any:
    return _fixture(WOO / "rest" / f"{name}.json")["body"]


def _post_woo(live: LiveServer, store_id: int, name: str) -> Any:
    hook = _fixture(WOO / "webhooks" / f"{name}.json")
    raw = base64.b64decode(hook["body_base64"])
    headers = {k: v for k, v in hook["headers"].items() if k not in ("Host", "Content-Length", "Connection")}
    headers["X-WC-Webhook-Signature"] = woo_signature(raw, WOO_SECRET)
    return requests.post(f"{live.url}/webhooks/woocommerce/{store_id}", data=raw, headers=headers, timeout=10)


def test_woocommerce_plugin_and_storefront_api(page: Any, surfaces: Surfaces) -> None:
    x = surfaces
    shopper = "jonas.becker@example.com"
    for missing, message in (
        (shutil.which("php") is None, "php-cli renders the WordPress plugin (apt-get install php-cli)"),
        (not JQUERY.is_file(), f"the captured page needs jQuery at {JQUERY} (apt-get install libjs-jquery)"),
    ):
        if missing:
            missing_tool(message)

    # A German WooCommerce store on the shop server's origin, its Hoodie as the initial REST sync stores it.
    with x.live.db.session() as s:
        store = Store(
            platform="woocommerce",
            domain=x.shop.origin,
            name="Hoodie Haus",
            timezone="Europe/Berlin",
            country="DE",
            webhook_secret_encrypted=cipher_for(x.live.runtime.settings).encrypt(WOO_SECRET.encode()),
        )
        s.add(store)
        s.flush()
        store_id = store.id
        synced = parse_product(_rest("product-variable"), _rest("product-variations-list"))
        catalog.apply_products(s, RecordingQueue(), store_id, [synced.product])
        catalog.apply_inventory(s, RecordingQueue(), store_id, list(synced.inventory))
    with x.live.db.session() as s:
        recompute(s, store_id)
    assert _variant_state(x.live, store_id, HOODIE_S) == "out_of_stock"

    # The _backsoon_state meta the app writes back on each variation, from its own write-back code.
    with x.live.db.session() as s:
        meta = {u.external_id: meta_value(u.state) for u in unpublished_states(s, store_id, 100)}
    assert json.loads(meta[HOODIE_S])["back_soon"] is True
    html = woo_product_page(
        (WOO / "html" / "product-variable.html").read_text(),
        shop_origin=x.shop.origin,
        fixture_origin="http://127.0.0.1:8091",
        html_lang="de-DE",  # what language_attributes() prints on a German WordPress site
        backend_url=x.live.url,
        store_key=str(store_id),
        meta=meta,
    )
    assert html.count('id="backsoon-root"') == 1
    # The plugin asked the backend's manifest and loads the year-cached hashed widget, without ?ver=.
    assert f'<script src="{x.live.url}/static/{hashed_name("widget.js")}" id="backsoon-widget-js"></script>' in html

    def shop_handler(request: Request) -> Response:
        path = request.path
        if path == "/product/hoodie/":
            return Response(html, mimetype="text/html")
        if path == "/wp-includes/js/jquery/jquery.min.js":
            return file_response(JQUERY, "text/javascript")
        if path == "/wp-content/plugins/woocommerce/assets/js/frontend/add-to-cart-variation.min.js":
            return Response(WC_VARIATION_STANDIN, mimetype="text/javascript")
        if path.startswith("/wp-content/plugins/backsoon/assets/"):
            return file_response(PLUGIN / "assets" / path.rsplit("/", 1)[1], "text/javascript")
        return Response("not found", status=404)  # the capture kept no other static file

    x.shop.handler = shop_handler

    ctx = page.context.browser.new_context(locale="de-DE", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    shopper_page = ctx.new_page()
    try:
        # 1. The shopper picks size S: the widget offers the back-soon form, in German.
        shopper_page.goto(f"{x.shop.origin}/product/hoodie/")
        shopper_page.locator("#pa_size").select_option("s")
        panel = shopper_page.locator("#backsoon-root .bs-panel")
        panel.get_by_label("E-Mail-Adresse").wait_for()
        assert panel.count() == 1
        # WooCommerce's stock line (the plugin's availability text) says "Back soon": the form adds no second one.
        assert panel.locator(".bs-title, .bs-eta").count() == 0
        assert panel.get_attribute("aria-label") == "Back soon"
        assert shopper_page.locator("#backsoon-root").get_attribute("data-variation-id") == HOODIE_S
        shopper_page.get_by_label("E-Mail-Adresse").fill(shopper)
        shopper_page.locator(".bs-consent input[type=checkbox]").check()
        shopper_page.get_by_role("button", name="Benachrichtigen, wenn verfügbar").click()
        shopper_page.get_by_text(
            "Fast geschafft: Bitte bestätigen Sie mit dem Link, den wir Ihnen gerade gemailt haben."
        ).wait_for()
        with x.live.db.session() as s:
            sub = s.execute(select(Subscription).where(Subscription.email == shopper)).scalar_one()
            variant_ext = s.get(Variant, sub.variant_id).external_id  # type: ignore[union-attr]
            assert (sub.state, variant_ext, sub.locale, sub.source, sub.store_id) == (
                "pending_confirmation",
                HOODIE_S,
                "de",
                "widget",
                store_id,
            )

        # 2. Double opt-in, in German.
        confirm = x.mail_to(shopper, "Bitte bestätige deine E-Mail-Adresse für Hoodie Haus")
        x.confirm(shopper_page, confirm, shopper)
    finally:
        ctx.close()

    # 3. WooCommerce reports variation 15's stock going 0 → 4 (the captured delivery, re-signed with our secret).
    answer = _post_woo(x.live, store_id, "03-product-updated-variation-stock")
    assert (answer.status_code, answer.json()["duplicate"]) == (200, False), answer.text
    email = x.mail_to(shopper, "Wieder auf Lager: Hoodie")
    x.settle()
    assert _variant_state(x.live, store_id, HOODIE_S) == "low_stock"  # 4 units
    # The buy link opens the product page with the very variation (size S) selected.
    assert x.buy_link_target(email) == "http://127.0.0.1:8091/product/hoodie/?attribute_pa_size=S"

    # 4. The same delivery again: a duplicate, nothing more is sent.
    before = len(x.mail.received)
    again = _post_woo(x.live, store_id, "03-product-updated-variation-stock")
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    x.settle()
    assert len(x.mail.received) == before
    assert x.mail_count(shopper) == 2
    with x.live.db.session() as s:
        deliveries = s.execute(select(Delivery.status, Delivery.clicks).join(Subscription)).all()
        assert [tuple(d) for d in deliveries] == [("sent", 1)]
        assert s.scalar(select(func.count()).select_from(StockEvent).where(StockEvent.kind == "restock")) == 1
        assert s.scalar(select(func.count()).select_from(WebhookEvent).where(WebhookEvent.store_id == store_id)) == 1


def test_shopify_app_embed_alone_mounts_by_the_product_form(page: Any, surfaces: Surfaces) -> None:
    """The default install: only the app embed is on (no block placed). It mounts the widget right before the
    theme's product form, hides that form in place for the sold-out size, follows the theme's variant changes and
    takes the signup through the App Proxy. This merchant changed the App Proxy URL in Shopify's admin to
    /tools/restock (nothing answers at /apps/backsoon) and entered it in the embed's setting."""
    x = surfaces
    embed_settings = {"auto_mount": True, "proxy_path": "tools/restock/"}
    shop = _shopify_shop(x, embed_settings=embed_settings, with_block=False, proxy_prefix="/tools/restock")
    in_stock = next(vid for vid, st in shop.admin.state_values().items() if not st["back_soon"])
    ctx = page.context.browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    shopper_page = ctx.new_page()
    try:
        shopper_page.goto(f"{x.shop.origin}/nl/products/{shop.product['handle']}?variant={SIZE_S}")
        assert shopper_page.locator("#backsoon-embed").get_attribute("data-api") == "/tools/restock/v1"
        panel = shopper_page.locator(".bs-panel")
        panel.get_by_text("Binnenkort terug").wait_for()
        assert panel.count() == 1
        layout = shopper_page.evaluate(
            """() => {
              const mount = document.getElementById('backsoon-embed');
              const form = document.querySelector('form[action*="/cart/add"]');
              return [mount.nextElementSibling === form, form.style.visibility, form.inert];
            }"""
        )
        assert layout == [True, "hidden", True]

        # The theme switches to a size in stock (Dawn sets the form's id and dispatches change): the buy area is back.
        def choose(variant_id: str) -> None:
            shopper_page.evaluate(
                """id => {
                  const input = document.querySelector('form[action*="/cart/add"] input[name="id"]');
                  input.value = id;
                  input.dispatchEvent(new Event('change', { bubbles: true }));
                }""",
                variant_id,
            )

        choose(in_stock)
        panel.wait_for(state="hidden")
        visibility = "() => document.querySelector('form[action*=\"/cart/add\"]').style.visibility"
        assert shopper_page.evaluate(visibility) == ""
        choose(SIZE_S)
        panel.get_by_text("Binnenkort terug").wait_for()

        shopper = "daan.jansen@example.com"
        shopper_page.get_by_label("E-mailadres").fill(shopper)
        shopper_page.locator(".bs-consent input[type=checkbox]").check()
        shopper_page.get_by_role("button", name="Mail me als het terug is").click()
        shopper_page.get_by_text("Bijna klaar: bevestig via de link die we je net hebben gemaild.").wait_for()
    finally:
        ctx.close()
    with x.live.db.session() as s:
        sub = s.execute(select(Subscription).where(Subscription.email == shopper)).scalar_one()
        variant_ext = s.get(Variant, sub.variant_id).external_id  # type: ignore[union-attr]
        assert (sub.state, variant_ext, sub.locale, sub.source, sub.store_id) == (
            "pending_confirmation",
            SIZE_S,
            "nl",
            "app_proxy",
            shop.store_id,
        )
    assert x.mail_to(shopper, "Bevestig je e-mailadres voor Merino & Co")["To"] == shopper


def test_shopify_block_and_embed_both_on_say_back_soon_once(page: Any, surfaces: Surfaces) -> None:
    """The merchant placed the block and left the embed's auto-mount on: the page still has one message and form."""
    x = surfaces
    shop = _shopify_shop(x, embed_settings={"auto_mount": True}, with_block=True)
    ctx = page.context.browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    shopper_page = ctx.new_page()
    try:
        shopper_page.goto(f"{x.shop.origin}/nl/products/{shop.product['handle']}?variant={SIZE_S}")
        assert shopper_page.locator("#backsoon-embed").count() == 1  # both mounts are on the page
        shopper_page.locator(".bs-panel").get_by_text("Binnenkort terug").wait_for()
        assert shopper_page.locator(".bs-panel").count() == 1
        assert shopper_page.get_by_text("Binnenkort terug").count() == 1
        assert shopper_page.locator("#backsoon-embed .bs-badge, #backsoon-embed .bs-panel").count() == 0
        assert shopper_page.locator("#backsoon-embed").get_attribute("data-backsoon-ready") is None
    finally:
        ctx.close()
