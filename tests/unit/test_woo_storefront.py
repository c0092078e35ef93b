"""WooCommerce storefront meta payloads (pure) and the client's variations batch call."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
import responses

from integrations.shopify.storefront import state_value
from integrations.woocommerce.client import BatchItemError, WooClient
from integrations.woocommerce.storefront import META_KEY, meta_update, meta_value, woo_id

STORE = "https://shop.example"
OUT = {
    "status": "out_of_stock",
    "badge_kind": "none",
    "badge_quantity": None,
    "restock_eta": date(2026, 10, 28),
    "eta_source": "lead_time",
}


def public_resolver(*_args: Any, **_kwargs: Any) -> list[tuple[Any, ...]]:
    return [(2, 1, 6, "", ("93.184.216.34", 443))]


def test_meta_value_is_the_shopify_metafield_document_as_compact_sorted_json() -> None:
    value = meta_value(OUT)
    assert value == (
        '{"back_soon":true,"badge":{"kind":"none","quantity":null},"eta_source":"lead_time",'
        '"restock_eta":"2026-10-28","status":"out_of_stock","v":1}'
    )
    assert json.loads(value) == state_value(OUT)


def test_meta_update_names_the_item_and_replaces_the_meta_by_key() -> None:
    low = {"status": "low_stock", "badge_kind": "only_n_left", "badge_quantity": 2}
    assert meta_update("16", low) == {
        "id": 16,
        "meta_data": [
            {
                "key": "_backsoon_state",
                "value": '{"back_soon":false,"badge":{"kind":"only_n_left","quantity":2},"eta_source":null,'
                '"restock_eta":null,"status":"low_stock","v":1}',
            }
        ],
    }
    assert META_KEY == "_backsoon_state"


@pytest.mark.parametrize("bad", ["", "v12", "12/../orders", "0", "-3", "gid://shopify/ProductVariant/1"])
def test_non_woocommerce_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a WooCommerce id"):
        woo_id(bad)
    with pytest.raises(ValueError):
        meta_update(bad, OUT)


@responses.activate
def test_variations_batch_posts_to_the_parent_and_surfaces_item_errors() -> None:
    url = STORE + "/wp-json/wc/v3/products/14/variations/batch"
    refused = {"id": 99, "error": {"code": "woocommerce_rest_product_variation_invalid_id", "message": "Invalid ID.",
                                   "data": {"status": 400}}}  # fmt: skip
    responses.add("POST", url, json={"update": [{"id": 15}, refused]})
    responses.add("POST", url, json={"update": []})
    client = WooClient(STORE, "ck", "cs", resolver=public_resolver, sleep=lambda _s: None)
    errors = client.batch_update_variations(14, [{"id": i} for i in range(1, 131)])
    assert [len(json.loads(c.request.body or b"{}")["update"]) for c in responses.calls] == [100, 30]
    assert errors == [
        BatchItemError(
            action="update",
            id="99",
            code="woocommerce_rest_product_variation_invalid_id",
            message="Invalid ID.",
            status=400,
        )
    ]
    with pytest.raises(ValueError):
        client.batch_update_variations("14/../../orders", [{"id": 1}])
