"""The requested-cost estimator (integrations.shopify.cost) and the 1,000-point ceiling of every paged document.

Shopify ("GraphQL Admin API rate limits"): scalar and enum 0, object 1, interface/union the maximum of its possible
selections, connection 2 + first × one node, mutation 10; a single query whose requested cost exceeds 1,000 is
refused (MAX_COST_EXCEEDED) before it runs. Each exact value below is worked out by hand in its comment.
"""

from __future__ import annotations

import pytest

from app.platforms.shopify import freshness as shopify_freshness
from app.platforms.shopify import records as shopify_records
from app.platforms.shopify import sync as shopify_sync
from integrations.shopify import queries
from integrations.shopify.cost import MAX_QUERY_COST, requested_cost

# --- exact values on small documents ---------------------------------------------------------------------------


def test_scalars_cost_nothing_and_an_object_costs_one() -> None:
    # shop (object) 1; name, id (scalars) 0 → 1
    assert requested_cost("{ shop { id name } }") == 1
    # shop 1 + primaryDomain (object) 1 + url (scalar) 0 → 2
    assert requested_cost("query { shop { name primaryDomain { url } } }") == 2


def test_a_connection_costs_two_plus_first_nodes() -> None:
    # products connection 2 + 10 × (node 1 + title 0) → 12
    assert requested_cost("{ products(first: 10) { edges { node { title } } } }") == 12
    # same through `nodes`, with pageInfo (no cost of its own): 2 + 250 × 1 → 252
    assert requested_cost("{ products(first: 250) { nodes { id } pageInfo { hasNextPage endCursor } } }") == 252
    # `last` sizes it the same way: 2 + 3 × 1 → 5
    assert requested_cost("{ orders(last: 3) { nodes { id } } }") == 5


def test_nested_connections_multiply() -> None:
    # 2 + 10 × (product 1 + variants [2 + 5 × (variant 1 + price 0)]) = 2 + 10 × 8 → 82
    doc = "{ products(first: 10) { edges { node { title variants(first: 5) { edges { node { price } } } } } } }"
    assert requested_cost(doc) == 82


def test_objects_inside_a_node_count_per_node() -> None:
    # 2 + 4 × (line 1 + variant 1 + originalUnitPriceSet 1 + shopMoney 1) = 2 + 4 × 4 → 18
    doc = "{ lineItems(first: 4) { nodes { id variant { id } originalUnitPriceSet { shopMoney { amount } } } } }"
    assert requested_cost(doc) == 18


def test_variables_and_defaults_size_connections() -> None:
    doc = (
        "query Q($first: Int!, $n: Int = 3) {"
        " a: products(first: $first) { nodes { v: variants(first: $n) { nodes { id } } } } }"
    )
    # 2 + 7 × (1 + (2 + 3 × 1)) = 2 + 7 × 6 → 44 (aliases change nothing)
    assert requested_cost(doc, {"first": 7}) == 44
    # $n given: 2 + 7 × (1 + (2 + 1 × 1)) = 2 + 7 × 4 → 30
    assert requested_cost(doc, {"first": 7, "n": 1}) == 30
    with pytest.raises(ValueError, match=r"\$first"):
        requested_cost(doc)


def test_a_sized_list_counts_like_a_connection_and_a_plain_list_once() -> None:
    # refunds(first: 3) is a list of objects: 2 + 3 × (refund 1 + note 0) → 5
    assert requested_cost('{ order(id: "x") { refunds(first: 3) { note } } }') == 1 + 5
    # selectedOptions has no size: one object → 1 + 1
    assert requested_cost('{ productVariant(id: "x") { selectedOptions { name value } } }') == 2


def test_an_interface_costs_its_most_expensive_fragment() -> None:
    # node 1 + max(BulkOperation: 0, Product: featuredMedia 1 + preview 1) → 3
    doc = (
        '{ node(id: "x") { id ... on BulkOperation { url } ... on Product { featuredMedia { preview { status } } } } }'
    )
    assert requested_cost(doc) == 3


