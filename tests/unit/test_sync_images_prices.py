"""The image and price an email shows come from the sync: WooCommerce REST bodies (images, a variation's image,
price) and Shopify's bulk product lines (featuredMedia, price) map onto the records the catalog stores."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from integrations.shopify.bulk import map_product, map_variant
from integrations.woocommerce.payloads import parse_product, parse_variation

REST = Path(__file__).resolve().parents[1] / "fixtures" / "woocommerce" / "rest"
TEE = "https://shop.example.nl/wp-content/uploads/2026/11/classic-tee.jpg"
HOODIE_L = "https://shop.example.nl/wp-content/uploads/2026/11/hoodie-large.jpg"


def body(name: str) -> Any:
    return json.loads((REST / name).read_text())["body"]


def wc_image(image_id: int, src: str, name: str) -> dict[str, Any]:
    """An entry of a WooCommerce 9.4 product's "images" (or a variation's "image"), as its REST API writes it."""
    return {
        "id": image_id,
        "date_created": "2026-11-21T20:49:36",
        "date_created_gmt": "2026-11-22T01:49:36",
        "date_modified": "2026-11-21T20:49:36",
        "date_modified_gmt": "2026-11-22T01:49:36",
        "src": src,
        "name": name,
        "alt": "",
    }


def test_woocommerce_simple_product_carries_its_first_image_and_price() -> None:
    data = copy.deepcopy(body("product-simple-instock.json"))
    data["images"] = [wc_image(41, TEE, "classic-tee"), wc_image(42, TEE.replace("tee", "tee-back"), "back")]
    update = parse_product(data)
    assert update.product.image_url == TEE
    assert [(v.price, v.image_url) for v in update.product.variants] == [(Decimal("19.99"), TEE)]


def test_woocommerce_variation_carries_its_own_image_and_price() -> None:
    item = copy.deepcopy(body("product-variations-list.json")[0])
    item["image"] = wc_image(57, HOODIE_L, "hoodie-large")
    variation = parse_variation(item)
    assert (variation.variant.price, variation.variant.image_url) == (Decimal("49.00"), HOODIE_L)


def test_shopify_bulk_product_line_carries_featured_media_and_the_variant_price() -> None:
    image = "https://cdn.shopify.com/s/files/1/0712/3456/7890/files/merino-crew-sweater.jpg?v=1728912139"
    variant_line = {
        "id": "gid://shopify/ProductVariant/49712345710893",
        "title": "M",
        "sku": "MCS-M",
        "price": "89.00",
        "inventoryPolicy": "DENY",
        "inventoryQuantity": 7,
        "updatedAt": "2026-10-14T14:42:19Z",
        "inventoryItem": {"id": "gid://shopify/InventoryItem/51823456822069", "tracked": True},
        "__parentId": "gid://shopify/Product/9587413528877",
    }
    product_line = {
        "id": "gid://shopify/Product/9587413528877",
        "title": "Merino Crew Sweater",
        "handle": "merino-crew-sweater",
        "status": "ACTIVE",
        "updatedAt": "2026-10-14T14:42:19Z",
        "featuredMedia": {"preview": {"image": {"url": image}}},
    }
    variant = map_variant(variant_line)
    product = map_product(product_line, [variant])
    assert product.image_url == image
    assert product.variants[0].price == Decimal("89.00")
