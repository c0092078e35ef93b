"""Merchant admin — the dashboard: sync state, headline figures, the at-risk and waitlist-demand tables, a variant.

Thin handlers: the listings use app.services.merchant.stock_views (the same queries the JSON API serves), the trends and
daily series come from app.services.merchant.dashboard, and the charts are inline SVG from app.domain.charts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from app.domain import funnel as fn
from app.domain.charts import bar_chart, fmt_number, line_chart, sparkline
from app.models import Product, Store
from app.platforms import registry
from app.platforms.shopify import access as shopify_access
from app.queue import enqueue_after_commit
from app.services.ingest import sync_runs
from app.services.merchant import api_keys, dashboard, effective, planning, plugin_zip, setup
from app.services.merchant.stock_views import (
    VariantPage,
    VariantQuery,
    get_variant,
    list_variants,
    sales_basis,
    store_counts,
    variant_events,
)
from app.services.notify.funnel import variant_funnel
from app.services.stock.recompute import store_today
from app.web import shop
from app.web.admin import confirm, plan
from app.web.admin.auth import admin, admin_required
from app.web.admin.shell import admin_url
from app.web.deps import db_session, runtime
from app.web.params import MAX_ID

bp = Blueprint("admin_dashboard", __name__, url_prefix="/admin")

PREVIEW_ROWS = 10
PER_PAGE = 25
MAX_PAGE = 100_000
_INTEGER = re.compile(r"[0-9]{1,9}")


def _helpers() -> dict[str, Any]:
    return {"fmt": fmt_number, "signal_reasons": dashboard.SIGNAL_REASONS, "sales_basis": sales_basis}


def _page_param(errors: dict[str, str]) -> int:
    raw = request.args.get("page")
    if raw is None or raw == "":
        return 1
    if not _INTEGER.fullmatch(raw) or not 1 <= int(raw) <= MAX_PAGE:
        errors["page"] = f"Page must be a whole number from 1 to {MAX_PAGE:,}."
        return 1
    return int(raw)


@bp.get("/")
@admin_required
def index() -> ResponseReturnValue:
    """The dashboard of the signed-in store: sync, headline figures with trends, the top of both tables."""
    store = admin().store
    session = db_session()
    counts = store_counts(session, store.id)
    figures = dashboard.headline(session, store, counts)
    trends = dashboard.trends(session, store)
    sparks = {
        name: sparkline(series.values, label=f"{_TREND_LABELS[name]} per day over the last {len(series.days)} days")
        for name, series in trends.items()
    }
    today = store_today(store, datetime.now(UTC))
    risk = planning.list_plan(session, store, planning.PlanQuery(per_page=PREVIEW_ROWS), today)
    demand = _demand(store.id, 1, PREVIEW_ROWS)
    return render_template(
        "admin/dashboard.html",
        store=store,
        figures=figures,
        trends=trends,
        sparks=sparks,
        sync=dashboard.latest_sync(session, store, registry.of(store).sync_progress),
        risk=risk,
        demand=demand,
        next_step=registry.of(store).next_step(store, runtime().settings),
        revoke_notice=setup.revoke_notice(store),
        attribution_notice=shopify_access.attribution_notice(store),
        orders_refused=shopify_access.orders_refused(store),
        all_orders=shopify_access.all_orders_prompt(store),
        **_helpers(),
    )


@bp.get(f"/plugin/{plugin_zip.ZIP_NAME}")
@admin_required
def plugin_zip_download() -> ResponseReturnValue:
    """The WordPress companion plugin, zipped from the plugin folder this BackSoon runs (its tests left out)."""
    resp = make_response(plugin_zip.build_plugin_zip())
    resp.headers["Content-Type"] = "application/zip"
    resp.headers["Content-Disposition"] = f'attachment; filename="{plugin_zip.ZIP_NAME}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _replace_key_confirmation() -> confirm.Confirmation:
    ctx = admin()
    return confirm.Confirmation(
        title="Replace the store's API key?",
        consequences=(
            "A new API key is made and shown once. The current key stops working at once: WordPress's privacy "
            "tools (and anything else using it) fail until the new key is pasted in Settings → BackSoon.",
            "BackSoon keeps only a fingerprint of keys, so the current key cannot be shown or brought back.",
        ),
        action_url=admin_url(ctx, "admin_dashboard.issue_api_key"),
        button="Replace the API key",
        back_url=admin_url(ctx, "admin_dashboard.index"),
        final=True,
        back_label="Keep the current key and go back",
    )


@bp.route("/api-key", methods=["GET", "POST"])
@admin_required
def issue_api_key() -> ResponseReturnValue:
    """Issue the store's admin API key (the plugin's privacy tools use it) and show it this once.

    Replacing a key the store has needs the confirm step (GET shows it): the current key stops working.
    """
    ctx = admin()
    has_key = bool(ctx.store.api_key_hash)
    if has_key and (request.method == "GET" or not confirm.confirmed()):
        return confirm.confirm_page(_replace_key_confirmation(), 200 if request.method == "GET" else 400)
    if request.method == "GET":
        return redirect(admin_url(ctx, "admin_dashboard.index", _anchor="next-step"))
    key = api_keys.issue_api_key(ctx.store)
    db_session().commit()
    resp = make_response(render_template("admin/api_key.html", store=ctx.store, api_key=key))
    resp.headers["Cache-Control"] = "no-store"  # the key is shown once: no copy of the page is kept
    return resp


@bp.post("/replaced-key/dismiss")
@admin_required
def dismiss_replaced_key() -> ResponseReturnValue:
    """The merchant revoked the replaced WooCommerce key: stop asking."""
    ctx = admin()
    session = db_session()
    ctx.store.replaced_key_suffix = None
    session.commit()
    return redirect(admin_url(ctx, "admin_dashboard.index"))


@bp.post("/all-orders/declined")
@admin_required
def all_orders_declined() -> ResponseReturnValue:
    """The merchant declined read_all_orders in Shopify's grant dialog: say what that means instead of asking again."""
    ctx = admin()
    prompt = shopify_access.all_orders_prompt(ctx.store)
    if prompt is None:
        # Not a Shopify store, or the scope is granted already: there was nothing to decline.
        return {
            "error": {"code": "nothing_to_decline", "message": "This store has no pending request for all orders."}
        }, 409
    ctx.store.all_orders_declined_at = datetime.now(UTC)
    db_session().commit()
    flash(
        f"BackSoon keeps using the last {prompt.days} days of orders. You can allow all orders here at any time.",
        "info",
    )
    return redirect(admin_url(ctx, "admin_dashboard.index", _anchor="all-orders"))