def test_a_mutation_costs_ten_plus_its_payload() -> None:
    # metafieldsSet 10 + metafields (list, one object) 1 + userErrors 1 → 12
    assert requested_cost(queries.METAFIELDS_SET, {"metafields": []}) == 12


def test_an_unsized_connection_is_refused() -> None:
    with pytest.raises(ValueError, match="no first/last"):
        requested_cost(queries.BULK_PRODUCTS_QUERY)


def test_comments_strings_and_directives_are_skipped() -> None:
    doc = """query Q($skip: Boolean = false) {
      # products { nodes { id } }  ← a comment, not a selection
      products(first: 2, query: "title:'{ x }'") @include(if: true) { nodes { id @skip(if: $skip) } }
    }"""
    # 2 + 2 × 1 → 4
    assert requested_cost(doc) == 4


# --- our documents, before (page sizes of 50) and now ----------------------------------------------------------


def test_the_old_reconcile_pages_were_far_above_the_ceiling() -> None:
    # What Shopify would have refused: 50 products or 50 orders a page with the old nested sizes.
    # product: 1 + featuredMedia/preview/image 3 + variants 2 + 10 × (1 + selectedOptions 1 + inventoryItem 1 +
    #          levels 2 + 5 × (1 + location 1 + quantities 1)) = 6 + 10 × 20 = 206 → 2 + 50 × 206 = 10,302
    assert requested_cost(queries.PRODUCTS_PAGE, {"first": 50}) == 10_302
    old_orders = (
        queries.ORDERS_PAGE.replace("lineItems(first: 10)", "lineItems(first: 50)")
        .replace("refunds(first: 2)", "refunds(first: 20)")
        .replace("refundLineItems(first: 10)", "refundLineItems(first: 50)")
    )
    assert old_orders.count("(first: 50)") == 2 and "refunds(first: 20)" in old_orders
    # order: 1 + totalPriceSet 2 + lineItems (2 + 50 × 4) + refunds (2 + 20 × (1 + 2 + 50 × 2))
    #      = 3 + 202 + 2,062 = 2,267 → 2 + 50 × 2,267 = 113,352
    assert requested_cost(old_orders, {"first": 50}) == 113_352
    # now: 3 + (2 + 10 × 4) + (2 + 2 × (3 + 10 × 2)) = 93 an order → 2 + 10 × 93 = 932
    assert requested_cost(queries.ORDERS_PAGE, {"first": 1}) == 2 + 93


