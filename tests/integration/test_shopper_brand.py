"""The shopper pages in the store's brand on real PostgreSQL: its name, colour and logo, the way back to the product,
no developer links, friendly answers to harmless repeats, and the Brand settings that feed them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import Database
from app.infra.links import new_confirm_token, unsubscribe_url
from app.models import Product, Store
from app.models.waitlist import ConsentRecord, Subscription
from app.services.merchant.identity import record_reported
from app.web.admin.auth import session_fields
from tests.factories import make_store, make_variant

pytestmark = pytest.mark.integration

SECRET = "brand-secret"
APP_URL = "https://app.example"
PERMALINK = "https://tulpen.example/product/enamel-mug/"
REPORTED_LOGO = "https://tulpen.example/wp-content/uploads/2026/11/logo.png"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_BACK = re.compile(r'<a href="([^"]*)" data-back-to-store>([^<]*)</a>')
_H1 = re.compile(r'<h1 id="page-title">([^<]*)</h1>')


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Links signed with SECRET on the test app URL."""
    return {"secret_key": SECRET, "app_url": APP_URL}


@dataclass
class Shop:
    client: FlaskClient
    db: Database
    store_id: int
    sub_id: int
    confirm_token: str

    def unsubscribe_path(self) -> str:
        return unsubscribe_url(APP_URL, SECRET, self.sub_id).removeprefix(APP_URL)

    def store(self) -> Store:
        with self.db.session() as s:
            store = s.get(Store, self.store_id)
            assert store is not None
            s.expunge(store)
            return store

    def state(self) -> str:
        with self.db.session() as s:
            sub = s.get(Subscription, self.sub_id)
            assert sub is not None
            return sub.state

    def sign_in(self) -> None:
        with self.client.session_transaction() as sess:
            sess.update(session_fields(self.store_id, 0))

    def save_brand(self, colour: str, logo: str) -> Any:
        match = _CSRF.search(self.client.get("/admin/settings").get_data(as_text=True))
        assert match is not None
        data = {"csrf_token": match.group(1), "brand_primary_colour": colour, "brand_logo_url": logo}
        return self.client.post("/admin/settings/brand", data=data)


