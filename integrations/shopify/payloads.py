"""Shopify webhook bodies and headers mapped to plain records (see tests/fixtures/shopify/README.md).

Parsing is strict about what the services rely on (ids, quantities, prices, timestamps) and raises PayloadError,
never KeyError/TypeError, for anything malformed. Everything else Shopify sends is ignored.

Tracking: since API 2024-07 product payloads no longer carry ``inventory_management``, so a products/* webhook
cannot say whether a variant is tracked. Its VariantRecords keep the dataclass default ``tracked=True``, which is
only right for a variant seen for the first time (Shopify's own default). ``PRODUCT_WEBHOOK_UNKNOWN_VARIANT_FIELDS``
names the fields the catalog service must not overwrite on an existing variant from a product webhook; tracking
comes from inventory_items/update (InventoryItemUpdate.tracked) and GraphQL ``inventoryItem.tracked``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from integrations.base import (
    OrderLineRecord,
    OrderRecord,
    ProductRecord,
    RefundLineRecord,
    RefundRecord,
    StoreInfo,
    UnreadablePayload,
    VariantRecord,
)
from integrations.shopify.shop import money_format as shop_money_format
from integrations.shopify.verify import is_valid_shop_domain

__all__ = [
    "PRODUCT_WEBHOOK_UNKNOWN_VARIANT_FIELDS",
    "SUPPORTED_TOPICS",
    "AppScopesUpdate",
    "AppUninstalled",
    "BulkOperationFinished",
    "CustomersDataRequest",
    "CustomersRedact",
    "HeaderSource",
    "InventoryItemUpdate",
    "InventoryLevelUpdate",
    "PayloadError",
    "ProductDeleted",
    "RefundCreated",
    "ShopRedact",
    "ShopifyPayload",
    "UnsupportedTopic",
    "WebhookHeaders",
    "parse_app_scopes_update",
    "parse_app_uninstalled",
    "parse_bulk_operation_finish",
    "parse_customers_data_request",
    "parse_customers_redact",
    "parse_inventory_item",
    "parse_inventory_level",
    "parse_order",
    "parse_product",
    "parse_product_delete",
    "parse_refund",
    "parse_refund_created",
    "parse_shop_redact",
    "parse_shop_update",
    "parse_topic_payload",
]

PRODUCT_WEBHOOK_UNKNOWN_VARIANT_FIELDS: frozenset[str] = frozenset({"tracked"})
"""VariantRecord fields a products/* webhook does not carry: keep the stored value on update."""


class PayloadError(UnreadablePayload):
    """A webhook body or header that cannot be mapped: malformed JSON, a missing or mistyped required field."""

    def __init__(self, message: str, *, topic: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.topic = topic
        self.field = field


class UnsupportedTopic(PayloadError):
    """A topic this module has no mapping for (store the delivery, acknowledge it, do nothing)."""


# --- small typed records for what base.py has no record for -------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductDeleted:
    """products/delete: only the id is sent."""

    external_id: str


@dataclass(frozen=True, slots=True)
class InventoryLevelUpdate:
    """inventory_levels/update: keyed by inventory item, not variant, so not an InventoryRecord.

    ``available`` is None when the item is not tracked (Shopify sends null after tracking is turned off).
    """

    inventory_item_id: str
    location_id: str
    available: int | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class InventoryItemUpdate:
    """inventory_items/update: the only webhook that says whether a variant's stock is tracked."""

    inventory_item_id: str
    tracked: bool
    updated_at: datetime
    sku: str = ""


@dataclass(frozen=True, slots=True)
class RefundCreated:
    """refunds/create: a refund and the order it belongs to."""

    order_external_id: str
    refund: RefundRecord


@dataclass(frozen=True, slots=True)
class AppUninstalled:
    """app/uninstalled: the shop object; the shop is identified by the (header) domain, these are for logs."""

    shop_id: str | None
    myshopify_domain: str | None


@dataclass(frozen=True, slots=True)
class AppScopesUpdate:
    """app/scopes_update: granted access scopes before and after."""

    shop_id: str | None
    previous: tuple[str, ...]
    current: tuple[str, ...]
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class ShopRedact:
    """shop/redact (compliance): erase the shop's data, sent 48 h after uninstall."""

    shop_id: str
    shop_domain: str


@dataclass(frozen=True, slots=True)
class CustomersRedact:
    """customers/redact (compliance): erase one customer's data."""

    shop_id: str
    shop_domain: str
    customer_id: str | None
    email: str | None
    phone: str | None
    orders_to_redact: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CustomersDataRequest:
    """customers/data_request (compliance): report what is stored about one customer."""

    shop_id: str
    shop_domain: str
    customer_id: str | None
    email: str | None
    phone: str | None
    orders_requested: tuple[str, ...]
    data_request_id: str | None


@dataclass(frozen=True, slots=True)
class BulkOperationFinished:
    """bulk_operations/finish: no URL is sent; look it up with node(id:).

    The webhook writes status/error_code/type in lowercase; they are upper-cased here to match the GraphQL enums
    (COMPLETED, FAILED, ACCESS_DENIED, QUERY, …) the bulk poller sees.
    """

    bulk_operation_id: str  # the full GID, as node(id:) wants it
    status: str
    error_code: str | None
    type: str
    created_at: datetime | None
    completed_at: datetime | None


ShopifyPayload = (
    ProductRecord
    | ProductDeleted
    | InventoryLevelUpdate
    | InventoryItemUpdate
    | OrderRecord
    | RefundCreated
    | AppUninstalled
    | AppScopesUpdate
    | ShopRedact
    | CustomersRedact
    | CustomersDataRequest
    | BulkOperationFinished
    | StoreInfo
)

# --- typed field readers: every lookup goes through these, so nothing raises KeyError/TypeError ----------------

_Obj = Mapping[str, object]
_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
_GID = re.compile(r"gid://shopify/[A-Za-z]+/([0-9]{1,20})(?:\?.*)?", re.ASCII)


def _fail(where: str, problem: str) -> PayloadError:
    return PayloadError(f"{where}: {problem}", field=where)


def _path(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _obj(value: object, where: str) -> _Obj:
    if not isinstance(value, Mapping):
        raise _fail(where, "expected an object")
    return value


def _opt_obj(data: _Obj, key: str, prefix: str = "") -> _Obj | None:
    value = data.get(key)
    return None if value is None else _obj(value, _path(prefix, key))


def _list(data: _Obj, key: str, prefix: str = "") -> list[object]:
    """A JSON array; missing or null reads as empty."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(_path(prefix, key), "expected an array")
    return value


def _id_value(value: object, where: str) -> str:
    # JSON true is an int in Python: refuse bools. Numeric strings are accepted (some topics quote ids).
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return str(int(value))
    raise _fail(where, f"expected a numeric id, got {value!r}")


def _id(data: _Obj, key: str, prefix: str = "") -> str:
    return _id_value(data.get(key), _path(prefix, key))


def _opt_id(data: _Obj, key: str, prefix: str = "") -> str | None:
    value = data.get(key)
    return None if value is None else _id_value(value, _path(prefix, key))


def _gid_or_id(data: _Obj, key: str, prefix: str = "") -> str | None:
    """A numeric id that may come as a GID ("gid://shopify/Shop/1" → "1"); None when absent."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str) and (match := _GID.fullmatch(value)):
        return str(int(match.group(1)))
    return _id_value(value, _path(prefix, key))


def _int(data: _Obj, key: str, prefix: str = "") -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(_path(prefix, key), f"expected an integer, got {value!r}")
    return value


def _count(data: _Obj, key: str, prefix: str = "") -> int:
    value = _int(data, key, prefix)
    if value < 0:
        raise _fail(_path(prefix, key), f"expected a count ≥ 0, got {value}")
    return value


def _str(data: _Obj, key: str, prefix: str = "") -> str:
    """A required non-empty string."""
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _fail(_path(prefix, key), f"expected a non-empty string, got {value!r}")
    return value


def _opt_str(data: _Obj, key: str, prefix: str = "") -> str | None:
    """A string, or None when absent, null or empty."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(_path(prefix, key), f"expected a string, got {value!r}")
    return value or None


def _text(data: _Obj, key: str, prefix: str = "") -> str:
    """A string where absent or null reads as ""."""
    return _opt_str(data, key, prefix) or ""


def _bool(data: _Obj, key: str, prefix: str = "") -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise _fail(_path(prefix, key), f"expected true/false, got {value!r}")
    return value


def _decimal(data: _Obj, key: str, prefix: str = "") -> Decimal:
    value = data.get(key)
    # Money comes as a string ("89.00"); bodies are parsed with parse_float=Decimal, so a JSON number is exact too.
    if isinstance(value, str):
        try:
            result = Decimal(value)
        except ArithmeticError:  # decimal.InvalidOperation
            raise _fail(_path(prefix, key), f"expected a decimal, got {value!r}") from None
    elif isinstance(value, Decimal | int) and not isinstance(value, bool):
        result = Decimal(value)
    else:
        raise _fail(_path(prefix, key), f"expected a decimal, got {value!r}")
    if not result.is_finite():
        raise _fail(_path(prefix, key), f"expected a finite decimal, got {value!r}")
    return result


def _parse_datetime(value: str) -> datetime | None:
    # fromisoformat (3.11) reads Shopify's "-04:00", ".000Z" and "2025-07-10T16:15:47.000000Z" forms.
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _datetime(data: _Obj, key: str, prefix: str = "") -> datetime:
    value = data.get(key)
    parsed = _parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:  # a naive time would compare wrongly against stored tz-aware ones
        raise _fail(_path(prefix, key), f"expected an ISO 8601 time with offset, got {value!r}")
    return parsed


def _opt_datetime(data: _Obj, key: str, prefix: str = "") -> datetime | None:
    return None if data.get(key) is None else _datetime(data, key, prefix)


def _email(data: _Obj, key: str, prefix: str = "") -> str | None:
    value = _opt_str(data, key, prefix)
    value = value.strip().lower() if value else None
    return value or None


def _str_tuple(data: _Obj, key: str, prefix: str = "") -> tuple[str, ...]:
    items = _list(data, key, prefix)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise _fail(f"{_path(prefix, key)}[{i}]", f"expected a string, got {item!r}")
    return tuple(str(item) for item in items)


def _id_tuple(data: _Obj, key: str, prefix: str = "") -> tuple[str, ...]:
    where = _path(prefix, key)
    return tuple(_id_value(item, f"{where}[{i}]") for i, item in enumerate(_list(data, key, prefix)))


def _objects(data: _Obj, key: str, prefix: str = "") -> Iterable[tuple[str, _Obj]]:
    where = _path(prefix, key)
    for i, item in enumerate(_list(data, key, prefix)):
        yield f"{where}[{i}]", _obj(item, f"{where}[{i}]")


# --- products ------------------------------------------------------------------------------------------------

_INVENTORY_POLICIES = frozenset({"deny", "continue"})


def _variant_options(variant: _Obj, option_names: Mapping[int, str], where: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for position in (1, 2, 3):
        value = _opt_str(variant, f"option{position}", where)
        if value is not None:
            options[option_names.get(position, f"Option {position}")] = value
    # A product without options has the placeholder option Title = "Default Title": that is no real choice.
    if options == {"Title": "Default Title"}:
        return {}
    return options


def _variant(data: _Obj, where: str, option_names: Mapping[int, str], images: Mapping[str, str]) -> VariantRecord:
    policy = _str(data, "inventory_policy", where)
    if policy not in _INVENTORY_POLICIES:
        raise _fail(_path(where, "inventory_policy"), f"expected deny or continue, got {policy!r}")
    image_id = _opt_id(data, "image_id", where)
    return VariantRecord(
        external_id=_id(data, "id", where),
        sku=_text(data, "sku", where),
        title=_text(data, "title", where),
        options=_variant_options(data, option_names, where),
        price=_decimal(data, "price", where),
        # tracked is deliberately left at its default: see PRODUCT_WEBHOOK_UNKNOWN_VARIANT_FIELDS.
        inventory_policy=policy,
        position=_count(data, "position", where) if data.get("position") is not None else 0,
        image_url=images.get(image_id) if image_id else None,
        inventory_item_id=_opt_id(data, "inventory_item_id", where),
        updated_at=_opt_datetime(data, "updated_at", where),
    )


def parse_product(data: _Obj) -> ProductRecord:
    """Map a products/create or products/update body to a ProductRecord with its variants."""
    option_names: dict[int, str] = {}
    for where, option in _objects(data, "options"):
        if option.get("position") is not None:
            option_names[_count(option, "position", where)] = _text(option, "name", where)
    images: dict[str, str] = {}
    for where, image in _objects(data, "images"):
        src = _opt_str(image, "src", where)
        if src is not None and image.get("id") is not None:
            images[_id(image, "id", where)] = src
    main_image = _opt_obj(data, "image")
    image_url = _opt_str(main_image, "src", "image") if main_image is not None else None
    if image_url is None and images:
        image_url = next(iter(images.values()))
    variants = tuple(_variant(v, where, option_names, images) for where, v in _objects(data, "variants"))
    return ProductRecord(
        external_id=_id(data, "id"),
        title=_str(data, "title"),
        handle=_text(data, "handle"),
        description=_text(data, "body_html"),  # HTML as Shopify stores it; escape when rendering
        vendor=_text(data, "vendor"),
        product_type=_text(data, "product_type"),
        kind="variable" if len(variants) > 1 else "simple",
        image_url=image_url,
        status=_text(data, "status") or "active",
        # Shopify publishes whole products; published_at is null when the product is on no sales channel.
        published=data.get("published_at") is not None,
        tags=tuple(tag.strip() for tag in _text(data, "tags").split(",") if tag.strip()),
        updated_at=_datetime(data, "updated_at"),
        variants=variants,
    )


def parse_product_delete(data: _Obj) -> ProductDeleted:
    """Map a products/delete body."""
    return ProductDeleted(external_id=_id(data, "id"))


# --- inventory -----------------------------------------------------------------------------------------------


def parse_inventory_level(data: _Obj) -> InventoryLevelUpdate:
    """Map an inventory_levels/update body; ``available`` null (untracked) stays None."""
    if "available" not in data:  # absent is a shape change, not "untracked": refuse to guess
        raise _fail("available", "missing")
    available = data.get("available")
    return InventoryLevelUpdate(
        inventory_item_id=_id(data, "inventory_item_id"),
        location_id=_id(data, "location_id"),
        available=None if available is None else _int(data, "available"),
        updated_at=_datetime(data, "updated_at"),
    )


def parse_inventory_item(data: _Obj) -> InventoryItemUpdate:
    """Map an inventory_items/update body (no variant or product id is sent: join on inventory_item_id)."""
    return InventoryItemUpdate(
        inventory_item_id=_id(data, "id"),
        tracked=_bool(data, "tracked"),
        updated_at=_datetime(data, "updated_at"),
        sku=_text(data, "sku"),
    )


# --- orders and refunds --------------------------------------------------------------------------------------


def _refund_line(data: _Obj, where: str, refund_restocks: bool) -> RefundLineRecord:
    restock_type = _opt_str(data, "restock_type", where)
    return RefundLineRecord(
        line_external_id=_id(data, "line_item_id", where),
        quantity=_count(data, "quantity", where),
        # cancel / return / legacy_restock put units back; no_restock does not. Without a restock_type (old
        # payloads) the refund-level flag decides.
        restock=restock_type != "no_restock" if restock_type is not None else refund_restocks,
    )


def _refund(data: _Obj, where: str = "") -> RefundRecord:
    refund_restocks = data.get("restock") is True
    # processed_at is when the refund counts (it can be back-dated on import); created_at when it was entered.
    refunded_at = _opt_datetime(data, "processed_at", where) or _datetime(data, "created_at", where)
    return RefundRecord(
        external_id=_id(data, "id", where),
        refunded_at=refunded_at,
        lines=tuple(_refund_line(line, w, refund_restocks) for w, line in _objects(data, "refund_line_items", where)),
        note=_text(data, "note", where),
    )


def parse_refund(data: _Obj) -> RefundRecord:
    """Map a refund object (a refunds/create body, or one of an order's ``refunds``)."""
    return _refund(data)


def parse_refund_created(data: _Obj) -> RefundCreated:
    """Map a refunds/create body to the refund and its order id."""
    return RefundCreated(order_external_id=_id(data, "order_id"), refund=_refund(data))


def _order_line(data: _Obj, where: str) -> OrderLineRecord:
    return OrderLineRecord(
        external_id=_id(data, "id", where),
        variant_external_id=_opt_id(data, "variant_id", where),  # null for custom items and deleted variants
        quantity=_count(data, "quantity", where),  # as ordered; cancellations and refunds are recorded apart
        price=_decimal(data, "price", where),
        sku=_text(data, "sku", where),
    )


def parse_order(data: _Obj) -> OrderRecord:
    """Map an orders/create|paid|cancelled|updated body to an OrderRecord with lines and embedded refunds."""
    customer = _opt_obj(data, "customer")
    # processed_at is the order's date in Shopify's reports (imported orders are back-dated); created_at is when
    # the row appeared.
    ordered_at = _opt_datetime(data, "processed_at") or _datetime(data, "created_at")
    return OrderRecord(
        external_id=_id(data, "id"),
        ordered_at=ordered_at,
        name=_text(data, "name"),
        email=_email(data, "email") or _email(data, "contact_email"),
        customer_external_id=_opt_id(customer, "id", "customer") if customer is not None else None,
        currency=_str(data, "currency"),
        total=_decimal(data, "total_price"),
        financial_status=_text(data, "financial_status"),
        cancelled_at=_opt_datetime(data, "cancelled_at"),
        updated_at=_datetime(data, "updated_at"),
        lines=tuple(_order_line(line, where) for where, line in _objects(data, "line_items")),
        refunds=tuple(_refund(refund, where) for where, refund in _objects(data, "refunds")),
    )


# --- app lifecycle, compliance, bulk -------------------------------------------------------------------------


def parse_app_uninstalled(data: _Obj) -> AppUninstalled:
    """Map an app/uninstalled body (nothing in it is required: the header names the shop)."""
    return AppUninstalled(shop_id=_opt_id(data, "id"), myshopify_domain=_opt_str(data, "myshopify_domain"))


def parse_app_scopes_update(data: _Obj) -> AppScopesUpdate:
    """Map an app/scopes_update body; ``shop_id`` comes as a Shop GID."""
    for key in ("previous", "current"):
        if not isinstance(data.get(key), list):
            raise _fail(key, "expected an array")
    return AppScopesUpdate(
        shop_id=_gid_or_id(data, "shop_id"),
        previous=_str_tuple(data, "previous"),
        current=_str_tuple(data, "current"),
        updated_at=_opt_datetime(data, "updated_at"),
    )


def _shop_domain(data: _Obj, key: str) -> str:
    domain = _str(data, key)
    if not is_valid_shop_domain(domain):
        raise _fail(key, f"not a myshopify.com domain: {domain!r}")
    return domain.lower()


def parse_shop_redact(data: _Obj) -> ShopRedact:
    """Map a shop/redact body."""
    return ShopRedact(shop_id=_id(data, "shop_id"), shop_domain=_shop_domain(data, "shop_domain"))


def parse_shop_update(data: _Obj) -> StoreInfo:
    """Map a shop/update body (the REST Shop object) to the shop's settings as a StoreInfo.

    ``email`` is the owner's address (Shopify writes to it), ``customer_email`` the one shown to customers;
    ``country_code``, ``iana_timezone``, ``currency`` and ``primary_locale`` are passed on as sent (the identity
    service ignores values that are not valid). ``myshopify_domain`` is required: the handler checks it against the
    store the unsigned header named.
    """
    extra = {
        "shop_id": _opt_id(data, "id"),
        "contact_email": _email(data, "customer_email"),
        "primary_domain": _opt_str(data, "domain"),
    }
    return StoreInfo(
        name=_str(data, "name"),
        domain=_shop_domain(data, "myshopify_domain"),
        timezone=_opt_str(data, "iana_timezone"),
        currency=_opt_str(data, "currency"),
        locale=_opt_str(data, "primary_locale"),
        country=_opt_str(data, "country_code"),
        email=_email(data, "email"),
        money_format=shop_money_format(data.get("money_in_emails_format")),
        extra={k: v for k, v in extra.items() if v is not None},
    )


def parse_customers_redact(data: _Obj) -> CustomersRedact:
    """Map a customers/redact body."""
    customer = _obj(data.get("customer"), "customer")
    return CustomersRedact(
        shop_id=_id(data, "shop_id"),
        shop_domain=_shop_domain(data, "shop_domain"),
        customer_id=_opt_id(customer, "id", "customer"),
        email=_email(customer, "email", "customer"),
        phone=_opt_str(customer, "phone", "customer"),
        orders_to_redact=_id_tuple(data, "orders_to_redact"),
    )


def parse_customers_data_request(data: _Obj) -> CustomersDataRequest:
    """Map a customers/data_request body."""
    customer = _obj(data.get("customer"), "customer")
    request = _opt_obj(data, "data_request")
    return CustomersDataRequest(
        shop_id=_id(data, "shop_id"),
        shop_domain=_shop_domain(data, "shop_domain"),
        customer_id=_opt_id(customer, "id", "customer"),
        email=_email(customer, "email", "customer"),
        phone=_opt_str(customer, "phone", "customer"),
        orders_requested=_id_tuple(data, "orders_requested"),
        data_request_id=_opt_id(request, "id", "data_request") if request is not None else None,
    )


def parse_bulk_operation_finish(data: _Obj) -> BulkOperationFinished:
    """Map a bulk_operations/finish body."""
    gid = _str(data, "admin_graphql_api_id")
    if not gid.startswith("gid://shopify/BulkOperation/"):
        raise _fail("admin_graphql_api_id", f"not a BulkOperation GID: {gid!r}")
    error_code = _opt_str(data, "error_code")
    return BulkOperationFinished(
        bulk_operation_id=gid,
        status=_str(data, "status").upper(),
        error_code=error_code.upper() if error_code else None,
        type=_str(data, "type").upper(),
        created_at=_opt_datetime(data, "created_at"),
        completed_at=_opt_datetime(data, "completed_at"),
    )


# --- dispatch ------------------------------------------------------------------------------------------------

_PARSERS: dict[str, Callable[[_Obj], ShopifyPayload]] = {
    "products/create": parse_product,
    "products/update": parse_product,
    "products/delete": parse_product_delete,
    "inventory_levels/update": parse_inventory_level,
    "inventory_items/update": parse_inventory_item,
    "orders/create": parse_order,
    "orders/paid": parse_order,
    "orders/cancelled": parse_order,
    "orders/updated": parse_order,
    "refunds/create": parse_refund_created,
    "app/uninstalled": parse_app_uninstalled,
    "app/scopes_update": parse_app_scopes_update,
    "shop/redact": parse_shop_redact,
    "shop/update": parse_shop_update,
    "customers/redact": parse_customers_redact,
    "customers/data_request": parse_customers_data_request,
    "bulk_operations/finish": parse_bulk_operation_finish,
}

SUPPORTED_TOPICS: frozenset[str] = frozenset(_PARSERS)
"""Every topic parse_topic_payload maps."""


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def parse_topic_payload(topic: str, body: bytes) -> ShopifyPayload:
    """Parse a raw webhook body for its topic into a record; raise PayloadError (UnsupportedTopic) if it can't."""
    parser = _PARSERS.get(topic.strip().lower())
    if parser is None:
        raise UnsupportedTopic(f"unsupported topic {topic!r}", topic=topic)
    try:
        # parse_float=Decimal keeps money exact; NaN/Infinity are not JSON and are refused.
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
    except RecursionError:  # a hostile, deeply nested field; never a Shopify body
        raise PayloadError(f"{topic}: body nests too deeply", topic=topic) from None


# --- headers -------------------------------------------------------------------------------------------------


class HeaderSource(Protocol):
    """Anything with header (name, value) items: a dict, or werkzeug's Headers (which is no Mapping)."""

    def items(self) -> Iterable[tuple[str, str]]:
        """Header names and values."""
        ...


@dataclass(frozen=True, slots=True)
class WebhookHeaders:
    """What the X-Shopify-* headers of a delivery say.

    Headers are not covered by the HMAC (only the body is), so the shop domain and topic are trusted only because
    the body verified with our app secret; compare ids in the body with the shop where the topic carries them.
    """

    topic: str
    shop_domain: str
    webhook_id: str  # X-Shopify-Webhook-Id: the same on every retry of one delivery, hence the dedupe key
    event_id: str | None  # X-Shopify-Event-Id: shared by deliveries of one event to several subscriptions
    triggered_at: datetime | None
    api_version: str | None
    hmac: str | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str] | HeaderSource) -> WebhookHeaders:
        """Read a delivery's headers case-insensitively; raise PayloadError if topic, shop or webhook id is bad."""
        # Shopify is moving from X-Shopify-* to Shopify-* names; either is read, X- first.
        lowered = {name.lower(): value for name, value in headers.items()}

        def get(name: str) -> str | None:
            value = lowered.get(f"x-shopify-{name}", lowered.get(f"shopify-{name}"))
            return (value.strip() or None) if isinstance(value, str) else None

        topic, shop, webhook_id = get("topic"), get("shop-domain"), get("webhook-id")
        if topic is None:
            raise PayloadError("X-Shopify-Topic header missing", field="X-Shopify-Topic")
        if shop is None or not is_valid_shop_domain(shop):
            raise PayloadError(f"X-Shopify-Shop-Domain header invalid: {shop!r}", field="X-Shopify-Shop-Domain")
        if webhook_id is None:
            raise PayloadError("X-Shopify-Webhook-Id header missing", field="X-Shopify-Webhook-Id")
        triggered = get("triggered-at")
        return cls(
            topic=topic.lower(),
            shop_domain=shop.lower(),
            webhook_id=webhook_id,
            event_id=get("event-id"),
            # Informational and unsigned: an unreadable value is dropped rather than failing a verified delivery.
            triggered_at=_parse_datetime(triggered) if triggered else None,
            api_version=get("api-version"),
            hmac=get("hmac-sha256"),
        )
