"""OpenAPI 3.1 building blocks: a module's part of the document (ApiDoc) and the whole document (ApiDocument).

A module that serves JSON endpoints describes them next to its handlers as a constant, e.g.::

    from app.infra.openapi import ApiDoc, json_response, error_response

    OPENAPI = ApiDoc(
        {"/webhooks/shopify": {"post": {"summary": "...", "responses": {"200": json_response(...)}}}},
        components={"schemas": {"WebhookAck": {...}}},
    )

Importing a module registers nothing: the app factory adds each part to the app's ApiDocument.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
COMPONENT_KINDS = ("schemas", "parameters", "responses", "securitySchemes", "headers", "requestBodies")

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class ApiDoc:
    """A blueprint's part of the document: path items and the components they reference."""

    paths: Mapping[str, Mapping[str, Any]]
    components: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class ApiDocument:
    """One app's OpenAPI document, built from the ApiDocs of its blueprints."""

    def __init__(self) -> None:
        self.paths: dict[str, JsonDict] = {}
        self.components: dict[str, dict[str, JsonDict]] = {kind: {} for kind in COMPONENT_KINDS}

    def add(self, doc: ApiDoc) -> None:
        """Add path items (and the components they reference); conflicting duplicates raise."""
        for kind, entries in doc.components.items():
            if kind not in self.components:
                raise ValueError(f"unknown OpenAPI component kind {kind!r}")
            for name, spec in entries.items():
                existing = self.components[kind].get(name)
                # The same definition twice is harmless (two blueprints sharing a schema); two different
                # definitions under one name would silently lie, so they fail loudly.
                if existing is not None and existing != spec:
                    raise ValueError(f"OpenAPI component {kind}/{name} is already registered differently")
                self.components[kind][name] = copy.deepcopy(dict(spec))
        for path, item in doc.paths.items():
            if not path.startswith("/"):
                raise ValueError(f"OpenAPI path {path!r} must start with '/'")
            target = self.paths.setdefault(path, {})
            for key, spec in item.items():
                if key in target and target[key] != spec:
                    raise ValueError(f"OpenAPI operation {key.upper()} {path} is already registered differently")
                target[key] = copy.deepcopy(spec)

    def build(self, server_url: str | None = None) -> JsonDict:
        """A fresh copy of the whole document, so a caller can never change the app's."""
        paths = copy.deepcopy({path: self.paths[path] for path in sorted(self.paths)})
        components = {kind: copy.deepcopy(entries) for kind, entries in self.components.items() if entries}
        doc: JsonDict = {
            "openapi": OPENAPI_VERSION,
            "info": {
                "title": "BackSoon API",
                "version": API_VERSION,
                "summary": "Restock engine for Shopify and WooCommerce: stock figures, signals and waitlists.",
                "description": (
                    "Admin endpoints under /api/v1 need the store's admin API key as "
                    "`Authorization: Bearer <key>`; another store's data answers 404. In demo mode the "
                    "seeded demo store is readable without a key. Every error is "
                    '`{"error": {"code", "message", "details"}}`.'
                ),
                "license": {"name": "MIT", "identifier": "MIT"},
            },
            "paths": paths,
            "components": components,
        }
        if server_url:
            doc["servers"] = [{"url": server_url}]
        return doc


def schema_ref(name: str) -> JsonDict:
    """A `$ref` to a schema under components."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(description: str, schema: Mapping[str, Any], headers: Mapping[str, Any] | None = None) -> JsonDict:
    """A response object with an application/json body."""
    response: JsonDict = {"description": description, "content": {"application/json": {"schema": dict(schema)}}}
    if headers:
        response["headers"] = dict(headers)
    return response


def error_response(description: str) -> JsonDict:
    """A response object whose body is the shared error object."""
    return json_response(description, schema_ref("Error"))
