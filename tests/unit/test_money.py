from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.domain.money import MoneyFormat, format_money, from_dict
from integrations.shopify.shop import money_format as shopify_format
from integrations.woocommerce.identity import money_format as woo_format

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("shopify", "amount", "shown"),
    [
        ("${{amount}}", Decimal("1234.5"), "$1,234.50"),
        ("€{{amount_with_comma_separator}}", Decimal("1234.5"), "€1.234,50"),
        ("<span class=money>&euro;{{ amount_with_comma_separator }}</span>", 9, "€9,00"),
        ("{{amount_no_decimals}} kr", Decimal("1234.5"), "1,235 kr"),
        ("{{amount_no_decimals_with_comma_separator}} kr", Decimal("1234567"), "1.234.567 kr"),
        ("CHF {{amount_with_apostrophe_separator}}", Decimal("1234.56"), "CHF 1'234.56"),
        ("{{amount_with_space_separator}} €", Decimal("1234.56"), "1 234,56 €"),
        ("{{amount_no_decimals_with_space_separator}} Ft", Decimal("1234.56"), "1 235 Ft"),
        ("{{amount_with_period_and_space_separator}} €", Decimal("1234.56"), "1 234.56 €"),
        ("${{amount}}", Decimal("-5"), "-$5.00"),
        ("${{amount}}", Decimal("0.005"), "$0.01"),
    ],
)
def test_shopify_money_formats(shopify: str, amount: Decimal, shown: str) -> None:
    assert format_money(amount, from_dict(shopify_format(shopify)), "XXX") == shown


@pytest.mark.parametrize("shopify", [None, "", "$", "{{price}}", "{{amount}} {{amount}}"])
def test_a_shopify_format_we_cannot_read_is_unknown(shopify: str | None) -> None:
    assert from_dict(shopify_format(shopify)) is None


@pytest.mark.parametrize(
    ("position", "thousands", "decimal", "decimals", "shown"),
    [
        ("left_space", ".", ",", "2", f"€{NBSP}1.234,50"),  # the live Dutch store
        ("left", ",", ".", "2", "€1,234.50"),
        ("right", ".", ",", "2", "1.234,50€"),
        ("right_space", "", ",", "0", f"1235{NBSP}€"),
        ("left", " ", ".", "3", "€1 234.500"),
    ],
)
def test_woocommerce_money_formats(position: str, thousands: str, decimal: str, decimals: str, shown: str) -> None:
    settings = woo_settings(position, "&euro;", thousands, decimal, decimals)
    assert format_money(Decimal("1234.5"), from_dict(woo_format(settings)), "EUR") == shown


@pytest.mark.parametrize(
    ("position", "symbol", "decimals"),
    [("middle", "&euro;", "2"), ("left", "", "2"), ("left", None, "2"), ("left", "&euro;", "two"), ("left", "€", "9")],
)
def test_a_woocommerce_format_we_cannot_read_is_unknown(position: str, symbol: str | None, decimals: str) -> None:
    assert from_dict(woo_format(woo_settings(position, symbol, ".", ",", decimals))) is None


def woo_settings(position: str, symbol: str | None, thousands: str, decimal: str, decimals: str) -> dict[str, Any]:
    """system_status' settings as WooCommerce 9.4.3 answers them (number_of_decimals an int, as captured)."""
    places: Any = int(decimals) if decimals.isdigit() else decimals
    return {
        "currency_symbol": symbol,
        "currency_position": position,
        "thousand_separator": thousands,
        "decimal_separator": decimal,
        "number_of_decimals": places,
    }


def test_unknown_format_writes_the_code_after_the_amount() -> None:
    assert format_money(Decimal("1234.5"), None, "EUR") == "1,234.50 EUR"
    assert format_money(0, None, "USD") == "0.00 USD"


def test_stored_dict_round_trip_and_refusals() -> None:
    fmt = MoneyFormat(f"€{NBSP}{{amount}}", ".", ",", 2)
    assert from_dict(fmt.as_dict()) == fmt
    assert from_dict({"pattern": "€", "thousands": ".", "decimal": ",", "decimals": 2}) is None
    assert from_dict({"pattern": "{amount}", "thousands": ".", "decimal": ",", "decimals": True}) is None
    assert from_dict({"pattern": "{amount}", "thousands": ".", "decimal": "", "decimals": 2}) is None
    assert from_dict("€{amount}") is None
