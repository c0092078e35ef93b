"""Merchant admin — Incoming stock (purchase orders, CSV import) and the campaign calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request
from flask.typing import ResponseReturnValue

from app.domain import campaign_calendar
from app.domain.csv_import import MAX_BYTES, LineError
from app.models import (
    Campaign,
    CampaignStatus,
    Product,
    PurchaseOrder,
    PurchaseOrderStatus,
    StockState,
    Store,
    Variant,
)
from app.services.merchant.identity import local_time
from app.services.stock import campaign_views
from app.services.stock import campaigns as campaign_service
from app.services.stock import purchase_orders as po_service
from app.services.stock.recompute import store_today
from app.web.admin import confirm
from app.web.admin.auth import admin, admin_required
from app.web.admin.shell import admin_url
from app.web.deps import db_session, runtime

bp = Blueprint("admin_planning", __name__, url_prefix="/admin")

_RECOMPUTE = "Restock dates and marketing signals update within a minute."


def _today() -> date:
    return store_today(admin().store, datetime.now(UTC))


def _form() -> dict[str, str]:
    return {key: request.form.get(key, "") for key in request.form}


def _incoming_page(
    status: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    import_errors: tuple[LineError, ...] = (),
    import_valid: int = 0,
    import_name: str = "",
) -> ResponseReturnValue:
    session = db_session()
    store_id = admin().store.id
    page: dict[str, Any] = {
        "orders": po_service.list_orders(session, store_id),
        "closed": po_service.list_orders(session, store_id, open_only=False, limit=20),
        "form": form or {},
        "errors": errors or {},
        "import_errors": import_errors,
        "import_valid": import_valid,
        "import_name": import_name,
        "max_kb": MAX_BYTES // 1000,
        "today": _today(),
        "undo": _po_undo_banner(),
    }
    return render_template("admin/incoming.html", **page), status


@bp.route("/incoming", methods=["GET", "POST"])
@admin_required
def incoming() -> ResponseReturnValue:
    """Open purchase orders, a form to add one, and the CSV import."""
    if request.method == "GET":
        return _incoming_page()
    ctx = admin()
    session = db_session()
    form = _form()
    try:
        po = po_service.create(session, runtime().jobs, ctx.store.id, form, _today())
    except po_service.PoError as exc:
        session.rollback()
        return _incoming_page(400, form=form, errors=exc.errors)
    session.commit()
    flash(f"Purchase order for {form.get('sku', '').strip()} added ({po.quantity} units). {_RECOMPUTE}", "success")
    return redirect(admin_url(ctx, "admin_planning.incoming"))


@bp.post("/incoming/import")
@admin_required
def incoming_import() -> ResponseReturnValue:
    """Import purchase orders from a CSV file, all-or-nothing, with every error reported by line."""
    ctx = admin()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _incoming_page(400, import_errors=(LineError(0, "Choose a CSV file to import."),))
    data = upload.stream.read(MAX_BYTES + 1)
    session = db_session()
    result = po_service.import_csv(session, runtime().jobs, ctx.store.id, data, _today())
    if result.errors:
        session.rollback()
        return _incoming_page(
            400, import_errors=result.errors, import_valid=result.valid_lines, import_name=upload.filename[:200]
        )
    session.commit()
    flash(f"Imported {result.imported} purchase order{'s' if result.imported != 1 else ''}. {_RECOMPUTE}", "success")
    return redirect(admin_url(ctx, "admin_planning.incoming"))


def _po_or_404(po_id: int) -> PurchaseOrder:
    po = po_service.get(db_session(), admin().store.id, po_id)
    if po is None:
        abort(404)
    return po


def _po_label(po: PurchaseOrder) -> str:
    return f"purchase order {po.reference}" if po.reference else f"purchase order #{po.id}"


def _cancel_po_confirmation(po: PurchaseOrder) -> confirm.Confirmation:
    ctx = admin()
    session = db_session()
    variant = session.get(Variant, po.variant_id)
    product = session.get(Product, variant.product_id) if variant is not None else None
    sku = (variant.sku if variant is not None else "") or f"variant {po.variant_id}"
    what = f"{sku} ({product.title})" if product is not None and product.title else sku
    state = session.get(StockState, po.variant_id)
    shown = (
        f"The restock date for {sku} (now {state.restock_eta.isoformat()}) is worked out again without this "
        "order; unless another open order brings stock, shoppers no longer see a date."
        if state is not None and state.restock_eta is not None
        else f"Restock dates for {sku} are worked out again without this order."
    )
    return confirm.Confirmation(
        title=f"Cancel {_po_label(po)}?",
        consequences=(
            f"Its {po.quantity} units of {what}, expected on {po.expected_on.isoformat()}, stop counting as "
            "incoming stock.",
            shown,
            "The marketing signal for this variant no longer counts on this stock.",
        ),
        action_url=admin_url(ctx, "admin_planning.incoming_close", po_id=po.id),
        button=f"Cancel {_po_label(po)}",
        back_url=admin_url(ctx, "admin_planning.incoming"),
        final=False,
        fields={"action": PurchaseOrderStatus.CANCELLED},
        back_label="Keep the order and go back",
    )


@bp.get("/incoming/<int:po_id>/cancel")
@admin_required
def incoming_cancel_confirm(po_id: int) -> ResponseReturnValue:
    """The confirm step before cancelling a purchase order: what it changes, and that it can be undone a while."""
    po = _po_or_404(po_id)
    if po.status != PurchaseOrderStatus.OPEN:
        back = admin_url(admin(), "admin_planning.incoming")
        return confirm.refuse(409, "not_open", "Not changed", f"This purchase order is already {po.status}.", back)
    return confirm.confirm_page(_cancel_po_confirmation(po))


@bp.post("/incoming/<int:po_id>/close")
@admin_required
def incoming_close(po_id: int) -> ResponseReturnValue:
    """Mark a purchase order received, or cancel it once confirmed; it stops counting as incoming stock."""
    ctx = admin()
    session = db_session()
    po = _po_or_404(po_id)
    action = request.form.get("action", PurchaseOrderStatus.RECEIVED)
    if action == PurchaseOrderStatus.CANCELLED and po.status == PurchaseOrderStatus.OPEN and not confirm.confirmed():
        return confirm.confirm_page(_cancel_po_confirmation(po), 400)
    try:
        po_service.close(session, runtime().jobs, po, action)
    except po_service.PoError as exc:
        session.rollback()
        status = 400 if "action" in exc.errors and action not in po_service.CLOSE_ACTIONS else 409
        return render_template("admin/error.html", title="Not changed", message=next(iter(exc.errors.values()))), status
    session.commit()
    if action != PurchaseOrderStatus.CANCELLED:
        flash(f"Purchase order {po.reference or po.id} marked {action}. {_RECOMPUTE}", "success")
        return redirect(admin_url(ctx, "admin_planning.incoming"))
    session.refresh(po)  # the ticket names the version as stored, which is what the undo reads back
    ticket = confirm.undo_ticket("po", ctx.store.id, po.id, po.updated_at)
    return redirect(admin_url(ctx, "admin_planning.incoming", undo=ticket), code=303)


def _po_undo_banner() -> dict[str, str] | None:
    raw = request.args.get(confirm.UNDO_FIELD, "")
    row_id = confirm.ticket_row_id(raw, "po") if raw else None
    po = po_service.get(db_session(), admin().store.id, row_id) if row_id is not None else None
    if po is None or po.status != PurchaseOrderStatus.CANCELLED:
        return None
    if not confirm.live_ticket(raw, "po", po.store_id, po.id, po.updated_at):
        return None
    label = _po_label(po)
    return {
        "message": f"{label[:1].upper()}{label[1:]} cancelled. {_RECOMPUTE}",
        "url": admin_url(admin(), "admin_planning.incoming_undo", po_id=po.id),
        "ticket": raw,
        "button": f"Undo: reopen {label}",
    }


@bp.post("/incoming/<int:po_id>/undo-cancel")
@admin_required
def incoming_undo(po_id: int) -> ResponseReturnValue:
    """Undo a cancel: the order is open again, as before, while nothing changed it since (else 409, unchanged)."""
    ctx = admin()
    session = db_session()
    po = _po_or_404(po_id)
    back = admin_url(ctx, "admin_planning.incoming")
    try:
        if po.status != PurchaseOrderStatus.CANCELLED:
            raise confirm.UndoRefused(409, "not_cancelled", f"This purchase order is {po.status} now: left as it is.")
        confirm.check_ticket(request.form.get(confirm.UNDO_FIELD, ""), "po", ctx.store.id, po.id, po.updated_at)
        po_service.reopen(session, runtime().jobs, po)
    except confirm.UndoRefused as exc:
        session.rollback()
        return confirm.refuse(exc.status, exc.code, "Not undone", f"{exc.message} Nothing was changed.", back)
    session.commit()
    flash(f"{_po_label(po)[:1].upper()}{_po_label(po)[1:]} is open again. {_RECOMPUTE}", "success")
    return redirect(back, code=303)


def _calendar_month(errors: dict[str, str]) -> date:
    today = _today()
    try:
        return campaign_calendar.parse_month(request.args.get("month") or "", today)
    except campaign_calendar.MonthError as exc:
        errors["month"] = str(exc)
        return today.replace(day=1)


def _campaigns_page(
    status: int = 200, *, form: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> ResponseReturnValue:
    session = db_session()
    store_id = admin().store.id
    today = _today()
    month_errors: dict[str, str] = {}
    first = _calendar_month(month_errors)
    campaigns = campaign_service.list_campaigns(session, store_id)
    return (
        render_template(
            "admin/campaigns.html",
            campaigns=campaigns,
            pending=campaign_views.pending_by_campaign(session, store_id, [c for c, _ in campaigns]),
            grid=campaign_views.month(session, store_id, first, today),
            month_param=campaign_calendar.month_param,
            month_error=month_errors.get("month"),
            products=campaign_views.picker_products(session, store_id),
            collections=campaign_service.store_collections(session, store_id),
            form=form or {},
            chosen_products=set(request.form.getlist("product_ids")) if form is not None else set(),
            chosen_collections=set(request.form.getlist("collections")) if form is not None else set(),
            errors=errors or {},
            today=today,
            undo=_campaign_undo_banner(),
        ),
        400 if month_errors and status == 200 else status,
    )


@bp.route("/campaigns", methods=["GET", "POST"])
@admin_required
def campaigns() -> ResponseReturnValue:
    """The campaign calendar and a form to plan one."""
    if request.method == "GET":
        return _campaigns_page()
    ctx = admin()
    session = db_session()
    form = _form()
    try:
        data = campaign_service.validate(
            session,
            ctx.store.id,
            form,
            request.form.getlist("product_ids"),
            request.form.getlist("collections"),
            _today(),
        )
    except campaign_service.CampaignError as exc:
        return _campaigns_page(400, form=form, errors=exc.errors)
    campaign = campaign_service.create(session, runtime().jobs, ctx.store.id, data)
    session.commit()
    flash(f"Campaign {campaign.name!r} planned. Its stock forecast updates within a minute.", "success")
    return redirect(admin_url(ctx, "admin_planning.campaign", campaign_id=campaign.id))


@bp.get("/campaigns/<int:campaign_id>")
@admin_required
def campaign(campaign_id: int) -> ResponseReturnValue:
    """One campaign: which variants it would sell out and when, beside the forecast without it."""
    session = db_session()
    store_id = admin().store.id
    found = _campaign_or_404(campaign_id)
    today = _today()
    forecast = campaign_service.forecast(session, store_id, found)
    done = campaign_views.progress(session, store_id, found)
    return render_template(
        "admin/campaign.html",
        campaign=found,
        forecast=forecast,
        baselines=campaign_views.baselines(session, store_id, found, forecast.sell_outs, today),
        sold_out=campaign_views.sold_out(session, store_id, found),
        progress=done,
        progress_message=progress_message(done, admin().store),
        products=dict(campaign_service.store_products(session, store_id)),
        today=today,
    )


@bp.get("/campaigns/<int:campaign_id>/progress")
@admin_required
def campaign_progress(campaign_id: int) -> ResponseReturnValue:
    """The recompute's progress on a campaign's variants, polled by its page until the forecast is complete."""
    session = db_session()
    store = admin().store
    found = _campaign_or_404(campaign_id)
    done = campaign_views.progress(session, store.id, found)
    sell_outs = len(campaign_service.forecast(session, store.id, found).sell_outs)
    body = {
        "targeted": done.targeted,
        "pending": done.pending,
        "sell_outs": sell_outs,
        "queued_since": done.queued_since.isoformat() if done.queued_since else None,
        "computed_at": done.computed_at.isoformat() if done.computed_at else None,
        "message": progress_message(done, store),
    }
    return body, 200, {"Cache-Control": "no-store"}


def progress_message(done: campaign_views.Progress, store: Store) -> str:
    """What the recompute of a campaign's variants is doing, and when their forecasts were last computed."""
    last = f"Last computed {local_time(store, done.computed_at)}." if done.computed_at else "Not computed yet."
    if done.pending:
        variants = f"{done.pending} of {done.targeted} variant{'s' if done.targeted != 1 else ''}"
        since = f" (queued {local_time(store, done.queued_since)})" if done.queued_since else ""
        return (
            f"Working out the stock forecast of {variants} in this campaign, with its uplift{since}. "
            f"{last} This page updates by itself when it is done."
        )
    return f"The forecasts of all {done.targeted} variant{'s' if done.targeted != 1 else ''} are up to date. {last}"


