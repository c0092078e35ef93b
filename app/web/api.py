"""The merchant JSON API under /api/v1: store summary, stock state per variant, recompute.

Handlers only read, through the merchant's stock views (app/services/merchant/stock_views.py); every query is
scoped by the store in the URL. The OpenAPI description of these endpoints follows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from sqlalchemy import select

from app import job_specs
from app.domain.stock import EtaSource
from app.infra.openapi import ApiDoc, error_response, json_response, schema_ref
from app.models import StoreStatus, SyncRun, SyncRunStatus
from app.platforms import registry
from app.services.merchant.stock_views import (
    BADGES,
    DEFAULT_PER_PAGE,
    SIGNALS,
    SORTS,
    STATUSES,
    JsonDict,
    VariantPage,
    get_variant,
    list_variants,
    store_summary,
    variant_events,
    variant_history,
)
from app.web.deps import abort_json, db_session, runtime, store_for_request
from app.web.params import MAX_PER_PAGE, MAX_QUERY_LENGTH, check_id, parse_variant_query

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _link_header(page: VariantPage) -> str | None:
    links: list[str] = []
    args: dict[str, Any] = request.args.to_dict(flat=False)
    view_args: Mapping[str, Any] = request.view_args or {}
    endpoint = request.endpoint or "api.list_variants_view"
    if page.page < page.pages:
        args["page"] = [str(page.page + 1)]
        links.append(f'<{url_for(endpoint, **view_args, **args, _external=True)}>; rel="next"')
    if page.page > 1 and page.pages > 0:
        # From past the end, "prev" leads back to the last page that has items.
        args["page"] = [str(min(page.page - 1, page.pages))]
        links.append(f'<{url_for(endpoint, **view_args, **args, _external=True)}>; rel="prev"')
    return ", ".join(links) or None


# ---------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------


@bp.get("/stores/<int:store_id>")
def get_store(store_id: int) -> Response:
    """The store's identity and counts by status and signal, waitlist total and variants at risk."""
    check_id(store_id, "store")
    store = store_for_request(store_id)
    return jsonify(store_summary(db_session(), store))


@bp.get("/stores/<int:store_id>/variants")
def list_variants_view(store_id: int) -> Response:
    """One page of the store's variants with their stock state, filtered and sorted."""
    check_id(store_id, "store")
    store = store_for_request(store_id)
    query = parse_variant_query(request.args)
    page = list_variants(db_session(), store.id, query)
    response = jsonify(
        {"items": page.items, "page": page.page, "per_page": page.per_page, "total": page.total, "pages": page.pages}
    )
    link = _link_header(page)
    if link:
        response.headers["Link"] = link
    return response


@bp.get("/stores/<int:store_id>/variants/<int:variant_id>")
def get_variant_view(store_id: int, variant_id: int) -> Response:
    """One variant's stock state with 90 days of history and its latest stock events."""
    check_id(store_id, "store")
    store = store_for_request(store_id)
    check_id(variant_id, "variant")
    session = db_session()
    item = get_variant(session, store.id, variant_id)
    if item is None:
        abort_json(404, "not_found", "No such variant in this store, or its stock state is not computed yet.")
    item["history"] = variant_history(session, store, variant_id)
    item["events"] = variant_events(session, store.id, variant_id)
    return jsonify(item)


@bp.post("/stores/<int:store_id>/recompute")
def recompute_store(store_id: int) -> tuple[Response, int]:
    """Queue a full recompute of the store; a recompute already waiting absorbs this one."""
    check_id(store_id, "store")
    store = store_for_request(store_id)
    enqueued = runtime().jobs.enqueue(job_specs.recompute_store(store.id))
    return jsonify({"enqueued": enqueued}), 202


