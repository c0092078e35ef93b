"""Shopify bulk operations (start, poll, download) and the mapping of GraphQL objects to plain records.

Streaming design. A bulk query's JSONL has one object per line; nested connection objects carry ``__parentId`` and
come after their parent. Since API 2026-01 ``groupObjects`` defaults to false, and then a product's children may be
spread anywhere after it. The catalog service reads a ProductRecord's variants as the product's *full* list (variants
missing from it are soft-deleted, and ``kind`` follows the count), so a product can only be emitted once all its
children are known. While streaming, that is only knowable from grouped output, so:

- ``start_bulk`` asks for ``groupObjects: true`` by default;
- ``iter_bulk_records`` reads lines by ``__parentId`` (never by position), holds the one open product with its
  variants and levels (memory bounded by one product's children, however many products the file has), and emits
  the ProductRecord, then that product's InventoryRecords, when the next root object starts or the file ends;
- any line that breaks grouping (a child whose parent is not the open product) raises ``ShopifyDataError`` instead
  of emitting a partial variant list that would delete real variants. Records already emitted are complete.

Only a COMPLETED operation's ``url`` may be read this way: a ``partialDataUrl`` file can end mid-product.

Mapping is shared by bulk lines and paged query nodes and mirrors ``integrations.shopify.payloads``: ids are the
numeric part of GIDs as strings, enums are lower-cased (``DENY`` → ``deny``), money is Decimal, times keep their
offset. A level of an untracked item maps to ``available=None`` (InventoryRecord's "not tracked there"), as the
inventory_levels/update webhook sends null once tracking is off.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import requests

from integrations.base import (
    InvalidRequest,
    InventoryRecord,
    LocationRecord,
    NotFound,
    OrderLineRecord,
    OrderRecord,
    PlatformError,
    ProductRecord,
    RefundLineRecord,
    RefundRecord,
    TransientError,
    VariantRecord,
)
from integrations.http import DEFAULT_TIMEOUT
from integrations.shopify.graphql import GraphQLClient
from integrations.shopify.queries import BULK_OPERATION_BY_ID, BULK_OPERATION_NODE, BULK_OPERATION_RUN_QUERY

__all__ = [
    "BUSY_CODES",
    "FINISHED_STATUSES",
    "BulkBusy",
    "BulkOperation",
    "BulkRejected",
    "BulkUserError",
    "IncompleteConnection",
    "LevelsContinuation",
    "OrderPage",
    "RefundPage",
    "ShopifyDataError",
    "VariantsPage",
    "bulk_operation_gid",
    "bulk_result_urls",
    "download_lines",
    "iter_bulk_orders",
    "iter_bulk_records",
    "map_level",
    "map_levels_page",
    "map_line_items_page",
    "map_location_node",
    "map_order_node",
    "map_order_page",
    "map_product",
    "map_product_node",
    "map_refund_header",
    "map_refund_page",
    "map_variant",
    "map_variant_node",
    "map_variants_page",
    "poll_bulk",
    "start_bulk",
]

FINISHED_STATUSES: frozenset[str] = frozenset({"COMPLETED", "FAILED", "CANCELED", "EXPIRED"})
"""BulkOperationStatus values after which polling stops."""

BUSY_CODES: frozenset[str] = frozenset({"LIMIT_REACHED", "OPERATION_IN_PROGRESS"})
"""BulkOperationUserErrorCode values that mean "try again later", not "your query is wrong"."""

DOWNLOAD_CHUNK = 64 * 1024


# --- errors --------------------------------------------------------------------------------------------------


class ShopifyDataError(PlatformError):
    """Shopify returned data that cannot be mapped safely: a changed shape, or a bulk file that is not grouped."""


class IncompleteConnection(ShopifyDataError):
    """A paged node's nested connection has more pages than the query fetched; mapping it would drop children."""


@dataclass(frozen=True, slots=True)
class BulkUserError:
    """One ``userErrors`` entry of bulkOperationRunQuery."""

    message: str
    code: str | None = None
    field: tuple[str, ...] | None = None


class BulkBusy(TransientError):
    """The shop already runs as many bulk operations as allowed (LIMIT_REACHED, OPERATION_IN_PROGRESS): retry later."""

    def __init__(self, message: str, user_errors: Sequence[BulkUserError]) -> None:
        super().__init__(message, code=user_errors[0].code if user_errors else None)
        self.user_errors = tuple(user_errors)