@pytest.fixture
def shop(db: Database, client: FlaskClient) -> Shop:
    raw, digest = new_confirm_token()
    with db.session() as s:
        # Named the way a connect names it: by what WooCommerce reports, not by a seeded column.
        store = make_store(s, platform="woocommerce", domain="https://tulpen.example", name="")
        record_reported(store, {"name": "Tulpen Winkel", "locale": "en"}, datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
        product = Product(store_id=store.id, external_id="11", title="Enamel Mug", url=PERMALINK)
        s.add(product)
        s.flush()
        variant = make_variant(s, store, qty=0, product=product, title="Enamel Mug")
        sub = Subscription(
            store_id=store.id,
            variant_id=variant.id,
            email="ann@example.com",
            locale="en",
            state="pending_confirmation",
            confirm_token_hash=digest,
            confirm_expires_at=datetime.now(UTC) + timedelta(hours=48),
            confirm_sent_at=datetime.now(UTC),
        )
        s.add(sub)
        s.flush()
        s.add(
            ConsentRecord(
                store_id=store.id,
                subscription_id=sub.id,
                kind="signup",
                text_version="v1",
                text="Mail me.",
                given_at=datetime.now(UTC),
            )
        )
        s.commit()
        ids = (store.id, sub.id)
    return Shop(client, db, ids[0], ids[1], raw)


def h1(page: str) -> str:
    found = _H1.search(page)
    assert found is not None
    return found.group(1)


def assert_no_developer_links(page: str) -> None:
    assert "/openapi.json" not in page and "/healthz" not in page
    assert "API (OpenAPI)" not in page and ">Health<" not in page


def test_the_confirm_page_is_the_stores_with_a_way_back_to_the_product(shop: Shop) -> None:
    resp = shop.client.get(f"/c/{shop.confirm_token}")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert '<html lang="en">' in page
    assert "<title>Confirm your email · Tulpen Winkel</title>" in page
    assert '<p class="shopper-store" data-store-name>Tulpen Winkel</p>' in page
    assert h1(page) == "Confirm your email"
    assert '<button type="submit" class="shopper-button">Confirm</button>' in page
    assert _BACK.findall(page) == [(PERMALINK, "Back to Tulpen Winkel")]
    assert '<div class="shopper-wrap">Restock alerts by BackSoon</div>' in page
    assert_no_developer_links(page)
    # Nothing set: the neutral look, no logo.
    assert ":root { --brand: #1f2933; --on-brand: #ffffff; --link: #1f2933; }" in page
    assert "data-brand-colour" not in page and "<img" not in page
    assert shop.state() == "pending_confirmation"


def test_the_merchants_colour_and_logo_are_drawn_and_the_text_colour_follows(shop: Shop) -> None:
    shop.sign_in()
    resp = shop.save_brand("#FFD60A", "https://cdn.tulpen.example/logo.svg")
    assert resp.status_code == 302
    assert shop.store().brand == {"primary_colour": "#ffd60a", "logo_url": "https://cdn.tulpen.example/logo.svg"}
    page = shop.client.get(f"/c/{shop.confirm_token}").get_data(as_text=True)
    # A light yellow: black text on it, and links in the neutral colour (yellow on white would not read).
    assert ":root { --brand: #ffd60a; --on-brand: #000000; --link: #1f2933; }" in page
    assert 'data-brand-colour="#ffd60a"' in page
    assert (
        '<img class="shopper-logo" src="https://cdn.tulpen.example/logo.svg" alt="" referrerpolicy="no-referrer" '
        'data-logo-source="merchant">'
    ) in page
    settings = shop.client.get("/admin/settings").get_data(as_text=True)
    assert 'id="brand_primary_colour" name="brand_primary_colour" type="text" value="#ffd60a"' in settings
    assert "text on your colour has a contrast of 14.9:1" in settings
    assert 'style="background: #ffd60a; color: #000000;"' in settings


def test_the_logo_the_store_reports_applies_until_the_merchant_sets_one(shop: Shop) -> None:
    with shop.db.session() as s:
        store = s.get(Store, shop.store_id)
        assert store is not None
        record_reported(store, {"logo_url": REPORTED_LOGO}, datetime(2026, 12, 7, 10, 0, tzinfo=UTC))
        s.commit()
    page = shop.client.get(f"/c/{shop.confirm_token}").get_data(as_text=True)
    assert f'src="{REPORTED_LOGO}" alt="" referrerpolicy="no-referrer" data-logo-source="platform"' in page
    shop.sign_in()
    settings = shop.client.get("/admin/settings").get_data(as_text=True)
    assert (
        "Without a logo here, your WordPress site logo (Appearance → Customize → Site Identity, or a block "
        "theme&#39;s Site Logo block) is used; BackSoon reads it with the store&#39;s other settings once a day. "
        f"Your store's own logo: <span data-reported-logo>{REPORTED_LOGO}</span>."
    ) in settings
    assert shop.save_brand("", "https://cdn.tulpen.example/mine.png").status_code == 302
    page = shop.client.get(f"/c/{shop.confirm_token}").get_data(as_text=True)
    assert 'src="https://cdn.tulpen.example/mine.png"' in page and REPORTED_LOGO not in page


@pytest.mark.parametrize(
    ("colour", "logo", "errors"),
    [
        ("blue", "", ["Not a colour: use a hex colour such as #1a73e8."]),
        ("#12345", "", ["Not a colour: use a hex colour such as #1a73e8."]),
        (
            "#1a73e8",
            "http://tulpen.example/logo.png",
            ["Not a logo address: use an https:// address of an image, such as https://shop.example/logo.png."],
        ),
        (
            "#1a73e8",
            'https://tulpen.example/a.png" onerror="alert(1)',
            ["Not a logo address: use an https:// address of an image, such as https://shop.example/logo.png."],
        ),
        (
            "red;}body{display:none",
            "javascript:alert(1)",
            [
                "Not a colour: use a hex colour such as #1a73e8.",
                "Not a logo address: use an https:// address of an image, such as https://shop.example/logo.png.",
            ],
        ),
    ],
)
def test_a_bad_colour_or_logo_is_refused_next_to_its_field_and_nothing_is_saved(
    shop: Shop, colour: str, logo: str, errors: list[str]
) -> None:
    shop.sign_in()
    assert shop.save_brand("#0b6e4f", "").status_code == 302  # a brand saved before
    resp = shop.save_brand(colour, logo)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert re.findall(r'<p class="field-error" id="brand_[a-z_]+-error">([^<]*)</p>', page) == errors
    assert f"Nothing was saved: {len(errors)} field" in page
    assert shop.store().brand == {"primary_colour": "#0b6e4f"}
    shown = shop.client.get(f"/c/{shop.confirm_token}").get_data(as_text=True)
    assert ":root { --brand: #0b6e4f; --on-brand: #ffffff; --link: #0b6e4f; }" in shown


def test_clearing_both_fields_goes_back_to_the_neutral_look(shop: Shop) -> None:
    shop.sign_in()
    assert shop.save_brand("#0b6e4f", "https://cdn.tulpen.example/logo.png").status_code == 302
    assert shop.save_brand(" ", "").status_code == 302
    assert shop.store().brand is None
    page = shop.client.get(f"/c/{shop.confirm_token}").get_data(as_text=True)
    assert ":root { --brand: #1f2933;" in page and "<img" not in page


def test_a_shopify_store_is_told_its_brand_is_set_here_only(db: Database, client: FlaskClient) -> None:
    with db.session() as s:
        store = make_store(s, platform="shopify", domain="tulpen.myshopify.com", name="Tulpen")
        s.commit()
        store_id = store.id
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, 0))
    page = client.get("/admin/settings").get_data(as_text=True)
    assert (
        "Shopify&#39;s Admin API has no brand field, so BackSoon cannot read your logo or colours from Shopify: "
        "set them here."
    ) in page
    assert "data-reported-logo" not in page