@bp.get("/stores/<int:store_id>/sync")
def sync_progress(store_id: int) -> Response:
    """The store's latest catalog sync: kind, status, phase, counts and percentage (the admin's progress bar)."""
    check_id(store_id, "store")
    store = store_for_request(store_id)
    run = (
        db_session()
        .execute(select(SyncRun).where(SyncRun.store_id == store.id).order_by(SyncRun.id.desc()).limit(1))
        .scalar_one_or_none()
    )
    if run is None:
        return jsonify({"run": None})
    return jsonify({"run": registry.of(store).sync_progress(run)})


# ---------------------------------------------------------------------------------------------
# OpenAPI description of the handlers above
# ---------------------------------------------------------------------------------------------

_NULLABLE_DATE: JsonDict = {"type": ["string", "null"], "format": "date"}
_ERRORS: JsonDict = {
    "401": error_response("No admin API key was sent, or the key is no store's"),
    "404": error_response("Unknown store, another store's key, or unknown variant"),
}


def _enum_list_param(name: str, values: Sequence[str], description: str) -> JsonDict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": f"{description}; comma-separated for several. One of: {', '.join(values)}.",
        # One comma-separated value (status=low_stock,out_of_stock); a repeated parameter means the same.
        "schema": {"type": "array", "items": {"type": "string", "enum": list(values)}, "minItems": 1},
        "style": "form",
        "explode": False,
    }


