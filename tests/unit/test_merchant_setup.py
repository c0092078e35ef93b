"""The next setup step after connecting: the theme editor deep link, the plugin and its store key, the zip."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from app.config import Settings
from app.models import Store
from app.platforms import registry
from app.platforms.base import NextStep
from app.services.merchant.setup import revoke_notice
from integrations.shopify.app_config import APP_EMBED_HANDLE, app_embed_editor_url

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = ROOT / "integrations" / "shopify" / "extensions" / "backsoon-theme" / "blocks"
SETTINGS = Settings(env="test", app_url="https://backsoon.example/", shopify_api_key="a1b2c3d4e5")


def test_theme_editor_deep_link_is_shopifys_documented_app_embed_link() -> None:
    assert app_embed_editor_url("shop-1.myshopify.com", "a1b2c3d4e5") == (
        "https://shop-1.myshopify.com/admin/themes/current/editor?context=apps&activateAppId=a1b2c3d4e5/app-embed"
    )
    # The handle is the embed block's file name, and that block is an app embed (target body).
    embed = (BLOCKS / f"{APP_EMBED_HANDLE}.liquid").read_text()
    match = re.search(r"{% schema %}(.*?){% endschema %}", embed, re.S)
    assert match is not None and json.loads(match.group(1))["target"] == "body"


def test_next_step_per_platform() -> None:
    woo = Store(id=12, platform="woocommerce", domain="https://shop.example.com")
    shop = Store(id=13, platform="shopify", domain="shop-1.myshopify.com")
    demo = Store(id=14, platform="demo", domain="demo.backsoon.localhost")
    assert registry.of(woo).next_step(woo, SETTINGS) == NextStep(
        "woocommerce", store_key="12", backend_url="https://backsoon.example", api_key_missing=True
    )
    assert registry.of(shop).next_step(shop, SETTINGS) == NextStep(
        "shopify",
        theme_editor_url="https://shop-1.myshopify.com/admin/themes/current/editor?context=apps"
        "&activateAppId=a1b2c3d4e5/app-embed",
    )
    # Once the storefront called, the step says since when (the page then shows it done).
    seen = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    woo.storefront_seen_at, woo.api_key_hash, shop.storefront_seen_at = seen, "0" * 64, seen
    assert registry.of(woo).next_step(woo, SETTINGS) == NextStep(
        "woocommerce", store_key="12", backend_url="https://backsoon.example", live_since=seen
    )
    assert registry.of(shop).next_step(shop, SETTINGS).live_since == seen  # type: ignore[union-attr]
    assert registry.of(shop).next_step(shop, Settings(env="test")) is None  # no API key configured: no link to build
    assert registry.of(demo).next_step(demo, SETTINGS) is None


def test_plugin_store_key_is_what_the_plugin_sends_as_its_store_id() -> None:
    settings_php = (ROOT / "integrations/woocommerce/wordpress-plugin/includes/class-backsoon-settings.php").read_text()
    assert "The store key (our store id in the BackSoon backend)." in settings_php


def test_revoke_notice_names_the_replaced_key() -> None:
    store = Store(id=12, platform="woocommerce", domain="https://shop.example.com", replaced_key_suffix="123abcd")
    assert revoke_notice(store) == (
        "BackSoon now uses a new API key. Revoke the old key ending in …123abcd in WooCommerce → Settings → Advanced → "
        "REST API: WooCommerce does not let BackSoon revoke it for you."
    )
    store.replaced_key_suffix = None
    assert revoke_notice(store) is None
