"""The storefront widget: one source (widget/src), built per platform, small enough for Shopify's app block limit."""

from __future__ import annotations

import gzip
import json
import re
import tomllib
from pathlib import Path

import pytest

from app.domain.dates import MONTHS
from tests.e2e.shops import liquid_environment, render_block

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "widget" / "src"
APP_ASSET = ROOT / "app" / "static" / "widget.js"
EXTENSION = ROOT / "integrations" / "shopify" / "extensions" / "backsoon-theme"
SHOPIFY_ASSET = EXTENSION / "assets" / "backsoon.js"
BUDGET = 8 * 1024
SHOPIFY_APP_BLOCK_JS_LIMIT = 10_000  # Theme Check's AssetSizeAppBlockJavaScript (theme-app-extension preset)
BUILT = "Built from widget/src by `make widget`: do not edit."


def test_widget_js_and_css_together_are_under_8_kb_gzipped() -> None:
    raw = APP_ASSET.read_bytes() + (ROOT / "app" / "static" / "widget.css").read_bytes()
    size = len(gzip.compress(raw, compresslevel=9))
    print(f"widget.js + widget.css: {len(raw)} bytes raw, {size} bytes gzipped (budget {BUDGET})")
    assert size < BUDGET


def test_shopify_app_block_javascript_is_under_shopifys_10000_bytes() -> None:
    size = len(SHOPIFY_ASSET.read_bytes())
    print(f"assets/backsoon.js: {size} bytes (Shopify's limit {SHOPIFY_APP_BLOCK_JS_LIMIT})")
    assert size < SHOPIFY_APP_BLOCK_JS_LIMIT


def test_both_assets_are_the_minified_builds_of_the_one_source() -> None:
    # CI rebuilds them (make widget) and fails when they differ from what is committed; here: each says so, is
    # minified (one line after the banner), and carries its platform's part of the source.
    app, shopify = APP_ASSET.read_text(), SHOPIFY_ASSET.read_text()
    assert app.splitlines()[0] == f"/* BackSoon storefront widget (app and WooCommerce build). {BUILT} */"
    assert shopify.splitlines()[0] == f"/* BackSoon storefront widget (Shopify build). {BUILT} */"
    assert [len(app.splitlines()), len(shopify.splitlines())] == [2, 2]
    # The words are inlined for the app's pages and WooCommerce; Shopify pages get them from the block's Liquid.
    assert ("Binnenkort terug" in app, "Binnenkort terug" in shopify) == (True, False)
    assert ("data-variations" in app, "data-variations" in shopify) == (True, False)
    assert not list(ROOT.glob("app/static/*.min.js"))


def test_the_extension_locales_carry_the_widgets_words_for_every_language() -> None:
    strings = json.loads((SOURCE / "strings.json").read_text())
    assert sorted(strings) == ["de", "en", "fr", "nl"]
    for lang, words in strings.items():
        name = "en.default.json" if lang == "en" else f"{lang}.json"
        locale = json.loads((EXTENSION / "locales" / name).read_text())
        assert locale["backsoon"]["widget"] == words
    snippet = (EXTENSION / "snippets" / "backsoon-i18n.liquid").read_text()
    assert re.findall(r"'backsoon\.widget\.(\w+)' \| t \| json", snippet) == list(strings["en"])


def test_the_widgets_month_names_are_the_apps() -> None:
    strings = json.loads((SOURCE / "strings.json").read_text())
    assert {lang: tuple(words["months"].split(" ")) for lang, words in strings.items()} == dict(MONTHS)


def test_widget_never_writes_markup_from_data() -> None:
    for source in (SOURCE / "widget.js", APP_ASSET, SHOPIFY_ASSET):
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", source.read_text())


def test_widget_never_hard_codes_the_app_proxy_path() -> None:
    # Merchants can change the App Proxy's prefix (apps, a, community, tools) and subpath: the page says where it is.
    for source in (SOURCE / "widget.js", APP_ASSET, SHOPIFY_ASSET):
        assert not re.search(r"/(apps|a|community|tools)/backsoon", source.read_text())


def _rendered_mount(block: str, settings: dict[str, str]) -> str:
    state = {"status": "out_of_stock", "back_soon": True}
    variant = {"id": 1, "metafields": {"$app:backsoon": {"state": {"value": state}}}}
    product = {"id": 7, "variants": [variant], "selected_or_first_available_variant": variant}
    context = {
        "product": product,
        "template": {"name": "product"},
        "request": {"locale": {"iso_code": "nl"}},
        "routes": {"root_url": "/nl"},
    }
    env = liquid_environment("nl", "/cdn/assets")
    return render_block(env, block, context, {"auto_mount": True, **settings}).html


@pytest.mark.parametrize(
    ("setting", "path"),
    [
        ("", "/apps/backsoon"),  # not changed: shopify.app.toml's prefix and subpath
        ("/a/restock", "/a/restock"),
        ("community/backsoon/", "/community/backsoon"),
        (" /tools/wait-list?x=1 ", "/tools/wait-list"),
    ],
)
def test_blocks_render_the_shops_app_proxy_path_for_the_widget(setting: str, path: str) -> None:
    for block in ("back-soon", "app-embed"):
        html = _rendered_mount(block, {"proxy_path": setting})
        assert re.findall(r'data-api="([^"]*)"', html) == [f"{path}/v1"], block
    # The no-JavaScript form posts to the same path.
    html = _rendered_mount("back-soon", {"proxy_path": setting})
    assert re.findall(r'<form class="backsoon__form" method="post" action="([^"]*)"', html) == [f"{path}/subscribe"]


def test_the_blocks_default_proxy_path_is_the_app_configs() -> None:
    proxy = tomllib.loads((ROOT / "integrations" / "shopify" / "shopify.app.toml").read_text())["app_proxy"]
    for block in ("back-soon", "app-embed"):
        liquid = (EXTENSION / "blocks" / f"{block}.liquid").read_text()
        assert f"default: '/{proxy['prefix']}/{proxy['subpath']}'" in liquid


def test_blocks_give_the_widget_its_words_in_the_storefronts_language() -> None:
    html = _rendered_mount("back-soon", {})
    tag = re.search(r"<script type=\"application/json\" data-backsoon-i18n>(.*?)</script>", html)
    assert tag is not None
    words = json.loads(tag.group(1))
    assert (words["lang"], words["soon"], words["submit"]) == ("nl", "Binnenkort terug", "Mail me als het terug is")
