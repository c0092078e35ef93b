"""The store's effective identity: the merchant's value, else the platform's, else the default; bad values ignored."""

from __future__ import annotations

import pytest

from app.domain.store_identity import IdentityField, Source, effective_identity, normalize

ZONES = frozenset({"Europe/Amsterdam", "America/New_York", "UTC"})


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        ("timezone", "Europe/Amsterdam", "Europe/Amsterdam"),
        ("timezone", "UTC+1", None),  # WordPress's manual offsets are not zones
        ("timezone", "", None),
        ("currency", "eur", "EUR"),
        ("currency", "&euro;", None),
        ("country", "NL:NH", None),  # WooCommerce's country:state is mapped by its reader (test_woo_identity)
        ("country", "nl", "NL"),
        ("country", "NLD", None),
        ("locale", "nl_NL", "nl-NL"),
        ("locale", "pt-br", "pt-BR"),
        ("locale", "de", "de"),
        ("locale", "german", None),
        ("admin_email", " Admin@Shop.Example ", "admin@shop.example"),
        ("admin_email", "not-an-email", None),
        ("name", "  Live Test Shop ", "Live Test Shop"),
        ("name", 42, None),
        ("currency", None, None),
    ],
)
def test_normalize(field: str, raw: object, expected: str | None) -> None:
    assert normalize(field, raw, ZONES) == expected


def test_merchant_wins_over_platform_which_wins_over_the_default() -> None:
    reported = {"name": "Live Test Shop", "timezone": "Europe/Amsterdam", "currency": "EUR", "country": "NL"}
    overrides = {"currency": "USD", "admin_email": "Owner@Shop.Example"}
    result = effective_identity(reported, overrides, "shop.example", ZONES)
    assert result == {
        "name": IdentityField("name", "Live Test Shop", Source.PLATFORM, "Live Test Shop"),
        "admin_email": IdentityField("admin_email", "owner@shop.example", Source.MERCHANT, None),
        "timezone": IdentityField("timezone", "Europe/Amsterdam", Source.PLATFORM, "Europe/Amsterdam"),
        "currency": IdentityField("currency", "USD", Source.MERCHANT, "EUR"),
        "country": IdentityField("country", "NL", Source.PLATFORM, "NL"),
        "locale": IdentityField("locale", "en", Source.DEFAULT, None),
    }


def test_nothing_reported_gives_the_defaults_and_the_domain_as_name() -> None:
    result = effective_identity(None, None, "11.22.33.44", ZONES)
    assert {k: (f.value, f.source) for k, f in result.items()} == {
        "name": ("11.22.33.44", Source.DEFAULT),
        "admin_email": (None, Source.DEFAULT),
        "timezone": ("UTC", Source.DEFAULT),
        "currency": ("USD", Source.DEFAULT),
        "country": (None, Source.DEFAULT),
        "locale": ("en", Source.DEFAULT),
    }


def test_an_invalid_reported_value_does_not_replace_the_default() -> None:
    result = effective_identity({"timezone": "UTC+1", "currency": "€"}, None, "shop.example", ZONES)
    assert (result["timezone"].value, result["timezone"].source) == ("UTC", Source.DEFAULT)
    assert (result["currency"].value, result["currency"].source) == ("USD", Source.DEFAULT)