class BulkRejected(InvalidRequest):
    """Shopify refused the bulk query itself (INVALID and other codes): retrying the same query will not help."""

    def __init__(self, message: str, user_errors: Sequence[BulkUserError]) -> None:
        super().__init__(message, code=user_errors[0].code if user_errors else None)
        self.user_errors = tuple(user_errors)


# --- bulk operations -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkOperation:
    """A bulk operation as Shopify reports it; counts and size arrive as UnsignedInt64 strings and are ints here."""

    id: str  # the full GID, as bulkOperation(id:) and node(id:) want it
    status: str
    error_code: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    object_count: int | None = None
    root_object_count: int | None = None
    file_size: int | None = None
    url: str | None = None
    partial_data_url: str | None = None

    @property
    def finished(self) -> bool:
        """True once the operation will not change any more."""
        return self.status in FINISHED_STATUSES

    @property
    def succeeded(self) -> bool:
        """True when the operation completed; ``url`` is None then only if the query matched nothing."""
        return self.status == "COMPLETED"


def bulk_operation_gid(operation_id: str) -> str:
    """A BulkOperation GID from a GID or a bare numeric id."""
    if re.fullmatch(r"[0-9]{1,20}", operation_id, re.ASCII):
        return f"gid://shopify/BulkOperation/{operation_id}"
    _gid(operation_id, "BulkOperation", "id")  # validates
    return operation_id


def _bulk_operation(node: Mapping[str, Any]) -> BulkOperation:
    return BulkOperation(
        id=bulk_operation_gid(_str(node, "id")),
        status=_str(node, "status").upper(),
        error_code=_opt_str(node, "errorCode"),
        created_at=_opt_datetime(node, "createdAt"),
        completed_at=_opt_datetime(node, "completedAt"),
        object_count=_opt_uint(node, "objectCount"),
        root_object_count=_opt_uint(node, "rootObjectCount"),
        file_size=_opt_uint(node, "fileSize"),
        url=_opt_str(node, "url"),
        partial_data_url=_opt_str(node, "partialDataUrl"),
    )


def _user_errors(value: object) -> list[BulkUserError]:
    errors: list[BulkUserError] = []
    for where, item in _objects(value, "userErrors"):
        raw_field = item.get("field")
        errors.append(
            BulkUserError(
                message=_text(item, "message", where),
                code=_opt_str(item, "code", where),
                field=tuple(str(f) for f in raw_field) if isinstance(raw_field, list) else None,
            )
        )
    return errors


def start_bulk(client: GraphQLClient, query: str, *, group_objects: bool = True) -> BulkOperation:
    """Start a bulk query; raise BulkBusy (retry later) or BulkRejected on userErrors."""
    # groupObjects: true because iter_bulk_records can only stream grouped output safely (see module docstring).
    data = client.execute(BULK_OPERATION_RUN_QUERY, {"query": query, "groupObjects": group_objects})
    payload = _obj(data.get("bulkOperationRunQuery"), "bulkOperationRunQuery")
    errors = _user_errors(payload.get("userErrors"))
    if errors:
        message = "; ".join(f"{e.code or 'ERROR'}: {e.message}" for e in errors)
        if any(e.code in BUSY_CODES for e in errors):
            raise BulkBusy(f"bulk operation not started: {message}", errors)
        raise BulkRejected(f"bulk operation rejected: {message}", errors)
    operation = payload.get("bulkOperation")
    if not isinstance(operation, Mapping):
        raise ShopifyDataError("bulkOperationRunQuery returned neither an operation nor userErrors")
    return _bulk_operation(operation)


def poll_bulk(client: GraphQLClient, operation_id: str) -> BulkOperation:
    """The current state of one bulk operation, via bulkOperation(id:); NotFound if Shopify has no such operation."""
    gid = bulk_operation_gid(operation_id)
    data = client.execute(BULK_OPERATION_BY_ID, {"id": gid})
    node = data.get("bulkOperation")
    if not isinstance(node, Mapping):
        raise NotFound(f"no bulk operation {gid}")
    return _bulk_operation(node)


def bulk_result_urls(client: GraphQLClient, operation_id: str) -> tuple[str | None, str | None]:
    """(url, partialDataUrl) of a finished operation via node(id:), as the bulk_operations/finish webhook flow needs."""
    gid = bulk_operation_gid(operation_id)
    node = client.execute(BULK_OPERATION_NODE, {"id": gid}).get("node")
    if not isinstance(node, Mapping):
        raise NotFound(f"no bulk operation {gid}")
    return _opt_str(node, "url"), _opt_str(node, "partialDataUrl")


