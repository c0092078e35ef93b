"""WooCommerce webhook and REST bodies mapped to plain records (see tests/fixtures/woocommerce/README.md).

Parsing is strict about what the services rely on (ids, quantities, prices, stock flags, timestamps) and raises
PayloadError, never KeyError/TypeError, for anything malformed. Everything else WooCommerce sends is ignored.

WooCommerce has no stock locations: every quantity is reported at the implicit location ``DEFAULT_LOCATION_ID``.
Times are read only from the ``*_gmt`` fields (naive strings in UTC); the unsuffixed fields are site-local time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeAlias

from integrations.base import (
    InventoryRecord,
    OrderLineRecord,
    OrderRecord,
    ProductRecord,
    RefundLineRecord,
    RefundRecord,
    UnreadablePayload,
    VariantRecord,
)

__all__ = [
    "DEFAULT_LOCATION_ID",
    "SUPPORTED_TOPICS",
    "OrderDeleted",
    "OrderUpdate",
    "PayloadError",
    "ProductDeleted",
    "ProductUpdate",
    "UnsupportedTopic",
    "VariationUpdate",
    "WooPayload",
    "parse_order",
    "parse_order_delete",
    "parse_product",
    "parse_product_delete",
    "parse_refund",
    "parse_topic_payload",
    "parse_variation",
]

DEFAULT_LOCATION_ID = "default"
"""The one implicit stock location of a WooCommerce store."""


class PayloadError(UnreadablePayload):
    """A webhook or REST body that cannot be mapped: malformed JSON, a missing or mistyped required field."""

    def __init__(self, message: str, *, topic: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.topic = topic
        self.field = field


class UnsupportedTopic(PayloadError):
    """A topic this module has no mapping for (store the delivery, acknowledge it, do nothing)."""


@dataclass(frozen=True, slots=True)
class ProductUpdate:
    """A simple or variable product with the stock of the variants it carries.

    For a variable product mapped without its variations (every product webhook), ``product.variants`` is empty:
    ``variation_ids`` lists them and ``parent_stock`` is the quantity that variations with
    ``stock_from_parent`` share (a parent stock change sends no delivery for those variations).
    """

    product: ProductRecord
    inventory: tuple[InventoryRecord, ...] = ()
    stock_status: Mapping[str, str] = field(default_factory=dict)  # variant id → instock|outofstock|onbackorder
    variation_ids: tuple[str, ...] = ()
    parent_stock: int | None = None


@dataclass(frozen=True, slots=True)
class VariationUpdate:
    """One variation: a product.* webhook with ``type: "variation"``, or an item of /products/<id>/variations."""

    parent_external_id: str
    variant: VariantRecord
    inventory: InventoryRecord
    stock_status: str


@dataclass(frozen=True, slots=True)
class ProductDeleted:
    """product.deleted: only the id is sent (trashing and deleting look the same)."""

    external_id: str


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order; its ``refunds`` are filled only when the refund objects were fetched (REST /orders/<id>/refunds).

    The order body lists refunds by id and total only, so ``refund_ids`` says which ones to fetch.
    """

    order: OrderRecord
    status: str
    refund_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderDeleted:
    """order.deleted: only the id is sent."""

    external_id: str


WooPayload: TypeAlias = ProductUpdate | VariationUpdate | ProductDeleted | OrderUpdate | OrderDeleted

# --- typed field readers: every lookup goes through these, so nothing raises KeyError/TypeError ----------------

_Obj = Mapping[str, object]
_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
_GMT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}", re.ASCII)


def _fail(where: str, problem: str) -> PayloadError:
    return PayloadError(f"{where}: {problem}", field=where)


