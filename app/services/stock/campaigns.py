"""The campaign calendar: plan a campaign over products or collections and see, before it starts, which variants
it would sell out and when.

The forecast is the stock recompute's own: each variant's state records the earliest campaign that sells it out
(``campaign_id``, ``campaign_stockout_on``), simulated with the uplift and open incoming stock. Saving or
cancelling a campaign marks its variants dirty so that forecast follows within seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.csv_import import FieldError, parse_expected_date
from app.models import Campaign, CampaignStatus, DirtyVariant, Product, StockState, Variant
from app.queue import JobQueue
from app.services.stock.dirty import mark_dirty

MAX_NAME = 255
MAX_UPLIFT = Decimal("1000")
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class CampaignInput:
    """A validated campaign form."""

    name: str
    starts_on: date
    ends_on: date
    uplift_pct: Decimal
    product_ids: tuple[int, ...]
    collections: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ForecastRow:
    """A variant the campaign would sell out, and when."""

    variant_id: int
    sku: str
    product_title: str
    variant_title: str
    sellable_quantity: int
    velocity: float
    stockout_on: date | None
    campaign_stockout_on: date
    incoming_quantity: int


@dataclass(frozen=True, slots=True)
class Forecast:
    """What a campaign would do to its variants' stock."""

    targeted: int
    pending: int  # variants whose recompute has not run yet
    sell_outs: tuple[ForecastRow, ...]


class CampaignError(ValueError):
    """Form values the merchant must fix: ``errors`` maps form field → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def store_collections(session: Session, store_id: int) -> list[str]:
    """Every collection named by the store's live products, sorted."""
    names: set[str] = set()
    for cols in session.scalars(
        select(Product.collections).where(Product.store_id == store_id, Product.deleted_at.is_(None))
    ):
        names.update(c for c in (cols or []) if isinstance(c, str))
    return sorted(names, key=str.lower)


def store_products(session: Session, store_id: int, limit: int = 2000) -> list[tuple[int, str]]:
    """The store's live products (id, title) by title, for the campaign form."""
    rows = session.execute(
        select(Product.id, Product.title)
        .where(Product.store_id == store_id, Product.deleted_at.is_(None))
        .order_by(Product.title, Product.id)
        .limit(limit)
    )
    return [(int(pid), title or f"Product {pid}") for pid, title in rows]


def _date(form: Mapping[str, str], name: str, today: date, errors: dict[str, str]) -> date | None:
    try:
        return parse_expected_date(form.get(name) or "", today)
    except FieldError as exc:
        errors[name] = str(exc).replace("expected_date", "The date", 1) + "."
        return None


def validate(
    session: Session,
    store_id: int,
    form: Mapping[str, str],
    product_ids: Sequence[str],
    collections: Sequence[str],
    today: date,
) -> CampaignInput:
    """A campaign form checked against the store's products and collections (CampaignError per field)."""
    errors: dict[str, str] = {}
    name = (form.get("name") or "").strip()
    if not name:
        errors["name"] = "Give the campaign a name."
    elif len(name) > MAX_NAME:
        errors["name"] = f"At most {MAX_NAME} characters."
    starts = _date(form, "starts_on", today, errors)
    ends = _date(form, "ends_on", today, errors)
    if starts and ends and ends < starts:
        errors["ends_on"] = "The campaign cannot end before it starts."
    elif starts and ends and (ends - starts).days >= MAX_DAYS:
        errors["ends_on"] = f"A campaign can last at most {MAX_DAYS} days."
    uplift = Decimal(0)
    raw = (form.get("uplift_pct") or "").strip()
    try:
        uplift = Decimal(raw)
        if not uplift.is_finite() or not 0 <= uplift <= MAX_UPLIFT:
            raise InvalidOperation
        uplift = uplift.quantize(Decimal("0.01"))
    except InvalidOperation:
        errors["uplift_pct"] = f"Enter the expected extra sales in percent, from 0 to {MAX_UPLIFT}."

    pids: set[int] = set()
    for raw_id in product_ids:
        if not raw_id.isdigit() or not 0 < int(raw_id) <= 2**63 - 1:
            errors["product_ids"] = "Choose products from the list."
            break
        pids.add(int(raw_id))
    if pids and "product_ids" not in errors:
        found = set(
            session.scalars(
                select(Product.id).where(
                    Product.store_id == store_id, Product.id.in_(pids), Product.deleted_at.is_(None)
                )
            )
        )
        if found != pids:
            errors["product_ids"] = "Choose products from the list."
    wanted = {c.strip() for c in collections if c.strip()}
    if wanted and not wanted <= set(store_collections(session, store_id)):
        errors["collections"] = "Choose collections from the list."
    if not pids and not wanted and "product_ids" not in errors and "collections" not in errors:
        errors["product_ids"] = "Choose at least one product or collection."
    if errors or starts is None or ends is None:
        raise CampaignError(errors)
    return CampaignInput(name, starts, ends, uplift, tuple(sorted(pids)), tuple(sorted(wanted)))


