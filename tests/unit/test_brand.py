"""The store's brand rules: hex colours, WCAG contrast and the text colour on the brand, logo addresses, precedence."""

from __future__ import annotations

import pytest

from app.domain.brand import (
    NEUTRAL,
    Brand,
    check_brand,
    contrast_ratio,
    effective_brand,
    logo_url,
    parse_colour,
    text_colour,
)


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("#1A73E8", "#1a73e8"), ("1a73e8", "#1a73e8"), (" #fa0 ", "#ffaa00"), ("#000", "#000000")],
)
def test_hex_colours_are_read_in_one_form(raw: str, parsed: str) -> None:
    assert parse_colour(raw) == parsed


@pytest.mark.parametrize("raw", ["", "blue", "#12345", "#1234567", "#ggg", "rgb(0,0,0)", "#fff;}", None, 255])
def test_anything_else_is_not_a_colour(raw: object) -> None:
    assert parse_colour(raw) is None


def test_contrast_ratios_are_wcags() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    # WCAG's own example: #777777 on white is just under AA (4.48:1).
    assert round(contrast_ratio("#777777", "#ffffff"), 2) == 4.48


@pytest.mark.parametrize(
    ("background", "text"),
    [("#1a73e8", "#ffffff"), ("#ffd60a", "#000000"), ("#0b6e4f", "#ffffff"), ("#ffffff", "#000000")],
)
def test_text_on_the_brand_is_white_or_black_whichever_reads_better(background: str, text: str) -> None:
    assert text_colour(background) == text
    assert contrast_ratio(background, text) >= 4.5


def test_every_grey_gets_an_aa_text_colour() -> None:
    # The worst case of white-or-black is mid grey: still over 4.5:1 with the better of the two.
    for level in range(256):
        grey = f"#{level:02x}{level:02x}{level:02x}"
        assert contrast_ratio(grey, text_colour(grey)) >= 4.5, grey


@pytest.mark.parametrize(
    "url", ["https://shop.example/logo.png", "https://cdn.shop.example:8443/a/b.svg?v=2", "HTTPS://shop.example/l.png"]
)
def test_https_logo_addresses_are_kept_as_given(url: str) -> None:
    assert logo_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example/logo.png",
        "javascript:alert(1)",
        "//shop.example/logo.png",
        "https://user:pw@shop.example/logo.png",
        "https://shop.example/a b.png",
        'https://shop.example/a.png"onerror="x',
        "https://localhost/logo.png",
        "https://shop.example:99999/logo.png",
        "https://" + "a" * 2000 + ".example/logo.png",
        "data:image/png;base64,AAAA",
        "",
    ],
)
def test_other_logo_addresses_are_refused(url: str) -> None:
    assert logo_url(url) is None


def test_the_form_is_all_or_nothing_with_a_message_per_field() -> None:
    assert check_brand({"primary_colour": "#ABC", "logo_url": " https://shop.example/l.png "}) == (
        {"primary_colour": "#aabbcc", "logo_url": "https://shop.example/l.png"},
        {},
    )
    assert check_brand({"primary_colour": "", "logo_url": None}) == ({}, {})
    cleaned, errors = check_brand({"primary_colour": "#abc", "logo_url": "http://shop.example/l.png"})
    assert errors == {
        "logo_url": "Not a logo address: use an https:// address of an image, such as https://shop.example/logo.png."
    }
    assert cleaned == {"primary_colour": "#aabbcc"}  # the caller saves nothing when errors is not empty


def test_the_merchants_logo_wins_over_the_platforms_and_nothing_set_is_neutral() -> None:
    assert effective_brand(None, None) == Brand(NEUTRAL, "#ffffff", NEUTRAL, None, None, False)
    assert effective_brand({}, "https://shop.example/site-logo.png").logo_source == "platform"
    both = effective_brand({"logo_url": "https://cdn.example/mine.png"}, "https://shop.example/site-logo.png")
    assert (both.logo_url, both.logo_source) == ("https://cdn.example/mine.png", "merchant")
    # A stored value that is no longer valid (or "", a store that said it has no logo) counts as none.
    assert effective_brand({"primary_colour": "nope", "logo_url": "http://x.example/a.png"}, "") == effective_brand(
        None, None
    )


def test_links_use_the_brand_only_where_it_reads_on_white() -> None:
    assert effective_brand({"primary_colour": "#0b6e4f"}, None).link == "#0b6e4f"
    assert effective_brand({"primary_colour": "#ffd60a"}, None).link == NEUTRAL
