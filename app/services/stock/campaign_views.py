"""What the campaign pages read beyond the campaign itself: the month calendar, the recompute's progress, each
at-risk variant's forecast beside its no-campaign baseline, the variants already sold out, and the product picker.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain import campaign_calendar
from app.domain.campaign_forecast import Comparison, compare
from app.domain.naming import variant_label
from app.domain.stock import IncomingStock, Status
from app.models import (
    Campaign,
    CampaignStatus,
    DirtyVariant,
    Product,
    PurchaseOrder,
    PurchaseOrderStatus,
    StockState,
    Variant,
)
from app.services.stock.campaigns import ForecastRow, target_variant_ids
from app.services.stock.inputs import campaigns_by_product

PICKER_LIMIT = 2000
SOLD_OUT_LIMIT = 200
_SOLD_OUT = (Status.OUT_OF_STOCK.value, Status.BACKORDER.value)
_DETAIL_VARIANTS = 4


def month(session: Session, store_id: int, first: date, today: date) -> campaign_calendar.MonthGrid:
    """The month of ``first`` as a grid with the store's campaigns (cancelled ones left out) on their days."""
    start, end = campaign_calendar.grid_bounds(first)
    rows = session.scalars(
        select(Campaign).where(
            Campaign.store_id == store_id,
            Campaign.status != CampaignStatus.CANCELLED,
            Campaign.starts_on <= end,
            Campaign.ends_on >= start,
        )
    )
    spans = [
        campaign_calendar.Span(c.id, c.name, c.starts_on, c.ends_on, "ended" if c.ends_on < today else str(c.status))
        for c in rows
    ]
    return campaign_calendar.month_grid(first, spans, today)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far the recompute of a campaign's variants is: how many wait, since when, and when it last ran."""

    targeted: int
    pending: int
    queued_since: datetime | None
    computed_at: datetime | None


def progress(session: Session, store_id: int, campaign: Campaign) -> Progress:
    """The campaign's variants waiting for the stock recompute, and the latest time their forecasts were computed."""
    ids = target_variant_ids(session, store_id, campaign.product_ids or [], campaign.collections or [])
    if not ids:
        return Progress(0, 0, None, None)
    pending, queued = session.execute(
        select(func.count(), func.min(DirtyVariant.marked_at)).where(
            DirtyVariant.store_id == store_id, DirtyVariant.variant_id.in_(ids)
        )
    ).one()
    computed = session.scalar(
        select(func.max(StockState.computed_at)).where(StockState.store_id == store_id, StockState.variant_id.in_(ids))
    )
    return Progress(len(ids), int(pending), queued, computed)


def pending_by_campaign(session: Session, store_id: int, campaigns: Sequence[Campaign]) -> dict[int, int]:
    """For each planned campaign, how many of its variants wait for the recompute (absent: none)."""
    targets = {
        c.id: target_variant_ids(session, store_id, c.product_ids or [], c.collections or [])
        for c in campaigns
        if c.status == CampaignStatus.PLANNED
    }
    wanted = {vid for ids in targets.values() for vid in ids}
    if not wanted:
        return {}
    dirty = set(
        session.scalars(
            select(DirtyVariant.variant_id).where(
                DirtyVariant.store_id == store_id, DirtyVariant.variant_id.in_(wanted)
            )
        )
    )
    counts = {cid: sum(1 for vid in ids if vid in dirty) for cid, ids in targets.items()}
    return {cid: n for cid, n in counts.items() if n}


def baselines(
    session: Session, store_id: int, campaign: Campaign, rows: Sequence[ForecastRow], today: date
) -> dict[int, Comparison]:
    """Each at-risk variant's forecast on the campaign's days with and without its uplift (none once it ended)."""
    if not rows or campaign.status != CampaignStatus.PLANNED:
        return {}
    ids = [r.variant_id for r in rows]
    owners = session.execute(select(Variant.id, Variant.product_id).where(Variant.id.in_(ids)))
    products = {int(vid): int(pid) for vid, pid in owners}
    incoming: dict[int, list[IncomingStock]] = defaultdict(list)
    left_over = PurchaseOrder.quantity - PurchaseOrder.received_quantity
    for vid, left, expected in session.execute(
        select(PurchaseOrder.variant_id, left_over, PurchaseOrder.expected_on)
        .where(
            PurchaseOrder.store_id == store_id,
            PurchaseOrder.status == PurchaseOrderStatus.OPEN,
            PurchaseOrder.variant_id.in_(ids),
            left_over > 0,
        )
        .order_by(PurchaseOrder.expected_on, PurchaseOrder.id)
    ):
        incoming[int(vid)].append(IncomingStock(int(left), expected))
    windows = campaigns_by_product(session, store_id, today)
    out: dict[int, Comparison] = {}
    for r in rows:
        found = compare(
            r.sellable_quantity,
            r.velocity,
            tuple(incoming.get(r.variant_id, ())),
            tuple(windows.get(products.get(r.variant_id, 0), ())),
            campaign.id,
            today,
        )
        if found is not None:
            out[r.variant_id] = found
    return out


