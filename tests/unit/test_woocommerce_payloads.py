"""Every WooCommerce webhook fixture and the REST product/variation/order/refund fixtures map to exact records."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from integrations.base import InventoryRecord, OrderLineRecord, RefundLineRecord, RefundRecord, VariantRecord
from integrations.woocommerce.payloads import (
    DEFAULT_LOCATION_ID,
    OrderDeleted,
    OrderUpdate,
    PayloadError,
    ProductDeleted,
    ProductUpdate,
    UnsupportedTopic,
    VariationUpdate,
    parse_order,
    parse_product,
    parse_refund,
    parse_topic_payload,
    parse_variation,
)
from integrations.woocommerce.webhooks import WooHeaders

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "woocommerce"


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def webhook(name: str) -> Any:
    data = json.loads((ROOT / "webhooks" / name).read_text())
    topic = WooHeaders.from_headers(data["headers"]).topic
    return parse_topic_payload(topic, base64.b64decode(data["body_base64"]))


def rest(name: str) -> Any:
    return json.loads((ROOT / "rest" / name).read_text())["body"]


def simple(update: Any) -> tuple[VariantRecord, InventoryRecord]:
    assert isinstance(update, ProductUpdate)
    assert update.product.kind == "simple"
    (variant,) = update.product.variants
    (inventory,) = update.inventory
    assert variant.external_id == update.product.external_id == inventory.variant_external_id
    assert inventory.location_external_id == DEFAULT_LOCATION_ID == "default"
    return variant, inventory


# --- webhooks ------------------------------------------------------------------------------------------------


def test_01_simple_stock_to_zero() -> None:
    update = webhook("01-product-updated-simple-stock-to-0.json")
    variant, inventory = simple(update)
    assert update.product.title == "Classic Tee"
    assert update.product.handle == "classic-tee"
    assert update.product.url == "http://127.0.0.1:8091/product/classic-tee/"
    assert update.product.collections == ("Apparel",)
    assert update.product.status == "active" and update.product.published
    assert update.product.updated_at == utc(2026, 11, 22, 1, 51, 24)
    assert variant == VariantRecord(
        external_id="10",
        sku="WCF-TEE",
        title="Classic Tee",
        price=Decimal("19.99"),
        tracked=True,
        inventory_policy="deny",
        backorder=False,
        updated_at=utc(2026, 11, 22, 1, 51, 24),
    )
    assert inventory.available == 0
    assert update.stock_status == {"10": "outofstock"}


def test_02_simple_stock_to_five() -> None:
    update = webhook("02-product-updated-simple-stock-to-5.json")
    _, inventory = simple(update)
    assert inventory.available == 5
    assert update.stock_status == {"10": "instock"}
    assert inventory.updated_at == utc(2026, 11, 22, 1, 51, 27)


def test_03_variation_webhook() -> None:
    update = webhook("03-product-updated-variation-stock.json")
    assert isinstance(update, VariationUpdate)
    assert update.parent_external_id == "14"
    assert update.variant.external_id == "15"
    assert update.variant.sku == "WCF-HOODIE-S"
    assert update.variant.title == "S"  # from the options, not the webhook name "Hoodie - S"
    assert update.variant.options == {"Size": "S"}
    # The global attribute's slug names the product page's query parameter that preselects the variation.
    assert update.variant.link_params == {"attribute_pa_size": "S"}
    assert update.variant.price == Decimal("45.00")
    assert not update.variant.stock_from_parent
    assert update.inventory.available == 4
    assert update.stock_status == "instock"
    assert update.variant.updated_at == utc(2026, 11, 22, 1, 51, 31)


def test_04_product_created() -> None:
    update = webhook("04-product-created.json")
    variant, inventory = simple(update)
    assert (update.product.external_id, variant.sku, variant.price) == ("24", "WCF-STICKER", Decimal("4.00"))
    assert inventory.available == 50


def test_05_product_deleted() -> None:
    assert webhook("05-product-deleted-trash.json") == ProductDeleted(external_id="24")


@pytest.mark.parametrize("name", ["06-order-created.json", "07-order-updated-on-create.json"])
def test_06_07_order_created(name: str) -> None:
    update = webhook(name)
    assert isinstance(update, OrderUpdate)
    order = update.order
    assert update.status == "processing" and order.financial_status == "processing"
    assert order.external_id == "25" and order.name == "#25"
    assert order.email == "erin@example.test"
    assert order.customer_external_id is None
    assert order.currency == "USD" and order.total == Decimal("69.99")
    assert order.ordered_at == utc(2026, 11, 22, 1, 51, 42)
    assert order.updated_at == utc(2026, 11, 22, 1, 51, 42)
    assert order.cancelled_at is None
    assert order.lines == (
        OrderLineRecord(external_id="14", variant_external_id="10", quantity=1, price=Decimal("19.99"), sku="WCF-TEE"),
        OrderLineRecord(
            external_id="15", variant_external_id="16", quantity=1, price=Decimal("45"), sku="WCF-HOODIE-M"
        ),
    )
    assert order.refunds == () and update.refund_ids == ()


def test_08_simple_after_order() -> None:
    _, inventory = simple(webhook("08-product-updated-simple-after-order.json"))
    assert inventory.available == 4


def test_09_variation_after_order() -> None:
    update = webhook("09-product-updated-variation-after-order.json")
    assert isinstance(update, VariationUpdate)
    assert (update.parent_external_id, update.variant.external_id, update.inventory.available) == ("14", "16", 2)


def test_10_order_completed() -> None:
    update = webhook("10-order-updated-status-completed.json")
    assert isinstance(update, OrderUpdate)
    assert update.status == "completed"
    assert update.order.updated_at == utc(2026, 11, 22, 1, 51, 46)
    assert update.order.cancelled_at is None


def test_11_variable_parent_stock() -> None:
    update = webhook("11-product-updated-variable-parent-stock.json")
    assert isinstance(update, ProductUpdate)
    assert update.product.kind == "variable"
    assert update.product.variants == () and update.inventory == ()
    assert update.variation_ids == ("15", "16", "17")
    assert update.parent_stock == 6  # what variation 17 (manage_stock "parent") now has; no delivery for it
    assert update.product.updated_at == utc(2026, 11, 22, 1, 52, 14)


# --- REST ----------------------------------------------------------------------------------------------------


def test_rest_simple_instock_and_outofstock() -> None:
    variant, inventory = simple(parse_product(rest("product-simple-instock.json")))
    assert (variant.external_id, inventory.available, variant.backorder) == ("10", 12, False)
    update = parse_product(rest("product-simple-outofstock.json"))
    variant, inventory = simple(update)
    assert (variant.external_id, variant.price, inventory.available) == ("11", Decimal("12.50"), 0)
    assert variant.inventory_policy == "deny" and not variant.backorder
    assert update.stock_status == {"11": "outofstock"}
    assert update.product.collections == ("Accessories",)


def test_rest_backorder_beanie_and_low_stock_tote() -> None:
    by_id = {p["id"]: p for p in rest("products-list-orderby-id-page2.json") + rest("products-list-page2.json")}
    beanie = parse_product(by_id[13])
    variant, inventory = simple(beanie)
    assert variant.sku == "WCF-BEANIE"
    assert variant.backorder and variant.inventory_policy == "continue"
    assert inventory.available == 0
    assert beanie.stock_status == {"13": "onbackorder"}
    variant, inventory = simple(parse_product(by_id[12]))
    assert (variant.sku, inventory.available, variant.backorder) == ("WCF-TOTE", 2, False)


def test_rest_variable_with_variations() -> None:
    update = parse_product(rest("product-variable.json"), rest("product-variations-list.json"))
    product = update.product
    assert (product.external_id, product.title, product.kind) == ("14", "Hoodie", "variable")
    assert [v.external_id for v in product.variants] == ["15", "16", "17"]
    s, m, large = product.variants
    assert [v.title for v in product.variants] == ["S", "M", "L"]
    assert [v.options for v in product.variants] == [{"Size": "S"}, {"Size": "M"}, {"Size": "L"}]
    assert [v.link_params for v in product.variants] == [
        {"attribute_pa_size": "S"},
        {"attribute_pa_size": "M"},
        {"attribute_pa_size": "L"},
    ]
    assert [v.price for v in product.variants] == [Decimal("45.00"), Decimal("45.00"), Decimal("49.00")]
    assert [v.sku for v in product.variants] == ["WCF-HOODIE-S", "WCF-HOODIE-M", "WCF-HOODIE-L"]
    assert not s.stock_from_parent and not m.stock_from_parent
    assert large.stock_from_parent and large.tracked
    assert [(i.variant_external_id, i.available) for i in update.inventory] == [("15", 0), ("16", 3), ("17", 4)]
    assert update.parent_stock == 4
    assert update.stock_status == {"15": "outofstock", "16": "instock", "17": "instock"}
    assert m.updated_at == utc(2026, 11, 22, 1, 50, 25)


def test_parent_stock_wins_for_manage_stock_parent() -> None:
    parent = dict(rest("product-variable.json"), stock_quantity=6)
    update = parse_product(parent, rest("product-variations-list.json"))
    assert {i.variant_external_id: i.available for i in update.inventory} == {"15": 0, "16": 3, "17": 6}


def test_rest_variation_item_alone() -> None:
    item = next(v for v in rest("product-variations-list.json") if v["id"] == 17)
    update = parse_variation(item)
    assert (update.parent_external_id, update.variant.title, update.inventory.available) == ("14", "L", 4)
    assert update.variant.stock_from_parent


def test_variation_of_wrong_parent_refused() -> None:
    variations = [dict(v, parent_id=99) for v in rest("product-variations-list.json")]
    with pytest.raises(PayloadError):
        parse_product(rest("product-variable.json"), variations)


def test_untracked_product() -> None:
    body = dict(rest("product-simple-instock.json"), manage_stock=False, stock_quantity=None)
    variant, inventory = simple(parse_product(body))
    assert not variant.tracked and inventory.available is None


def test_backorders_yes_allows_continue() -> None:
    body = dict(rest("product-simple-outofstock.json"), backorders="yes", backorders_allowed=True)
    variant, _ = simple(parse_product(body))
    assert variant.backorder and variant.inventory_policy == "continue"


def test_rest_orders_list() -> None:
    orders = {o["id"]: parse_order(o) for o in rest("orders-list.json")}
    assert [u.status for u in orders.values()] == ["refunded", "cancelled", "completed", "processing"]
    cancelled = orders[20].order
    assert cancelled.cancelled_at == utc(2026, 11, 22, 1, 50, 8)
    assert cancelled.lines == (
        OrderLineRecord(external_id="8", variant_external_id="10", quantity=2, price=Decimal("19.99"), sku="WCF-TEE"),
    )
    assert orders[19].order.lines[1].variant_external_id == "17"  # the variation, not the parent 14
    assert orders[19].order.lines[0].price == Decimal("24")
    assert orders[21].refund_ids == ("22",) and orders[21].order.refunds == ()
    assert all(u.order.ordered_at == utc(2026, 11, 22, 1, 50, 8) for u in orders.values())


def test_rest_order_single() -> None:
    update = parse_order(rest("order-single.json"))
    order = update.order
    assert (order.external_id, order.email, order.total) == ("18", "alice@example.test", Decimal("87.99"))
    assert [(line.external_id, line.variant_external_id, line.quantity, line.price) for line in order.lines] == [
        ("1", "10", 1, Decimal("19.99")),
        ("2", "16", 1, Decimal("45")),
        ("3", "13", 1, Decimal("18")),
    ]


@pytest.mark.parametrize("name", ["order-refund-get.json", "order-refund-create.json"])
def test_rest_refund(name: str) -> None:
    assert parse_refund(rest(name)) == RefundRecord(
        external_id="22",
        refunded_at=utc(2026, 11, 22, 1, 50, 12),
        lines=(RefundLineRecord(line_external_id="10", quantity=1, restock=False),),
        note="Customer returned the item",
    )


def test_order_with_fetched_refunds_knows_restock() -> None:
    order_21 = next(o for o in rest("orders-list.json") if o["id"] == 21)
    (refund,) = parse_order(order_21, [rest("order-refund-get.json")]).order.refunds
    assert refund.lines == (RefundLineRecord(line_external_id="10", quantity=1, restock=True),)


# --- malformed input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        ("product.updated", b"not json"),
        ("product.updated", b"[]"),
        ("product.updated", b"{}"),
        ("product.updated", b'{"id": 1, "type": "simple", "name": "x", "status": "publish"}'),
        ("product.deleted", b'{"id": "abc"}'),
        ("order.created", b'{"id": 1}'),
        ("order.created", b'{"id": 1, "status": "processing", "line_items": 5}'),
        ("product.updated", b'{"id": 1, "type": "variation", "manage_stock": true}'),
        ("product.updated", b'{"id": 1e999}'),
    ],
)
def test_malformed_raises_payload_error(topic: str, body: bytes) -> None:
    with pytest.raises(PayloadError) as info:
        parse_topic_payload(topic, body)
    assert info.value.topic == topic


def test_order_deleted_and_unsupported_topic() -> None:
    assert parse_topic_payload("order.deleted", b'{"id":25}') == OrderDeleted(external_id="25")
    with pytest.raises(UnsupportedTopic):
        parse_topic_payload("coupon.created", b"{}")


def test_mutated_fixture_fields_refused() -> None:
    body = rest("product-simple-instock.json")
    for key, value in [("price", "abc"), ("stock_quantity", "12"), ("date_modified_gmt", "2026-11-22 01:50:25")]:
        with pytest.raises(PayloadError):
            parse_product(dict(body, **{key: value}))
    order = rest("order-single.json")
    with pytest.raises(PayloadError):
        parse_order(dict(order, date_created_gmt=None))


def test_live_custom_attribute_variation_links_by_its_own_slug() -> None:
    body = json.loads((ROOT / "live-9.4.3" / "variation-27-stock-update.json").read_text())
    update = parse_variation(body)
    # A custom (local) attribute: id 0, slug "color", matched by the variation form as written.
    assert update.variant.options == {"Color": "Grey"}
    assert update.variant.link_params == {"attribute_color": "Grey"}


def test_any_attribute_is_left_out_of_the_link() -> None:
    body = json.loads((ROOT / "live-9.4.3" / "variation-27-stock-update.json").read_text())
    body["attributes"] = [*body["attributes"], {"id": 2, "name": "Size", "slug": "pa_size", "option": ""}]
    assert parse_variation(body).variant.link_params == {"attribute_color": "Grey"}
