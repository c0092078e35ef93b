"""Incoming stock: create, edit and close purchase orders, and import them from CSV.

Open purchase orders feed the restock ETA and the marketing signal through the stock recompute, so every change
marks the variants it touches dirty (the recompute, then the storefront publish, follow after commit).

A CSV import is all-or-nothing: a file with any error imports no line, and the report lists every error with its
line number. Merchants fix the file and upload it again; a half-imported file would leave them to work out which
lines are already in (and a re-upload would then duplicate them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.domain.csv_import import FieldError, LineError, ParsedCsv, parse_expected_date, parse_po_csv, parse_quantity
from app.models import Product, PurchaseOrder, PurchaseOrderStatus, Supplier, Variant
from app.queue import JobQueue
from app.services.stock.dirty import mark_dirty

MAX_TEXT = 255
CLOSE_ACTIONS = (PurchaseOrderStatus.RECEIVED, PurchaseOrderStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class PoRow:
    """A purchase order as the admin lists it."""

    id: int
    variant_id: int
    sku: str
    product_title: str
    variant_title: str
    quantity: int
    received_quantity: int
    expected_on: date
    supplier: str
    reference: str
    status: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did: how many orders it created, or why it created none."""

    imported: int
    valid_lines: int
    errors: tuple[LineError, ...]


class PoError(ValueError):
    """A form value the merchant must fix: ``errors`` maps form field → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _variant_by_sku(session: Session, store_id: int, sku: str) -> Variant | None:
    return session.scalars(
        select(Variant).where(Variant.store_id == store_id, Variant.sku == sku, Variant.deleted_at.is_(None)).limit(1)
    ).first()


def _skus(session: Session, store_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Variant.sku, func.min(Variant.id))
        .where(Variant.store_id == store_id, Variant.deleted_at.is_(None), Variant.sku != "")
        .group_by(Variant.sku)
    )
    return {sku: int(vid) for sku, vid in rows}


def _supplier_id(session: Session, store_id: int, name: str, cache: dict[str, int]) -> int | None:
    """The store's supplier of that name (case-insensitive), created when new."""
    name = name.strip()
    if not name:
        return None
    key = name.lower()
    if key not in cache:
        found = session.scalars(
            select(Supplier.id).where(Supplier.store_id == store_id, func.lower(Supplier.name) == key)
        ).first()
        if found is None:
            supplier = Supplier(store_id=store_id, name=name[:MAX_TEXT])
            session.add(supplier)
            session.flush()
            found = supplier.id
        cache[key] = int(found)
    return cache[key]


def validate_form(session: Session, store_id: int, form: Mapping[str, str], today: date) -> tuple[Variant, int, date]:
    """The variant, quantity and expected date of an order form, or PoError with a message per field."""
    errors: dict[str, str] = {}
    sku = (form.get("sku") or "").strip()
    variant = _variant_by_sku(session, store_id, sku) if sku else None
    if not sku:
        errors["sku"] = "Enter the SKU of the variant on order."
    elif variant is None:
        errors["sku"] = f"No variant in this store has the SKU {sku[:80]!r}."
    quantity = expected = None
    try:
        quantity = parse_quantity(form.get("quantity") or "")
    except FieldError as exc:
        errors["quantity"] = _sentence(str(exc))
    try:
        expected = parse_expected_date(form.get("expected_date") or "", today)
    except FieldError as exc:
        errors["expected_date"] = _sentence(str(exc))
    for name in ("supplier", "reference"):
        if len(form.get(name) or "") > MAX_TEXT:
            errors[name] = f"At most {MAX_TEXT} characters."
    if errors or variant is None or quantity is None or expected is None:
        raise PoError(errors)
    return variant, quantity, expected


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + "."


def create(session: Session, jobs: JobQueue, store_id: int, form: Mapping[str, str], today: date) -> PurchaseOrder:
    """Create an open purchase order from a form (sku, quantity, expected_date, supplier, reference)."""
    variant, quantity, expected = validate_form(session, store_id, form, today)
    po = PurchaseOrder(
        store_id=store_id,
        variant_id=variant.id,
        supplier_id=_supplier_id(session, store_id, form.get("supplier") or "", {}),
        reference=(form.get("reference") or "").strip(),
        quantity=quantity,
        expected_on=expected,
        status=PurchaseOrderStatus.OPEN,
    )
    session.add(po)
    session.flush()
    mark_dirty(session, jobs, store_id, [variant.id], "purchase_order")
    return po


def get(session: Session, store_id: int, po_id: int) -> PurchaseOrder | None:
    """The store's purchase order with that id (another store's is None)."""
    if not 0 < po_id <= 2**63 - 1:
        return None
    return session.scalars(
        select(PurchaseOrder).where(PurchaseOrder.id == po_id, PurchaseOrder.store_id == store_id)
    ).first()


