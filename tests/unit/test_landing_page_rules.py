"""The landing page's pure rules: languages, variant availability, descriptions, and texts borrowed from the widget."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from app.domain import landing_page as page

STRINGS = Path(__file__).resolve().parents[2] / "widget" / "src" / "strings.json"


def test_the_no_javascript_form_uses_the_widgets_own_address_label() -> None:
    # Only texts the app already has: the widget's, word for word, in each of its languages.
    widget = json.loads(STRINGS.read_text())
    assert dict(page.EMAIL_LABEL) == {lang: texts["email"] for lang, texts in widget.items()}


@pytest.mark.parametrize(
    ("store_languages", "offered"),
    [
        (["nl-NL", "en", "de"], ["nl", "en", "de"]),
        (["nl", "nl-BE", "fr"], ["nl", "fr"]),
        # Spanish and Japanese have no texts in the app: the page is English (prices keep the store's format).
        (["es", "ja"], ["en"]),
        (["es", "de"], ["de"]),
    ],
)
def test_page_languages_are_the_stores_that_the_app_speaks(store_languages: list[str], offered: list[str]) -> None:
    assert page.page_languages(store_languages) == offered


@pytest.mark.parametrize(
    ("asked", "accepted", "chosen"),
    [
        (None, [], "nl"),
        (None, ["fr-FR", "de-DE"], "de"),
        ("en", ["de"], "en"),
        ("fr", ["fr"], "nl"),  # asked for, but the store is not published in it
        ("<script>", ["xx"], "nl"),
    ],
)
def test_choose_language(asked: str | None, accepted: list[str], chosen: str) -> None:
    assert page.choose_language(asked, accepted, ["nl", "en", "de"]) == chosen


@pytest.mark.parametrize(
    ("status", "product_kind", "kind"),
    [
        ("in_stock", "OutOfStock", "InStock"),
        ("low_stock", "OutOfStock", "InStock"),
        ("untracked", "OutOfStock", "InStock"),
        ("backorder", "InStock", "BackOrder"),
        ("out_of_stock", "InStock", "OutOfStock"),
        (None, "BackOrder", "BackOrder"),
    ],
)
def test_variant_availability(status: str | None, product_kind: str, kind: str) -> None:
    assert page.variant_availability(status, product_kind) == kind


def test_plain_text_drops_markup_decodes_entities_and_cuts_at_a_word() -> None:
    assert page.plain_text("<p>Soft &amp; warm</p><ul><li>Merino</li></ul>") == "Soft & warm Merino"
    assert page.plain_text("one two three four", limit=9) == "one two…"
    assert page.plain_text("") == ""


def test_a_group_names_only_the_properties_google_knows() -> None:
    variant = page.VariantOffer(
        external_id="1",
        sku="",
        title="Gift wrap",
        options={"Wrapping": "Gift wrap", "Kleur": "Blauw"},
        price="5.00",
        status="in_stock",
        restock_eta=None,
        image=None,
        url="https://shop.example/p?v=1",
    )
    doc = page.structured_data(
        product_id="9",
        name="Mug",
        description="",
        image=None,
        url="https://shop.example/p",
        currency="EUR",
        product_kind="InStock",
        variants=[variant, replace(variant, external_id="2", url="https://shop.example/p?v=2")],
    )
    assert doc["variesBy"] == ["https://schema.org/color"]
    assert doc["hasVariant"][0] == {
        "@type": "Product",
        "name": "Mug - Gift wrap",
        "color": "Blauw",
        "offers": {
            "@type": "Offer",
            "url": "https://shop.example/p?v=1",
            "price": "5.00",
            "priceCurrency": "EUR",
            "availability": "https://schema.org/InStock",
        },
    }
    assert "image" not in doc and "description" not in doc
