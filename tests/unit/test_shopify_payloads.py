"""Every Shopify webhook fixture: its HMAC verifies over the raw body, and it maps to exact plain records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import Headers

from integrations.base import (
    OrderLineRecord,
    OrderRecord,
    ProductRecord,
    RefundLineRecord,
    RefundRecord,
    StoreInfo,
    VariantRecord,
)
from integrations.shopify.payloads import (
    PRODUCT_WEBHOOK_UNKNOWN_VARIANT_FIELDS,
    SUPPORTED_TOPICS,
    AppScopesUpdate,
    AppUninstalled,
    BulkOperationFinished,
    CustomersDataRequest,
    CustomersRedact,
    InventoryItemUpdate,
    InventoryLevelUpdate,
    PayloadError,
    ProductDeleted,
    RefundCreated,
    ShopRedact,
    UnsupportedTopic,
    WebhookHeaders,
    parse_refund,
    parse_topic_payload,
)
from integrations.shopify.verify import verify_webhook

WEBHOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "shopify" / "webhooks"
FILES = sorted(p.name for p in WEBHOOKS.glob("*.json"))
EDT = timezone(timedelta(hours=-4))  # the demo shop is on America/New_York, in daylight time in October
SHOP = "backsoon-demo.myshopify.com"


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WEBHOOKS / name).read_text(encoding="utf-8"))
    return data


def _body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(_fixture(name)["body_text"])
    return body


def _parse(name: str) -> Any:
    fixture = _fixture(name)
    return parse_topic_payload(fixture["topic"], fixture["body_text"].encode("utf-8"))


def _parse_obj(topic: str, body: Any) -> Any:
    return parse_topic_payload(topic, json.dumps(body).encode())


def _t(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=EDT)


def test_fixture_set() -> None:
    assert len(FILES) == 18
    topics = {_fixture(name)["topic"] for name in FILES}
    assert topics <= SUPPORTED_TOPICS
    assert SUPPORTED_TOPICS - topics == {"orders/updated"}  # covered below with the orders/create body


# --- every fixture: signature and headers ----------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_fixture_hmac_verifies_over_raw_body(name: str) -> None:
    fixture = _fixture(name)
    raw = fixture["body_text"].encode("utf-8")
    headers = WebhookHeaders.from_headers(fixture["headers"])
    assert headers.hmac == fixture["headers"]["X-Shopify-Hmac-Sha256"]
    assert verify_webhook(raw, headers.hmac, [fixture["secret"]])
    assert verify_webhook(raw, headers.hmac, ["shpss_new_secret", fixture["secret"]])  # during rotation
    assert not verify_webhook(raw, headers.hmac, ["shpss_other"])
    reserialized = json.dumps(json.loads(raw)).encode()
    assert not verify_webhook(reserialized, headers.hmac, [fixture["secret"]])  # the raw bytes are what is signed


@pytest.mark.parametrize("name", FILES)
def test_fixture_headers(name: str) -> None:
    fixture = _fixture(name)
    raw_headers = fixture["headers"]
    headers = WebhookHeaders.from_headers(raw_headers)
    assert headers.topic == fixture["topic"]
    assert headers.shop_domain == SHOP
    assert headers.api_version == "2026-10"
    assert headers.webhook_id == raw_headers["X-Shopify-Webhook-Id"]
    assert headers.event_id == raw_headers["X-Shopify-Event-Id"]
    assert headers.triggered_at is not None and headers.triggered_at.tzinfo is not None
    assert headers.triggered_at == datetime.fromisoformat(raw_headers["X-Shopify-Triggered-At"])


@pytest.mark.parametrize("name", FILES)
def test_fixture_parses(name: str) -> None:
    assert _parse(name) is not None


# --- headers -----------------------------------------------------------------------------------------------------


def test_headers_exact_values() -> None:
    headers = WebhookHeaders.from_headers(_fixture("app-scopes_update.json")["headers"])
    assert headers == WebhookHeaders(
        topic="app/scopes_update",
        shop_domain=SHOP,
        webhook_id="22eb7ef7-c22c-57f5-8c81-93e99d5106d6",
        event_id="e24d3d3b-47d7-5a52-9e30-3bdc2ea659e1",
        triggered_at=datetime(2026, 10, 14, 19, 0, 3, 274519, tzinfo=UTC),
        api_version="2026-10",
        hmac="h2YpCUqOhiAacGo0C147SISc6LPfCHohcbu8sMV9dnA=",
    )


def test_headers_documented_triggered_at_format() -> None:
    base = {"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": SHOP, "X-Shopify-Webhook-Id": "w"}
    headers = WebhookHeaders.from_headers({**base, "X-Shopify-Triggered-At": "2025-07-10T16:15:47.000000Z"})
    assert headers.triggered_at == datetime(2025, 7, 10, 16, 15, 47, tzinfo=UTC)
    # Unsigned and informational: a bad or naive value is dropped, the delivery is not.
    for bad in ("yesterday", "2025-07-10T16:15:47", ""):
        assert WebhookHeaders.from_headers({**base, "X-Shopify-Triggered-At": bad}).triggered_at is None
    missing = WebhookHeaders.from_headers(base)
    assert (missing.triggered_at, missing.event_id, missing.api_version, missing.hmac) == (None, None, None, None)


def test_headers_any_case_new_names_and_werkzeug() -> None:
    raw = _fixture("orders-create.json")["headers"]
    expected = WebhookHeaders.from_headers(raw)
    assert WebhookHeaders.from_headers({k.lower(): v for k, v in raw.items()}) == expected
    assert WebhookHeaders.from_headers({k.replace("X-Shopify-", "Shopify-"): v for k, v in raw.items()}) == expected
    assert WebhookHeaders.from_headers(Headers(list(raw.items()))) == expected
    upper = {**raw, "X-Shopify-Shop-Domain": "BackSoon-Demo.myshopify.com", "X-Shopify-Topic": "ORDERS/CREATE"}
    assert WebhookHeaders.from_headers(upper) == expected


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"X-Shopify-Topic": None}, "X-Shopify-Topic"),
        ({"X-Shopify-Topic": "  "}, "X-Shopify-Topic"),
        ({"X-Shopify-Shop-Domain": None}, "X-Shopify-Shop-Domain"),
        ({"X-Shopify-Shop-Domain": "evil.com?x.myshopify.com"}, "X-Shopify-Shop-Domain"),
        ({"X-Shopify-Shop-Domain": "a.myshopify.com.evil.com"}, "X-Shopify-Shop-Domain"),
        ({"X-Shopify-Webhook-Id": None}, "X-Shopify-Webhook-Id"),
        ({"X-Shopify-Webhook-Id": ""}, "X-Shopify-Webhook-Id"),
    ],
)
def test_headers_required(change: dict[str, str | None], field: str) -> None:
    raw = dict(_fixture("orders-create.json")["headers"])
    for key, value in change.items():
        if value is None:
            del raw[key]
        else:
            raw[key] = value
    with pytest.raises(PayloadError) as info:
        WebhookHeaders.from_headers(raw)
    assert info.value.field == field


# --- products ----------------------------------------------------------------------------------------------------


def test_products_create() -> None:
    assert _parse("products-create.json") == ProductRecord(
        external_id="9587413594413",
        title="Linen Café Apron",
        handle="linen-cafe-apron",
        description="<p>Stonewashed linen apron with two pockets.</p>",
        vendor="BackSoon Demo",
        product_type="Aprons",
        kind="simple",
        image_url=None,
        status="active",
        published=True,
        tags=("kitchen", "linen"),
        updated_at=_t(2026, 10, 14, 9, 12, 5),
        variants=(
            VariantRecord(
                external_id="49712345776429",
                sku="LCA-NAT",
                title="Default Title",
                options={},  # the "Title: Default Title" placeholder is no option
                price=Decimal("24.00"),
                inventory_policy="deny",
                position=1,
                inventory_item_id="51823456887605",
                updated_at=_t(2026, 10, 14, 9, 12, 5),
            ),
        ),
    )


def test_products_update() -> None:
    product = _parse("products-update.json")
    assert isinstance(product, ProductRecord)
    assert (product.external_id, product.title, product.handle) == (
        "9587413528877",
        "Merino Crew Sweater",
        "merino-crew-sweater",
    )
    assert product.description == "<p>Soft merino crew neck with ribbed cuffs & hem.</p>"  # \u003c, \u0026 decoded
    assert (product.kind, product.status, product.published) == ("variable", "active", True)
    assert (product.vendor, product.product_type, product.tags) == ("BackSoon Demo", "Sweaters", ("merino", "winter"))
    assert product.updated_at == _t(2026, 10, 14, 10, 42, 19)
    assert product.updated_at.utcoffset() == timedelta(hours=-4)
    rows = [
        (v.external_id, v.sku, v.title, v.options, str(v.price), v.inventory_policy, v.position, v.inventory_item_id)
        for v in product.variants
    ]
    assert rows == [
        ("49712345678125", "MCS-S", "S", {"Size": "S"}, "89.00", "deny", 1, "51823456789301"),
        ("49712345710893", "MCS-M", "M", {"Size": "M"}, "89.00", "deny", 2, "51823456822069"),
        ("49712345743661", "MCS-L", "L", {"Size": "L"}, "94.00", "continue", 3, "51823456854837"),
    ]
    assert [v.updated_at for v in product.variants] == [
        _t(2026, 10, 14, 10, 15, 27),
        _t(2026, 10, 14, 10, 42, 19),
        _t(2026, 10, 1, 16, 5, 44),
    ]


def test_products_update_carries_no_tracking() -> None:
    # Since 2024-07 inventory_management is gone from variants: tracked is unknown here and stays at the
    # dataclass default, which the catalog service must not write over an existing variant.
    body = _body("products-update.json")
    assert all("inventory_management" not in v for v in body["variants"])
    assert PRODUCT_WEBHOOK_UNKNOWN_VARIANT_FIELDS == {"tracked"}
    product = _parse("products-update.json")
    assert all(v.tracked is True for v in product.variants)  # the dataclass default, not a fact from Shopify


def test_product_images_options_and_unpublished() -> None:
    body = _body("products-update.json")
    body["published_at"] = None
    body["status"] = "draft"
    body["tags"] = " merino ,, winter , "
    body["images"] = [
        {"id": 41234567890001, "src": "https://cdn.shopify.com/s/files/1/front.jpg"},
        {"id": 41234567890002, "src": "https://cdn.shopify.com/s/files/1/back.jpg"},
    ]
    body["image"] = body["images"][1]
    body["options"].append({"id": 1, "name": "Colour", "product_id": body["id"], "position": 2, "values": ["Oat"]})
    body["variants"][0].update(option2="Oat", image_id=41234567890001)
    body["variants"][1]["sku"] = None
    product = _parse_obj("products/update", body)
    assert (product.published, product.status, product.tags) == (False, "draft", ("merino", "winter"))
    assert product.image_url == "https://cdn.shopify.com/s/files/1/back.jpg"
    assert product.variants[0].options == {"Size": "S", "Colour": "Oat"}
    assert product.variants[0].image_url == "https://cdn.shopify.com/s/files/1/front.jpg"
    assert (product.variants[1].sku, product.variants[1].image_url) == ("", None)


def test_products_delete() -> None:
    assert _parse("products-delete.json") == ProductDeleted(external_id="9587413299245")


# --- inventory ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "inventory_levels-update-available_0.json",
            InventoryLevelUpdate("51823456789301", "79432187993", 0, _t(2026, 10, 14, 10, 15, 27)),
        ),
        (
            "inventory_levels-update-available_7.json",
            InventoryLevelUpdate("51823456822069", "79432187993", 7, _t(2026, 10, 14, 10, 42, 18)),
        ),
        (
            "inventory_levels-update-available_null.json",
            InventoryLevelUpdate("51823456854837", "79432187993", None, _t(2026, 10, 14, 13, 40, 2)),
        ),
    ],
)
def test_inventory_levels_update(name: str, expected: InventoryLevelUpdate) -> None:
    assert _parse(name) == expected


def test_inventory_level_negative_available_is_kept() -> None:
    body = _body("inventory_levels-update-available_0.json")
    body["available"] = -3  # oversold under a continue policy: a real number, not an error
    assert _parse_obj("inventory_levels/update", body).available == -3


def test_inventory_items_update() -> None:
    assert _parse("inventory_items-update.json") == InventoryItemUpdate(
        inventory_item_id="51823456854837", tracked=False, updated_at=_t(2026, 10, 14, 13, 40, 1), sku="MCS-L"
    )


# --- orders and refunds ------------------------------------------------------------------------------------------

ORDER_1042_LINES = (
    OrderLineRecord("15234567890125", "49712345710893", 1, Decimal("89.00"), "MCS-M"),
    OrderLineRecord("15234567922893", "49712345776429", 2, Decimal("24.00"), "LCA-NAT"),
)


def test_orders_create() -> None:
    assert _parse("orders-create.json") == OrderRecord(
        external_id="6104827363421",
        ordered_at=_t(2026, 10, 14, 10, 42, 16),  # processed_at
        name="#1042",
        email="maya.chen@example.com",
        customer_external_id="8123498765421",
        currency="USD",
        total=Decimal("145.00"),
        financial_status="pending",
        cancelled_at=None,
        updated_at=_t(2026, 10, 14, 10, 42, 18),
        lines=ORDER_1042_LINES,
        refunds=(),
    )


def test_orders_paid() -> None:
    order = _parse("orders-paid.json")
    assert (order.external_id, order.financial_status, order.cancelled_at) == ("6104827363421", "paid", None)
    assert order.updated_at == _t(2026, 10, 14, 11, 5, 9)
    assert order.lines == ORDER_1042_LINES
    assert [str(line.price) for line in order.lines] == ["89.00", "24.00"]


def test_orders_cancelled() -> None:
    assert _parse("orders-cancelled.json") == OrderRecord(
        external_id="6104827396189",
        ordered_at=_t(2026, 10, 13, 18, 3, 10),
        name="#1043",
        email="sam.ortiz@example.com",
        customer_external_id="8123498798189",
        currency="USD",
        total=Decimal("102.00"),
        financial_status="voided",
        cancelled_at=_t(2026, 10, 14, 11, 20, 44),
        updated_at=_t(2026, 10, 14, 11, 20, 45),
        # quantity as ordered (current_quantity is 0): the cancellation is carried by cancelled_at
        lines=(OrderLineRecord("15234567955661", "49712345743661", 1, Decimal("94.00"), "MCS-L"),),
        refunds=(),
    )


def test_orders_updated_uses_the_same_mapping() -> None:
    fixture = _fixture("orders-create.json")
    assert parse_topic_payload("orders/updated", fixture["body_text"].encode()) == _parse("orders-create.json")


REFUND = RefundRecord(
    external_id="1023456789013",
    refunded_at=_t(2026, 10, 14, 12, 2, 37),
    lines=(
        RefundLineRecord("15234567890125", 1, restock=True),  # restock_type "cancel": M goes back on the shelf
        RefundLineRecord("15234567922893", 1, restock=False),  # "no_restock": the damaged apron does not
    ),
    note="Customer changed size; apron arrived damaged",
)


def test_refunds_create() -> None:
    assert _parse("refunds-create.json") == RefundCreated(order_external_id="6104827363421", refund=REFUND)


def test_order_with_embedded_refunds_and_odd_lines() -> None:
    body = _body("orders-create.json")
    body["refunds"] = [_body("refunds-create.json")]
    body["email"] = "  Maya.Chen@Example.COM "
    body["customer"] = None
    body["processed_at"] = None  # falls back to created_at
    body["financial_status"] = None
    body["line_items"][1]["variant_id"] = None  # a custom item has no variant
    order = _parse_obj("orders/updated", body)
    assert order.refunds == (REFUND,)
    assert order.email == "maya.chen@example.com"
    assert order.customer_external_id is None
    assert order.ordered_at == _t(2026, 10, 14, 10, 42, 17)
    assert order.financial_status == ""
    assert order.lines[1].variant_external_id is None


def test_order_email_falls_back_to_contact_email() -> None:
    body = _body("orders-create.json")
    body["email"] = ""
    body["contact_email"] = "Sam@Example.com"
    assert _parse_obj("orders/create", body).email == "sam@example.com"
    body["contact_email"] = None
    assert _parse_obj("orders/create", body).email is None


@pytest.mark.parametrize(
    ("restock_type", "refund_restock", "expected"),
    [
        ("cancel", False, True),
        ("return", False, True),
        ("legacy_restock", False, True),
        ("no_restock", True, False),
        (None, True, True),  # old payloads: the refund-level flag decides
        (None, False, False),
    ],
)
def test_refund_restock(restock_type: str | None, refund_restock: bool, expected: bool) -> None:
    body = _body("refunds-create.json")
    body["restock"] = refund_restock
    body["refund_line_items"][0]["restock_type"] = restock_type
    assert parse_refund(body).lines[0].restock is expected


# --- app lifecycle, compliance, bulk -----------------------------------------------------------------------------


def test_app_uninstalled() -> None:
    assert _parse("app-uninstalled.json") == AppUninstalled(shop_id="68231794771", myshopify_domain=SHOP)
    assert _parse_obj("app/uninstalled", {"id": None, "domain": None}) == AppUninstalled(None, None)


def test_app_scopes_update() -> None:
    assert _parse("app-scopes_update.json") == AppScopesUpdate(
        shop_id="68231794771",  # from gid://shopify/Shop/68231794771
        previous=("read_inventory", "read_orders", "read_products", "write_app_proxy"),
        current=("read_inventory", "read_orders", "read_products", "write_app_proxy", "write_products"),
        updated_at=datetime(2026, 10, 14, 19, 0, 3, tzinfo=UTC),
    )


def test_shop_redact() -> None:
    assert _parse("shop-redact.json") == ShopRedact(shop_id="68231794771", shop_domain=SHOP)


def test_shop_update() -> None:
    info = _parse("shop-update.json")
    assert info == StoreInfo(
        name="BackSoon Demo",
        domain=SHOP,
        timezone="America/New_York",  # iana_timezone, not the display string in `timezone`
        currency="USD",
        locale="en",
        country="US",
        email="owner@example.com",  # the owner; customer_email is what customers see
        # money_in_emails_format "${{amount}}"
        money_format={"pattern": "${amount}", "thousands": ",", "decimal": ".", "decimals": 2},
        extra={"shop_id": "68231794771", "contact_email": "support@example.com", "primary_domain": SHOP},
    )
    assert info.identity() == {
        "name": "BackSoon Demo",
        "admin_email": "owner@example.com",
        "timezone": "America/New_York",
        "currency": "USD",
        "country": "US",
        "locale": "en",
        "money_format": {"pattern": "${amount}", "thousands": ",", "decimal": ".", "decimals": 2},
        "primary_domain": SHOP,  # the body's "domain": the shop has no domain of its own
    }


def test_shop_update_without_optional_values_reports_them_unknown() -> None:
    body = {"name": "Tiny Shop", "myshopify_domain": "Tiny-Shop.myshopify.com", "iana_timezone": None, "email": ""}
    assert _parse_obj("shop/update", body) == StoreInfo(name="Tiny Shop", domain="tiny-shop.myshopify.com")


def test_customers_redact() -> None:
    assert _parse("customers-redact.json") == CustomersRedact(
        shop_id="68231794771",
        shop_domain=SHOP,
        customer_id="8123498798189",
        email="sam.ortiz@example.com",
        phone=None,
        orders_to_redact=("6104827396189",),
    )


def test_customers_data_request() -> None:
    assert _parse("customers-data_request.json") == CustomersDataRequest(
        shop_id="68231794771",
        shop_domain=SHOP,
        customer_id="8123498765421",
        email="maya.chen@example.com",
        phone="+18025550142",
        orders_requested=("6104827363421",),
        data_request_id="2518237",
    )


def test_bulk_operations_finish() -> None:
    assert _parse("bulk_operations-finish.json") == BulkOperationFinished(
        bulk_operation_id="gid://shopify/BulkOperation/5278203822381",
        status="COMPLETED",
        error_code=None,
        type="QUERY",
        created_at=_t(2026, 10, 14, 9, 30, 2),
        completed_at=_t(2026, 10, 14, 9, 31, 10),
    )
    body = _body("bulk_operations-finish.json")
    body.update(status="failed", error_code="access_denied", completed_at=None)
    failed = _parse_obj("bulk_operations/finish", body)
    assert (failed.status, failed.error_code, failed.completed_at) == ("FAILED", "ACCESS_DENIED", None)


# --- malformed bodies --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"null", b"[]", b'"x"', b"\xff\xfe{}", b'{"id": NaN}', b'{"id": Infinity}', b"[" * 100_000],
)
def test_unreadable_bodies(body: bytes) -> None:
    with pytest.raises(PayloadError) as info:
        parse_topic_payload("products/update", body)
    assert info.value.topic == "products/update"


def test_unsupported_topic() -> None:
    with pytest.raises(UnsupportedTopic):
        parse_topic_payload("carts/update", b"{}")
    assert issubclass(UnsupportedTopic, PayloadError)


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target: Any = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is _DELETE:
        target.pop(int(last) if last.isdigit() else last)
    else:
        target[int(last) if last.isdigit() else last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("name", "path", "value", "field"),
    [
        ("products-update.json", "id", _DELETE, "id"),
        ("products-update.json", "id", True, "id"),
        ("products-update.json", "id", 1.5, "id"),
        ("products-update.json", "id", "-1", "id"),
        ("products-update.json", "title", None, "title"),
        ("products-update.json", "updated_at", "2026-10-14T10:42:19", "updated_at"),  # naive
        ("products-update.json", "updated_at", "not a time", "updated_at"),
        ("products-update.json", "variants", {"id": 1}, "variants"),
        ("products-update.json", "variants.0", "x", "variants[0]"),
        ("products-update.json", "variants.1.id", None, "variants[1].id"),
        ("products-update.json", "variants.1.price", "free", "variants[1].price"),
        ("products-update.json", "variants.1.price", "NaN", "variants[1].price"),
        ("products-update.json", "variants.1.price", None, "variants[1].price"),
        ("products-update.json", "variants.2.inventory_policy", "sometimes", "variants[2].inventory_policy"),
        ("products-update.json", "variants.2.inventory_policy", _DELETE, "variants[2].inventory_policy"),
        ("products-update.json", "variants.2.inventory_item_id", "gid", "variants[2].inventory_item_id"),
        ("products-update.json", "variants.0.position", -1, "variants[0].position"),
        ("products-update.json", "options.0", 7, "options[0]"),
        ("products-update.json", "tags", ["a"], "tags"),
        ("products-delete.json", "id", None, "id"),
        ("inventory_levels-update-available_7.json", "available", _DELETE, "available"),
        ("inventory_levels-update-available_7.json", "available", "7", "available"),
        ("inventory_levels-update-available_7.json", "available", 7.0, "available"),
        ("inventory_levels-update-available_7.json", "location_id", None, "location_id"),
        ("inventory_levels-update-available_7.json", "inventory_item_id", _DELETE, "inventory_item_id"),
        ("inventory_levels-update-available_7.json", "updated_at", None, "updated_at"),
        ("inventory_items-update.json", "tracked", None, "tracked"),
        ("inventory_items-update.json", "tracked", "false", "tracked"),
        ("inventory_items-update.json", "id", _DELETE, "id"),
        ("orders-create.json", "line_items", None, None),  # no lines is allowed: checked separately below
        ("orders-create.json", "line_items", "x", "line_items"),
        ("orders-create.json", "line_items.0.quantity", "1", "line_items[0].quantity"),
        ("orders-create.json", "line_items.0.quantity", -1, "line_items[0].quantity"),
        ("orders-create.json", "line_items.0.quantity", _DELETE, "line_items[0].quantity"),
        ("orders-create.json", "line_items.1.variant_id", "abc", "line_items[1].variant_id"),
        ("orders-create.json", "line_items.1.price", None, "line_items[1].price"),
        ("orders-create.json", "line_items.1.id", None, "line_items[1].id"),
        ("orders-create.json", "customer", "maya", "customer"),
        ("orders-create.json", "customer.id", "maya", "customer.id"),
        ("orders-create.json", "email", 42, "email"),
        ("orders-create.json", "currency", None, "currency"),
        ("orders-create.json", "total_price", "lots", "total_price"),
        ("orders-create.json", "cancelled_at", "soon", "cancelled_at"),
        ("orders-create.json", "updated_at", _DELETE, "updated_at"),
        ("orders-create.json", "refunds", [{"id": 1}], "refunds[0].created_at"),
        ("refunds-create.json", "order_id", None, "order_id"),
        ("refunds-create.json", "refund_line_items.1.line_item_id", None, "refund_line_items[1].line_item_id"),
        ("refunds-create.json", "refund_line_items.1.quantity", 1.0, "refund_line_items[1].quantity"),
        ("refunds-create.json", "refund_line_items.1.restock_type", 0, "refund_line_items[1].restock_type"),
        ("app-scopes_update.json", "current", None, "current"),
        ("app-scopes_update.json", "previous", [1], "previous[0]"),
        ("app-scopes_update.json", "shop_id", "gid://shopify/Shop/x", "shop_id"),
        ("shop-redact.json", "shop_domain", "evil.com?x.myshopify.com", "shop_domain"),
        ("shop-redact.json", "shop_id", None, "shop_id"),
        ("shop-update.json", "name", None, "name"),
        ("shop-update.json", "myshopify_domain", _DELETE, "myshopify_domain"),
        ("shop-update.json", "myshopify_domain", "evil.example", "myshopify_domain"),
        ("shop-update.json", "iana_timezone", 5, "iana_timezone"),
        ("shop-update.json", "currency", ["EUR"], "currency"),
        ("shop-update.json", "primary_locale", None, None),  # unknown, not an error
        ("shop-update.json", "id", "shop", "id"),
        ("customers-redact.json", "customer", None, "customer"),
        ("customers-redact.json", "orders_to_redact", [True], "orders_to_redact[0]"),
        ("customers-data_request.json", "orders_requested", "6104827363421", "orders_requested"),
        ("customers-data_request.json", "data_request", [], "data_request"),
        ("bulk_operations-finish.json", "admin_graphql_api_id", "gid://shopify/Product/1", "admin_graphql_api_id"),
        ("bulk_operations-finish.json", "status", None, "status"),
    ],
)
def test_malformed_fields(name: str, path: str, value: Any, field: str | None) -> None:
    fixture = _fixture(name)
    body = json.loads(fixture["body_text"])
    _set(body, path, value)
    raw = json.dumps(body).encode()
    if field is None:
        assert parse_topic_payload(fixture["topic"], raw) is not None
        return
    with pytest.raises(PayloadError) as info:
        parse_topic_payload(fixture["topic"], raw)
    assert (info.value.field, info.value.topic) == (field, fixture["topic"])


def test_order_without_lines_is_an_order_without_lines() -> None:
    body = _body("orders-create.json")
    del body["line_items"]
    assert _parse_obj("orders/create", body).lines == ()


def test_numeric_string_ids_are_accepted() -> None:
    body = _body("inventory_levels-update-available_7.json")
    body.update(inventory_item_id="51823456822069", location_id="079432187993")
    level = _parse_obj("inventory_levels/update", body)
    assert (level.inventory_item_id, level.location_id) == ("51823456822069", "79432187993")


def test_money_as_json_number_stays_exact() -> None:
    fixture = _fixture("orders-create.json")
    raw = fixture["body_text"].replace('"price":"24.00"', '"price":24.10', 1).encode()
    order = parse_topic_payload("orders/create", raw)
    assert str(order.lines[1].price) == "24.10"  # parsed as Decimal, never through float