PAGED = [
    # products 2 + 250 × 1 → 252
    (
        "CHANGED_PRODUCTS_PAGE",
        queries.CHANGED_PRODUCTS_PAGE,
        {"query": "q", "first": shopify_freshness.PRODUCTS_PAGE},
        252,
    ),
    # orders 2 + 250 × 1 → 252
    (
        "CHANGED_ORDERS_PAGE",
        queries.CHANGED_ORDERS_PAGE,
        {"query": "q", "first": shopify_freshness.ORDERS_PAGE},
        252,
    ),
    # events 2 + 250 × (event 1 + max(BasicEvent: subjectId, createdAt 0)) → 252
    (
        "DELETED_PRODUCTS_PAGE",
        queries.DELETED_PRODUCTS_PAGE,
        {"query": "q", "first": shopify_freshness.DELETIONS_PAGE},
        252,
    ),
    # location 1 + inventoryLevels 2 + 250 × (level 1 + item 1) → 503
    (
        "CHANGED_LEVELS_PAGE",
        queries.CHANGED_LEVELS_PAGE,
        {"id": "gid://shopify/Location/1", "query": "q", "first": shopify_freshness.LEVELS_PAGE},
        503,
    ),
    ("LOCATIONS_PAGE", queries.LOCATIONS_PAGE, {"first": shopify_sync.PAGE_SIZE}, 52),
    ("PRODUCTS_PAGE", queries.PRODUCTS_PAGE, {"first": shopify_sync.PRODUCTS_PAGE_SIZE, "query": "q"}, 826),
    (
        "PRODUCT_VARIANTS_PAGE",
        queries.PRODUCT_VARIANTS_PAGE,
        {"id": "gid://shopify/Product/1", "first": shopify_records.VARIANT_PAGE_SIZE},
        806,
    ),
    (
        "INVENTORY_ITEM_LEVELS_PAGE",
        queries.INVENTORY_ITEM_LEVELS_PAGE,
        {"id": "gid://shopify/InventoryItem/1", "first": shopify_records.LEVEL_PAGE_SIZE},
        303,
    ),
    ("ORDERS_PAGE", queries.ORDERS_PAGE, {"first": shopify_sync.ORDERS_PAGE_SIZE, "query": "q"}, 932),
    (
        "ORDER_LINE_ITEMS_PAGE",
        queries.ORDER_LINE_ITEMS_PAGE,
        {"id": "gid://shopify/Order/1", "first": shopify_records.ORDER_LINE_PAGE_SIZE},
        803,
    ),
    (
        "ORDER_REFUNDS",
        queries.ORDER_REFUNDS,
        {"id": "gid://shopify/Order/1", "first": shopify_records.ORDER_REFUNDS_LIMIT},
        253,
    ),
    (
        "REFUND_LINES_PAGE",
        queries.REFUND_LINES_PAGE,
        {"id": "gid://shopify/Refund/1", "first": shopify_records.REFUND_LINE_PAGE_SIZE},
        503,
    ),
]


@pytest.mark.parametrize(("name", "document", "variables", "expected"), PAGED, ids=[p[0] for p in PAGED])
def test_every_paged_document_fits_at_the_page_size_the_sync_sends(
    name: str, document: str, variables: dict[str, object], expected: int
) -> None:
    cost = requested_cost(document, variables)
    assert cost == expected
    assert cost <= MAX_QUERY_COST, f"{name} requests {cost} points at the page size the sync uses"


def test_every_paged_document_is_checked() -> None:
    # A new paged document (a `$first` variable) must be added to PAGED above.
    documents = {name: getattr(queries, name) for name in queries.__all__}
    paged = {name for name, doc in documents.items() if isinstance(doc, str) and "$first" in doc}
    assert paged == {p[0] for p in PAGED}


def test_the_freshness_check_fits_in_one_query() -> None:
    variables = {
        "query": "q",
        "deleted": "d",
        "products": queries.FRESHNESS_PRODUCTS,
        "locations": queries.FRESHNESS_LOCATIONS,
        "levels": queries.FRESHNESS_LEVELS,
        "orders": queries.FRESHNESS_ORDERS,
        "deletions": queries.FRESHNESS_DELETIONS,
    }
    # products 2 + 50 × 1 = 52; orders 2 + 50 × 1 = 52; events 2 + 10 × (event 1 + BasicEvent scalars 0) = 12;
    # locations 2 + 10 × (1 + inventoryLevels 2 + 40 × (level 1 + item 1)) = 832 → 948
    assert requested_cost(queries.FRESHNESS_CHECK, variables) == 948 <= MAX_QUERY_COST


def test_the_one_off_documents_are_cheap() -> None:
    assert requested_cost(queries.BULK_OPERATION_RUN_QUERY, {"query": "", "groupObjects": True}) == 12
    assert requested_cost(queries.BULK_OPERATION_BY_ID, {"id": "x"}) == 1
    assert requested_cost(queries.BULK_OPERATION_NODE, {"id": "x"}) == 1
    # one order of ORDERS_PAGE: 93 (no customer: its id needs read_customers)
    assert requested_cost(queries.ORDER_BY_ID, {"id": "x"}) == 93
    # shop 1 + primaryDomain 1 + shopAddress 1 + currencyFormats 1 + shopLocales (a plain list, costed once) 1 → 5
    assert requested_cost(queries.SHOP_IDENTITY, {"withLocales": True}) == 5