def target_variant_ids(
    session: Session, store_id: int, product_ids: Sequence[int], collections: Sequence[str]
) -> list[int]:
    """The live variants of the campaign's products and of the products in its collections."""
    targets = set(product_ids)
    if collections:
        wanted = set(collections)
        for pid, cols in session.execute(
            select(Product.id, Product.collections).where(Product.store_id == store_id, Product.deleted_at.is_(None))
        ):
            if wanted & set(cols or []):
                targets.add(int(pid))
    if not targets:
        return []
    return [
        int(v)
        for v in session.scalars(
            select(Variant.id).where(
                Variant.store_id == store_id, Variant.product_id.in_(targets), Variant.deleted_at.is_(None)
            )
        )
    ]


def create(session: Session, jobs: JobQueue, store_id: int, data: CampaignInput) -> Campaign:
    """Save a planned campaign and mark its variants dirty so the forecast follows."""
    campaign = Campaign(
        store_id=store_id,
        name=data.name,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        uplift_pct=data.uplift_pct,
        product_ids=list(data.product_ids),
        collections=list(data.collections),
        status=CampaignStatus.PLANNED,
    )
    session.add(campaign)
    session.flush()
    mark_dirty(
        session, jobs, store_id, target_variant_ids(session, store_id, data.product_ids, data.collections), "campaign"
    )
    return campaign


def cancel(session: Session, jobs: JobQueue, campaign: Campaign) -> None:
    """Cancel a planned campaign; its variants' forecasts drop its uplift."""
    if campaign.status != CampaignStatus.PLANNED:
        raise CampaignError({"status": f"This campaign is already {campaign.status}."})
    campaign.status = CampaignStatus.CANCELLED
    ids = target_variant_ids(session, campaign.store_id, campaign.product_ids or [], campaign.collections or [])
    mark_dirty(session, jobs, campaign.store_id, ids, "campaign")


def restore(session: Session, jobs: JobQueue, campaign: Campaign) -> None:
    """Undo a cancel: the campaign is planned again and its variants' forecasts take its uplift back."""
    if campaign.status != CampaignStatus.CANCELLED:
        raise CampaignError({"status": f"This campaign is {campaign.status} now, not cancelled."})
    campaign.status = CampaignStatus.PLANNED
    ids = target_variant_ids(session, campaign.store_id, campaign.product_ids or [], campaign.collections or [])
    mark_dirty(session, jobs, campaign.store_id, ids, "campaign")


def get(session: Session, store_id: int, campaign_id: int) -> Campaign | None:
    """The store's campaign with that id (another store's is None)."""
    if not 0 < campaign_id <= 2**63 - 1:
        return None
    return session.scalars(select(Campaign).where(Campaign.id == campaign_id, Campaign.store_id == store_id)).first()


def list_campaigns(session: Session, store_id: int) -> list[tuple[Campaign, int]]:
    """The store's campaigns by start date, each with how many variants it is forecast to sell out."""
    campaigns = list(
        session.scalars(
            select(Campaign)
            .where(Campaign.store_id == store_id)
            .order_by(Campaign.starts_on.desc(), Campaign.id.desc())
        )
    )
    counts: dict[int, int] = {}
    if campaigns:
        for cid in session.scalars(
            select(StockState.campaign_id).where(
                StockState.campaign_id.is_not(None),
                StockState.store_id == store_id,
                StockState.campaign_id.in_([c.id for c in campaigns]),
            )
        ):
            if cid is not None:
                counts[cid] = counts.get(cid, 0) + 1
    return [(c, counts.get(c.id, 0)) for c in campaigns]


def forecast(session: Session, store_id: int, campaign: Campaign, limit: int = 500) -> Forecast:
    """Which of the campaign's variants it would sell out and when, from the latest recompute."""
    ids = target_variant_ids(session, store_id, campaign.product_ids or [], campaign.collections or [])
    pending = 0
    rows: list[ForecastRow] = []
    if ids:
        pending = len(
            session.scalars(
                select(DirtyVariant.variant_id).where(
                    DirtyVariant.store_id == store_id, DirtyVariant.variant_id.in_(ids)
                )
            ).all()
        )
        q = (
            select(Variant, Product, StockState)
            .join(Product, Product.id == Variant.product_id)
            .join(StockState, StockState.variant_id == Variant.id)
            .where(
                StockState.store_id == store_id,
                StockState.campaign_id == campaign.id,
                StockState.campaign_stockout_on.is_not(None),
            )
            .order_by(StockState.campaign_stockout_on, Variant.id)
            .limit(limit)
        )
        for variant, product, state in session.execute(q):
            assert state.campaign_stockout_on is not None
            rows.append(
                ForecastRow(
                    variant_id=variant.id,
                    sku=variant.sku,
                    product_title=product.title,
                    variant_title=variant.title,
                    sellable_quantity=state.sellable_quantity,
                    velocity=state.velocity,
                    stockout_on=state.stockout_on,
                    campaign_stockout_on=state.campaign_stockout_on,
                    incoming_quantity=state.incoming_quantity,
                )
            )
    return Forecast(targeted=len(ids), pending=pending, sell_outs=tuple(rows))