def _campaign_or_404(campaign_id: int) -> Campaign:
    found = campaign_service.get(db_session(), admin().store.id, campaign_id)
    if found is None:
        abort(404)
    return found


def _cancel_campaign_confirmation(found: Campaign) -> confirm.Confirmation:
    ctx = admin()
    session = db_session()
    targeted = len(
        campaign_service.target_variant_ids(session, found.store_id, found.product_ids or [], found.collections or [])
    )
    sell_outs = len(campaign_service.forecast(session, found.store_id, found).sell_outs)
    return confirm.Confirmation(
        title=f"Cancel the campaign {found.name!r}?",
        consequences=(
            f"It is planned from {found.starts_on.isoformat()} to {found.ends_on.isoformat()} with "
            f"{float(found.uplift_pct):g}% more demand on {targeted} variant{'s' if targeted != 1 else ''}; "
            "their forecasts drop that uplift.",
            f"Its sell-out forecast ({sell_outs} variant{'s' if sell_outs != 1 else ''} it would sell out) is no "
            "longer shown or used for the marketing signal.",
        ),
        action_url=admin_url(ctx, "admin_planning.campaign_cancel", campaign_id=found.id),
        button=f"Cancel the campaign {found.name!r}",
        back_url=admin_url(ctx, "admin_planning.campaign", campaign_id=found.id),
        final=False,
        back_label="Keep the campaign and go back",
    )


