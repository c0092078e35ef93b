"""The storefront widget in headless Chromium: badges, the back-soon form in four languages, backorder dates,
no layout shift, keyboard submit, API errors and variant switching on the demo shop and landing pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select

from app.domain.dates import shopper_date
from app.domain.waitlist import consent as consent_for_locale
from app.models import Product, StockState, Store, Variant
from app.models.waitlist import ConsentRecord, Subscription
from tests.e2e.conftest import LiveServer
from tests.unit.test_domain_dates import CASES as DATE_CASES
from tests.unit.test_domain_dates import TODAY as DATE_TODAY

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

YEAR = datetime.now(UTC).year
ETA = date(YEAR, 3, 12)
SHIPS = date(YEAR, 4, 3)

# variant external id suffix → (title, state values)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "low": ("Small", {"status": "low_stock", "badge_kind": "only_n_left", "badge_quantity": 3, "sellable_quantity": 3}),
    "fast": ("Medium", {"status": "in_stock", "badge_kind": "selling_fast", "sellable_quantity": 40}),
    "out": ("Large", {"status": "out_of_stock", "restock_eta": ETA, "eta_source": "purchase_order"}),
    "outnodate": ("X-Large", {"status": "out_of_stock"}),
    "back": ("XX-Large", {"status": "backorder", "restock_eta": SHIPS, "eta_source": "purchase_order"}),
    "backnodate": ("3X-Large", {"status": "backorder"}),
}

STRINGS = {
    "en": ("Only 3 left", "Back soon", "Expected back around 12 March", "Email address", "Email me when it’s back",
           "Ships around 3 April"),
    "nl": ("Nog 3 op voorraad", "Binnenkort terug", "Verwacht terug rond 12 maart", "E-mailadres",
           "Mail me als het terug is", "Verzonden rond 3 april"),
    "fr": ("Plus que 3 en stock", "Bientôt de retour", "Retour prévu vers le 12 mars", "Adresse e-mail",
           "Prévenez-moi de son retour", "Expédié vers le 3 avril"),
    "de": ("Nur noch 3 verfügbar", "Bald wieder da", "Voraussichtlich wieder da um den 12. März", "E-Mail-Adresse",
           "Benachrichtigen, wenn verfügbar", "Versand um den 3. April"),
}  # fmt: skip


@dataclass(frozen=True)
class Shop:
    """The crafted product's refs and the stores it lives in."""

    demo: int
    product: str
    stores: dict[str, int]  # locale → store id holding the same product (landing pages)

    def vid(self, key: str) -> str:
        """A variant's external id."""
        return f"{self.product}-{key}"


def _add_product(session: Any, store_id: int, ref: str) -> int:
    product = Product(store_id=store_id, external_id=ref, title="Harbour Rain Jacket", kind="variable")
    session.add(product)
    session.flush()
    for position, (key, (title, values)) in enumerate(VARIANTS.items()):
        variant = Variant(
            store_id=store_id,
            product_id=product.id,
            external_id=f"{ref}-{key}",
            sku=f"E2E-{key}",
            title=title,
            price=Decimal("89.00"),
            position=position,
            sellable_quantity=values.get("sellable_quantity", 0),
        )
        session.add(variant)
        session.flush()
        session.add(StockState(store_id=store_id, variant_id=variant.id, **values))
    return product.id


@pytest.fixture
def shop(live_server: LiveServer, demo_store_id: int) -> Iterator[Shop]:
    """A product with one variant per widget case, in the demo store and in an nl, fr and de store."""
    ref = "e2e-jacket"
    db = live_server.db
    with db.session() as s:
        s.execute(delete(Product).where(Product.store_id == demo_store_id, Product.external_id == ref))
        _add_product(s, demo_store_id, ref)
        stores = {}
        for lang in ("nl", "fr", "de"):
            store = Store(platform="shopify", domain=f"e2e-{lang}.myshopify.com", name=f"Winkel {lang}", locale=lang)
            s.add(store)
            s.flush()
            _add_product(s, store.id, ref)
            stores[lang] = store.id
    try:
        yield Shop(demo=demo_store_id, product=ref, stores=stores)
    finally:
        with db.session() as s:
            s.execute(delete(Product).where(Product.store_id == demo_store_id, Product.external_id == ref))
            s.execute(delete(Store).where(Store.id.in_(stores.values())))