@dataclass(frozen=True, slots=True)
class SoldOutRow:
    """A campaign variant that is sold out already: not a risk of the campaign, but it will not sell during it."""

    variant_id: int
    sku: str
    product_title: str
    variant_title: str
    sellable_quantity: int
    status: str
    restock_eta: date | None


def sold_out(session: Session, store_id: int, campaign: Campaign, limit: int = SOLD_OUT_LIMIT) -> list[SoldOutRow]:
    """The campaign's variants sold out now that are not its risk (a restock before it would make them one)."""
    ids = target_variant_ids(session, store_id, campaign.product_ids or [], campaign.collections or [])
    if not ids:
        return []
    q = (
        select(Variant, Product, StockState)
        .join(Product, Product.id == Variant.product_id)
        .join(StockState, StockState.variant_id == Variant.id)
        .where(
            StockState.store_id == store_id,
            StockState.variant_id.in_(ids),
            StockState.status.in_(_SOLD_OUT),
            (StockState.campaign_id.is_(None)) | (StockState.campaign_id != campaign.id),
        )
        .order_by(Product.title, Variant.title, Variant.id)
        .limit(limit)
    )
    return [
        SoldOutRow(v.id, v.sku, p.title, v.title, s.sellable_quantity, s.status, s.restock_eta)
        for v, p, s in session.execute(q)
    ]


@dataclass(frozen=True, slots=True)
class PickerProduct:
    """A product in the campaign form's picker: its title, what tells it apart (variants, SKUs) and search text."""

    id: int
    title: str
    detail: str
    search: str


def _variant_text(product_title: str, title: str, sku: str) -> str:
    label = variant_label(product_title, title)
    if label and sku:
        return f"{label} ({sku})"
    return label or sku


def picker_products(session: Session, store_id: int, limit: int = PICKER_LIMIT) -> list[PickerProduct]:
    """The store's live products by title, each named apart from same-titled ones by its variants and SKUs."""
    products = session.execute(
        select(Product.id, Product.title)
        .where(Product.store_id == store_id, Product.deleted_at.is_(None))
        .order_by(Product.title, Product.id)
        .limit(limit)
    ).all()
    if not products:
        return []
    variants: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for pid, title, sku in session.execute(
        select(Variant.product_id, Variant.title, Variant.sku)
        .where(
            Variant.store_id == store_id,
            Variant.deleted_at.is_(None),
            Variant.product_id.in_([int(pid) for pid, _ in products]),
        )
        .order_by(Variant.product_id, Variant.position, Variant.id)
    ):
        variants[int(pid)].append((title or "", sku or ""))
    out: list[PickerProduct] = []
    for pid, raw_title in products:
        title = raw_title or f"Product {pid}"
        own = variants.get(int(pid), [])
        texts = [t for t in (_variant_text(title, vt, sku) for vt, sku in own) if t]
        shown = ", ".join(texts[:_DETAIL_VARIANTS])
        if len(texts) > _DETAIL_VARIANTS:
            shown += f" and {len(texts) - _DETAIL_VARIANTS} more"
        count = f"{len(own)} variant{'s' if len(own) != 1 else ''}"
        detail = f"{count}: {shown}" if shown else count
        words = [title, *(vt for vt, _ in own), *(sku for _, sku in own)]
        out.append(PickerProduct(int(pid), title, detail, " ".join(w for w in words if w).casefold()))
    # Same title and same variants: only the id tells them apart, so say it.
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for p in out:
        seen[(p.title.casefold(), p.detail)] += 1
    return [
        PickerProduct(p.id, p.title, f"{p.detail} · product #{p.id}", p.search)
        if seen[(p.title.casefold(), p.detail)] > 1
        else p
        for p in out
    ]
