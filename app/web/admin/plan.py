"""Merchant admin — the buyer's planning actions: the at-risk table's sort, search and supplier filter, the
overstock and dead-stock view, draft purchase orders from the suggestions and a supplier's suggestion CSV.

Thin handlers over app.services.merchant.planning; a bad query value is a 400 page naming it, never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from app.domain.charts import fmt_number
from app.models import Supplier
from app.services.merchant import dashboard
from app.services.merchant import planning as plan_service
from app.services.merchant.stock_views import SIGNALS, STATUSES, sales_basis
from app.services.stock.recompute import store_today
from app.web.admin.auth import admin, admin_required
from app.web.admin.shell import admin_url
from app.web.deps import db_session, runtime

bp = Blueprint("admin_plan", __name__, url_prefix="/admin")

PER_PAGE = 25
MAX_PAGE = 100_000
MAX_Q = 100
_INTEGER = re.compile(r"[0-9]{1,9}")
_ID = re.compile(r"[0-9]{1,18}")


def _today() -> date:
    return store_today(admin().store, datetime.now(UTC))


def _page(errors: dict[str, str]) -> int:
    raw = request.args.get("page") or ""
    if not raw:
        return 1
    if not _INTEGER.fullmatch(raw) or not 1 <= int(raw) <= MAX_PAGE:
        errors["page"] = f"Page must be a whole number from 1 to {MAX_PAGE:,}."
        return 1
    return int(raw)


def _choice(name: str, allowed: tuple[str, ...], errors: dict[str, str]) -> str:
    raw = request.args.get(name) or ""
    if raw and raw not in allowed:
        errors[name] = f"Unknown {name} {raw[:40]!r}; choose one of {', '.join(allowed)}."
        return ""
    return raw


def _supplier(errors: dict[str, str], known: set[int]) -> int | None:
    raw = request.args.get("supplier") or ""
    if not raw:
        return None
    if raw == "none":
        return plan_service.NO_SUPPLIER
    if not _ID.fullmatch(raw) or int(raw) not in known:
        errors["supplier"] = f"Unknown supplier {raw[:40]!r}; choose one from the list."
        return None
    return int(raw)


def _sort(errors: dict[str, str]) -> tuple[str, bool]:
    sort = _choice("sort", tuple(plan_service.SORT_COLUMNS), errors) or "priority"
    raw = request.args.get("dir") or ""
    if raw and raw not in ("asc", "desc"):
        errors["dir"] = f"Unknown dir {raw[:40]!r}; choose asc or desc."
        raw = ""
    return sort, (raw == "desc") if raw else sort in plan_service.DEFAULT_DESC


def _sort_args(query: plan_service.PlanQuery) -> dict[str, str | None]:
    # The default order needs no parameters: plain links stay plain.
    if query.sort == "priority" and query.desc:
        return {"sort": None, "dir": None}
    return {"sort": query.sort, "dir": "desc" if query.desc else "asc"}


def at_risk_view() -> ResponseReturnValue:
    """The at-risk table a buyer works in: sorted, searched and filtered by status, signal and supplier."""
    store = admin().store
    session = db_session()
    choices = plan_service.suppliers(session, store.id)
    errors: dict[str, str] = {}
    q = (request.args.get("q") or "").strip()
    if len(q) > MAX_Q:
        errors["q"] = f"Search at most {MAX_Q} characters."
    sort, desc = _sort(errors)
    query = plan_service.PlanQuery(
        status=_choice("status", STATUSES, errors),
        signal=_choice("signal", SIGNALS, errors),
        supplier_id=_supplier(errors, {c.id for c in choices}),
        q=q[:MAX_Q],
        sort=sort,
        desc=desc,
        page=_page(errors),
        per_page=PER_PAGE,
    )
    today = _today()
    result = None if errors else plan_service.list_plan(session, store, query, today)
    args = {
        "status": query.status or None,
        "signal": query.signal or None,
        "supplier": ("none" if query.supplier_id == plan_service.NO_SUPPLIER else query.supplier_id),
        "q": query.q or None,
    }
    body = render_template(
        "admin/at_risk.html",
        store=store,
        result=result,
        errors=errors,
        query=query,
        args=args,
        sort_args={**args, **_sort_args(query)},
        statuses=STATUSES,
        signals=SIGNALS,
        suppliers=choices,
        today=today,
        default_desc=plan_service.DEFAULT_DESC,
        fmt=fmt_number,
        signal_reasons=dashboard.SIGNAL_REASONS,
        sales_basis=sales_basis,
    )
    return (body, 400) if errors else body


@bp.post("/at-risk/draft-po")
@admin_required
def draft_po() -> ResponseReturnValue:
    """Draft open purchase orders, one reference per supplier, from the chosen variants' suggested quantities."""
    ctx = admin()
    raw = request.form.getlist("variant_id")
    if not raw or len(raw) > plan_service.MAX_SELECTED or not all(_ID.fullmatch(r) for r in raw):
        message = f"Choose from 1 to {plan_service.MAX_SELECTED} variants with a suggested quantity."
        return {"error": {"code": "bad_selection", "message": message}}, 400
    session = db_session()
    drafted = plan_service.draft_orders(session, runtime().jobs, ctx.store.id, [int(r) for r in raw], _today())
    if not drafted:
        session.rollback()
        message = "None of the chosen variants has a suggested quantity: no purchase order was drafted."
        return {"error": {"code": "nothing_to_order", "message": message}}, 400
    session.commit()
    for order in drafted:
        who = order.supplier or "no supplier"
        flash(
            f"Purchase order {order.reference} ({who}): {order.lines} line{'s' if order.lines != 1 else ''}, "
            f"{order.units} units, open and counted as incoming. Change or cancel its lines below.",
            "success",
        )
    return redirect(admin_url(ctx, "admin_planning.incoming"), code=303)


@bp.get("/at-risk/suppliers/<supplier>.csv")
@admin_required
def supplier_csv(supplier: str) -> ResponseReturnValue:
    """One supplier's suggested quantities as a CSV download ("none": the variants without a supplier)."""
    store = admin().store
    session = db_session()
    if supplier == "none":
        supplier_id, name = plan_service.NO_SUPPLIER, "no-supplier"
    else:
        found = (
            session.scalars(select(Supplier).where(Supplier.id == int(supplier), Supplier.store_id == store.id)).first()
            if _ID.fullmatch(supplier)
            else None
        )
        if found is None:
            abort(404)
        supplier_id, name = found.id, f"supplier-{found.id}"
    store_id = store.id

    def generate() -> Iterator[str]:
        yield from plan_service.supplier_csv(session, store_id, supplier_id)

    resp = Response(stream_with_context(generate()), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="backsoon-{name}-suggestions-{_today()}.csv"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/overstock")
@admin_required
def overstock() -> ResponseReturnValue:
    """Variants holding more than cover + safety days of stock, and dead stock from known history only."""
    store = admin().store
    errors: dict[str, str] = {}
    page = _page(errors)
    result = None if errors else plan_service.excess(db_session(), store, _today(), page, 50)
    body = render_template(
        "admin/overstock.html", store=store, result=result, errors=errors, fmt=fmt_number, today=_today()
    )
    return (body, 400) if errors else body
