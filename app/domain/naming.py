"""How a variant is named beside its product in emails, pages and the admin."""

from __future__ import annotations

# Shopify names the only variant of a product without options "Default Title".
_DEFAULT_VARIANT_TITLES = frozenset({"", "default title", "default"})


def variant_label(product_title: str | None, variant_title: str | None) -> str:
    """The variant's own name to show after its product's, or "" when it has none of its own."""
    label = (variant_title or "").strip()
    # A WooCommerce simple product's one variant carries the product's name: showing it twice says nothing.
    if label.lower() in _DEFAULT_VARIANT_TITLES or label.casefold() == (product_title or "").strip().casefold():
        return ""
    return label
