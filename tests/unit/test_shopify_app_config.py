"""shopify.app.toml subscribes every handled topic and the compliance topics, all under APP_URL."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.platforms.shopify.platform import SHOPIFY
from integrations.shopify.app_config import PROTECTED_DATA_TOPICS, PROTECTED_FIELDS, AppUrlError, render_app_toml
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
CLI_CHECK = ROOT / "tools" / "shopify-cli-check"
NODE = shutil.which("node")
# CI has node (.ci/run installs the pinned CLI with npm): there these tests run, and fail without it.
NEEDS_NODE = pytest.mark.skipif(NODE is None and not IN_CI, reason="node is not installed")


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


def test_without_order_topics_the_file_subscribes_everything_else() -> None:
    """`shopify app deploy` refuses an unapproved app's version that subscribes the order topics; this one deploys."""
    full = tomllib.loads(render_app_toml("https://x.test", "k"))
    doc = tomllib.loads(render_app_toml("https://x.test", "k", order_topics=False))
    topics = doc["webhooks"]["subscriptions"][0]["topics"]
    assert topics == [t for t in full["webhooks"]["subscriptions"][0]["topics"] if t not in PROTECTED_DATA_TOPICS]
    assert topics == [
        "app/scopes_update",
        "app/uninstalled",
        "bulk_operations/finish",
        "inventory_items/update",
        "inventory_levels/update",
        "products/create",
        "products/delete",
        "products/update",
        "shop/update",
    ]
    assert doc["webhooks"]["subscriptions"][1] == full["webhooks"]["subscriptions"][1]  # compliance topics stay
    assert {k: v for k, v in doc.items() if k != "webhooks"} == {k: v for k, v in full.items() if k != "webhooks"}


def test_the_command_leaves_out_the_order_topics_on_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_URL", "https://restock.example.org")
    monkeypatch.setenv("SHOPIFY_API_KEY", "abc123")
    get_settings.cache_clear()
    out = tmp_path / "shopify.app.toml"
    try:
        result = CliRunner().invoke(cli, ["shopify-app-toml", "--without-order-topics", "--out", str(out)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert out.read_text() == render_app_toml("https://restock.example.org", "abc123", order_topics=False)


def test_the_file_has_no_key_shopify_cli_4_strips() -> None:
    doc = tomllib.loads(render_app_toml("https://restock.example.org", "abc123"))
    assert "build" not in doc  # `shopify app deploy` deletes build.include_config_on_deploy


@pytest.mark.parametrize(
    "url", ["http://restock.example.org", "restock.example.org", "https://", "ftp://x.test", "https://x.test/?a=1"]
)
def test_a_non_https_app_url_is_refused_with_the_reason(url: str) -> None:
    with pytest.raises(AppUrlError, match="APP_URL must"):
        render_app_toml(url, "abc123")


def test_the_command_refuses_http_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_URL", "http://localhost:5000")
    monkeypatch.setenv("SHOPIFY_API_KEY", "abc123")
    get_settings.cache_clear()
    out = tmp_path / "shopify.app.toml"
    try:
        result = CliRunner().invoke(cli, ["shopify-app-toml", "--out", str(out)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "APP_URL must be the app's public https URL" in result.output
    assert "'http://localhost:5000'" in result.output
    assert not out.exists()


def _cli_check(app_dir: Path) -> tuple[int, dict[str, object]]:
    # .ci/run installs the pinned CLI (npm ci); a developer's first run does the same here.
    if not (CLI_CHECK / "node_modules" / "@shopify" / "cli").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=CLI_CHECK, check=True)
    assert NODE is not None, "node is needed to run Shopify CLI's config loader"
    proc = subprocess.run(
        [NODE, "--no-warnings", str(CLI_CHECK / "check-app-config.mjs"), str(app_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


@NEEDS_NODE
def test_shopify_cli_loads_the_rendered_file(tmp_path: Path) -> None:
    """Shopify CLI 4.8's own loader and app configuration schema (tools/shopify-cli-check) accept the file."""
    (tmp_path / "shopify.app.toml").write_text(render_app_toml("https://restock.example.org", "abc123"))
    code, report = _cli_check(tmp_path)
    assert (code, report["errors"]) == (0, [])


@NEEDS_NODE
def test_shopify_cli_rejects_what_the_generator_now_refuses(tmp_path: Path) -> None:
    """The checker is not a rubber stamp: an http base and the stripped build key are what the CLI reports."""
    text = render_app_toml("https://restock.example.org", "abc123").replace("https://", "http://")
    text = text.replace("embedded = true\n", "embedded = true\n\n[build]\ninclude_config_on_deploy = true\n", 1)
    (tmp_path / "shopify.app.toml").write_text(text)
    code, report = _cli_check(tmp_path)
    errors = report["errors"]
    assert code == 1
    assert isinstance(errors, list)
    assert "app_proxy.url: URL must be HTTPS URL or start with /" in errors
    assert "build.include_config_on_deploy: removed by `shopify app deploy` (no longer supported)" in errors