def _product_url(server: LiveServer, shop: Shop, key: str) -> str:
    return f"{server.url}/demo/shop/products/{shop.product}?variant={shop.vid(key)}"


def _landing_url(server: LiveServer, shop: Shop, lang: str, key: str) -> str:
    store = shop.demo if lang == "en" else shop.stores[lang]
    return f"{server.url}/p/{store}/{shop.product}?variant={shop.vid(key)}"


def _visible_text(page: Any, selector: str) -> str | None:
    loc = page.locator(selector)
    return loc.inner_text().strip() if loc.count() and loc.first.is_visible() else None


@pytest.mark.parametrize("lang", ["en", "nl", "fr", "de"])
def test_badge_form_and_ship_date_in_each_language(page: Any, live_server: LiveServer, shop: Shop, lang: str) -> None:
    only, soon, eta, label, button, ships = STRINGS[lang]

    page.goto(_landing_url(live_server, shop, lang, "low"))
    page.wait_for_selector(".bs-badge:not([hidden])")
    assert page.locator(".bs-badge").inner_text() == only
    assert page.locator(".bs-panel").count() == 0

    page.goto(_landing_url(live_server, shop, lang, "out"))
    page.wait_for_selector(".bs-panel")
    assert page.locator(".bs-title").inner_text() == soon
    assert page.locator(".bs-eta").inner_text() == eta
    assert page.locator(".bs-label").inner_text() == label
    assert page.locator(".bs-submit").inner_text() == button
    # The label names the field (accessible name), and the consent text is the merchant's.
    assert page.get_by_label(label).get_attribute("type") == "email"
    store_name = "Northwind Goods (demo)" if lang == "en" else f"Winkel {lang}"
    assert page.locator(".bs-consent").inner_text() == consent_for_locale(lang, store_name).text
    assert page.locator(".bs-badge").is_hidden()
    assert page.locator("#buy-area").evaluate("e => getComputedStyle(e).visibility") == "hidden"
    assert page.locator("#buy-area").get_attribute("aria-hidden") == "true"

    page.goto(_landing_url(live_server, shop, lang, "back"))
    page.wait_for_selector(".bs-note:not([hidden])")
    assert page.locator(".bs-note").inner_text() == ships
    assert page.locator(".bs-panel").count() == 0
    assert page.locator("#buy-area").evaluate("e => getComputedStyle(e).visibility") == "visible"


def test_backorder_without_date_shows_nothing_and_no_form(page: Any, live_server: LiveServer, shop: Shop) -> None:
    page.goto(_product_url(live_server, shop, "backnodate"))
    page.wait_for_function("document.getElementById('backsoon-root').dataset.backsoonReady === '1'")
    assert page.locator(".bs-note").is_hidden()
    assert page.locator(".bs-badge").is_hidden()
    assert page.locator(".bs-panel").count() == 0
    assert page.locator("#add-to-cart").is_visible()


def test_sold_out_without_date_has_form_but_no_eta(page: Any, live_server: LiveServer, shop: Shop) -> None:
    page.goto(_product_url(live_server, shop, "outnodate"))
    page.wait_for_selector(".bs-panel")
    assert page.locator(".bs-title").inner_text() == "Back soon"
    assert page.locator(".bs-eta").count() == 0


def test_honeypot_is_hidden_from_humans_and_screen_readers(page: Any, live_server: LiveServer, shop: Shop) -> None:
    page.goto(_product_url(live_server, shop, "out"))
    page.wait_for_selector(".bs-panel")
    trap = page.locator("input[name=website]")
    assert trap.get_attribute("tabindex") == "-1"
    assert page.locator(".bs-hp").get_attribute("aria-hidden") == "true"
    box = trap.bounding_box()
    assert box is not None and box["x"] + box["width"] < 0
    # Not in the accessibility tree: the snapshot of the form has the email box and checkbox only.
    snapshot = page.locator(".bs-form").aria_snapshot()
    assert "website" not in snapshot.lower() and "textbox" in snapshot and "checkbox" in snapshot