@bp.post("/sync")
@admin_required
def sync_now() -> ResponseReturnValue:
    """Start a reconciliation of the signed-in store's catalog, or leave the running sync alone (no second run)."""
    ctx = admin()
    store = ctx.store
    session = db_session()
    platform = registry.of(store)
    running = sync_runs.running_run(session, store.id)
    run = platform.start_sync(session, runtime().jobs, store.id, "reconcile")
    identity_job = platform.identity_job(store.id)
    if run is not None and run is not running and identity_job is not None:
        # The store's own settings too: WooCommerce sends no webhook when the merchant changes them.
        enqueue_after_commit(session, runtime().jobs, identity_job)
    session.commit()  # the run's job is enqueued after this commit
    if run is None:
        flash(f"Nothing to sync for {platform.label}: its catalog is not read from a store.", "info")
    elif run is running:
        flash(f"A sync from {platform.label} is already running; its progress is shown below.", "info")
    else:
        flash(f"Sync from {platform.label} started: changes since the last sync are being read.", "success")
    return redirect(admin_url(ctx, "admin_dashboard.index", _anchor="sync"))


_TREND_LABELS = {
    "at_risk": "Variants at risk",
    "sold_out": "Variants sold out",
    "waitlist_open": "Shoppers waiting",
    "emails_sent": "Restock emails sent",
    "conversions": "Orders from restock emails",
    "revenue": "Revenue from restock emails",
}


