"""Demo-only: the local SMTP sink's inbox (/demo/mail) and the simulated restock button."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import job_specs
from app.infra.mailsink import ReceivedMessage, active_sink
from app.models import InventoryLevel, Location, Store, Variant
from app.queue import JobQueue, enqueue_after_commit
from app.services.stock import recompute as stock
from app.web.deps import db_session, runtime
from app.web.pages import demo_store

bp = Blueprint("demo_mail", __name__)

RESTOCK_UNITS = 5
SHOWN_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Content-Language",
)
_URL = re.compile(r"https?://[^\s<>\"')\]]+")


def _not_found(message: str) -> ResponseReturnValue:
    return render_template("not_found.html", message=message), 404


def _demo_or_404() -> Store:
    store = demo_store()
    if store is None:
        # Outside demo mode these pages do not exist at all.
        abort(404)
    return store


@bp.get("/demo/mail")
def inbox() -> ResponseReturnValue:
    """The messages the demo's SMTP sink received, newest first."""
    store = _demo_or_404()
    sink = active_sink()
    return render_template(
        "demo_mail/inbox.html",
        store=store,
        sink=sink,
        messages=sink.messages() if sink is not None else [],
        smtp_url=runtime().settings.smtp_url,
    )


@bp.get("/demo/mail/<int:message_id>")
def message(message_id: int) -> ResponseReturnValue:
    """One received message: its headers, the HTML part in a sandboxed frame, and the text part."""
    store = _demo_or_404()
    sink = active_sink()
    item = sink.get(message_id) if sink is not None else None
    if item is None:
        return _not_found("No such message in the demo inbox (only the latest 200 are kept).")
    return render_template(
        "demo_mail/message.html",
        store=store,
        item=item,
        headers=_headers(item),
        html=item.body("html"),
        text=item.body("plain"),
        links=_links(item),
    )


def _headers(item: ReceivedMessage) -> list[tuple[str, str]]:
    return [(name, value) for name in SHOWN_HEADERS if (value := item.header(name)) is not None]


def _links(item: ReceivedMessage) -> list[str]:
    # The text part lists every link of the email; shown so they can be followed outside the sandboxed frame.
    text = item.body("plain") or ""
    return list(dict.fromkeys(m.rstrip(".,;") for m in _URL.findall(text)))


# ---------------------------------------------------------------------------------------------
# Simulated restock
# ---------------------------------------------------------------------------------------------


def _same_origin() -> bool:
    """Whether the POST came from one of our own pages (the demo has no login, so no session to bind a token to)."""
    ours = urlsplit(request.host_url)
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    theirs = urlsplit(source)
    return (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc)


@dataclass(frozen=True, slots=True)
class RestockOutcome:
    """What a simulated restock did."""

    before: int
    after: int
    restock_event_ids: tuple[int, ...]


def simulate_restock(session: Session, jobs: JobQueue, store_id: int, variant_id: int, units: int) -> RestockOutcome:
    """Add units at the variant's first online location, recompute it, and queue the fan-out of any restock."""
    variant = session.get(Variant, variant_id)
    assert variant is not None and variant.store_id == store_id
    before = variant.sellable_quantity
    level = session.execute(
        select(InventoryLevel)
        .join(Location, Location.id == InventoryLevel.location_id)
        .where(
            InventoryLevel.store_id == store_id,
            InventoryLevel.variant_id == variant_id,
            Location.active.is_(True),
            Location.fulfills_online.is_(True),
        )
        .order_by(Location.id)
        .limit(1)
    ).scalar_one_or_none()
    if level is None:
        location = session.execute(
            select(Location)
            .where(Location.store_id == store_id, Location.active.is_(True), Location.fulfills_online.is_(True))
            .order_by(Location.id)
            .limit(1)
        ).scalar_one_or_none()
        if location is None:
            location = Location(store_id=store_id, external_id="demo-restock", name="Demo warehouse")
            session.add(location)
            session.flush()
        level = InventoryLevel(store_id=store_id, variant_id=variant_id, location_id=location.id, available=0)
        session.add(level)
        session.flush()
    # Oversold stock (negative available) is first written off, so the button always makes the variant sellable.
    level.available = max(level.available or 0, 0) + units
    session.flush()
    stock.set_sellable_from_levels(session, store_id, [variant_id])
    result = stock.recompute(session, store_id, [variant_id])
    session.refresh(variant)
    event_ids = tuple(result.restock_event_ids)
    for event_id in event_ids:
        enqueue_after_commit(session, jobs, job_specs.fanout_event(event_id))
    return RestockOutcome(before=before, after=variant.sellable_quantity, restock_event_ids=event_ids)


@bp.post("/demo/restock/<int:variant_id>")
def restock(variant_id: int) -> ResponseReturnValue:
    """Simulate a delivery of stock for a demo variant: the recompute records the restock, the waves follow."""
    store = _demo_or_404()
    if not _same_origin():
        return render_template("not_found.html", message="Restocks can only be started from the demo's own pages."), 403
    session = db_session()
    variant = session.get(Variant, variant_id) if variant_id <= 2**63 - 1 else None
    if variant is None or variant.store_id != store.id or variant.deleted_at is not None:
        return _not_found("No such variant in the demo store.")
    outcome = simulate_restock(session, runtime().jobs, store.id, variant.id, RESTOCK_UNITS)
    session.commit()
    if outcome.restock_event_ids:
        flash(
            f"Restocked {variant.sku or variant.title}: {outcome.before} → {outcome.after} units. "
            "Restock emails are on their way to the demo inbox.",
            "success",
        )
    else:
        flash(
            f"Added {RESTOCK_UNITS} units to {variant.sku or variant.title} ({outcome.before} → {outcome.after}); "
            "it was not sold out, so nobody is notified.",
            "info",
        )
    back = request.headers.get("Referer")
    if back and _same_origin() and urlsplit(back).netloc == urlsplit(request.host_url).netloc:
        return redirect(back, code=303)
    return redirect(url_for("demo_mail.inbox"), code=303)