OPENAPI = ApiDoc(
    {
        "/api/v1/stores/{store_id}": {
            "parameters": [{"$ref": "#/components/parameters/StoreId"}],
            "get": {
                "operationId": "getStore",
                "summary": "Store summary and headline counts",
                "tags": ["stores"],
                "security": [{"adminKey": []}],
                "responses": {"200": json_response("The store", schema_ref("StoreSummary")), **_ERRORS},
            },
        },
        "/api/v1/stores/{store_id}/sync": {
            "parameters": [{"$ref": "#/components/parameters/StoreId"}],
            "get": {
                "operationId": "getSyncProgress",
                "summary": "The latest catalog sync of the store and its progress",
                "tags": ["stores"],
                "security": [{"adminKey": []}],
                "responses": {
                    "200": json_response(
                        "The latest sync run, or null before the first",
                        {
                            "type": "object",
                            "required": ["run"],
                            "properties": {
                                "run": {
                                    "type": ["object", "null"],
                                    "properties": {
                                        "id": {"type": "integer"},
                                        "kind": {"type": "string", "enum": ["initial", "reconcile", "history"]},
                                        "status": {
                                            "type": "string",
                                            "enum": [
                                                s.value
                                                for s in (
                                                    SyncRunStatus.RUNNING,
                                                    SyncRunStatus.DONE,
                                                    SyncRunStatus.FAILED,
                                                )
                                            ],
                                        },
                                        "phase": {"type": "string"},
                                        "done": {"type": "integer"},
                                        "total": {"type": ["integer", "null"]},
                                        "percent": {"type": "number"},
                                        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                                        "error": {"type": ["string", "null"]},
                                        "retrying": {
                                            "type": ["string", "null"],
                                            "description": "A running run's last failure at the point where it "
                                            "stands, while the sweeper retries it",
                                        },
                                        "started_at": {"type": ["string", "null"], "format": "date-time"},
                                        "finished_at": {"type": ["string", "null"], "format": "date-time"},
                                    },
                                }
                            },
                        },
                    ),
                    **_ERRORS,
                },
            },
        },
        "/api/v1/stores/{store_id}/variants": {
            "parameters": [{"$ref": "#/components/parameters/StoreId"}],
            "get": {
                "operationId": "listVariants",
                "summary": "Stock state per variant, filtered, sorted and paginated",
                "tags": ["stock"],
                "security": [{"adminKey": []}],
                "parameters": [
                    _enum_list_param("status", STATUSES, "Only these stock statuses"),
                    _enum_list_param("signal", SIGNALS, "Only these ad signals"),
                    _enum_list_param("badge", BADGES, "Only these badge kinds"),
                    {
                        "name": "q",
                        "in": "query",
                        "description": "Case-insensitive substring of the SKU, variant title or product title",
                        "schema": {"type": "string", "maxLength": MAX_QUERY_LENGTH},
                    },
                    {
                        "name": "at_risk",
                        "in": "query",
                        "description": "true: low or out of stock, or signal not ok; false: the others",
                        "schema": {"type": "boolean"},
                    },
                    {
                        "name": "has_waitlist",
                        "in": "query",
                        "description": "true: at least one shopper waiting; false: nobody waiting",
                        "schema": {"type": "boolean"},
                    },
                    {
                        "name": "sort",
                        "in": "query",
                        "description": (
                            "priority (highest first), days_on_hand and stockout_on (soonest first, unknown last), "
                            "sku (A-Z), waitlist (longest first)"
                        ),
                        "schema": {"type": "string", "enum": list(SORTS), "default": "priority"},
                    },
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
                    {
                        "name": "per_page",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_PER_PAGE,
                            "default": DEFAULT_PER_PAGE,
                        },
                    },
                ],
                "responses": {
                    "200": json_response(
                        "One page of variants",
                        schema_ref("VariantPage"),
                        headers={
                            "Link": {
                                "description": 'RFC 8288 links to the neighbouring pages (rel="next", rel="prev")',
                                "schema": {"type": "string"},
                            }
                        },
                    ),
                    "400": error_response("A query parameter is invalid; details names each one"),
                    **_ERRORS,
                },
            },
        },
        "/api/v1/stores/{store_id}/variants/{variant_id}": {
            "parameters": [
                {"$ref": "#/components/parameters/StoreId"},
                {"name": "variant_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}},
            ],
            "get": {
                "operationId": "getVariant",
                "summary": "One variant's stock state, 90 days of history and its latest stock events",
                "tags": ["stock"],
                "security": [{"adminKey": []}],
                "responses": {"200": json_response("The variant", schema_ref("VariantDetail")), **_ERRORS},
            },
        },
        "/api/v1/stores/{store_id}/recompute": {
            "parameters": [{"$ref": "#/components/parameters/StoreId"}],
            "post": {
                "operationId": "recomputeStore",
                "summary": "Queue a full stock recompute of the store",
                "description": "enqueued is false when a recompute of this store is already waiting.",
                "tags": ["stock"],
                "security": [{"adminKey": []}],
                "responses": {
                    "202": json_response(
                        "Accepted",
                        {"type": "object", "required": ["enqueued"], "properties": {"enqueued": {"type": "boolean"}}},
                    ),
                    **_ERRORS,
                },
            },
        },
    },
    components={
        "parameters": {
            "StoreId": {
                "name": "store_id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            },
        },
        "schemas": {
            "StoreSummary": {
                "type": "object",
                "required": [
                    "id",
                    "name",
                    "platform",
                    "domain",
                    "timezone",
                    "currency",
                    "status",
                    "last_recomputed_at",
                    "counts",
                ],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "platform": {"type": "string", "enum": list(registry.PLATFORMS)},
                    "domain": {"type": "string"},
                    "timezone": {"type": "string"},
                    "currency": {"type": "string"},
                    "status": {
                        "type": "string",
                        "enum": [
                            s.value for s in (StoreStatus.ACTIVE, StoreStatus.DISCONNECTED, StoreStatus.UNINSTALLED)
                        ],
                    },
                    "last_recomputed_at": {"type": ["string", "null"], "format": "date-time"},
                    "counts": {
                        "type": "object",
                        "required": ["variants", "by_status", "by_signal", "waitlist_open", "at_risk"],
                        "properties": {
                            "variants": {"type": "integer"},
                            "by_status": {
                                "type": "object",
                                "properties": {s: {"type": "integer"} for s in STATUSES},
                            },
                            "by_signal": {
                                "type": "object",
                                "properties": {s: {"type": "integer"} for s in SIGNALS},
                            },
                            "waitlist_open": {"type": "integer"},
                            "at_risk": {
                                "type": "integer",
                                "description": "Variants low or out of stock, or with a signal other than ok",
                            },
                        },
                    },
                },
            },
            "VariantItem": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "external_id": {"type": "string"},
                    "sku": {"type": "string"},
                    "title": {"type": "string"},
                    "product_id": {"type": "integer"},
                    "product_title": {"type": "string"},
                    "price": {"type": "number"},
                    "tracked": {"type": "boolean"},
                    "policy": {"type": "string", "enum": ["deny", "continue"]},
                    "sellable_quantity": {"type": "integer"},
                    "velocity": {"type": "number", "description": "Units per day, blended over the windows"},
                    "velocity_windows": {"type": "array", "items": {"type": ["number", "null"]}},
                    "sales_days": {
                        "type": ["integer", "null"],
                        "description": "Days of sales the velocity is based on: the sellable days with known orders of"
                        " the longest window that had a rate (null when none had one)",
                    },
                    "days_on_hand": {"type": ["number", "null"]},
                    "stockout_on": _NULLABLE_DATE,
                    "reorder_by": _NULLABLE_DATE,
                    "suggested_reorder_qty": {"type": "integer"},
                    "status": {"type": "string", "enum": list(STATUSES)},
                    "badge": {
                        "type": "object",
                        "properties": {
                            "kind": {"type": "string", "enum": list(BADGES)},
                            "quantity": {"type": ["integer", "null"]},
                            "text": {"type": ["string", "null"], "examples": ["Only 3 left", "Selling fast"]},
                        },
                    },
                    "signal": {
                        "type": "object",
                        "properties": {
                            "value": {"type": "string", "enum": list(SIGNALS)},
                            "reason": {"type": "string"},
                        },
                    },
                    "restock_eta": {
                        "type": "object",
                        "properties": {
                            "date": _NULLABLE_DATE,
                            "source": {
                                "type": ["string", "null"],
                                "enum": [*(s.value for s in EtaSource), None],
                            },
                        },
                    },
                    "priority": {"type": "number"},
                    "waitlist_open": {"type": "integer"},
                    "incoming_quantity": {"type": "integer"},
                    "lead_time_days": {"type": "integer"},
                    "campaign": {
                        "oneOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "properties": {"id": {"type": "integer"}, "stockout_on": _NULLABLE_DATE},
                            },
                        ]
                    },
                    "reasons": {"type": "array", "items": {"type": "string"}},
                    "computed_at": {"type": "string", "format": "date-time"},
                },
            },
            "VariantPage": {
                "allOf": [
                    schema_ref("Pagination"),
                    {
                        "type": "object",
                        "required": ["items"],
                        "properties": {"items": {"type": "array", "items": schema_ref("VariantItem")}},
                    },
                ]
            },
            "VariantDetail": {
                "allOf": [
                    schema_ref("VariantItem"),
                    {
                        "type": "object",
                        "required": ["history", "events"],
                        "properties": {
                            "history": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "day": {"type": "string", "format": "date"},
                                        "sellable_quantity": {"type": "integer"},
                                        "velocity": {"type": "number"},
                                        "days_on_hand": {"type": ["number", "null"]},
                                        "status": {"type": "string"},
                                        "signal": {"type": "string"},
                                    },
                                },
                            },
                            "events": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "id": {"type": "integer"},
                                        "kind": {"type": "string", "enum": ["restock", "sellout"]},
                                        "before": {"type": "integer"},
                                        "after": {"type": "integer"},
                                        "occurred_at": {"type": "string", "format": "date-time"},
                                        "source": {"type": "string"},
                                        "since": {
                                            "type": ["string", "null"],
                                            "enum": ["last_sale", "inventory_update", "connect", None],
                                            "description": "A span for a variant found sold out (source 'found'):"
                                            " the fact it starts from",
                                        },
                                    },
                                },
                            },
                        },
                    },
                ]
            },
        },
    },
)
