"""Buy-link clicks (/r/<token>) and the restock attribution figures of the admin API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue

from app.infra.links import read_buy_token
from app.infra.openapi import ApiDoc, error_response, json_response, schema_ref
from app.platforms import registry
from app.services.merchant.stock_views import iso
from app.services.notify import attribution
from app.services.notify.attribution import AttributionSummary, ProductAttribution, RestockAttribution
from app.web.deps import abort_json, db_session, runtime, store_for_request
from app.web.params import check_id

bp = Blueprint("attribution", __name__)

REPORT_KINDS = ("product", "restock")
MAX_TOKEN_LENGTH = 512


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _link_not_found() -> ResponseReturnValue:
    message = "This link is not valid. It may have been copied incompletely from the email."
    if _wants_json():
        return jsonify({"error": {"code": "not_found", "message": message}}), 404
    # The link came from an email and opens in a browser: a page, not a JSON body.
    return render_template("not_found.html", message=message), 404


@bp.get("/r/<path:token>")
def buy_link(token: str) -> ResponseReturnValue:
    """Record a click on a restock email's buy link and send the shopper to the product."""
    delivery_id = read_buy_token(runtime().settings.secret_key, token) if len(token) <= MAX_TOKEN_LENGTH else None
    if delivery_id is None or delivery_id > 2**63 - 1:
        return _link_not_found()
    session = db_session()
    if request.method == "HEAD":
        # Link checkers probe with HEAD: lead them on, but a probe is not a shopper's click.
        url = attribution.record_click(session, delivery_id, datetime.now(UTC), registry.product_url)
        session.rollback()
    else:
        url = attribution.record_click(session, delivery_id, datetime.now(UTC), registry.product_url)
        session.commit()
    if url is None:
        return _link_not_found()
    response = redirect(url, code=302)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _figures(f: AttributionSummary) -> dict[str, Any]:
    return {
        "sent": f.sent,
        "clicked": f.clicked,
        "converted": f.converted,
        "direct": f.direct,
        "assisted": f.assisted,
        "conversion_rate": f.conversion_rate,
        "revenue": float(f.revenue),
    }


def _product_item(row: ProductAttribution) -> dict[str, Any]:
    return {
        "product_id": row.product_id,
        "product_external_id": row.product_external_id,
        "title": row.title,
        **_figures(row.figures),
    }


def _restock_item(row: RestockAttribution) -> dict[str, Any]:
    return {
        "stock_event_id": row.stock_event_id,
        "occurred_at": iso(row.occurred_at),
        "variant_id": row.variant_id,
        "variant_title": row.variant_title,
        "sku": row.sku,
        "product_id": row.product_id,
        "product_title": row.product_title,
        **_figures(row.figures),
    }


@bp.get("/api/v1/stores/<int:store_id>/attribution")
def attribution_report(store_id: int) -> Response:
    """Restock email conversions and recovered revenue per product or per restock event."""
    check_id(store_id, "store")
    store = store_for_request(store_id)
    by = request.args.get("by", "product")
    if by not in REPORT_KINDS:
        abort_json(
            400,
            "invalid_parameter",
            "Invalid query parameter(s): by.",
            {"by": f"unknown value {by[:40]!r}; expected one of {', '.join(REPORT_KINDS)}"},
        )
    session = db_session()
    items: list[dict[str, Any]]
    if by == "product":
        products = attribution.report_by_product(session, store.id)
        items, total = [_product_item(r) for r in products], attribution.totals(products)
    else:
        restocks = attribution.report_by_restock(session, store.id)
        items, total = [_restock_item(r) for r in restocks], attribution.totals(restocks)
    return jsonify({"by": by, "currency": store.currency, "items": items, "totals": _figures(total)})


_FIGURES: dict[str, Any] = {
    "sent": {"type": "integer", "description": "Restock emails sent"},
    "clicked": {"type": "integer", "description": "Emails whose buy link was clicked"},
    "converted": {"type": "integer", "description": "Emails followed by an order of the variant in the window"},
    "direct": {"type": "integer", "description": "Conversions where the buy link was clicked before ordering"},
    "assisted": {"type": "integer", "description": "Conversions without a click on the buy link first"},
    "conversion_rate": {"type": "number", "description": "converted / sent, 0 when nothing was sent"},
    "revenue": {"type": "number", "description": "The variant's order line value net of refunds"},
}

OPENAPI = ApiDoc(
    {
        "/r/{token}": {
            "parameters": [
                {
                    "name": "token",
                    "in": "path",
                    "required": True,
                    "description": "The signed delivery id from a restock email",
                    "schema": {"type": "string", "maxLength": MAX_TOKEN_LENGTH},
                }
            ],
            "get": {
                "operationId": "followBuyLink",
                "summary": "A restock email's buy link: records the click and redirects to the product",
                "description": "HEAD redirects without counting a click (link checkers). A bad token answers a "
                "404 HTML page to browsers and the JSON error to `Accept: application/json`.",
                "tags": ["attribution"],
                "security": [],
                "responses": {
                    "302": {
                        "description": "To the product page with the variant selected",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    },
                    "404": {
                        "description": "Forged, malformed or unknown token: a page, or the JSON error when asked for",
                        "content": {
                            **error_response("")["content"],
                            "text/html": {"schema": {"type": "string"}},
                        },
                    },
                },
            },
        },
        "/api/v1/stores/{store_id}/attribution": {
            "parameters": [{"$ref": "#/components/parameters/StoreId"}],
            "get": {
                "operationId": "getAttribution",
                "summary": "Restock email conversions and recovered revenue per product or per restock",
                "description": (
                    "An order of the notified variant by the subscriber's email within the attribution window "
                    "(attribution_days, default 7) after the email is a conversion: direct when the email's buy "
                    "link was clicked before the order, assisted otherwise. Matching runs periodically."
                ),
                "tags": ["attribution"],
                "security": [{"adminKey": []}],
                "parameters": [
                    {
                        "name": "by",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(REPORT_KINDS), "default": "product"},
                    }
                ],
                "responses": {
                    "200": json_response("The report", schema_ref("AttributionReport")),
                    "400": error_response("A query parameter is invalid"),
                    "401": error_response("No admin API key was sent, or the key is no store's"),
                    "404": error_response("Unknown store or another store's key"),
                },
            },
        },
    },
    components={
        "schemas": {
            "AttributionFigures": {"type": "object", "required": list(_FIGURES), "properties": _FIGURES},
            "AttributionReport": {
                "type": "object",
                "required": ["by", "currency", "items", "totals"],
                "properties": {
                    "by": {"type": "string", "enum": list(REPORT_KINDS)},
                    "currency": {"type": "string"},
                    "items": {
                        "type": "array",
                        "description": "by=product: product_id, product_external_id, title; by=restock: "
                        "stock_event_id, occurred_at, variant_id, variant_title, sku, product_id, product_title; "
                        "each with the figures",
                        "items": {
                            "allOf": [
                                schema_ref("AttributionFigures"),
                                {
                                    "type": "object",
                                    "properties": {
                                        "product_id": {"type": "integer"},
                                        "product_external_id": {"type": "string"},
                                        "title": {"type": "string"},
                                        "stock_event_id": {"type": "integer"},
                                        "occurred_at": {"type": "string", "format": "date-time"},
                                        "variant_id": {"type": "integer"},
                                        "variant_title": {"type": "string"},
                                        "sku": {"type": "string"},
                                        "product_title": {"type": "string"},
                                    },
                                },
                            ]
                        },
                    },
                    "totals": schema_ref("AttributionFigures"),
                },
            },
        }
    },
)
