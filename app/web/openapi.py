"""The OpenAPI 3.1 document at /openapi.json, assembled at startup from the pieces the endpoints declare.

Blueprints and platforms describe their JSON endpoints next to their handlers as an ``ApiDoc``
(app.infra.openapi). Importing a module registers nothing: the app factory adds the OPENAPI of every blueprint it
registers, and each platform's webhook path, to the app's ApiDocument; `tests/unit/test_openapi.py` fails when a
JSON route is missing from it.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from app.infra.openapi import ApiDoc, ApiDocument, json_response, schema_ref
from app.web.deps import runtime

bp = Blueprint("openapi", __name__)

EXTENSION = "backsoon.openapi"


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """Serve the OpenAPI document of every JSON endpoint."""
    document: ApiDocument = current_app.extensions[EXTENSION]
    return jsonify(document.build(runtime().settings.app_url))


# Shared pieces every blueprint may reference, and the endpoints of health and of this module.
OPENAPI = ApiDoc(
    {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Whether the database and the job queue answer, and the dead letters waiting",
                "tags": ["health"],
                "security": [],
                "responses": {
                    "200": json_response("Everything answers", schema_ref("Health")),
                    "503": json_response("The database or the queue does not answer", schema_ref("Health")),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["meta"],
                "security": [],
                "responses": {"200": json_response("The OpenAPI document", {"type": "object"})},
            }
        },
    },
    components={
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string", "examples": ["invalid_parameter", "not_found"]},
                            "message": {"type": "string"},
                            "details": {
                                "type": "object",
                                "description": 'Per-field reasons, e.g. {"per_page": "must be at most 200"}',
                                "additionalProperties": {"type": "string"},
                            },
                        },
                    }
                },
            },
            "Pagination": {
                "type": "object",
                "required": ["page", "per_page", "total", "pages"],
                "properties": {
                    "page": {"type": "integer", "minimum": 1},
                    "per_page": {"type": "integer", "minimum": 1, "maximum": 200},
                    "total": {"type": "integer", "minimum": 0},
                    "pages": {"type": "integer", "minimum": 0},
                },
            },
            "Health": {
                "type": "object",
                "required": ["status", "database", "queue"],
                "properties": {
                    "status": {"type": "string", "enum": ["ok", "degraded"]},
                    "database": {
                        "type": "object",
                        "properties": {
                            "ok": {"type": "boolean"},
                            "dialect": {"type": "string"},
                            "error": {"type": "string"},
                        },
                    },
                    "queue": {
                        "type": "object",
                        "properties": {
                            "ok": {"type": "boolean"},
                            "mode": {"type": "string", "enum": ["redis", "in-process"]},
                            "depth": {"type": "object", "additionalProperties": {"type": "integer"}},
                            "failed_jobs": {
                                "type": "integer",
                                "description": "Jobs in RQ's failed job registries (redis mode only)",
                            },
                            "error": {"type": "string"},
                        },
                    },
                    "dead_letters": {
                        "type": "object",
                        "description": "Work given up on, waiting to be looked at and replayed (`backsoon inbox`), "
                        "absent when the database does not answer",
                        "required": ["webhooks", "restock_events"],
                        "properties": {
                            "webhooks": {"type": "integer", "minimum": 0},
                            "restock_events": {"type": "integer", "minimum": 0},
                        },
                    },
                },
            },
        },
        "securitySchemes": {
            "adminKey": {"type": "http", "scheme": "bearer", "description": "The store's admin API key"},
        },
    },
)