def _path(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _obj(value: object, where: str) -> _Obj:
    if not isinstance(value, Mapping):
        raise _fail(where, "expected an object")
    return value


def _list(data: _Obj, key: str, prefix: str = "") -> list[object]:
    """A JSON array; missing or null reads as empty."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(_path(prefix, key), "expected an array")
    return value


def _objects(data: _Obj, key: str, prefix: str = "") -> Iterable[tuple[str, _Obj]]:
    where = _path(prefix, key)
    for i, item in enumerate(_list(data, key, prefix)):
        yield f"{where}[{i}]", _obj(item, f"{where}[{i}]")


def _id_value(value: object, where: str) -> str:
    # JSON true is an int in Python: refuse bools. Numeric strings are accepted (meta values quote ids).
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return str(int(value))
    raise _fail(where, f"expected a numeric id, got {value!r}")


def _id(data: _Obj, key: str, prefix: str = "") -> str:
    return _id_value(data.get(key), _path(prefix, key))


def _ref_id(data: _Obj, key: str, prefix: str = "") -> str | None:
    """An id where 0 or null means "none" (parent_id, variation_id, customer_id)."""
    value = data.get(key)
    if value is None:
        return None
    result = _id_value(value, _path(prefix, key))
    return None if result == "0" else result


def _int(data: _Obj, key: str, prefix: str = "") -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(_path(prefix, key), f"expected an integer, got {value!r}")
    return value


def _opt_int(data: _Obj, key: str, prefix: str = "") -> int | None:
    return None if data.get(key) is None else _int(data, key, prefix)


def _str(data: _Obj, key: str, prefix: str = "") -> str:
    """A required non-empty string."""
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _fail(_path(prefix, key), f"expected a non-empty string, got {value!r}")
    return value


def _text(data: _Obj, key: str, prefix: str = "") -> str:
    """A string where absent or null reads as ""."""
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _fail(_path(prefix, key), f"expected a string, got {value!r}")
    return value


def _bool(data: _Obj, key: str, prefix: str = "") -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise _fail(_path(prefix, key), f"expected true/false, got {value!r}")
    return value


def _decimal(data: _Obj, key: str, prefix: str = "", *, blank_is_zero: bool = False) -> Decimal:
    value = data.get(key)
    where = _path(prefix, key)
    if blank_is_zero and (value == "" or value is None):
        return Decimal("0")  # a product with no price set; WooCommerce sends "" and will not sell it
    if isinstance(value, str):
        try:
            result = Decimal(value)
        except ArithmeticError:  # decimal.InvalidOperation
            raise _fail(where, f"expected a decimal, got {value!r}") from None
    elif isinstance(value, Decimal | int) and not isinstance(value, bool):
        result = Decimal(value)
    elif isinstance(value, float):
        # Line-item "price" is a JSON number; bodies parsed without parse_float=Decimal give a float, whose
        # shortest repr ("19.99") is the decimal PHP printed.
        result = Decimal(repr(value))
    else:
        raise _fail(where, f"expected a decimal, got {value!r}")
    if not result.is_finite():
        raise _fail(where, f"expected a finite decimal, got {value!r}")
    return result


def _gmt(data: _Obj, key: str, prefix: str = "") -> datetime:
    value = data.get(key)
    # *_gmt fields are naive "YYYY-MM-DDTHH:MM:SS" in UTC; anything else is a shape change, not a time to guess.
    if not isinstance(value, str) or not _GMT.fullmatch(value):
        raise _fail(_path(prefix, key), f"expected a GMT time YYYY-MM-DDTHH:MM:SS, got {value!r}")
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise _fail(_path(prefix, key), f"not a valid time: {value!r}") from None


def _opt_gmt(data: _Obj, key: str, prefix: str = "") -> datetime | None:
    return None if data.get(key) is None else _gmt(data, key, prefix)


# --- products and variations ---------------------------------------------------------------------------------

_STOCK_STATUSES = frozenset({"instock", "outofstock", "onbackorder"})
_BACKORDERS = frozenset({"no", "notify", "yes"})
_PRODUCT_STATUS = {"publish": "active", "draft": "draft", "pending": "draft", "private": "private", "trash": "archived"}


@dataclass(frozen=True, slots=True)
class _Stock:
    tracked: bool
    from_parent: bool
    quantity: int | None
    status: str
    backorder: bool
    policy: str


def _stock(data: _Obj, prefix: str, parent_stock: int | None = None) -> _Stock:
    manage = data.get("manage_stock")
    # Variations report manage_stock as the string "parent" when the parent's quantity applies to them.
    from_parent = manage == "parent"
    if not from_parent and not isinstance(manage, bool):
        raise _fail(_path(prefix, "manage_stock"), f"expected true/false/'parent', got {manage!r}")
    tracked = from_parent or manage is True
    quantity = _opt_int(data, "stock_quantity", prefix) if tracked else None
    if from_parent and parent_stock is not None:
        quantity = parent_stock  # the parent's own number wins over the copy a variation list carries
    status = _str(data, "stock_status", prefix)
    if status not in _STOCK_STATUSES:
        raise _fail(_path(prefix, "stock_status"), f"unknown stock status {status!r}")
    backorders = _str(data, "backorders", prefix)
    if backorders not in _BACKORDERS:
        raise _fail(_path(prefix, "backorders"), f"expected no/notify/yes, got {backorders!r}")
    allowed = data.get("backorders_allowed")
    allowed = allowed if isinstance(allowed, bool) else backorders != "no"
    return _Stock(
        tracked=tracked,
        from_parent=from_parent,
        quantity=quantity,
        status=status,
        backorder=status == "onbackorder" or backorders != "no",
        policy="continue" if allowed else "deny",
    )


def _image(data: _Obj, prefix: str) -> str | None:
    # Webhook and product bodies carry "images" (a list); REST variation items carry "image" (one object or null).
    single = data.get("image")
    if isinstance(single, Mapping):
        src = single.get("src")
        return src if isinstance(src, str) and src else None
    for where, image in _objects(data, "images", prefix):
        src = _text(image, "src", where)
        if src:
            return src
    return None


def _options(data: _Obj, prefix: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for where, attribute in _objects(data, "attributes", prefix):
        # Variation attributes carry one chosen "option"; product attributes carry "options" (a list) instead.
        if "option" in attribute:
            options[_text(attribute, "name", where)] = _text(attribute, "option", where)
    return options


def _link_params(data: _Obj, prefix: str) -> dict[str, str]:
    """The product page's query that preselects this variation: ``attribute_<slug>=<option>`` per chosen attribute.

    WooCommerce's variation form takes each select's value from ``$_REQUEST['attribute_' . sanitize_title($name)]``
    before the default; ``slug`` is that sanitized name (``pa_size`` for a global attribute, ``color`` for a custom
    one). A global attribute's option is its term name, which the form sanitizes before comparing with the term
    slug; a custom one's is matched as written. An "Any …" attribute has no option and is left to the shopper.
    """
    params: dict[str, str] = {}
    for where, attribute in _objects(data, "attributes", prefix):
        slug, option = attribute.get("slug"), attribute.get("option")
        if isinstance(slug, str) and slug and isinstance(option, str) and option:
            params[f"attribute_{slug}"] = option
        elif "option" in attribute:
            _text(attribute, "option", where)  # a malformed option fails the payload as it does for the options
    return params


def _variant(
    data: _Obj,
    prefix: str,
    stock: _Stock,
    *,
    title: str,
    options: Mapping[str, str],
    link_params: Mapping[str, str] | None = None,
) -> VariantRecord:
    return VariantRecord(
        external_id=_id(data, "id", prefix),
        sku=_text(data, "sku", prefix),
        title=title,
        options=dict(options),
        link_params=dict(link_params or {}),
        price=_decimal(data, "price", prefix, blank_is_zero=True),
        tracked=stock.tracked,
        inventory_policy=stock.policy,
        backorder=stock.backorder,
        stock_from_parent=stock.from_parent,
        published=_text(data, "status", prefix) in ("publish", ""),
        position=_opt_int(data, "menu_order", prefix) or 0,
        image_url=_image(data, prefix),
        updated_at=_opt_gmt(data, "date_modified_gmt", prefix),
    )


def _inventory(variant: VariantRecord, stock: _Stock) -> InventoryRecord:
    return InventoryRecord(
        variant_external_id=variant.external_id,
        location_external_id=DEFAULT_LOCATION_ID,
        available=stock.quantity,
        on_hand=stock.quantity,
        updated_at=variant.updated_at,
    )


def _variation(data: _Obj, prefix: str = "", parent_stock: int | None = None) -> VariationUpdate:
    if _text(data, "type", prefix) not in ("variation", ""):
        raise _fail(_path(prefix, "type"), f"expected a variation, got {data.get('type')!r}")
    parent = _ref_id(data, "parent_id", prefix)
    if parent is None:
        raise _fail(_path(prefix, "parent_id"), "a variation needs its parent id")
    stock = _stock(data, prefix, parent_stock)
    options = _options(data, prefix)
    # The title is built from the options so both sources agree: webhooks say "Hoodie - S", the REST list says "S".
    title = " / ".join(options.values()) if options else _text(data, "name", prefix)
    variant = _variant(data, prefix, stock, title=title, options=options, link_params=_link_params(data, prefix))
    return VariationUpdate(
        parent_external_id=parent, variant=variant, inventory=_inventory(variant, stock), stock_status=stock.status
    )


def parse_variation(data: _Obj, parent_stock: int | None = None) -> VariationUpdate:
    """Map one variation (webhook product shape or REST /variations item) to its parent id, variant and stock."""
    return _variation(data, "", parent_stock)


def parse_product(data: _Obj, variations: Sequence[_Obj] | None = None) -> ProductUpdate:
    """Map a product (webhook or REST); a variable product's variants come from its REST /variations list."""
    kind = _str(data, "type")
    if kind == "variation":
        raise _fail("type", "a variation is not a product: use parse_variation")
    status = _str(data, "status")
    categories = tuple(_text(c, "name", w) for w, c in _objects(data, "categories"))
    tags = tuple(_text(t, "name", w) for w, t in _objects(data, "tags"))
    stock = _stock(data, "")
    variation_ids = tuple(_id_value(v, f"variations[{i}]") for i, v in enumerate(_list(data, "variations")))
    variants: tuple[VariantRecord, ...]
    inventory: tuple[InventoryRecord, ...]
    statuses: dict[str, str]
    parent_stock = stock.quantity if stock.tracked else None
    if kind == "variable":
        mapped = [_variation(v, f"variations[{i}]", parent_stock) for i, v in enumerate(variations or ())]
        product_id = _id(data, "id")
        for i, item in enumerate(mapped):
            if item.parent_external_id != product_id:
                raise _fail(f"variations[{i}].parent_id", f"belongs to {item.parent_external_id}, not {product_id}")
        # menu_order ties (all 0 here) keep the REST order, which is newest first; sort by id for a stable order.
        mapped.sort(key=lambda m: (m.variant.position, int(m.variant.external_id)))
        variants = tuple(m.variant for m in mapped)
        inventory = tuple(m.inventory for m in mapped)
        statuses = {m.variant.external_id: m.stock_status for m in mapped}
    else:
        # A simple (or other non-variable) product is its own single variant.
        variant = _variant(data, "", stock, title=_str(data, "name"), options={})
        variants, inventory, statuses = (variant,), (_inventory(variant, stock),), {variant.external_id: stock.status}
    product = ProductRecord(
        external_id=_id(data, "id"),
        title=_str(data, "name"),
        handle=_text(data, "slug"),
        description=_text(data, "description"),  # HTML as WooCommerce stores it; escape when rendering
        product_type=categories[0] if categories else "",
        kind=kind,
        image_url=_image(data, ""),
        url=_text(data, "permalink") or None,
        status=_PRODUCT_STATUS.get(status, "draft"),
        published=status == "publish" and _text(data, "catalog_visibility") != "hidden",
        collections=categories,
        tags=tags,
        updated_at=_opt_gmt(data, "date_modified_gmt"),
        variants=variants,
    )
    return ProductUpdate(
        product=product,
        inventory=inventory,
        stock_status=statuses,
        variation_ids=variation_ids,
        parent_stock=parent_stock if kind == "variable" else None,
    )


def parse_product_delete(data: _Obj) -> ProductDeleted:
    """Map a product.deleted body (``{"id": N}``)."""
    return ProductDeleted(external_id=_id(data, "id"))


def _product_or_variation(data: _Obj) -> ProductUpdate | VariationUpdate:
    # One product.* topic covers variations too; they arrive in full product shape with type "variation".
    return parse_variation(data) if data.get("type") == "variation" else parse_product(data)


# --- orders and refunds --------------------------------------------------------------------------------------


def _refund_line_id(data: _Obj, where: str) -> str:
    # A refund line has its own id; the order line it gives back is named in the _refunded_item_id meta.
    for meta_where, meta in _objects(data, "meta_data", where):
        if meta.get("key") == "_refunded_item_id":
            return _id(meta, "value", meta_where)
    raise _fail(_path(where, "meta_data"), "no _refunded_item_id: cannot tell which order line was refunded")


def _refund(data: _Obj, restocked: Mapping[str, int] | None = None, where: str = "") -> RefundRecord:
    lines: list[RefundLineRecord] = []
    for line_where, line in _objects(data, "line_items", where):
        quantity = abs(_int(line, "quantity", line_where))  # refund lines count negative units
        if quantity == 0:
            continue  # an amount-only refund of this line gives no unit back
        line_id = _refund_line_id(line, line_where)
        # The refund object does not say whether it restocked; the order line's _restock_refunded_items does.
        restock = bool(restocked and restocked.get(line_id, 0) > 0)
        lines.append(RefundLineRecord(line_external_id=line_id, quantity=quantity, restock=restock))
    return RefundRecord(
        external_id=_id(data, "id", where),
        refunded_at=_gmt(data, "date_created_gmt", where),
        lines=tuple(lines),
        note=_text(data, "reason", where),
    )


def parse_refund(data: _Obj) -> RefundRecord:
    """Map a refund object (REST /orders/<id>/refunds[/<id>]) with positive quantities per order line."""
    return _refund(data)


def _order_line(data: _Obj, where: str) -> OrderLineRecord:
    variant = _ref_id(data, "variation_id", where) or _ref_id(data, "product_id", where)
    quantity = _int(data, "quantity", where)
    if quantity < 0:
        raise _fail(_path(where, "quantity"), f"expected a count ≥ 0, got {quantity}")
    return OrderLineRecord(
        external_id=_id(data, "id", where),
        variant_external_id=variant,  # None when the product was deleted (both ids 0)
        quantity=quantity,  # as ordered; refunds are recorded apart
        price=_decimal(data, "price", where),
        sku=_text(data, "sku", where),
    )


def _restocked_lines(data: _Obj) -> dict[str, int]:
    restocked: dict[str, int] = {}
    for where, line in _objects(data, "line_items"):
        for meta_where, meta in _objects(line, "meta_data", where):
            if meta.get("key") == "_restock_refunded_items":
                value = meta.get("value")
                units = _id_value(value, _path(meta_where, "value"))
                restocked[_id(line, "id", where)] = int(units)
    return restocked


def parse_order(data: _Obj, refunds: Sequence[_Obj] = ()) -> OrderUpdate:
    """Map an order (webhook or REST), attaching the refund objects fetched for it, if any."""
    status = _str(data, "status")
    billing = data.get("billing")
    email = _text(_obj(billing, "billing"), "email", "billing").strip().lower() if billing is not None else ""
    updated_at = _gmt(data, "date_modified_gmt")
    restocked = _restocked_lines(data)
    order = OrderRecord(
        external_id=_id(data, "id"),
        ordered_at=_gmt(data, "date_created_gmt"),
        name=f"#{_text(data, 'number') or _id(data, 'id')}",
        email=email or None,
        customer_external_id=_ref_id(data, "customer_id"),  # 0 is a guest
        currency=_str(data, "currency"),
        total=_decimal(data, "total"),
        financial_status=status,
        # WooCommerce keeps no cancellation time; the last modification of a cancelled order is the closest.
        cancelled_at=updated_at if status == "cancelled" else None,
        updated_at=updated_at,
        lines=tuple(_order_line(line, where) for where, line in _objects(data, "line_items")),
        refunds=tuple(_refund(r, restocked, f"refunds[{i}]") for i, r in enumerate(refunds)),
    )
    refund_ids = tuple(_id(r, "id", w) for w, r in _objects(data, "refunds"))
    return OrderUpdate(order=order, status=status, refund_ids=refund_ids)


def parse_order_delete(data: _Obj) -> OrderDeleted:
    """Map an order.deleted body (``{"id": N}``)."""
    return OrderDeleted(external_id=_id(data, "id"))


# --- dispatch ------------------------------------------------------------------------------------------------

_PARSERS: dict[str, Callable[[_Obj], WooPayload]] = {
    "product.created": _product_or_variation,
    "product.updated": _product_or_variation,
    "product.restored": _product_or_variation,
    "product.deleted": parse_product_delete,
    "order.created": parse_order,
    "order.updated": parse_order,
    "order.restored": parse_order,
    "order.deleted": parse_order_delete,
}

SUPPORTED_TOPICS: frozenset[str] = frozenset(_PARSERS)
"""Every topic parse_topic_payload maps."""


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def parse_topic_payload(topic: str, body: bytes) -> WooPayload:
    """Parse a raw webhook body for its topic into a record; raise PayloadError (UnsupportedTopic) if it can't."""
    parser = _PARSERS.get(topic.strip().lower())
    if parser is None:
        raise UnsupportedTopic(f"unsupported topic {topic!r}", topic=topic)
    try:
        # parse_float=Decimal keeps line prices exact; NaN/Infinity are not JSON and are refused.
        data = json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise PayloadError(f"{topic}: body is not valid JSON ({exc.__class__.__name__})", topic=topic) from None
    if not isinstance(data, dict):
        raise PayloadError(f"{topic}: body is not a JSON object", topic=topic)
    try:
        return parser(data)
    except PayloadError as exc:
        exc.topic = topic
        raise
    except RecursionError:  # a hostile, deeply nested field; never a WooCommerce body
        raise PayloadError(f"{topic}: body nests too deeply", topic=topic) from None
