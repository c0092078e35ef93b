"""The storefront widget stays small (< 8 KB gzipped, JS and CSS together) and ships identically to Shopify."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "app" / "static"
SHOPIFY_ASSET = ROOT / "integrations" / "shopify" / "extensions" / "backsoon-theme" / "assets" / "backsoon.js"
BUDGET = 8 * 1024


def test_widget_js_and_css_together_are_under_8_kb_gzipped() -> None:
    raw = (STATIC / "widget.js").read_bytes() + (STATIC / "widget.css").read_bytes()
    size = len(gzip.compress(raw, compresslevel=9))
    print(f"widget.js + widget.css: {len(raw)} bytes raw, {size} bytes gzipped (budget {BUDGET})")
    assert size < BUDGET


def test_shopify_theme_asset_is_an_exact_copy_of_the_widget() -> None:
    assert SHOPIFY_ASSET.read_bytes() == (STATIC / "widget.js").read_bytes()


def test_widget_never_writes_markup_from_data() -> None:
    source = (STATIC / "widget.js").read_text()
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", source)


def test_shopify_theme_stylesheet_carries_the_widget_css_verbatim() -> None:
    # The block loads only its own assets/backsoon.css, so the widget's rules must be in it, unchanged.
    sheet = (SHOPIFY_ASSET.parent / "backsoon.css").read_text()
    assert (ROOT / "app" / "static" / "widget.css").read_text() in sheet
