"""The shop's own settings read through GraphQL (integrations.shopify.shop): the request, and exact StoreInfo values."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import pytest
import responses
from responses import matchers

from integrations.base import InvalidRequest, StoreInfo
from integrations.shopify.bulk import ShopifyDataError
from integrations.shopify.graphql import GraphQLClient
from integrations.shopify.queries import SHOP_IDENTITY
from integrations.shopify.shop import can_read_locales, map_shop_identity, read_shop_identity
from tests.conftest import FIXTURES

SHOP = "amsterdam-linen.myshopify.com"
GRAPHQL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
RESPONSE: dict[str, Any] = json.loads((FIXTURES / "shopify" / "graphql" / "shop_identity.json").read_text())

DUTCH = StoreInfo(
    name="Amsterdam Linen Co",
    domain="amsterdam-linen.myshopify.com",
    timezone="Europe/Amsterdam",
    currency="EUR",
    locale="nl",
    country="NL",
    email="eva.dekker@amsterdam-linen.example",
    money_format={"pattern": "€{amount}", "thousands": ".", "decimal": ",", "decimals": 2},
    languages=("nl", "en", "de"),  # shopLocales: the primary first
    extra={
        "shop_id": "71029384756",
        "contact_email": "klantenservice@amsterdam-linen.example",
        "primary_domain": "www.amsterdam-linen.example",
    },
)


def data(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(RESPONSE["data"])
    for key, value in changes.items():
        body["shop"][key] = value
    return body


def test_the_fixture_maps_to_the_dutch_shop() -> None:
    info = map_shop_identity(RESPONSE["data"])
    assert info == DUTCH
    assert info.identity() == {
        "name": "Amsterdam Linen Co",
        "admin_email": "eva.dekker@amsterdam-linen.example",  # the owner's address, not the customer contact
        "timezone": "Europe/Amsterdam",
        "currency": "EUR",
        "country": "NL",
        "locale": "nl",  # the primary locale, though English is listed first
        "money_format": {"pattern": "€{amount}", "thousands": ".", "decimal": ",", "decimals": 2},
        "languages": ["nl", "en", "de"],
        "primary_domain": "www.amsterdam-linen.example",
    }


def test_without_locales_the_language_is_unknown_not_english() -> None:
    body = data()
    del body["shopLocales"]
    assert map_shop_identity(body).locale is None
    assert map_shop_identity({**data(), "shopLocales": [{"locale": "de", "primary": False}]}).locale is None


def test_missing_optional_values_stay_unknown() -> None:
    body = data(shopAddress={"countryCodeV2": None}, primaryDomain=None, contactEmail="", email="  ")
    info = map_shop_identity(body)
    assert (info.country, info.email, info.extra) == (None, None, {"shop_id": "71029384756"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "shop: expected an object"),
        ({"shop": None}, "shop: expected an object"),
        (data(name=""), "shop.name: expected a non-empty string"),
        (data(myshopifyDomain=None), "shop.myshopifyDomain: not a myshopify.com domain: None"),
        (data(myshopifyDomain="evil.example"), "shop.myshopifyDomain: not a myshopify.com domain: 'evil.example'"),
    ],
)
def test_an_answer_without_the_shop_is_refused(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ShopifyDataError) as info:
        map_shop_identity(body)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("granted", "expected"),
    [
        ("write_products,read_inventory,read_orders,write_app_proxy,read_locales", True),
        ("write_locales", True),  # write implies read
        ("read_markets_home", True),  # the schema's alternative
        ("write_products,read_inventory,read_orders,write_app_proxy", False),  # installed before read_locales
        ("", False),
    ],
)
def test_can_read_locales(granted: str, expected: bool) -> None:
    assert can_read_locales(granted) is expected


def client() -> GraphQLClient:
    return GraphQLClient(SHOP, lambda: "shpat_test", sleep=lambda _s: None)


@responses.activate
@pytest.mark.parametrize("with_locales", [True, False])
def test_read_sends_the_document_and_asks_for_locales_only_when_allowed(with_locales: bool) -> None:
    answer = copy.deepcopy(RESPONSE)
    if not with_locales:
        del answer["data"]["shopLocales"]  # what @include(if: false) leaves out
    responses.post(
        GRAPHQL,
        json=answer,
        match=[
            matchers.json_params_matcher({"query": SHOP_IDENTITY, "variables": {"withLocales": with_locales}}),
            matchers.header_matcher({"X-Shopify-Access-Token": "shpat_test"}),
        ],
    )
    info = read_shop_identity(client(), with_locales=with_locales)
    assert info.locale == ("nl" if with_locales else None)
    assert info == (DUTCH if with_locales else replace(DUTCH, locale=None, languages=None))
    assert len(responses.calls) == 1


@responses.activate
def test_an_access_denied_answer_raises_and_maps_nothing() -> None:
    denied = {
        "data": {**data(), "shopLocales": None},
        "errors": [
            {
                "message": "Access denied for shopLocales field. Required access: `read_locales` access scope.",
                "extensions": {"code": "ACCESS_DENIED"},
                "path": ["shopLocales"],
            }
        ],
    }
    responses.post(GRAPHQL, json=denied)
    with pytest.raises(InvalidRequest) as info:
        read_shop_identity(client(), with_locales=True)
    assert info.value.code == "ACCESS_DENIED"
