"""Server-rendered pages: the welcome page and the read-only demo dashboard under /demo/.

The dashboard shows the seeded demo store only, and only in demo mode: the same rule that makes
the demo store's JSON API readable without a key, so every "JSON" link on the page works.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from app.domain.charts import fmt_number as _fmt_number
from app.domain.charts import sparkline
from app.models import Store
from app.platforms.demo.platform import demo_store as seeded_demo_store
from app.services.merchant.stock_views import (
    VariantQuery,
    get_variant,
    iso,
    list_variants,
    store_counts,
    variant_events,
    variant_history,
)
from app.web.deps import db_session, runtime
from app.web.params import MAX_ID

bp = Blueprint("pages", __name__)

TABLE_ROWS = 25


def demo_store() -> Store | None:
    """The seeded demo store when the app runs in demo mode, else None."""
    if not runtime().settings.demo:
        return None
    return seeded_demo_store(db_session())


def _not_found(message: str) -> ResponseReturnValue:
    return render_template("not_found.html", message=message), 404


def _humanize(code: str | None) -> str:
    return (code or "").replace("_", " ")


def daily_series(history: Sequence[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """History rows laid out one slot per calendar day, None where a day has no row, so gaps show."""
    if not history:
        return []
    by_day = {date.fromisoformat(h["day"]): h for h in history}
    first, last = min(by_day), max(by_day)
    return [by_day.get(first + timedelta(days=i)) for i in range((last - first).days + 1)]


def _template_helpers() -> dict[str, Any]:
    return {"fmt": _fmt_number, "humanize": _humanize}


@bp.get("/")
def index() -> ResponseReturnValue:
    """Send visitors to the demo when one is seeded; otherwise explain how to connect a store."""
    if demo_store() is not None:
        return redirect(url_for("pages.demo_overview"))
    return render_template("welcome.html")


@bp.get("/demo/")
def demo_overview() -> ResponseReturnValue:
    """The demo store at a glance: headline counts, variants at risk, waitlist demand."""
    store = demo_store()
    if store is None:
        return _not_found("No demo store is seeded. Run `make demo` to create one.")
    session = db_session()
    at_risk = list_variants(session, store.id, VariantQuery(at_risk=True, per_page=TABLE_ROWS))
    waitlist = list_variants(session, store.id, VariantQuery(has_waitlist=True, sort="waitlist", per_page=TABLE_ROWS))
    return render_template(
        "demo/overview.html",
        store=store,
        counts=store_counts(session, store.id),
        last_recomputed=iso(store.last_recomputed_at),
        at_risk=at_risk,
        waitlist=waitlist,
        **_template_helpers(),
    )


@bp.get("/demo/variants/<int:variant_id>")
def demo_variant(variant_id: int) -> ResponseReturnValue:
    """One demo variant: its figures, the reasons behind them, and its recent history."""
    store = demo_store()
    if store is None:
        return _not_found("No demo store is seeded. Run `make demo` to create one.")
    session = db_session()
    item = None if variant_id > MAX_ID else get_variant(session, store.id, variant_id)
    if item is None:
        return _not_found(f"The demo store has no variant {variant_id}.")
    history = variant_history(session, store, variant_id)
    days = daily_series(history)
    charts = {
        "sellable": sparkline(
            [None if h is None else h["sellable_quantity"] for h in days],
            label=f"Sellable quantity over the last {len(days)} days",
        ),
        "days_on_hand": sparkline(
            [None if h is None else h["days_on_hand"] for h in days],
            label=f"Days on hand over the last {len(days)} days, lead time {item['lead_time_days']} days",
            reference=float(item["lead_time_days"]),
            reference_label=f"Lead time: {item['lead_time_days']} days",
        ),
    }
    return render_template(
        "demo/variant.html",
        store=store,
        item=item,
        history=history,
        days=len(days),
        events=variant_events(session, store.id, variant_id),
        charts=charts,
        **_template_helpers(),
    )
