"""Reading one Shopify product or order in full: its first node from any query, then every page its variants,
levels, lines and refunds continue on, so what is applied is the complete record (webhooks and the freshness pass
re-read a single record this way; the sync's paged phases complete each node with it)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from app.db import Database
from app.queue import JobQueue
from app.services import catalog
from integrations.base import (
    InvalidRequest,
    InventoryRecord,
    OrderLineRecord,
    OrderRecord,
    ProductRecord,
    RefundLineRecord,
    RefundRecord,
    VariantRecord,
)
from integrations.shopify import queries
from integrations.shopify.bulk import (
    IncompleteConnection,
    LevelsContinuation,
    RefundPage,
    ShopifyDataError,
    VariantsPage,
    map_levels_page,
    map_line_items_page,
    map_order_node,
    map_order_page,
    map_product,
    map_refund_header,
    map_refund_page,
    map_variants_page,
)
from integrations.shopify.graphql import GraphQLClient

log = logging.getLogger(__name__)

# Follow-ups of one order whose lines or refunds continue past its ORDERS_PAGE node (see complete_order).
ORDER_LINE_PAGE_SIZE = 200  # 3 + 4 × 200 = 803 points
ORDER_REFUNDS_LIMIT = 250  # 3 + 250 = 253 points; Order.refunds is a list without a cursor
REFUND_LINE_PAGE_SIZE = 250  # 3 + 2 × 250 = 503 points
# Follow-up pages of one product's variants (PRODUCT_VARIANTS_PAGE). Shopify would allow 2,000 per page for a
# single product, but a query may cost at most 1,000 points and each variant with its 5 levels costs 20 (806 at 40).
VARIANT_PAGE_SIZE = 40
# Follow-up pages of one variant's levels, for items stocked at more locations than a variant page asks for (5).
LEVEL_PAGE_SIZE = 100


def product_gid(external_id: str) -> str:
    """The Product GID of a numeric product id (a GID is returned as it is)."""
    return external_id if external_id.startswith("gid://") else f"gid://shopify/Product/{int(external_id)}"


def complete_product(
    graphql: GraphQLClient, node: dict[str, Any], where: str = "product"
) -> tuple[ProductRecord, list[InventoryRecord]] | None:
    """Map a Product node whose variants or levels may continue past the page it came in, fetching the rest.

    The record then carries the product's full variant list, as the catalog service reads it (variants missing
    from it are soft-deleted). None when the product disappeared while its pages were read.
    """
    first = map_variants_page(node, where)
    pages = [first]
    if first.after is not None:
        rest = _variant_pages(graphql, str(node.get("id")), first.after)
        if rest is None:
            return None
        pages.extend(rest)
    variants: dict[str, VariantRecord] = {}
    levels: list[InventoryRecord] = []
    for page in pages:
        for variant in page.variants:
            variants.setdefault(variant.external_id, variant)
        levels.extend(page.levels)
        for more in page.more_levels:
            levels.extend(_level_pages(graphql, more))
    return map_product(node, list(variants.values()), where), levels


def fetch_product(graphql: GraphQLClient, gid: str) -> tuple[ProductRecord, list[InventoryRecord]] | None:
    """One product with all its variants and levels, read page by page; None when Shopify has no such product."""
    data = graphql.execute(queries.PRODUCT_VARIANTS_PAGE, {"id": product_gid(gid), "first": VARIANT_PAGE_SIZE})
    node = data.get("product")
    if not isinstance(node, dict):
        return None
    return complete_product(graphql, node)


def _variant_pages(graphql: GraphQLClient, gid: str, after: str) -> list[VariantsPage] | None:
    # Not GraphQLClient.paginate: a product deleted meanwhile answers `product: null`, which is "gone", not an error.
    pages: list[VariantsPage] = []
    seen: set[str] = set()
    cursor: str | None = after
    while cursor is not None:
        if cursor in seen:  # a repeated cursor would loop forever on the same page
            raise InvalidRequest(f"variant pages of {gid} returned no new endCursor")
        seen.add(cursor)
        data = graphql.execute(queries.PRODUCT_VARIANTS_PAGE, {"id": gid, "first": VARIANT_PAGE_SIZE, "after": cursor})
        node = data.get("product")
        if not isinstance(node, dict):
            return None
        page = map_variants_page(node, "product")
        pages.append(page)
        cursor = page.after
    return pages


def _level_pages(graphql: GraphQLClient, more: LevelsContinuation) -> list[InventoryRecord]:
    levels: list[InventoryRecord] = []
    seen: set[str] = set()
    cursor: str | None = more.after
    while cursor is not None:
        if cursor in seen:
            raise InvalidRequest(f"level pages of {more.inventory_item_gid} returned no new endCursor")
        seen.add(cursor)
        variables = {"id": more.inventory_item_gid, "first": LEVEL_PAGE_SIZE, "after": cursor}
        item = graphql.execute(queries.INVENTORY_ITEM_LEVELS_PAGE, variables).get("inventoryItem")
        if not isinstance(item, dict):  # the variant went away meanwhile: the next sync deletes it
            break
        page, cursor = map_levels_page(item, more.variant_external_id, tracked=more.tracked)
        levels.extend(page)
    return levels


def refresh_product(db: Database, jobs: JobQueue, store_id: int, gid: str, graphql: GraphQLClient) -> str:
    """Read one product with every variant and level from Shopify and apply it as the full list.

    Used after a product webhook whose variant list may be cut short: variants missing from the fetched list are
    soft-deleted, which is right only because this list is complete. A product Shopify no longer has is left to
    products/delete (and to reconciliation).
    """
    fetched = fetch_product(graphql, gid)  # no transaction is held open during the calls
    if fetched is None:
        return "missing"
    product, levels = fetched
    with db.session() as s:
        result = catalog.apply_products(s, jobs, store_id, [product])
        catalog.apply_inventory(s, jobs, store_id, levels)
    if result.skipped_stale:
        return "stale"
    return f"applied:{len(product.variants)}"


def refresh_order(db: Database, jobs: JobQueue, store_id: int, gid: str, graphql: GraphQLClient) -> str:
    """Read one order with all its lines and refunds from Shopify and apply it, as the reconciliation does.

    Used by the freshness pass for an order updated since its last run (an orders/* or refunds/create delivery may
    have been lost). The catalog upserts by id and skips a state older than the stored one, so a late webhook for the
    same order, before or after, changes nothing twice. An order Shopify no longer has is left to the reconciliation.
    """
    node = graphql.execute(queries.ORDER_BY_ID, {"id": gid}).get("order")
    if not isinstance(node, dict):
        return "missing"
    order = complete_order(graphql, node)  # no transaction is held open during the calls
    if order is None:
        return "missing"
    with db.session() as s:
        result = catalog.apply_orders(s, jobs, store_id, [order])
    if result.skipped_stale:
        return "stale"
    return f"applied:{len(order.lines)}"


def complete_order(graphql: GraphQLClient, node: dict[str, Any], where: str = "order") -> OrderRecord | None:
    """Map an ORDERS_PAGE Order node whose lines, refunds or refund lines may continue past it, fetching the rest.

    The record is the one map_order_node makes of a node holding every list in full (same lines and refunds, in
    Shopify's order). None when the order disappeared while its pages were read.
    """
    page = map_order_page(node, where)
    lines: list[OrderLineRecord] = list(page.lines)
    if page.lines_after is not None:
        rest = _line_pages(graphql, page.gid, page.lines_after)
        if rest is None:
            return None
        lines.extend(rest)
    partial: list[RefundPage] = list(page.refunds)
    if len(partial) >= queries.ORDERS_PAGE_REFUNDS:  # a full list may have been cut: list every refund
        listed = _all_refunds(graphql, page.gid, {r.gid: r for r in partial})
        if listed is None:
            return None
        partial = listed
    refunds = [_complete_refund(graphql, r) for r in partial]
    return map_order_node(node, where, lines=lines, refunds=refunds)


def _line_pages(graphql: GraphQLClient, gid: str, after: str) -> list[OrderLineRecord] | None:
    lines: list[OrderLineRecord] = []
    seen: set[str] = set()
    cursor: str | None = after
    while cursor is not None:
        if cursor in seen:  # a repeated cursor would loop forever on the same page
            raise InvalidRequest(f"line item pages of {gid} returned no new endCursor")
        seen.add(cursor)
        data = graphql.execute(
            queries.ORDER_LINE_ITEMS_PAGE, {"id": gid, "first": ORDER_LINE_PAGE_SIZE, "after": cursor}
        )
        node = data.get("order")
        if not isinstance(node, dict):
            return None
        page, cursor = map_line_items_page(node)
        lines.extend(page)
    return lines


def _all_refunds(graphql: GraphQLClient, gid: str, known: dict[str, RefundPage]) -> list[RefundPage] | None:
    """Every refund of an order in Shopify's order: those the page held as they were, the others read afresh."""
    node = graphql.execute(queries.ORDER_REFUNDS, {"id": gid, "first": ORDER_REFUNDS_LIMIT}).get("order")
    if not isinstance(node, dict):
        return None
    headers = node.get("refunds")
    if not isinstance(headers, list):
        raise ShopifyDataError(f"order {gid}: refunds is not a list")
    if len(headers) >= ORDER_REFUNDS_LIMIT:  # `refunds` has no cursor to read further with
        raise IncompleteConnection(f"order {gid} has {ORDER_REFUNDS_LIMIT} refunds or more; more cannot be read")
    refunds: list[RefundPage] = []
    for i, header in enumerate(headers):
        refund_gid, _ = map_refund_header(header if isinstance(header, dict) else {}, f"order.refunds[{i}]")
        page = known.get(refund_gid)
        refunds.append(page if page is not None else _refund_page(graphql, refund_gid, None))
    return refunds


def _refund_page(graphql: GraphQLClient, gid: str, after: str | None) -> RefundPage:
    variables = {"id": gid, "first": REFUND_LINE_PAGE_SIZE, "after": after}
    node = graphql.execute(queries.REFUND_LINES_PAGE, variables).get("refund")
    if not isinstance(node, dict):  # refunds are never deleted, and its order was just read
        raise ShopifyDataError(f"refund {gid} of a listed order is missing")
    return map_refund_page(node)


def _complete_refund(graphql: GraphQLClient, refund: RefundPage) -> RefundRecord:
    """A refund with every refund line, reading the pages after the one it came with."""
    lines: list[RefundLineRecord] = list(refund.refund.lines)
    seen: set[str] = set()
    cursor = refund.after
    while cursor is not None:
        if cursor in seen:  # a repeated cursor would loop forever on the same page
            raise InvalidRequest(f"refund line pages of {refund.gid} returned no new endCursor")
        seen.add(cursor)
        page = _refund_page(graphql, refund.gid, cursor)
        lines.extend(page.refund.lines)
        cursor = page.after
    return replace(refund.refund, lines=tuple(lines))
