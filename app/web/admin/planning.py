"""Merchant admin — Incoming stock (purchase orders, CSV import) and the campaign calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request
from flask.typing import ResponseReturnValue

from app.domain.csv_import import MAX_BYTES, LineError
from app.models import PurchaseOrderStatus
from app.services.stock import campaigns as campaign_service
from app.services.stock import purchase_orders as po_service
from app.services.stock.recompute import store_today
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


@bp.post("/incoming/<int:po_id>/close")
@admin_required
def incoming_close(po_id: int) -> ResponseReturnValue:
    """Mark a purchase order received or cancelled; it stops counting as incoming stock."""
    ctx = admin()
    session = db_session()
    po = po_service.get(session, ctx.store.id, po_id)
    if po is None:
        abort(404)
    action = request.form.get("action", PurchaseOrderStatus.RECEIVED)
    try:
        po_service.close(session, runtime().jobs, po, action)
    except po_service.PoError as exc:
        session.rollback()
        status = 400 if "action" in exc.errors and action not in po_service.CLOSE_ACTIONS else 409
        return render_template("admin/error.html", title="Not changed", message=next(iter(exc.errors.values()))), status
    session.commit()
    flash(f"Purchase order {po.reference or po.id} marked {action}. {_RECOMPUTE}", "success")
    return redirect(admin_url(ctx, "admin_planning.incoming"))


def _campaigns_page(
    status: int = 200, *, form: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> ResponseReturnValue:
    session = db_session()
    store_id = admin().store.id
    return (
        render_template(
            "admin/campaigns.html",
            campaigns=campaign_service.list_campaigns(session, store_id),
            products=campaign_service.store_products(session, store_id),
            collections=campaign_service.store_collections(session, store_id),
            form=form or {},
            chosen_products=set(request.form.getlist("product_ids")) if form is not None else set(),
            chosen_collections=set(request.form.getlist("collections")) if form is not None else set(),
            errors=errors or {},
            today=_today(),
        ),
        status,
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
    """One campaign: which of its variants it would sell out, and when."""
    session = db_session()
    store_id = admin().store.id
    found = campaign_service.get(session, store_id, campaign_id)
    if found is None:
        abort(404)
    return render_template(
        "admin/campaign.html",
        campaign=found,
        forecast=campaign_service.forecast(session, store_id, found),
        products=dict(campaign_service.store_products(session, store_id)),
        today=_today(),
    )


@bp.post("/campaigns/<int:campaign_id>/cancel")
@admin_required
def campaign_cancel(campaign_id: int) -> ResponseReturnValue:
    """Cancel a planned campaign; the forecasts drop its uplift."""
    ctx = admin()
    session = db_session()
    found = campaign_service.get(session, ctx.store.id, campaign_id)
    if found is None:
        abort(404)
    try:
        campaign_service.cancel(session, runtime().jobs, found)
    except campaign_service.CampaignError as exc:
        session.rollback()
        return render_template("admin/error.html", title="Not changed", message=exc.errors["status"]), 409
    session.commit()
    flash(f"Campaign {found.name!r} cancelled.", "success")
    return redirect(admin_url(ctx, "admin_planning.campaigns"))