@bp.route("/campaigns/<int:campaign_id>/cancel", methods=["GET", "POST"])
@admin_required
def campaign_cancel(campaign_id: int) -> ResponseReturnValue:
    """Cancel a planned campaign once confirmed (GET shows the confirm step); the forecasts drop its uplift."""
    ctx = admin()
    session = db_session()
    found = _campaign_or_404(campaign_id)
    if found.status != CampaignStatus.PLANNED:
        back = admin_url(ctx, "admin_planning.campaigns")
        return confirm.refuse(409, "not_planned", "Not changed", f"This campaign is already {found.status}.", back)
    if request.method == "GET" or not confirm.confirmed():
        return confirm.confirm_page(_cancel_campaign_confirmation(found), 200 if request.method == "GET" else 400)
    campaign_service.cancel(session, runtime().jobs, found)
    session.commit()
    session.refresh(found)  # the ticket names the version as stored, which is what the undo reads back
    ticket = confirm.undo_ticket("campaign", ctx.store.id, found.id, found.updated_at)
    return redirect(admin_url(ctx, "admin_planning.campaigns", undo=ticket), code=303)


def _campaign_undo_banner() -> dict[str, str] | None:
    raw = request.args.get(confirm.UNDO_FIELD, "")
    row_id = confirm.ticket_row_id(raw, "campaign") if raw else None
    found = campaign_service.get(db_session(), admin().store.id, row_id) if row_id is not None else None
    if found is None or found.status != CampaignStatus.CANCELLED:
        return None
    if not confirm.live_ticket(raw, "campaign", found.store_id, found.id, found.updated_at):
        return None
    return {
        "message": f"Campaign {found.name!r} cancelled. Its stock forecast updates within a minute.",
        "url": admin_url(admin(), "admin_planning.campaign_undo", campaign_id=found.id),
        "ticket": raw,
        "button": f"Undo: plan {found.name!r} again",
    }


@bp.post("/campaigns/<int:campaign_id>/undo-cancel")
@admin_required
def campaign_undo(campaign_id: int) -> ResponseReturnValue:
    """Undo a cancel: the campaign is planned again, while nothing changed it since (else 409, unchanged)."""
    ctx = admin()
    session = db_session()
    found = _campaign_or_404(campaign_id)
    back = admin_url(ctx, "admin_planning.campaigns")
    try:
        if found.status != CampaignStatus.CANCELLED:
            raise confirm.UndoRefused(409, "not_cancelled", f"This campaign is {found.status} now: left as it is.")
        raw = request.form.get(confirm.UNDO_FIELD, "")
        confirm.check_ticket(raw, "campaign", ctx.store.id, found.id, found.updated_at)
        campaign_service.restore(session, runtime().jobs, found)
    except confirm.UndoRefused as exc:
        session.rollback()
        return confirm.refuse(exc.status, exc.code, "Not undone", f"{exc.message} Nothing was changed.", back)
    session.commit()
    flash(f"Campaign {found.name!r} is planned again. Its stock forecast updates within a minute.", "success")
    return redirect(admin_url(ctx, "admin_planning.campaign", campaign_id=found.id), code=303)