def test_no_layout_shift_when_the_widget_replaces_the_buy_area(page: Any, live_server: LiveServer, shop: Shop) -> None:
    page.route("**/static/widget.*js", lambda route: route.abort())
    page.goto(_product_url(live_server, shop, "out"))
    measure = """() => ['#buy-area', '.demo-tools', '#picker', 'h1'].map(s => {
        const r = document.querySelector(s).getBoundingClientRect();
        return [s, r.x, r.y, r.width, r.height];
    })"""
    before = page.evaluate(measure)
    assert page.locator(".bs-panel").count() == 0
    page.unroute("**/static/widget.*js")
    page.add_script_tag(url=f"{live_server.url}/static/widget.js")
    page.wait_for_selector(".bs-panel")
    after = page.evaluate(measure)
    print("buy area box before/after:", before[0], after[0])
    assert after == before
    panel = page.locator(".bs-panel").bounding_box()
    buy = before[0]
    assert panel is not None
    assert (round(panel["x"]), round(panel["y"]), round(panel["width"])) == (
        round(buy[1]),
        round(buy[2]),
        round(buy[3]),
    )
    # The whole form fits in the reserved box: nothing below is covered.
    assert panel["height"] <= buy[4] + 0.5


def _intercept(page: Any, status: int, body: dict[str, Any]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def handle(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        seen.append(json.loads(route.request.post_data))
        route.fulfill(status=status, content_type="application/json", body=json.dumps(body))

    page.route("**/storefront/v1/stores/*/subscriptions", handle)
    return seen


def test_keyboard_only_signup(page: Any, live_server: LiveServer, shop: Shop) -> None:
    seen = _intercept(page, 202, {"ok": True, "confirm": True, "message": "Check your inbox"})
    page.goto(_product_url(live_server, shop, "out"))
    page.wait_for_selector(".bs-panel")
    page.locator(".bs-email").focus()
    page.keyboard.type("Shopper@Example.com")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "consent"
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # skips the honeypot (tabindex -1)
    assert page.evaluate("document.activeElement.className") == "bs-submit"
    page.keyboard.press("Enter")
    status = page.locator(".bs-status")
    status.filter(has_text="Almost done").wait_for()
    assert status.inner_text() == "Almost done: please confirm with the link we just emailed you."
    assert status.get_attribute("aria-live") == "polite"
    assert seen == [
        {
            "email": "Shopper@Example.com",
            "variant_id": shop.vid("out"),
            "consent": True,
            "consent_version": consent_for_locale("en", "Northwind Goods (demo)").version,
            "locale": "en",
            "source": "widget",
            "website": "",
        }
    ]
    assert page.locator(".bs-form").is_hidden()


def test_enter_in_email_field_submits_without_confirmation_step(page: Any, live_server: LiveServer, shop: Shop) -> None:
    seen = _intercept(page, 202, {"ok": True, "confirm": False, "message": "ok"})
    page.goto(_landing_url(live_server, shop, "nl", "out"))
    page.wait_for_selector(".bs-panel")
    page.locator(".bs-consent input").check()
    page.locator(".bs-email").fill("klant@example.nl")
    page.locator(".bs-email").press("Enter")
    page.locator(".bs-status--ok").filter(has_text="Bedankt").wait_for()
    assert page.locator(".bs-status").inner_text() == "Bedankt! We mailen je zodra het terug is."
    assert [(b["locale"], b["source"], b["consent_version"]) for b in seen] == [
        ("nl", "landing", consent_for_locale("nl", "Winkel nl").version)
    ]


def test_client_side_checks_send_nothing(page: Any, live_server: LiveServer, shop: Shop) -> None:
    seen = _intercept(page, 202, {"ok": True, "confirm": False, "message": "ok"})
    page.goto(_product_url(live_server, shop, "out"))
    page.wait_for_selector(".bs-panel")
    page.locator(".bs-email").fill("not-an-address")
    page.locator(".bs-submit").click()
    assert page.locator(".bs-status").inner_text() == "Please enter a valid email address."
    assert page.locator(".bs-email").get_attribute("aria-invalid") == "true"
    page.locator(".bs-email").fill("ok@example.com")
    page.locator(".bs-submit").click()
    assert page.locator(".bs-status").inner_text() == "Please tick the box to agree."
    assert page.evaluate("document.activeElement.name") == "consent"
    assert seen == []


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "invalid_email", "Please enter a valid email address."),
        (400, "invalid_request", "Something went wrong. Please try again."),
        (429, "too_many_requests", "Too many attempts. Please try again later."),
        (409, "in_stock", "server words"),  # a refusal the shopper can act on: the API's own words
        (400, "consent_required", "server words"),
        (404, "not_found", "Something went wrong. Please try again."),  # English words for developers
        (500, "internal_error", "Something went wrong. Please try again."),
        (503, "unavailable", "Something went wrong. Please try again."),
    ],
)
def test_error_state_from_the_api(
    page: Any, live_server: LiveServer, shop: Shop, status: int, code: str, expected: str
) -> None:
    seen = _intercept(page, status, {"error": {"code": code, "message": "server words"}})
    page.goto(_product_url(live_server, shop, "out"))
    page.wait_for_selector(".bs-panel")
    page.locator(".bs-email").fill("bad@example.com")
    page.locator(".bs-consent input").check()
    page.locator(".bs-submit").click()
    page.locator(".bs-status--error").filter(has_text=expected).wait_for()
    assert page.locator(".bs-status").inner_text() == expected
    assert page.locator(".bs-form").is_visible()
    assert page.locator(".bs-submit").is_enabled()
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "This item is available again — refresh the page to buy it."),
        ("nl", "Dit artikel is weer beschikbaar — vernieuw de pagina om het te kopen."),
        ("fr", "Cet article est de nouveau disponible — actualisez la page pour l'acheter."),
        ("de", "Dieser Artikel ist wieder verfügbar – lade die Seite neu, um ihn zu kaufen."),
    ],
)
def test_signup_against_a_page_that_disagrees_with_our_state_shows_the_servers_refusal(
    page: Any, live_server: LiveServer, shop: Shop, lang: str, expected: str
) -> None:
    """The page shows the item sold out, our state says it can be bought: the real API refuses (409 in_stock) and
    the shopper reads its localised words, not the generic error; no row is stored."""
    page.goto(_landing_url(live_server, shop, lang, "out"))
    page.wait_for_selector(".bs-panel")
    store_id = shop.demo if lang == "en" else shop.stores[lang]
    with live_server.db.session() as s:
        variant = s.scalars(
            select(Variant).where(Variant.store_id == store_id, Variant.external_id == shop.vid("out"))
        ).one()
        state = s.get(StockState, variant.id)
        assert state is not None
        state.status, state.restock_eta, state.eta_source = "in_stock", None, None
        s.commit()
        variant_id = variant.id
        consents_before = len(s.scalars(select(ConsentRecord.id).where(ConsentRecord.store_id == store_id)).all())
    page.locator(".bs-email").fill("shopper@example.com")
    page.locator(".bs-consent input").check()
    with page.expect_response(lambda r: r.url.endswith("/subscriptions")) as answer:
        page.locator(".bs-submit").click()
    page.locator(".bs-status--error").filter(has_text=expected).wait_for()
    assert page.locator(".bs-status").inner_text() == expected
    assert (answer.value.status, answer.value.json()) == (409, {"error": {"code": "in_stock", "message": expected}})
    assert page.locator(".bs-form").is_visible()
    assert page.locator(".bs-submit").is_enabled()
    with live_server.db.session() as s:
        assert s.scalars(select(Subscription).where(Subscription.variant_id == variant_id)).all() == []
        # The demo store has seeded signups of its own: none was added.
        assert len(s.scalars(select(ConsentRecord.id).where(ConsentRecord.store_id == store_id)).all()) == (
            consents_before
        )


