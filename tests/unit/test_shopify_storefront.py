"""Storefront write-back inputs: the exact metafield per state, chunking, and the theme extension's structure."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import date
from pathlib import Path

import pytest

from integrations.shopify.storefront import chunks, metafield_inputs, variant_gid

EXTENSION = Path(__file__).resolve().parents[2] / "integrations" / "shopify" / "extensions" / "backsoon-theme"


def _input(value: str, owner: str = "gid://shopify/ProductVariant/49712345678125") -> list[dict[str, str]]:
    return [{"ownerId": owner, "namespace": "$app:backsoon", "key": "state", "type": "json", "value": value}]


def test_in_stock_state_has_no_badge_and_no_back_soon() -> None:
    state = {
        "status": "in_stock",
        "badge_kind": "none",
        "badge_quantity": None,
        "restock_eta": None,
        "eta_source": None,
    }
    assert metafield_inputs("49712345678125", state) == _input(
        '{"back_soon":false,"badge":{"kind":"none","quantity":null},"eta_source":null,'
        '"restock_eta":null,"status":"in_stock","v":1}'
    )


def test_low_stock_state_carries_the_only_n_left_quantity() -> None:
    state = {"status": "low_stock", "badge_kind": "only_n_left", "badge_quantity": 3, "restock_eta": None}
    assert metafield_inputs(49712345678125, state) == _input(
        '{"back_soon":false,"badge":{"kind":"only_n_left","quantity":3},"eta_source":null,'
        '"restock_eta":null,"status":"low_stock","v":1}'
    )


def test_selling_fast_never_shows_a_number() -> None:
    state = {"status": "in_stock", "badge_kind": "selling_fast", "badge_quantity": 40}
    value = json.loads(metafield_inputs("1", state)[0]["value"])
    assert value["badge"] == {"kind": "selling_fast", "quantity": None}


def test_sold_out_state_is_back_soon_with_its_eta() -> None:
    state = {
        "status": "out_of_stock",
        "badge_kind": "none",
        "badge_quantity": None,
        "restock_eta": date(2026, 10, 28),
        "eta_source": "incoming_stock",
    }
    assert metafield_inputs("gid://shopify/ProductVariant/49712345678125", state) == _input(
        '{"back_soon":true,"badge":{"kind":"none","quantity":null},"eta_source":"incoming_stock",'
        '"restock_eta":"2026-10-28","status":"out_of_stock","v":1}'
    )


def test_backorder_is_not_back_soon() -> None:
    value = json.loads(metafield_inputs("7", {"status": "backorder", "badge_kind": "none"})[0]["value"])
    assert value["back_soon"] is False


@pytest.mark.parametrize("bad", ["v123", "", "gid://shopify/Product/1", "12a"])
def test_non_shopify_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        variant_gid(bad)


def test_chunks_of_25() -> None:
    parts = list(chunks(list(range(60)), 25))
    assert [len(p) for p in parts] == [25, 25, 10]
    assert [x for p in parts for x in p] == list(range(60))
    assert list(chunks([], 25)) == []
    assert [len(p) for p in chunks(list(range(60)))] == [25, 25, 10]


def test_extension_toml_parses_as_a_theme_extension() -> None:
    config = tomllib.loads((EXTENSION / "shopify.extension.toml").read_text())
    assert config["type"] == "theme"
    assert config["name"]


def test_block_schema_parses_and_references_existing_assets() -> None:
    liquid = (EXTENSION / "blocks" / "back-soon.liquid").read_text()
    match = re.search(r"{%\s*schema\s*%}(.*?){%\s*endschema\s*%}", liquid, re.S)
    assert match is not None
    schema = json.loads(match.group(1))
    assert schema["target"] == "section"
    for key in ("stylesheet", "javascript"):
        assert (EXTENSION / "assets" / schema[key]).is_file()
    ids = [s["id"] for s in schema["settings"]]
    assert len(ids) == len(set(ids))
    assert "$app:backsoon" in liquid and "{{ bs_proxy | escape }}/subscribe" in liquid and 'name="variant_id"' in liquid
    # Every locale key the block translates exists in the default locale.
    locale = json.loads((EXTENSION / "locales" / "en.default.json").read_text())
    for key in re.findall(r"'(backsoon\.[a-z_.]+)'\s*\|\s*t\b", liquid):
        node = locale
        for part in key.split("."):
            node = node[part]
        assert isinstance(node, str)


def test_theme_extension_has_an_app_embed_and_an_app_block_loading_the_widget() -> None:
    import json
    import re
    from pathlib import Path

    blocks = (
        Path(__file__).resolve().parents[2] / "integrations" / "shopify" / "extensions" / "backsoon-theme" / "blocks"
    )
    schemas = {}
    for path in sorted(blocks.glob("*.liquid")):
        match = re.search(r"{% schema %}(.*?){% endschema %}", path.read_text(), re.S)
        assert match is not None, path.name
        schemas[path.name] = json.loads(match.group(1))
    assert schemas["app-embed.liquid"]["target"] == "body"  # an app embed block
    assert schemas["back-soon.liquid"]["target"] == "section"  # an app block
    for schema in schemas.values():
        assert (schema["javascript"], schema["stylesheet"]) == ("backsoon.js", "backsoon.css")
    embed = (blocks / "app-embed.liquid").read_text()
    # The widget takes consent from BackSoon through the App Proxy, so no block invents a consent version.
    assert 'data-api="{{ bs_proxy | escape }}/v1"' in embed
    for name in ("app-embed.liquid", "back-soon.liquid"):
        assert "consent_version" not in (blocks / name).read_text()
