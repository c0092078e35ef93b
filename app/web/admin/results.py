"""Merchant admin — Results: the restock funnel (signups to purchases) in total, per product and per restock.

Thin handler: the rows come from app.services.notify.funnel, the counting and the chart from app.domain.funnel.
In demo mode the page also carries the demo controls (app.platforms.demo.controls).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, flash, redirect, render_template, request
from flask.typing import ResponseReturnValue

from app.domain import funnel as fn
from app.domain.charts import fmt_number
from app.models import Store
from app.platforms.demo import controls
from app.services.notify import funnel
from app.web.admin.auth import admin, admin_required
from app.web.admin.shell import admin_url
from app.web.deps import db_session, runtime
from app.web.pages import demo_store

bp = Blueprint("admin_results", __name__, url_prefix="/admin")


@bp.get("/results")
@admin_required
def index() -> ResponseReturnValue:
    """The signed-in store's restock funnel with its chart, its table, and the rate against the 10-15 % benchmark."""
    store = admin().store
    session = db_session()
    result = funnel.store_funnels(session, store)
    demo = demo_store()
    return render_template(
        "admin/results.html",
        store=store,
        result=result,
        chart=fn.funnel_chart(
            result.total, title=f"Restock funnel since {result.history_starts.isoformat()}: " + _spoken(result.total)
        ),
        note=fn.benchmark_note(result.total.conversion_rate),
        percent=fn.percent,
        fmt=fmt_number,
        demo=demo is not None and demo.id == store.id,
    )


def _spoken(f: fn.Funnel) -> str:
    return ", ".join(f"{label} {count}" for label, count in f.stages())


def _demo_or_404() -> Store:
    store = admin().store
    demo = demo_store()
    if demo is None or demo.id != store.id:
        # Outside demo mode (or for any other store) the controls do not exist.
        abort(404)
    return store


@bp.post("/results/demo/sale")
@admin_required
def demo_sale() -> ResponseReturnValue:
    """Demo only: an order of the variant last emailed to the address, through the order intake and attribution."""
    store = _demo_or_404()
    email = (request.form.get("email") or "").strip()
    if not email or len(email) > 320:
        flash("Enter the shopper's email address.", "error")
        return redirect(admin_url(admin(), "admin_results.index"), code=303)
    session = db_session()
    outcome = controls.simulate_sale(session, runtime().jobs, store, email, datetime.now(UTC))
    if outcome is None:
        session.rollback()
        flash(f"No restock email was sent to {email} yet, so there is no sale to simulate.", "error")
        return redirect(admin_url(admin(), "admin_results.index"), code=303)
    session.commit()
    flash(
        f"Order {outcome.order_external_id} placed for {email}"
        + (": attributed to the restock email." if outcome.attributed else ": not inside an email's window."),
        "success",
    )
    return redirect(admin_url(admin(), "admin_results.index"), code=303)


@bp.post("/results/demo/next-wave")
@admin_required
def demo_next_wave() -> ResponseReturnValue:
    """Demo only: make the waiting restock waves due now and queue them, as the wave scheduler does."""
    store = _demo_or_404()
    session = db_session()
    events = controls.send_next_wave_now(session, runtime().jobs, store.id, datetime.now(UTC))
    session.commit()
    if events:
        flash(f"The next wave of {len(events)} restock(s) is on its way to the demo inbox.", "success")
    else:
        flash("No restock has a wave waiting: restock a sold-out variant with shoppers waiting first.", "info")
    return redirect(admin_url(admin(), "admin_results.index"), code=303)
