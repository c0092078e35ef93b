"""Every GraphQL Admin document BackSoon sends is valid against Shopify's own 2026-10 schema, uses nothing deprecated,
needs no scope shopify.app.toml does not ask for, and selects no protected customer data but the declared fields
(tests/fixtures/shopify/schema: Shopify's introspection as @shopify/dev-mcp ships it, with requiredAccess and
isProtected per type and field)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from graphql import parse, specified_rules, validate
from graphql.validation import NoDeprecatedCustomRule

from integrations.shopify.app_config import OPTIONAL_SCOPES, PROTECTED_FIELDS, REQUIRED_SCOPES
from tests import shopify_access as access

FOUND = access.find_documents()
DOCUMENTS = sorted(FOUND.documents)
TOML = Path(access.ROOT) / "integrations" / "shopify" / "shopify.app.toml"


def _toml_scopes() -> tuple[list[str], list[str]]:
    doc = tomllib.loads(TOML.read_text(encoding="utf-8"))["access_scopes"]
    return doc["scopes"].split(","), doc.get("optional_scopes", [])


def test_the_documents_are_all_found() -> None:
    """Found in the source, not listed by hand: a new module-level document is checked without anyone adding it."""
    assert [name.rsplit(".", 1)[1] for name in DOCUMENTS] == [
        "BULK_OPERATION_BY_ID",
        "BULK_OPERATION_NODE",
        "BULK_OPERATION_RUN_QUERY",
        "BULK_ORDERS_QUERY",
        "BULK_ORDERS_QUERY_WITHOUT_EMAIL",
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
        "ORDER_ACCESS_PROBE",
        "ORDER_BY_ID",
        "ORDER_LINE_ITEMS_PAGE",
        "ORDER_REFUNDS",
        "PRODUCTS_PAGE",
        "PRODUCT_VARIANTS_PAGE",
        "REFUND_LINES_PAGE",
        "SHOP_IDENTITY",
    ]
    # A document written inline (in a call, a function, a class) could not be checked: there are none.
    assert FOUND.stray == ()


def test_the_finder_sees_documents_anywhere_in_the_source(tmp_path: Path) -> None:
    pkg = tmp_path / "app"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "inline.py").write_text(
        'NOT_GRAPHQL = "{name} sold out"\n'
        'HELP = "query (the search string)"\n'
        "def page(client):\n"
        '    return client.execute("""query Page($first: Int!) { products(first: $first) { nodes { id } } }""")\n'
        "def read(client):\n"
        '    return client.execute("query { shop { name } }")\n'
        "def bulk(client, q):\n"
        '    return client.start(f"""{{ orders(query: "{q}") {{ edges {{ node {{ id }} }} }} }}""")\n'
    )
    found = access.find_documents(tmp_path, ["app"])
    assert found.documents == {}
    assert found.stray == ("app/inline.py:4", "app/inline.py:6", "app/inline.py:8")


def test_a_new_module_level_document_is_found_without_being_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "probe_pkg"
    (pkg / "deep").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "deep" / "__init__.py").write_text("")
    (pkg / "deep" / "more.py").write_text(
        '_F = "id"\n'
        'CUSTOMERS = f"""query Customers {{ customers(first: 1) {{ nodes {{ {_F} }} }} }}"""\n'
        'INNER: str = "{ orders { edges { node { id } } } }"\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = access.find_documents(tmp_path, ["probe_pkg"])
    assert found.documents == {
        "probe_pkg.deep.more.CUSTOMERS": "query Customers { customers(first: 1) { nodes { id } } }",
        "probe_pkg.deep.more.INNER": "{ orders { edges { node { id } } } }",
    }
    assert found.stray == ()
    customers = parse(found.documents["probe_pkg.deep.more.CUSTOMERS"])
    assert access.access_problems(customers, REQUIRED_SCOPES, PROTECTED_FIELDS) == ["Customer needs read_customers"]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_document_is_valid_and_uses_nothing_deprecated(name: str) -> None:
    document = parse(FOUND.documents[name])
    errors = validate(access.schema(), document, [*specified_rules, NoDeprecatedCustomRule])
    assert [e.message for e in errors] == []


@pytest.mark.parametrize("name", DOCUMENTS)
def test_document_needs_only_the_scopes_the_app_asks_for(name: str) -> None:
    """Optional scopes do not count: a merchant may decline them, and every document must still be answered."""
    assert access.access_problems(parse(FOUND.documents[name]), REQUIRED_SCOPES, PROTECTED_FIELDS) == []


def test_the_deployed_configuration_asks_for_the_scopes_the_check_used() -> None:
    required, optional = _toml_scopes()
    assert required == list(REQUIRED_SCOPES)
    assert optional == list(OPTIONAL_SCOPES) == ["read_all_orders"]
    # Every scope asked for is a real one: named by some requiredAccess, or one of the two Shopify documents elsewhere.
    unknown = sorted(s for s in [*required, *optional] if s not in access.known_scopes())
    assert unknown == sorted(access.SCOPES_OUTSIDE_INTROSPECTION) == ["read_all_orders", "write_app_proxy"]


def test_every_protected_field_used_is_declared_and_every_declared_one_is_used() -> None:
    used = set()
    for text in FOUND.documents.values():
        used.update(access.uses(parse(text))[1])
    assert sorted(used) == sorted(f"{t}.{f}" for t, f in PROTECTED_FIELDS) == ["Order.email"]
    for type_name, field_name in PROTECTED_FIELDS:
        entry = access.field_entry(type_name, field_name)
        assert (entry["isProtected"], entry["protectedSubject"], entry["protectedContent"]) == (
            True,
            "customer",
            "email",
        )


def test_the_check_catches_a_missing_scope_and_undeclared_protected_data() -> None:
    """The check has teeth: what the order and location documents selected before their fix is reported."""
    bad = parse(
        "query { orders(first: 1) { nodes { id email phone customer { id } } }"
        " locations(first: 1) { nodes { id name isActive } } }"
    )
    old_scopes = ("write_products", "read_inventory", "read_orders", "write_app_proxy", "read_locales")
    assert access.access_problems(bad, old_scopes, {}) == [
        "Customer needs read_customers",
        "Location.name needs read_locations or read_markets_home",
        "Location.isActive needs read_locations",
        "Order.email is protected customer data not declared in PROTECTED_FIELDS",
        "Order.phone is protected customer data not declared in PROTECTED_FIELDS",
    ]
    assert access.access_problems(bad, (*old_scopes, "read_customers", "read_locations"), PROTECTED_FIELDS) == [
        "Order.phone is protected customer data not declared in PROTECTED_FIELDS"
    ]
    # A mutation needs what its root field and payload need: metafieldsSet's prose is judged as write_products.
    write = parse("mutation { metafieldsSet(metafields: []) { userErrors { message } } }")
    assert access.access_problems(write, ("read_products",), {}) == ["Mutation.metafieldsSet needs write_products"]
    assert access.access_problems(write, ("write_products",), {}) == []


def test_requirement_sentences_are_read_as_shopify_writes_them() -> None:
    read = access.scope_alternatives
    assert read(access.type_entry("Location")["requiredAccess"]) == [
        frozenset({"read_locations"}),
        frozenset({"read_inventory"}),
        frozenset({"read_markets_home"}),
    ]
    assert read("`read_orders` access scope. Also: The user must have manage_orders_information permission.") == [
        frozenset({"read_orders"})
    ]
    assert read("Any of `write_content`, `write_online_store_pages` access scopes.") == [
        frozenset({"write_content"}),
        frozenset({"write_online_store_pages"}),
    ]
    assert read("Requires `read_analytics_annotations` access scope.") == [frozenset({"read_analytics_annotations"})]
    assert read(
        "`write_products` access scope as well as any of `write_own_subscription_contracts`, "
        "`write_purchase_options` access scopes. Also: The user must have `manage_orders_information` permissions."
    ) == [
        frozenset({"write_products", "write_own_subscription_contracts"}),
        frozenset({"write_products", "write_purchase_options"}),
    ]
    markets = "`read_markets` for queries and both `read_markets` as well as `write_markets` for mutations."
    assert read(markets) == [frozenset({"read_markets"})]
    assert read(markets, mutation=True) == [frozenset({"read_markets", "write_markets"})]
    assert read(None) == read("") == [frozenset()]
    with pytest.raises(access.UnknownRequirement):
        read("access to checkout branding settings and the shop must be on a Plus plan or a Development store plan.")
    with pytest.raises(access.UnknownRequirement):
        read("`read_orders` and `read_customers` access scopes.")
    # write_x covers read_x, not the other way round.
    assert access.covered(read("`read_products` access scope."), ["write_products"])
    assert not access.covered(read("`write_products` access scope."), ["read_products"])


def test_a_deprecated_field_or_an_unknown_one_is_caught() -> None:
    """The validation has teeth too: the fields SHOP_IDENTITY avoids are reported."""
    old = "query { shop { billingAddress { countryCode } } }"
    rules = [*specified_rules, NoDeprecatedCustomRule]
    assert [e.message for e in validate(access.schema(), parse(old), rules)] == [
        "The field Shop.billingAddress is deprecated. Use `shopAddress` instead.",
        "The field ShopAddress.countryCode is deprecated. Use `countryCodeV2` instead.",
    ]
    wrong = "query { shop { timezone } }"
    assert [e.message for e in validate(access.schema(), parse(wrong))] == [
        "Cannot query field 'timezone' on type 'Shop'. Did you mean 'ianaTimezone'?"
    ]


def test_shop_locales_needs_a_scope_that_required_scopes_asks_for() -> None:
    assert access.field_entry("QueryRoot", "shopLocales")["requiredAccess"] == (
        "`read_locales` access scope or `read_markets_home` access scope."
    )
    assert "read_locales" in REQUIRED_SCOPES
    # The shop fields SHOP_IDENTITY reads need no scope of their own.
    for field in ("name", "email", "contactEmail", "ianaTimezone", "currencyCode", "myshopifyDomain", "shopAddress"):
        assert access.field_entry("Shop", field).get("requiredAccess") in (None, ""), field
