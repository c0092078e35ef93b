"""Every GraphQL Admin document BackSoon sends is valid against Shopify's own 2026-10 schema and uses no deprecated
field or enum value (tests/fixtures/shopify/schema, Shopify's introspection as @shopify/dev-mcp ships it)."""

from __future__ import annotations

import functools
import gzip
import json
from typing import Any

import pytest
from graphql import GraphQLSchema, build_client_schema, parse, specified_rules, validate
from graphql.validation import NoDeprecatedCustomRule

from integrations.shopify import queries
from integrations.shopify.app_config import REQUIRED_SCOPES
from tests.conftest import FIXTURES

SCHEMA = FIXTURES / "shopify" / "schema" / "admin_2026-10.json.gz"
DOCUMENTS = sorted(name for name in queries.__all__ if isinstance(getattr(queries, name), str))


@functools.cache
def introspection() -> dict[str, Any]:
    with gzip.open(SCHEMA, "rt", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)["data"]
    return data


@functools.cache
def schema() -> GraphQLSchema:
    built = build_client_schema(introspection())  # type: ignore[arg-type]  # a plain dict, not the TypedDict
    # Shopify's schema breaks one rule on deprecated interface fields (see the fixtures' README): skip its own
    # validation, which graphql-core would otherwise run before validating any document.
    built._validation_errors = []
    return built


def _field(type_name: str, field_name: str) -> dict[str, Any]:
    types = {t["name"]: t for t in introspection()["__schema"]["types"]}
    return next(f for f in types[type_name]["fields"] if f["name"] == field_name)


def test_the_documents_are_all_found() -> None:
    assert DOCUMENTS == [
        "BULK_OPERATION_BY_ID",
        "BULK_OPERATION_NODE",
        "BULK_OPERATION_RUN_QUERY",
        "BULK_ORDERS_QUERY",
        "BULK_PRODUCTS_QUERY",
        "CHANGED_LEVELS_PAGE",
        "CHANGED_ORDERS_PAGE",
        "CHANGED_PRODUCTS_PAGE",
        "DELETED_PRODUCTS_PAGE",
        "FRESHNESS_CHECK",
        "INVENTORY_ITEM_LEVELS_PAGE",
        "LOCATIONS_PAGE",
        "METAFIELDS_SET",
        "ORDERS_PAGE",
        "ORDER_BY_ID",
        "ORDER_LINE_ITEMS_PAGE",
        "ORDER_REFUNDS",
        "PRODUCTS_PAGE",
        "PRODUCT_VARIANTS_PAGE",
        "REFUND_LINES_PAGE",
        "SHOP_IDENTITY",
    ]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_document_is_valid_and_uses_nothing_deprecated(name: str) -> None:
    document = parse(getattr(queries, name))
    errors = validate(schema(), document, [*specified_rules, NoDeprecatedCustomRule])
    assert [e.message for e in errors] == []


def test_a_deprecated_field_or_an_unknown_one_is_caught() -> None:
    """The check has teeth: the fields SHOP_IDENTITY avoids are reported."""
    old = "query { shop { billingAddress { countryCode } } }"
    assert [e.message for e in validate(schema(), parse(old), [*specified_rules, NoDeprecatedCustomRule])] == [
        "The field Shop.billingAddress is deprecated. Use `shopAddress` instead.",
        "The field ShopAddress.countryCode is deprecated. Use `countryCodeV2` instead.",
    ]
    wrong = "query { shop { timezone } }"
    assert [e.message for e in validate(schema(), parse(wrong))] == [
        "Cannot query field 'timezone' on type 'Shop'. Did you mean 'ianaTimezone'?"
    ]


def test_shop_locales_needs_a_scope_that_required_scopes_asks_for() -> None:
    assert _field("QueryRoot", "shopLocales")["requiredAccess"] == (
        "`read_locales` access scope or `read_markets_home` access scope."
    )
    assert "read_locales" in REQUIRED_SCOPES
    # The shop fields SHOP_IDENTITY reads need no scope of their own.
    for field in ("name", "email", "contactEmail", "ianaTimezone", "currencyCode", "myshopifyDomain", "shopAddress"):
        assert _field("Shop", field).get("requiredAccess") in (None, ""), field
