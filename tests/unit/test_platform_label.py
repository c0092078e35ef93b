"""Each platform names itself for the merchant admin's sentences ("from Shopify", "WooCommerce says EUR")."""

from __future__ import annotations

from app.platforms import registry


def test_each_platform_has_its_label() -> None:
    assert {name: p.label for name, p in registry.PLATFORMS.items()} == {
        "shopify": "Shopify",
        "woocommerce": "WooCommerce",
        "demo": "the demo store",
    }
