"""shopify.app.toml subscribes every handled topic and the compliance topics, all under APP_URL."""

from __future__ import annotations

import tomllib
from pathlib import Path

from app.platforms.shopify.platform import SHOPIFY
from integrations.shopify.app_config import PROTECTED_DATA_TOPICS, PROTECTED_FIELDS, render_app_toml

ROOT = Path(__file__).resolve().parents[2]


def test_rendered_config_points_everything_at_app_url() -> None:
    doc = tomllib.loads(render_app_toml("https://restock.example.org/", "abc123"))
    assert doc["client_id"] == "abc123"
    assert doc["application_url"] == "https://restock.example.org/shopify/app"
    assert doc["auth"]["redirect_urls"] == ["https://restock.example.org/shopify/callback"]
    assert doc["access_scopes"] == {
        "scopes": "write_products,read_inventory,read_locations,read_orders,write_app_proxy,read_locales",
        "optional_scopes": ["read_all_orders"],
        "use_legacy_install_flow": False,
    }
    assert doc["webhooks"]["api_version"] == "2026-10"
    subs = doc["webhooks"]["subscriptions"]
    assert {s["uri"] for s in subs} == {"https://restock.example.org/webhooks/shopify"}
    assert "shop/update" in subs[0]["topics"]  # the shop's name, email, timezone, currency, … kept fresh
    assert subs[1]["compliance_topics"] == ["customers/data_request", "customers/redact", "shop/redact"]
    assert doc["app_proxy"] == {
        "url": "https://restock.example.org/storefront/proxy",
        "prefix": "apps",
        "subpath": "backsoon",
    }


def test_every_subscribed_topic_has_a_handler_and_vice_versa() -> None:
    doc = tomllib.loads(render_app_toml("https://x.test", "k"))
    subscribed = set(doc["webhooks"]["subscriptions"][0]["topics"]) | set(
        doc["webhooks"]["subscriptions"][1]["compliance_topics"]
    )
    assert subscribed == set(SHOPIFY.topics)


def test_committed_file_is_the_rendered_template() -> None:
    committed = (ROOT / "integrations" / "shopify" / "shopify.app.toml").read_text()
    assert committed == render_app_toml("https://backsoon.example.com", "YOUR_SHOPIFY_API_KEY")


def test_the_topics_that_carry_orders_are_the_ones_readme_says_need_protected_data_approval() -> None:
    doc = tomllib.loads(render_app_toml("https://x.test", "k"))
    topics = doc["webhooks"]["subscriptions"][0]["topics"]
    assert [t for t in topics if t.startswith(("orders/", "refunds/"))] == list(PROTECTED_DATA_TOPICS)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for topic in PROTECTED_DATA_TOPICS:
        assert f"`{topic}`" in readme, topic
    for type_name, field in PROTECTED_FIELDS:
        assert f"`{field}`" in readme and f"`{type_name}`" in readme
