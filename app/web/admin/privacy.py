"""Merchant admin — Data requests: what shoppers asked for through Shopify, with the document to hand them.

Also the download behind the signed, expiring link emailed to the store's admin (``/privacy/data-requests/<id>``):
it needs no sign-in, only a signature that is ours and has not expired, and the document must still exist.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue

from app.models import ComplianceRequest
from app.services.merchant import data_requests
from app.services.merchant.compliance import DATA_REQUEST
from app.web.admin.auth import admin, admin_required
from app.web.deps import abort_json, db_session, runtime

bp = Blueprint("admin_privacy", __name__)


def _document(req: ComplianceRequest) -> Response:
    body = json.dumps(
        {
            "request": req.external_id,
            "shop": req.shop_domain,
            "received_at": req.received_at.astimezone(UTC).isoformat(),
            "data": req.export,
        },
        indent=2,
        ensure_ascii=False,
    )
    resp = Response(body + "\n", mimetype="application/json")
    ref = "".join(c for c in req.external_id if c.isalnum() or c in "-_")[:64] or str(req.id)
    resp.headers["Content-Disposition"] = f'attachment; filename="data-request-{ref}.json"'
    # Personal data: never kept by a browser or proxy cache, never sent on as a referrer.
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.get("/admin/data-requests")
@admin_required
def index() -> ResponseReturnValue:
    """The store's data requests, newest first, each with its document while it has not been erased."""
    rows = data_requests.for_store(db_session(), admin().store.id)
    return render_template("admin/data_requests.html", requests=rows)


@bp.get("/admin/data-requests/<int:request_id>.json")
@admin_required
def download(request_id: int) -> ResponseReturnValue:
    """One data request's document, for the signed-in merchant of its store."""
    req = db_session().get(ComplianceRequest, request_id) if 0 < request_id < 2**63 else None
    if req is None or req.kind != DATA_REQUEST or req.store_id != admin().store.id or req.export is None:
        abort(404)
    return _document(req)


@bp.get("/privacy/data-requests/<int:request_id>")
def signed_download(request_id: int) -> ResponseReturnValue:
    """The document behind the emailed link: 403 for a wrong or expired link, 410 once the data was erased."""
    expires, signature = request.args.get("expires", ""), request.args.get("signature", "")
    if not expires or not signature:
        abort_json(400, "invalid_link", "The link is incomplete: open it exactly as it was emailed.")
    now = datetime.now(UTC)
    if not (0 < request_id < 2**63) or not data_requests.link_is_valid(
        runtime().settings, request_id, expires, signature, now
    ):
        abort_json(403, "invalid_link", "This link is wrong or has expired; the request is listed in the admin.")
    req = db_session().get(ComplianceRequest, request_id)
    if req is None or req.kind != DATA_REQUEST or req.store_id is None or req.export is None:
        abort_json(410, "erased", "This data was erased, as the customer or the store asked.")
    return _document(req)
