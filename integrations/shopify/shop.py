"""The shop's own settings (name, owner email, timezone, currency, country, language) read through GraphQL.

``read_shop_identity`` runs queries.SHOP_IDENTITY and ``map_shop_identity`` maps its answer to a StoreInfo; the
shop/update webhook carries the same settings in REST form (integrations.shopify.payloads.parse_shop_update).
Values are passed on as Shopify wrote them: app.domain.store_identity decides which are valid.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from integrations.base import StoreInfo
from integrations.shopify.auth import missing_scopes
from integrations.shopify.bulk import ShopifyDataError
from integrations.shopify.graphql import GraphQLClient
from integrations.shopify.queries import SHOP_IDENTITY
from integrations.shopify.verify import is_valid_shop_domain

__all__ = ["LOCALE_SCOPES", "can_read_locales", "map_shop_identity", "money_format", "read_shop_identity"]

LOCALE_SCOPES = ("read_locales", "read_markets_home")
"""Either grants ``shopLocales`` (the pinned schema's requiredAccess for it)."""


# Shopify's money-format placeholders: (decimals, thousands separator, decimal separator), as Shopify's own
# formatMoney (option_selection.js) and its help centre's "Currency formatting" table define them.
_AMOUNTS: Mapping[str, tuple[int, str, str]] = {
    "amount": (2, ",", "."),
    "amount_no_decimals": (0, ",", "."),
    "amount_with_comma_separator": (2, ".", ","),
    "amount_no_decimals_with_comma_separator": (0, ".", ","),
    "amount_with_apostrophe_separator": (2, "'", "."),
    "amount_no_decimals_with_apostrophe_separator": (0, "'", "."),
    "amount_with_space_separator": (2, " ", ","),
    "amount_no_decimals_with_space_separator": (0, " ", ","),
    "amount_with_period_and_space_separator": (2, " ", "."),
}
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_TAG = re.compile(r"<[^>]*>")


def money_format(template: object) -> dict[str, Any] | None:
    """A shop money format ("€{{amount_with_comma_separator}}") as {pattern, thousands, decimal, decimals}."""
    if not isinstance(template, str):
        return None
    text = html.unescape(_TAG.sub("", template)).strip()
    found = _PLACEHOLDER.search(text)
    if found is None or found.group(1) not in _AMOUNTS:
        return None
    decimals, thousands, decimal = _AMOUNTS[found.group(1)]
    pattern = text[: found.start()] + "{amount}" + text[found.end() :]
    return {"pattern": pattern, "thousands": thousands, "decimal": decimal, "decimals": decimals}


def can_read_locales(granted: str) -> bool:
    """True when the granted scopes (comma-separated, as stored) let the app read the shop's locales."""
    return any(not missing_scopes((scope,), granted) for scope in LOCALE_SCOPES)


def read_shop_identity(client: GraphQLClient, *, with_locales: bool) -> StoreInfo:
    """Read the shop's settings; without ``with_locales`` the language is not asked for and stays unknown."""
    return map_shop_identity(client.execute(SHOP_IDENTITY, {"withLocales": with_locales}))


def map_shop_identity(data: Mapping[str, Any]) -> StoreInfo:
    """Map SHOP_IDENTITY's ``data`` to a StoreInfo; ShopifyDataError when the shop object is not there."""
    shop = data.get("shop")
    if not isinstance(shop, Mapping):
        raise ShopifyDataError("shop: expected an object")
    name = _opt_str(shop, "name")
    domain = _opt_str(shop, "myshopifyDomain")
    if name is None:
        raise ShopifyDataError("shop.name: expected a non-empty string")
    if domain is None or not is_valid_shop_domain(domain):
        raise ShopifyDataError(f"shop.myshopifyDomain: not a myshopify.com domain: {domain!r}")
    address = shop.get("shopAddress")
    primary_domain = shop.get("primaryDomain")
    formats = shop.get("currencyFormats")
    extra = {
        "shop_id": _numeric_id(_opt_str(shop, "id")),
        "contact_email": _opt_str(shop, "contactEmail"),
        "primary_domain": _opt_str(primary_domain, "host") if isinstance(primary_domain, Mapping) else None,
    }
    return StoreInfo(
        name=name,
        domain=domain.lower(),
        timezone=_opt_str(shop, "ianaTimezone"),
        currency=_opt_str(shop, "currencyCode"),
        locale=_primary_locale(data.get("shopLocales")),
        languages=_published_locales(data.get("shopLocales")),
        country=_opt_str(address, "countryCodeV2") if isinstance(address, Mapping) else None,
        email=_opt_str(shop, "email"),
        money_format=money_format(formats.get("moneyInEmailsFormat")) if isinstance(formats, Mapping) else None,
        extra={k: v for k, v in extra.items() if v is not None},
    )


def _primary_locale(locales: object) -> str | None:
    # Absent when the query did not ask (no locale scope); a shop always has exactly one primary locale otherwise.
    if not isinstance(locales, list):
        return None
    for item in locales:
        if isinstance(item, Mapping) and item.get("primary") is True:
            return _opt_str(item, "locale")
    return None


def _published_locales(locales: object) -> tuple[str, ...] | None:
    # The shop's published languages, primary first (None when the query did not ask: no locale scope).
    if not isinstance(locales, list):
        return None
    items = [i for i in locales if isinstance(i, Mapping) and _opt_str(i, "locale")]
    items.sort(key=lambda i: i.get("primary") is not True)
    return tuple(str(_opt_str(i, "locale")) for i in items)


def _numeric_id(gid: str | None) -> str | None:
    # The same form shop/update's numeric ``id`` gives: "gid://shopify/Shop/71029384756" → "71029384756".
    if gid is None:
        return None
    tail = gid.rsplit("/", 1)[-1]
    return tail if tail.isdigit() else None


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return (value.strip() or None) if isinstance(value, str) else None