def download_lines(
    session: requests.Session,
    url: str,
    chunk_size: int = DOWNLOAD_CHUNK,
    *,
    expected_size: int | None = None,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
) -> Iterator[bytes]:
    """Stream a bulk result file as non-empty lines (without the newline); raise TransientError if cut short."""
    # The URL is a signed storage URL: it needs no Shopify token, and must never be sent one.
    # Lines are split here rather than with Response.iter_lines so the bytes can be counted against the
    # operation's fileSize: a connection closed early must fail, not look like a smaller catalog.
    received = 0
    try:
        with session.get(url, stream=True, timeout=timeout) as response:
            status = response.status_code
            if status in (408, 429) or status >= 500:
                raise TransientError(f"bulk result download failed (HTTP {status})", status=status)
            if status >= 400:
                # A signed URL that expired or was mangled (results are kept a week): poll the operation again
                # for a fresh URL, or rerun it.
                raise NotFound(f"bulk result URL rejected (HTTP {status})", status=status)
            pending = bytearray()
            for chunk in response.iter_content(chunk_size=chunk_size):
                received += len(chunk)
                start = 0
                while (end := chunk.find(b"\n", start)) != -1:
                    if pending:
                        pending += chunk[start:end]
                        line = bytes(pending)
                        pending.clear()
                    else:
                        line = chunk[start:end]
                    start = end + 1
                    if line.strip():
                        yield line.rstrip(b"\r")
                pending += chunk[start:]
            if pending.strip():
                yield bytes(pending).rstrip(b"\r")
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
        raise TransientError(f"bulk result download interrupted after {received} bytes: {exc}") from exc
    if expected_size is not None and received != expected_size:
        raise TransientError(f"bulk result download got {received} bytes, expected {expected_size}")


# --- JSONL readers -------------------------------------------------------------------------------------------


