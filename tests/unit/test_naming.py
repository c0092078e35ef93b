from __future__ import annotations

import pytest

from app.domain.naming import variant_label


@pytest.mark.parametrize(
    ("product", "variant", "label"),
    [
        ("Merino Beanie", "Blue", "Blue"),
        ("Merino Beanie", " Blue ", "Blue"),
        ("Hoodie", "S / Black", "S / Black"),
        # Shopify's only variant of a product without options
        ("Hoodie", "Default Title", ""),
        ("Hoodie", "default", ""),
        # A WooCommerce simple product's one variant carries the product's name
        ("Stoneware Mug", "Stoneware Mug", ""),
        ("Stoneware Mug", "stoneware mug ", ""),
        ("Stoneware Mug", "", ""),
        ("Stoneware Mug", None, ""),
        (None, "Blue", "Blue"),
    ],
)
def test_variant_label(product: str | None, variant: str | None, label: str) -> None:
    assert variant_label(product, variant) == label