def test_variant_switch_on_the_demo_page(page: Any, live_server: LiveServer, shop: Shop) -> None:
    page.goto(_product_url(live_server, shop, "low"))
    page.wait_for_selector(".bs-badge:not([hidden])")
    assert page.locator(".bs-badge").inner_text() == "Only 3 left"
    assert page.locator(".demo-restock:visible").count() == 0

    page.get_by_label("Large", exact=True).check()
    page.wait_for_selector(".bs-panel")
    assert page.locator(".bs-eta").inner_text() == "Expected back around 12 March"
    assert page.locator(".bs-badge").is_hidden()
    assert page.locator("#add-to-cart").is_hidden()
    restock = page.locator(".demo-restock:visible")
    assert restock.count() == 1 and restock.get_attribute("data-variant") == shop.vid("out")
    assert page.url.endswith(f"variant={shop.vid('out')}")

    page.get_by_label("Medium", exact=True).check()
    page.wait_for_selector(".bs-badge:not([hidden])")
    assert page.locator(".bs-badge").inner_text() == "Selling fast"
    assert page.locator(".bs-panel").count() == 0
    assert page.locator("#add-to-cart").is_visible()
    assert page.locator("#buy-area").get_attribute("aria-hidden") is None

    page.get_by_label("XX-Large", exact=True).check()
    page.wait_for_selector(".bs-note:not([hidden])")
    assert page.locator(".bs-note").inner_text() == "Ships around 3 April"


