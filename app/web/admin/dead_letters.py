"""Merchant admin — Failed updates: the store's dead letters (app.services.ingest.dead_letters), replayable.

A store update from the platform that could not be applied, or a restock alert that could not be sent, after
every retry. The merchant sees what and when and the last error, never a delivery's raw body, and can replay one
or all of them; another store's ids answer 404 and change nothing.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template
from flask.typing import ResponseReturnValue

from app.services.ingest import dead_letters as service
from app.web.admin.auth import admin, admin_required
from app.web.admin.shell import admin_url
from app.web.deps import db_session, runtime

bp = Blueprint("admin_dead_letters", __name__, url_prefix="/admin")
ERROR_SHOWN = 300
"""Characters of the last error shown: enough to tell the cause, short of a payload echoed back in full."""


@bp.get("/failed")
@admin_required
def index() -> ResponseReturnValue:
    """The store's dead letters, newest first, with a replay button each and one for all."""
    store = admin().store
    rows = service.list_dead(db_session(), store_id=store.id)
    return render_template(
        "admin/dead_letters.html",
        webhooks=[r for r in rows if r.kind == service.WEBHOOK],
        restocks=[r for r in rows if r.kind == service.RESTOCK_EVENT],
        error_shown=ERROR_SHOWN,
    )


@bp.post("/failed/<kind>/<int:dead_id>/replay")
@admin_required
def replay(kind: str, dead_id: int) -> ResponseReturnValue:
    """Replay one of the store's dead letters (404 for any other id, this store's or not)."""
    if kind not in service.KINDS:
        abort(404)
    session = db_session()
    replayed = service.replay(session, runtime().jobs, kind, [dead_id], store_id=admin().store.id)
    if not replayed:
        session.rollback()
        abort(404)
    session.commit()
    flash("Sent for another try. It leaves this list once it is done.", "success")
    return redirect(admin_url(admin(), "admin_dead_letters.index"), code=303)


@bp.post("/failed/<kind>/replay-all")
@admin_required
def replay_all(kind: str) -> ResponseReturnValue:
    """Replay every dead letter of one kind of the store."""
    if kind not in service.KINDS:
        abort(404)
    session = db_session()
    replayed = service.replay(session, runtime().jobs, kind, None, store_id=admin().store.id)
    session.commit()
    flash(f"{len(replayed)} sent for another try.", "success")
    return redirect(admin_url(admin(), "admin_dead_letters.index"), code=303)