def test_confirming_twice_says_you_are_already_on_the_list(shop: Shop) -> None:
    first = shop.client.post(f"/c/{shop.confirm_token}")
    assert first.status_code == 200 and h1(first.get_data(as_text=True)) == "You&#39;re on the list"
    for again in (shop.client.post(f"/c/{shop.confirm_token}"), shop.client.get(f"/c/{shop.confirm_token}")):
        page = again.get_data(as_text=True)
        assert again.status_code == 200
        assert h1(page) == "You&#39;re already on the list for Enamel Mug"
        assert (
            "<p data-message>Nothing more to do: we&#39;ll email you once when it&#39;s back in stock at "
            "Tulpen Winkel.</p>"
        ) in page
        assert _BACK.findall(page) == [(PERMALINK, "Back to Tulpen Winkel")]
        assert_no_developer_links(page)
    with shop.db.session() as s:
        assert [r.kind for r in s.scalars(select(ConsentRecord).order_by(ConsentRecord.id))] == [
            "signup",
            "confirmation",
        ]


def test_unsubscribing_twice_says_you_are_already_unsubscribed(shop: Shop) -> None:
    path = shop.unsubscribe_path()
    shown = shop.client.get(path)
    assert shown.status_code == 200 and h1(shown.get_data(as_text=True)) == "Unsubscribe"
    assert '<button type="submit" class="shopper-button">Unsubscribe</button>' in shown.get_data(as_text=True)
    first = shop.client.post(path)
    assert first.status_code == 200 and h1(first.get_data(as_text=True)) == "You&#39;re unsubscribed"
    for again in (shop.client.post(path), shop.client.get(path)):
        page = again.get_data(as_text=True)
        assert again.status_code == 200
        assert h1(page) == "You&#39;re already unsubscribed"
        assert "<p data-message>You will get no back-in-stock email from Tulpen Winkel for Enamel Mug.</p>" in page
        assert _BACK.findall(page) == [(PERMALINK, "Back to Tulpen Winkel")]
    # An old confirmation link after unsubscribing neither signs up again nor errs.
    stale = shop.client.post(f"/c/{shop.confirm_token}")
    assert stale.status_code == 200 and h1(stale.get_data(as_text=True)) == "You&#39;re already unsubscribed"
    assert shop.state() == "unsubscribed"


def test_an_expired_link_is_a_kind_410_with_the_way_back(shop: Shop) -> None:
    with shop.db.session() as s:
        sub = s.get(Subscription, shop.sub_id)
        assert sub is not None
        sub.confirm_expires_at = datetime.now(UTC) - timedelta(minutes=1)
        s.commit()
    resp = shop.client.post(f"/c/{shop.confirm_token}")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 410
    assert h1(page) == "This link has expired"
    assert (
        "<p data-message>This confirmation link has expired. Sign up again on the product page for a new one.</p>"
        in page
    )
    assert _BACK.findall(page) == [(PERMALINK, "Back to Tulpen Winkel")]
    assert_no_developer_links(page)
    assert shop.state() == "pending_confirmation"


@pytest.mark.parametrize("path", ["/c/not-a-token", "/u/forged.token", "/c/" + "x" * 500])
def test_an_unknown_link_is_a_kind_404_without_a_store_to_name(shop: Shop, path: str) -> None:
    for resp in (shop.client.get(path), shop.client.post(path)):
        page = resp.get_data(as_text=True)
        assert resp.status_code == 404 and resp.mimetype == "text/html"
        assert h1(page) == "This link doesn&#39;t work"
        assert (
            "<p data-message>It may have been cut short when it was copied. Open it again from the email, or sign "
            "up again on the product page.</p>"
        ) in page
        assert "data-back-to-store" not in page and "data-store-name" not in page
        assert_no_developer_links(page)
    assert shop.state() == "pending_confirmation"


def test_a_shopper_language_without_texts_falls_back_to_the_stores(shop: Shop) -> None:
    with shop.db.session() as s:
        sub = s.get(Subscription, shop.sub_id)
        store = s.get(Store, shop.store_id)
        assert sub is not None and store is not None
        sub.locale = "es"  # signed up on a Spanish storefront: no Spanish texts yet
        record_reported(store, {"locale": "de_DE"}, datetime(2026, 12, 7, 11, 0, tzinfo=UTC))
        s.commit()
    page = shop.client.get(f"/c/{shop.confirm_token}").get_data(as_text=True)
    assert '<html lang="de">' in page
    assert h1(page) == "E-Mail-Adresse bestätigen"
    assert _BACK.findall(page) == [(PERMALINK, "Zurück zu Tulpen Winkel")]
    assert '<div class="shopper-wrap">Wieder-da-Benachrichtigungen von BackSoon</div>' in page


def test_an_unknown_link_speaks_the_browsers_language(shop: Shop) -> None:
    resp = shop.client.get("/u/forged.token", headers={"Accept-Language": "nl-BE,nl;q=0.9,en;q=0.5"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 404 and '<html lang="nl">' in page
    assert h1(page) == "Deze link werkt niet"