def test_api_fallback_when_the_page_has_no_state(page: Any, live_server: LiveServer, shop: Shop) -> None:
    """A mount without data-states asks GET {api}/products/<ref> (contract shape) and renders from it."""
    api = f"{live_server.url}/fake-api"
    calls: list[str] = []

    def product(route: Any) -> None:
        calls.append(route.request.url)
        body = {
            "store": {"id": 1, "name": "S", "locale": "de", "double_opt_in": True,
                      "consent": {"text": "Ich willige ein.", "version": "c-7"}},
            "product": {"id": "p1", "title": "T", "url": None, "image_url": None},
            "variants": {"v9": {"status": "out_of_stock", "badge": {"kind": "none", "quantity": None},
                                "restock_eta": f"{YEAR}-03-12", "eta_source": "po", "back_soon": True, "v": 1,
                                "title": "S"}},
        }  # fmt: skip
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route(f"{api}/products/p1?locale=de", product)
    page.goto(f"{live_server.url}/demo/shop/")
    page.evaluate(
        """api => {
          document.querySelectorAll('script[src*="/static/widget."]').forEach(s => s.remove());
          const m = document.createElement('div');
          m.id = 'backsoon-root';
          m.dataset.product = 'p1';
          m.dataset.variant = 'v9';
          m.dataset.api = api;
          m.dataset.locale = 'de';
          document.querySelector('main').prepend(m);
        }""",
        api,
    )
    page.add_script_tag(url=f"{live_server.url}/static/widget.js")
    page.wait_for_selector(".bs-panel")
    assert calls == [f"{api}/products/p1?locale=de"]
    assert page.locator(".bs-eta").inner_text() == "Voraussichtlich wieder da um den 12. März"
    assert page.locator(".bs-consent").inner_text() == "Ich willige ein."


def test_data_is_rendered_as_text_never_markup(page: Any, live_server: LiveServer, shop: Shop) -> None:
    page.goto(f"{live_server.url}/demo/shop/")
    page.evaluate(
        """() => {
          const m = document.createElement('div');
          m.id = 'backsoon-root';
          m.dataset.variant = 'x';
          m.dataset.consentText = '<img src=x onerror="window.pwned=1">';
          m.dataset.states = JSON.stringify({x: {status: 'out_of_stock', badge: {kind: 'none', quantity: null},
            restock_eta: null, back_soon: true, v: 1}});
          document.querySelector('main').prepend(m);
        }"""
    )
    page.add_script_tag(url=f"{live_server.url}/static/widget.js")
    page.wait_for_selector(".bs-panel")
    assert page.locator(".bs-consent").inner_text() == '<img src=x onerror="window.pwned=1">'
    assert page.locator(".bs-panel img").count() == 0
    assert page.evaluate("window.pwned") is None