def update(session: Session, jobs: JobQueue, po: PurchaseOrder, form: Mapping[str, str], today: date) -> PurchaseOrder:
    """Change an open order's quantity and expected date (PoError when a value is wrong)."""
    errors: dict[str, str] = {}
    try:
        quantity = parse_quantity(form.get("quantity") or "")
    except FieldError as exc:
        errors["quantity"] = _sentence(str(exc))
    try:
        expected = parse_expected_date(form.get("expected_date") or "", today)
    except FieldError as exc:
        errors["expected_date"] = _sentence(str(exc))
    if po.status != PurchaseOrderStatus.OPEN:
        errors["status"] = "Only an open purchase order can be changed."
    if errors:
        raise PoError(errors)
    po.quantity, po.expected_on = quantity, expected
    mark_dirty(session, jobs, po.store_id, [po.variant_id], "purchase_order")
    return po


def close(session: Session, jobs: JobQueue, po: PurchaseOrder, action: str) -> PurchaseOrder:
    """Mark an open order received (the stock arrived) or cancelled; it no longer counts as incoming."""
    if action not in CLOSE_ACTIONS:
        raise PoError({"action": "Choose received or cancelled."})
    if po.status != PurchaseOrderStatus.OPEN:
        raise PoError({"action": f"This purchase order is already {po.status}."})
    po.status = PurchaseOrderStatus(action)
    if po.status == PurchaseOrderStatus.RECEIVED:
        po.received_quantity = po.quantity
    mark_dirty(session, jobs, po.store_id, [po.variant_id], "purchase_order")
    return po


def reopen(session: Session, jobs: JobQueue, po: PurchaseOrder) -> PurchaseOrder:
    """Undo a cancel: the order is open again and counts as incoming (restock dates come back after the recompute)."""
    if po.status != PurchaseOrderStatus.CANCELLED:
        raise PoError({"status": f"This purchase order is {po.status} now, not cancelled."})
    po.status = PurchaseOrderStatus.OPEN
    mark_dirty(session, jobs, po.store_id, [po.variant_id], "purchase_order")
    return po


def parse_file(session: Session, store_id: int, data: bytes, today: date) -> ParsedCsv:
    """Validate a purchase-order file against the store's SKUs."""
    return parse_po_csv(data, _skus(session, store_id), today)


def import_csv(session: Session, jobs: JobQueue, store_id: int, data: bytes, today: date) -> ImportResult:
    """Import a purchase-order file, all-or-nothing: any error imports no line."""
    skus = _skus(session, store_id)
    parsed = parse_po_csv(data, skus, today)
    if not parsed.ok:
        return ImportResult(0, len(parsed.lines), parsed.errors)
    suppliers: dict[str, int] = {}
    rows = [
        {
            "store_id": store_id,
            "variant_id": skus[line.sku],
            "supplier_id": _supplier_id(session, store_id, line.supplier, suppliers),
            "reference": line.reference,
            "quantity": line.quantity,
            "received_quantity": 0,
            "expected_on": line.expected_on,
            "status": PurchaseOrderStatus.OPEN,
        }
        for line in parsed.lines
    ]
    session.execute(insert(PurchaseOrder), rows)
    mark_dirty(session, jobs, store_id, [skus[line.sku] for line in parsed.lines], "purchase_order")
    return ImportResult(len(rows), len(rows), ())


def list_orders(session: Session, store_id: int, *, open_only: bool = True, limit: int = 500) -> list[PoRow]:
    """The store's purchase orders: open ones by expected date, or the latest closed ones."""
    q = (
        select(
            PurchaseOrder.id,
            PurchaseOrder.variant_id,
            Variant.sku,
            Product.title,
            Variant.title,
            PurchaseOrder.quantity,
            PurchaseOrder.received_quantity,
            PurchaseOrder.expected_on,
            Supplier.name,
            PurchaseOrder.reference,
            PurchaseOrder.status,
        )
        .join(Variant, Variant.id == PurchaseOrder.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .outerjoin(Supplier, Supplier.id == PurchaseOrder.supplier_id)
        .where(PurchaseOrder.store_id == store_id)
        .limit(limit)
    )
    if open_only:
        q = q.where(PurchaseOrder.status == PurchaseOrderStatus.OPEN).order_by(
            PurchaseOrder.expected_on, PurchaseOrder.id
        )
    else:
        q = q.where(PurchaseOrder.status != PurchaseOrderStatus.OPEN).order_by(
            PurchaseOrder.updated_at.desc(), PurchaseOrder.id.desc()
        )
    return [
        PoRow(
            id=int(r[0]),
            variant_id=int(r[1]),
            sku=r[2] or "",
            product_title=r[3] or "",
            variant_title=r[4] or "",
            quantity=int(r[5]),
            received_quantity=int(r[6] or 0),
            expected_on=r[7],
            supplier=r[8] or "",
            reference=r[9] or "",
            status=r[10],
        )
        for r in session.execute(q)
    ]