@bp.get("/at-risk")
@admin_required
def at_risk() -> ResponseReturnValue:
    """Every variant at risk: sort by any figure, search, filter by status, signal and supplier, 25 a page."""
    return plan.at_risk_view()


def _demand(store_id: int, page: int, per_page: int) -> VariantPage:
    session = db_session()
    result = list_variants(
        session, store_id, VariantQuery(has_waitlist=True, sort="priority", page=page, per_page=per_page)
    )
    oldest = dashboard.oldest_signups(session, store_id, [item["id"] for item in result.items])
    for item in result.items:
        at = oldest.get(item["id"])
        item["oldest_signup"] = at
        item["waiting_days"] = None if at is None else max((datetime.now(UTC) - at).days, 0)
    return result


@bp.get("/demand")
@admin_required
def demand() -> ResponseReturnValue:
    """Variants with shoppers waiting, ranked by reorder priority, 25 a page."""
    store = admin().store
    errors: dict[str, str] = {}
    page = _page_param(errors)
    result = None if errors else _demand(store.id, page, PER_PAGE)
    body = render_template("admin/demand.html", store=store, result=result, errors=errors, **_helpers())
    return (body, 400) if errors else body


def _share(session: Session, store: Store, product_id: int) -> list[tuple[str, str]]:
    # The landing page for ads and posts: on a Shopify store its own domain (App Proxy), else BackSoon's address.
    product = session.get(Product, product_id)
    return [] if product is None else shop.share_links(store, product, runtime().settings.app_url)


@bp.get("/variants/<int:variant_id>")
@admin_required
def variant(variant_id: int) -> ResponseReturnValue:
    """One variant of the signed-in store: its figures, reasons and 90 days of charts; another store's is a 404."""
    store = admin().store
    session = db_session()
    # The id is looked up inside the signed-in store only: another store's variant is simply not found.
    item = None if variant_id > MAX_ID else get_variant(session, store.id, variant_id)
    if item is None:
        return render_template("admin/variant.html", store=store, item=None, variant_id=variant_id), 404
    series = dashboard.variant_series(session, store, variant_id)
    lead = int(item["lead_time_days"])
    span = len(series.stock.days)
    charts = {
        "stock": line_chart(
            series.stock.days,
            series.stock.values,
            title=f"Sellable quantity at the end of each day, last {span} days",
            unit="units",
            empty="No daily history yet",
        ),
        "days_on_hand": line_chart(
            series.days_on_hand.days,
            series.days_on_hand.values,
            title=f"Days on hand per day, last {span} days; dashed line: {lead}-day lead time",
            unit="days",
            reference=float(lead),
            reference_label=f"Lead time: {lead} days",
            empty="No days-on-hand figure yet (no history, or no recent sales)",
        ),
        "sales": bar_chart(
            series.sales.days,
            [v or 0.0 for v in series.sales.values],
            title=f"Units sold per day, net of cancellations and refunds, last {span} days",
            unit="units",
            empty="No sales in this period",
        ),
        "signups": bar_chart(
            series.signups.days,
            [v or 0.0 for v in series.signups.values],
            title=f"Waitlist signups per day, last {span} days",
            unit="signups",
            empty="No waitlist signups in this period",
        ),
    }
    return render_template(
        "admin/variant.html",
        store=store,
        item=item,
        series=series,
        charts=charts,
        events=variant_events(session, store.id, variant_id),
        settings=effective.of_variant(session, store, variant_id),
        share=_share(session, store, int(item["product_id"])),
        app_url=runtime().settings.app_url.rstrip("/"),
        funnel=variant_funnel(session, store, variant_id),
        # The first day with a recorded figure: on a new install the charts start there, not at the window's start.
        stock_history_starts=next(
            (d for d, v in zip(series.stock.days, series.stock.values, strict=True) if v is not None), None
        ),
        percent=fn.percent,
        **_helpers(),
    )