def test_the_merchants_own_words_replace_the_built_in_ones(page: Any, live_server: LiveServer, shop: Shop) -> None:
    from app.models import StoreSetting

    texts = {
        "nl": {
            "only_n_left": "Nog maar [count] stuks",
            "back_soon": "Terug rond [date]",
            "consent": "Ja, mail me één keer over [store].",
        }
    }
    nl_store = shop.stores["nl"]
    with live_server.db.session() as s:
        s.add(StoreSetting(store_id=nl_store, scope="store", values={"texts": texts}))
    page.goto(_landing_url(live_server, shop, "nl", "low"))
    page.wait_for_selector(".bs-badge:not([hidden])")
    assert page.locator(".bs-badge").inner_text() == "Nog maar 3 stuks"

    page.goto(_landing_url(live_server, shop, "nl", "out"))
    page.wait_for_selector(".bs-panel")
    # [date] in the heading carries the ETA, so the separate ETA line is not repeated.
    assert page.locator(".bs-title").inner_text() == "Terug rond 12 maart"
    assert page.locator(".bs-eta").count() == 0
    assert page.locator(".bs-consent").inner_text() == "Ja, mail me één keer over Winkel nl."
    # With no ETA the dated heading would promise nothing: the built-in heading is shown instead.
    page.goto(_landing_url(live_server, shop, "nl", "outnodate"))
    page.wait_for_selector(".bs-panel")
    assert page.locator(".bs-title").inner_text() == "Binnenkort terug"


def test_consent_box_waits_for_its_text_and_the_signup_records_the_words_shown(
    page: Any, live_server: LiveServer, shop: Shop
) -> None:
    """A mount like the Shopify block's: variant states on the page, the consent text from the API. While the text
    is on its way the box is empty and cannot be ticked; once it is there the form carries its version, and the
    stored consent is exactly the label the shopper read."""
    held: list[Any] = []
    page.route(f"**/storefront/v1/stores/{shop.demo}/products/{shop.product}?locale=en", lambda r: held.append(r))
    page.goto(f"{live_server.url}/demo/shop/")
    states = {shop.vid("outnodate"): {"status": "out_of_stock", "badge": {"kind": "none", "quantity": None},
                                      "restock_eta": None, "back_soon": True, "v": 1}}  # fmt: skip
    page.evaluate(
        """([store, product, variant, states]) => {
          document.querySelectorAll('script[src*="/static/widget."], #backsoon-root').forEach(e => e.remove());
          const m = document.createElement('div');
          m.id = 'backsoon-root';
          m.dataset.store = store;
          m.dataset.product = product;
          m.dataset.variant = variant;
          m.dataset.locale = 'en';
          m.dataset.states = JSON.stringify(states);
          document.querySelector('main').prepend(m);
        }""",
        [str(shop.demo), shop.product, shop.vid("outnodate"), states],
    )
    page.add_script_tag(url=f"{live_server.url}/static/widget.js")
    page.wait_for_selector(".bs-panel")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1  # the product document (with the consent text) is still on its way
    box = page.locator(".bs-consent input")
    assert page.locator(".bs-consent").inner_text() == ""
    assert box.is_disabled()
    assert page.locator(".bs-form").get_attribute("data-consent-version") == ""
    held[0].continue_()
    page.wait_for_selector(".bs-consent input:not([disabled])")
    shown = page.locator(".bs-consent").inner_text()
    expected = consent_for_locale("en", "Northwind Goods (demo)")
    assert shown == expected.text
    assert page.locator(".bs-form").get_attribute("data-consent-version") == expected.version

    page.locator(".bs-email").fill("shown-equals-recorded@example.com")
    box.check()
    with page.expect_response(lambda r: r.url.endswith("/subscriptions")) as answer:
        page.locator(".bs-submit").click()
    assert answer.value.status == 202
    with live_server.db.session() as s:
        sub = s.scalars(
            select(Subscription).where(
                Subscription.store_id == shop.demo, Subscription.email == "shown-equals-recorded@example.com"
            )
        ).one()
        [record] = s.scalars(select(ConsentRecord).where(ConsentRecord.subscription_id == sub.id)).all()
        assert (record.text, record.text_version) == (shown, expected.version)