def _json_lines(lines: Iterable[bytes | str]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            # parse_float=Decimal keeps any JSON number exact (money comes as strings anyway).
            obj = json.loads(line, parse_float=Decimal)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise ShopifyDataError(f"bulk line {number}: not JSON ({exc.__class__.__name__})") from None
        if not isinstance(obj, dict):
            raise ShopifyDataError(f"bulk line {number}: not a JSON object")
        yield number, obj


@dataclass(slots=True)
class _OpenProduct:
    """The product being read and its children, until the next root object closes it."""

    node: Mapping[str, Any]
    gid: str
    variants: list[VariantRecord] = field(default_factory=list)
    # variant GID → (variant id, tracked); inventory item GID → variant GID (if levels hang off the item).
    by_variant: dict[str, tuple[str, bool]] = field(default_factory=dict)
    by_item: dict[str, str] = field(default_factory=dict)
    levels: list[InventoryRecord] = field(default_factory=list)

    def add_variant(self, node: Mapping[str, Any], gid: str, where: str) -> None:
        variant = map_variant(node, where)
        self.variants.append(variant)
        self.by_variant[gid] = (variant.external_id, variant.tracked)
        item = _obj(node.get("inventoryItem"), f"{where}.inventoryItem")
        self.by_item[_str(item, "id", f"{where}.inventoryItem")] = gid

    def add_level(self, node: Mapping[str, Any], parent: str, where: str) -> None:
        # Levels hang off the variant (the nearest node in a connection); an InventoryItem parent is accepted too.
        variant = self.by_variant.get(self.by_item.get(parent, parent))
        if variant is None:
            raise _ungrouped(where, parent, self.gid)
        self.levels.append(map_level(node, variant[0], tracked=variant[1], where=where))

    def records(self) -> Iterator[ProductRecord | InventoryRecord]:
        # The product first: the catalog service skips levels of variants it does not know yet.
        yield map_product(self.node, self.variants, "product")
        yield from self.levels


def _ungrouped(where: str, parent: str, open_gid: str | None) -> ShopifyDataError:
    return ShopifyDataError(
        f"{where}: parent {parent} is not the object being read ({open_gid or 'none'}); the bulk output is not "
        "grouped (start it with groupObjects: true) or a child came before its parent"
    )


def iter_bulk_records(lines: Iterable[bytes | str]) -> Iterator[ProductRecord | InventoryRecord | LocationRecord]:
    """Stream a grouped catalog bulk file: each ProductRecord (full variant list), then its InventoryRecords."""
    current: _OpenProduct | None = None
    for number, obj in _json_lines(lines):
        where = f"bulk line {number}"
        gid = _str(obj, "id", where)
        kind = _gid_type(gid, where)
        parent = obj.get("__parentId")
        if parent is None:
            if current is not None:
                yield from current.records()
                current = None
            if kind == "Product":
                current = _OpenProduct(node=obj, gid=gid)
            elif kind == "Location":
                yield map_location_node(obj, where)
            else:
                raise ShopifyDataError(f"{where}: unexpected root object {kind} in a catalog bulk file")
            continue
        if not isinstance(parent, str):
            raise ShopifyDataError(f"{where}.__parentId: expected a GID, got {parent!r}")
        if kind == "ProductVariant":
            if current is None or parent != current.gid:
                raise _ungrouped(where, parent, current.gid if current else None)
            current.add_variant(obj, gid, where)
        elif kind == "InventoryLevel":
            if current is None:
                raise _ungrouped(where, parent, None)
            current.add_level(obj, parent, where)
        # Children of other connections a query may add (media, collections) are not mapped here.
    if current is not None:
        yield from current.records()


def iter_bulk_orders(lines: Iterable[bytes | str]) -> Iterator[OrderRecord]:
    """Stream a grouped orders bulk file (orders > lineItems) as OrderRecords with lines (refunds not included)."""
    order: Mapping[str, Any] | None = None
    order_gid: str | None = None
    order_lines: list[OrderLineRecord] = []
    for number, obj in _json_lines(lines):
        where = f"bulk line {number}"
        gid = _str(obj, "id", where)
        kind = _gid_type(gid, where)
        parent = obj.get("__parentId")
        if parent is None:
            if order is not None:
                yield map_order_node(order, "order", lines=order_lines)
            if kind != "Order":
                raise ShopifyDataError(f"{where}: unexpected root object {kind} in an orders bulk file")
            order, order_gid, order_lines = obj, gid, []
            continue
        if kind == "LineItem":
            if parent != order_gid:
                raise _ungrouped(where, str(parent), order_gid)
            order_lines.append(_order_line(obj, where))
    if order is not None:
        yield map_order_node(order, "order", lines=order_lines)


# --- node mappers (bulk lines and paged query nodes) ---------------------------------------------------------

_POLICIES = frozenset({"deny", "continue"})


def map_variant(node: Mapping[str, Any], where: str = "variant") -> VariantRecord:
    """Map a ProductVariant node (with ``inventoryItem { id tracked }``) to a VariantRecord."""
    item = _obj(node.get("inventoryItem"), f"{where}.inventoryItem")
    policy = _str(node, "inventoryPolicy", where).lower()
    if policy not in _POLICIES:
        raise _fail(f"{where}.inventoryPolicy", f"expected DENY or CONTINUE, got {policy!r}")
    options: dict[str, str] = {}
    for w, option in _objects(node.get("selectedOptions"), f"{where}.selectedOptions"):
        options[_str(option, "name", w)] = _text(option, "value", w)
    if options == {"Title": "Default Title"}:  # the placeholder of a product without options, as in payloads.py
        options = {}
    return VariantRecord(
        external_id=_gid(node.get("id"), "ProductVariant", f"{where}.id"),
        sku=_text(node, "sku", where),
        title=_text(node, "title", where),
        options=options,
        price=_decimal(node, "price", where),
        # Tracking comes from the inventory item: the one source of it besides inventory_items/update.
        tracked=_bool(item, "tracked", f"{where}.inventoryItem"),
        inventory_policy=policy,
        position=_count(node, "position", where) if node.get("position") is not None else 0,
        inventory_item_id=_gid(item.get("id"), "InventoryItem", f"{where}.inventoryItem.id"),
        updated_at=_opt_datetime(node, "updatedAt", where),
    )


def map_product(node: Mapping[str, Any], variants: Sequence[VariantRecord], where: str = "product") -> ProductRecord:
    """Map a Product node plus its complete variant list to a ProductRecord."""
    image = _path(node, "featuredMedia", "preview", "image")
    image_url = image.get("url") if image is not None else None
    tags = node.get("tags")
    return ProductRecord(
        external_id=_gid(node.get("id"), "Product", f"{where}.id"),
        title=_str(node, "title", where),
        handle=_text(node, "handle", where),
        description=_text(node, "descriptionHtml", where),  # HTML as Shopify stores it, as from webhooks
        vendor=_text(node, "vendor", where),
        product_type=_text(node, "productType", where),
        kind="variable" if len(variants) > 1 else "simple",
        image_url=image_url if isinstance(image_url, str) else None,
        status=_text(node, "status", where).lower() or "active",
        # publishedAt is null when the product is not on the online store (webhooks: published_at); a selection
        # without the field says nothing, and the record default (published) stands.
        published=node.get("publishedAt") is not None if "publishedAt" in node else True,
        tags=tuple(t.strip() for t in tags if isinstance(t, str) and t.strip()) if isinstance(tags, list) else (),
        updated_at=_datetime(node, "updatedAt", where),
        variants=tuple(variants),
    )


def map_level(
    node: Mapping[str, Any], variant_external_id: str, *, tracked: bool = True, where: str = "level"
) -> InventoryRecord:
    """Map an InventoryLevel node (``location { id }``, ``quantities``) of one variant to an InventoryRecord."""
    location = _obj(node.get("location"), f"{where}.location")
    quantities: dict[str, int] = {}
    for w, q in _objects(node.get("quantities"), f"{where}.quantities"):
        quantities[_str(q, "name", w)] = _int(q, "quantity", w)
    if tracked and "available" not in quantities:
        raise _fail(f"{where}.quantities", "no 'available' quantity")
    return InventoryRecord(
        variant_external_id=variant_external_id,
        location_external_id=_gid(location.get("id"), "Location", f"{where}.location.id"),
        available=quantities["available"] if tracked else None,
        on_hand=quantities.get("on_hand"),
        updated_at=_opt_datetime(node, "updatedAt", where),
        incoming=quantities.get("incoming"),
    )


def map_product_node(node: Mapping[str, Any], where: str = "product") -> tuple[ProductRecord, list[InventoryRecord]]:
    """Map a paged products node (nested variants and levels) to its record and levels; IncompleteConnection if cut."""
    variants: list[VariantRecord] = []
    levels: list[InventoryRecord] = []
    for w, v in _connection(node, "variants", where):
        variant = map_variant(v, w)
        variants.append(variant)
        item = _obj(v.get("inventoryItem"), f"{w}.inventoryItem")
        if "inventoryLevels" in item:
            for lw, level in _connection(item, "inventoryLevels", f"{w}.inventoryItem"):
                levels.append(map_level(level, variant.external_id, tracked=variant.tracked, where=lw))
    return map_product(node, variants, where), levels


@dataclass(frozen=True, slots=True)
class LevelsContinuation:
    """A variant whose ``inventoryLevels`` connection has more pages than the query fetched (more locations)."""

    variant_external_id: str
    tracked: bool
    inventory_item_gid: str  # the full GID, as inventoryItem(id:) wants it
    after: str  # the connection's endCursor


@dataclass(frozen=True, slots=True)
class VariantsPage:
    """One page of a product's variants with their levels, and where to continue when the page was not the last."""

    variants: tuple[VariantRecord, ...]
    levels: tuple[InventoryRecord, ...]
    more_levels: tuple[LevelsContinuation, ...] = ()
    after: str | None = None  # the variants connection's endCursor when it has more pages, else None


def map_levels_page(
    item: Mapping[str, Any], variant_external_id: str, *, tracked: bool, where: str = "inventoryItem"
) -> tuple[list[InventoryRecord], str | None]:
    """An InventoryItem node's ``inventoryLevels`` page: its levels and the endCursor when more pages follow."""
    nodes, after = _connection_page(item, "inventoryLevels", where)
    return [map_level(level, variant_external_id, tracked=tracked, where=w) for w, level in nodes], after


def map_variant_node(
    node: Mapping[str, Any], where: str = "variant"
) -> tuple[VariantRecord, list[InventoryRecord], LevelsContinuation | None]:
    """A paged ProductVariant node with nested levels: the record, its levels, and a continuation if levels are cut."""
    variant = map_variant(node, where)
    item = _obj(node.get("inventoryItem"), f"{where}.inventoryItem")
    if "inventoryLevels" not in item:
        return variant, [], None
    levels, after = map_levels_page(item, variant.external_id, tracked=variant.tracked, where=f"{where}.inventoryItem")
    more = None
    if after is not None:
        more = LevelsContinuation(
            variant.external_id, variant.tracked, _str(item, "id", f"{where}.inventoryItem"), after
        )
    return variant, levels, more


def map_variants_page(node: Mapping[str, Any], where: str = "product") -> VariantsPage:
    """The ``variants`` page of a Product node (a products page node or ``product(id:)``), never refusing a cut one.

    Unlike ``map_product_node`` this does not raise on more pages: it says where to continue, so the caller can
    fetch the rest before treating the variant list as complete.
    """
    nodes, after = _connection_page(node, "variants", where)
    variants: list[VariantRecord] = []
    levels: list[InventoryRecord] = []
    more: list[LevelsContinuation] = []
    for w, v in nodes:
        variant, variant_levels, cont = map_variant_node(v, w)
        variants.append(variant)
        levels.extend(variant_levels)
        if cont is not None:
            more.append(cont)
    return VariantsPage(tuple(variants), tuple(levels), tuple(more), after)


def map_location_node(node: Mapping[str, Any], where: str = "location") -> LocationRecord:
    """Map a Location node (``id name isActive``)."""
    active = node.get("isActive")
    return LocationRecord(
        external_id=_gid(node.get("id"), "Location", f"{where}.id"),
        name=_text(node, "name", where),
        active=active if isinstance(active, bool) else True,
    )


def _money(node: Mapping[str, Any], key: str, where: str) -> Decimal | None:
    money = _path(node, key, "shopMoney")
    if money is None:
        return None
    return _decimal(money, "amount", f"{where}.{key}.shopMoney")


def _order_line(node: Mapping[str, Any], where: str) -> OrderLineRecord:
    variant = node.get("variant")
    return OrderLineRecord(
        external_id=_gid(node.get("id"), "LineItem", f"{where}.id"),
        # null for custom items and deleted variants
        variant_external_id=(
            _gid(_obj(variant, f"{where}.variant").get("id"), "ProductVariant", f"{where}.variant.id")
            if variant is not None
            else None
        ),
        quantity=_count(node, "quantity", where),  # as ordered; cancellations and refunds are recorded apart
        price=_money(node, "originalUnitPriceSet", where) or Decimal("0"),
        sku=_text(node, "sku", where),
    )


def _refund_line(line: Mapping[str, Any], where: str) -> RefundLineRecord:
    item = _obj(line.get("lineItem"), f"{where}.lineItem")
    return RefundLineRecord(
        line_external_id=_gid(item.get("id"), "LineItem", f"{where}.lineItem.id"),
        quantity=_count(line, "quantity", where),
        # CANCEL, RETURN and LEGACY_RESTOCK put units back; NO_RESTOCK does not (as in payloads.py).
        restock=_str(line, "restockType", where).upper() != "NO_RESTOCK",
    )


def _refund(node: Mapping[str, Any], where: str, lines: Sequence[RefundLineRecord] | None = None) -> RefundRecord:
    if lines is None:
        lines = [_refund_line(line, w) for w, line in _connection(node, "refundLineItems", where)]
    return RefundRecord(
        external_id=_gid(node.get("id"), "Refund", f"{where}.id"),
        refunded_at=_datetime(node, "createdAt", where),
        lines=tuple(lines),
        note=_text(node, "note", where),
    )


@dataclass(frozen=True, slots=True)
class RefundPage:
    """A refund with the first page of its refund line items, and where they continue when the page was not the last."""

    gid: str  # the full Refund GID, as refund(id:) wants it
    refund: RefundRecord  # its lines so far
    after: str | None = None  # the refundLineItems endCursor when more pages follow, else None


@dataclass(frozen=True, slots=True)
class OrderPage:
    """What one paged Order node holds of its lines and refunds, and where each continues."""

    gid: str  # the full Order GID, as order(id:) wants it
    lines: tuple[OrderLineRecord, ...]
    lines_after: str | None  # the lineItems endCursor when more pages follow, else None
    refunds: tuple[RefundPage, ...]  # ``refunds(first: n)`` is a list without a cursor: n of them may mean more


def map_line_items_page(node: Mapping[str, Any], where: str = "order") -> tuple[list[OrderLineRecord], str | None]:
    """An Order node's ``lineItems`` page: its lines and the endCursor when more pages follow."""
    nodes, after = _connection_page(node, "lineItems", where)
    return [_order_line(line, w) for w, line in nodes], after


def map_refund_page(node: Mapping[str, Any], where: str = "refund") -> RefundPage:
    """A Refund node (``id createdAt note refundLineItems { nodes pageInfo }``) without refusing a cut line list."""
    nodes, after = _connection_page(node, "refundLineItems", where)
    lines = [_refund_line(line, w) for w, line in nodes]
    return RefundPage(_str(node, "id", where), _refund(node, where, lines), after)


def map_refund_header(node: Mapping[str, Any], where: str = "refund") -> tuple[str, RefundRecord]:
    """A Refund node selected without its lines (``id createdAt note``): its GID and its record with no lines yet."""
    return _str(node, "id", where), _refund(node, where, ())


def map_order_page(node: Mapping[str, Any], where: str = "order") -> OrderPage:
    """The lines and refunds a paged Order node holds, never refusing a cut list (the caller fetches the rest)."""
    lines, after = map_line_items_page(node, where)
    refunds = tuple(map_refund_page(r, w) for w, r in _objects(node.get("refunds"), f"{where}.refunds"))
    return OrderPage(_str(node, "id", where), tuple(lines), after, refunds)


def map_order_node(
    node: Mapping[str, Any],
    where: str = "order",
    *,
    lines: Sequence[OrderLineRecord] | None = None,
    refunds: Sequence[RefundRecord] | None = None,
) -> OrderRecord:
    """Map an Order node (paged, with lineItems and refunds; or a bulk root line with ``lines`` given).

    ``lines`` and ``refunds``, when given, replace the node's own (complete lists read page by page); a node whose
    own lists continue past what it holds raises IncompleteConnection.
    """
    if lines is None:
        lines = [_order_line(line, w) for w, line in _connection(node, "lineItems", where)]
    email = _opt_str(node, "email", where)
    total = _money(node, "totalPriceSet", where)
    currency = _opt_str(node, "currencyCode", where)
    # processedAt is the order's date in Shopify's reports (imports are back-dated); createdAt when it was entered.
    ordered_at = _opt_datetime(node, "processedAt", where) or _datetime(node, "createdAt", where)
    record = OrderRecord(
        external_id=_gid(node.get("id"), "Order", f"{where}.id"),
        ordered_at=ordered_at,
        name=_text(node, "name", where),
        email=(email.strip().lower() or None) if email else None,
        # No customer id: the documents do not select Order.customer (Customer needs read_customers).
        customer_external_id=None,
        # PAID, PARTIALLY_REFUNDED, … lower-cased are the webhook's financial_status values.
        financial_status=_text(node, "displayFinancialStatus", where).lower(),
        cancelled_at=_opt_datetime(node, "cancelledAt", where),
        updated_at=_datetime(node, "updatedAt", where),
        lines=tuple(lines),
        refunds=(
            tuple(refunds)
            if refunds is not None
            else tuple(_refund(r, w) for w, r in _objects(node.get("refunds"), f"{where}.refunds"))
        ),
    )
    # Shop-currency money when selected (ORDERS_PAGE does); a selection without it keeps the record defaults.
    changes: dict[str, Any] = {}
    if currency:
        changes["currency"] = currency
    if total is not None:
        changes["total"] = total
    return replace(record, **changes) if changes else record


# --- typed readers: every lookup goes through these, so malformed data raises ShopifyDataError ---------------

_GID = re.compile(r"gid://shopify/([A-Za-z]+)/([0-9]{1,20})(?:\?.*)?", re.ASCII | re.DOTALL)


def _fail(where: str, problem: str) -> ShopifyDataError:
    return ShopifyDataError(f"{where}: {problem}")


def _gid_type(value: str, where: str) -> str:
    match = _GID.fullmatch(value)
    if match is None:
        raise _fail(f"{where}.id", f"not a Shopify GID: {value!r}")
    return match.group(1)


def _gid(value: object, kind: str, where: str) -> str:
    """The numeric id of a GID of the given type ("gid://shopify/Product/1" → "1")."""
    match = _GID.fullmatch(value) if isinstance(value, str) else None
    if match is None or match.group(1) != kind:
        raise _fail(where, f"expected a {kind} GID, got {value!r}")
    return str(int(match.group(2)))


def _obj(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, "expected an object")
    return value


def _path(node: Mapping[str, Any], *keys: str) -> Mapping[str, Any] | None:
    """A nested object, or None when any step is absent or null."""
    current: object = node
    for key in keys:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current if isinstance(current, Mapping) else None


def _objects(value: object, where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The objects of a JSON array; absent or null reads as empty."""
    if value is None:
        return
    if not isinstance(value, list):
        raise _fail(where, "expected an array")
    for i, item in enumerate(value):
        yield f"{where}[{i}]", _obj(item, f"{where}[{i}]")


def _connection(node: Mapping[str, Any], key: str, where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The nodes of a nested connection (``nodes`` or ``edges { node }``), refusing one with more pages."""
    conn = _obj(node.get(key), f"{where}.{key}")
    info = conn.get("pageInfo")
    if isinstance(info, Mapping) and info.get("hasNextPage") is True:
        raise IncompleteConnection(f"{where}.{key}: more pages than the query fetched; mapping would drop some")
    if "nodes" in conn:
        yield from _objects(conn.get("nodes"), f"{where}.{key}.nodes")
    else:
        for w, edge in _objects(conn.get("edges"), f"{where}.{key}.edges"):
            yield w, _obj(edge.get("node"), f"{w}.node")


def _connection_page(
    node: Mapping[str, Any], key: str, where: str
) -> tuple[list[tuple[str, Mapping[str, Any]]], str | None]:
    """The nodes of a nested connection and its endCursor when it has more pages (None when it is complete)."""
    conn = _obj(node.get(key), f"{where}.{key}")
    info = conn.get("pageInfo")
    after: str | None = None
    if isinstance(info, Mapping) and info.get("hasNextPage") is True:
        cursor = info.get("endCursor")
        if not isinstance(cursor, str) or not cursor:
            raise _fail(f"{where}.{key}.pageInfo", "more pages but no endCursor (select pageInfo { endCursor })")
        after = cursor
    if "nodes" in conn:
        return list(_objects(conn.get("nodes"), f"{where}.{key}.nodes")), after
    edges = [
        (w, _obj(edge.get("node"), f"{w}.node")) for w, edge in _objects(conn.get("edges"), f"{where}.{key}.edges")
    ]
    return edges, after


def _opt_str(data: Mapping[str, Any], key: str, where: str = "") -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(f"{where}.{key}" if where else key, f"expected a string, got {value!r}")
    return value


def _str(data: Mapping[str, Any], key: str, where: str = "") -> str:
    value = _opt_str(data, key, where)
    if value is None:
        raise _fail(f"{where}.{key}" if where else key, "missing")
    return value


def _text(data: Mapping[str, Any], key: str, where: str = "") -> str:
    return _opt_str(data, key, where) or ""


def _bool(data: Mapping[str, Any], key: str, where: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise _fail(f"{where}.{key}", f"expected true/false, got {value!r}")
    return value


def _int(data: Mapping[str, Any], key: str, where: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"{where}.{key}", f"expected an integer, got {value!r}")
    return value


def _count(data: Mapping[str, Any], key: str, where: str) -> int:
    value = _int(data, key, where)
    if value < 0:
        raise _fail(f"{where}.{key}", f"expected a count ≥ 0, got {value}")
    return value


def _opt_uint(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    # UnsignedInt64 is serialized as a string; accept a plain integer too.
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise _fail(key, f"expected an unsigned integer, got {value!r}")


def _decimal(data: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = data.get(key)
    try:
        result = Decimal(value) if isinstance(value, str | Decimal | int) and not isinstance(value, bool) else None
    except ArithmeticError:  # decimal.InvalidOperation
        result = None
    if result is None or not result.is_finite():
        raise _fail(f"{where}.{key}", f"expected a decimal, got {value!r}")
    return result


def _opt_datetime(data: Mapping[str, Any], key: str, where: str = "") -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    parsed: datetime | None = None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)  # 3.11 reads GraphQL's "2026-10-14T14:42:19Z"
        except ValueError:
            parsed = None
    if parsed is None or parsed.tzinfo is None:  # a naive time would compare wrongly against stored aware ones
        raise _fail(f"{where}.{key}" if where else key, f"expected an ISO 8601 time with offset, got {value!r}")
    return parsed


def _datetime(data: Mapping[str, Any], key: str, where: str) -> datetime:
    value = _opt_datetime(data, key, where)
    if value is None:
        raise _fail(f"{where}.{key}", "missing")
    return value
