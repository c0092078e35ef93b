"""The public marketing-signal feed: ``/feeds/<feed_token>/signals.csv|.json``, fetched by Merchant Center or scripts.

The secret token is the only credential (Merchant Center's scheduled fetch cannot sign requests); an unknown,
rotated or malformed token is a 404 JSON error, never a hint that a store exists.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, stream_with_context
from flask.typing import ResponseReturnValue

from app.infra.openapi import ApiDoc, error_response
from app.platforms import registry
from app.services.merchant import feeds
from app.web.deps import abort_json, runtime

bp = Blueprint("feeds", __name__, url_prefix="/feeds")

_MIMETYPES = {"csv": "text/csv", "json": "application/json"}


@bp.get("/<feed_token>/signals.<fmt>")
def signals(feed_token: str, fmt: str) -> ResponseReturnValue:
    """The store's marketing signal per variant: id and custom_label_0 (ok / throttle / pause)."""
    if fmt not in _MIMETYPES:
        abort_json(404, "not_found", "No such feed.")
    session = runtime().db.sessions()
    store = feeds.find_store(session, feed_token)
    if store is None:
        session.close()
        abort_json(404, "not_found", "No such feed.")

    def generate() -> Any:
        try:
            scheme = registry.of(store).feed_id_scheme
            yield from (feeds.signal_csv if fmt == "csv" else feeds.json_chunks)(session, store, scheme)
        finally:
            session.close()

    resp = Response(stream_with_context(generate()), mimetype=_MIMETYPES[fmt])
    if fmt == "csv":
        resp.headers["Content-Disposition"] = 'inline; filename="signals.csv"'
    resp.headers["Cache-Control"] = "private, max-age=300"
    resp.headers["X-Robots-Tag"] = "noindex"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


OPENAPI = ApiDoc(
    {
        "/feeds/{feed_token}/signals.{fmt}": {
            "get": {
                "operationId": "marketingSignalFeed",
                "summary": "The store's marketing signal per variant (a Merchant Center supplemental feed)",
                "description": (
                    "CSV with exactly `id,custom_label_0` (ok / throttle / pause), or JSON with the variant id, SKU "
                    "and reason as well. The secret token in the URL is the only credential; the merchant rotates it "
                    "in the admin (the old URL then 404s). Item ids follow the store's feed id scheme."
                ),
                "tags": ["feeds"],
                "security": [],
                "parameters": [
                    {"name": "feed_token", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "fmt", "in": "path", "required": True, "schema": {"enum": ["csv", "json"]}},
                ],
                "responses": {
                    "200": {
                        "description": "The feed, streamed",
                        "content": {
                            "text/csv": {"schema": {"type": "string"}},
                            "application/json": {"schema": {"type": "object"}},
                        },
                    },
                    "404": error_response("Unknown, rotated or malformed token, or an unknown format"),
                },
            }
        }
    }
)