SHIPS_AROUND = {"en": "Ships around ", "nl": "Verzonden rond ", "fr": "Expédié vers le ", "de": "Versand um den "}


def test_the_widget_spells_dates_as_the_python_side_does(page: Any, live_server: LiveServer) -> None:
    """The widget and app.domain.dates.shopper_date share one format per language; the year follows the store's
    today (data-today), not the browser's clock."""
    page.goto(f"{live_server.url}/demo/shop/")
    cases = [*DATE_CASES, ("en", date(2027, 1, 2), "2 January")]
    for lang, day, expected in cases:
        today = "2027-01-01" if day == date(2027, 1, 2) else DATE_TODAY.isoformat()
        page.evaluate(
            """([lang, eta, today]) => {
              document.querySelectorAll('#backsoon-root').forEach(e => e.remove());
              const m = document.createElement('div');
              m.id = 'backsoon-root';
              m.dataset.variant = 'x';
              m.dataset.locale = lang;
              m.dataset.today = today;
              m.dataset.states = JSON.stringify({x: {status: 'backorder', badge: {kind: 'none', quantity: null},
                restock_eta: eta, back_soon: false, v: 1}});
              document.querySelector('main').prepend(m);
              if (window.BackSoonWidget) window.BackSoonWidget.start();
            }""",
            [lang, day.isoformat(), today],
        )
        if not page.evaluate("!!window.BackSoonWidget"):
            page.add_script_tag(url=f"{live_server.url}/static/widget.js")
        page.wait_for_selector(".bs-note:not([hidden])")
        python = shopper_date(day, lang, date.fromisoformat(today))
        assert python == expected
        assert page.locator(".bs-note").inner_text() == SHIPS_AROUND.get(lang, SHIPS_AROUND["en"]) + python


@pytest.mark.parametrize(
    ("lang", "words"),
    [("en", "On its way"), ("nl", "Onderweg"), ("fr", "En cours d’acheminement"), ("de", "Unterwegs")],
)
def test_stock_on_its_way_is_said_without_a_date(page: Any, live_server: LiveServer, lang: str, words: str) -> None:
    """Shopify's incoming quantity has no date: the form and the backorder note say it is coming, never when."""
    page.goto(f"{live_server.url}/demo/shop/")
    states = {
        "out": {"status": "out_of_stock", "badge": {"kind": "none", "quantity": None}, "restock_eta": None,
                "eta_source": None, "back_soon": True, "v": 1, "on_its_way": True},
        "back": {"status": "backorder", "badge": {"kind": "none", "quantity": None}, "restock_eta": None,
                 "eta_source": None, "back_soon": False, "v": 1, "on_its_way": True},
    }  # fmt: skip
    page.evaluate(
        """([lang, states]) => {
          document.querySelectorAll('#backsoon-root').forEach(e => e.remove());
          const m = document.createElement('div');
          m.id = 'backsoon-root';
          m.dataset.variant = 'out';
          m.dataset.locale = lang;
          m.dataset.consentText = 'ok';
          m.dataset.consentVersion = 'c1';
          m.dataset.states = JSON.stringify(states);
          document.querySelector('main').prepend(m);
        }""",
        [lang, states],
    )
    page.add_script_tag(url=f"{live_server.url}/static/widget.js")
    page.wait_for_selector(".bs-panel")
    assert page.locator(".bs-panel .bs-way").inner_text() == words
    assert page.locator(".bs-panel .bs-eta").count() == 1
    page.evaluate("document.getElementById('backsoon-root').dispatchEvent(new CustomEvent('backsoon:variant', "
                  "{detail: {variantId: 'back'}}))")  # fmt: skip
    page.wait_for_selector(".bs-note:not([hidden])")
    assert page.locator(".bs-note").inner_text() == words
    assert page.locator(".bs-panel").count() == 0
