"""The OpenAPI document covers every JSON route of the app, and only real ones, and is well formed."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from app.config import Settings
from app.infra import openapi as spec
from app.web import openapi
from app.web.factory import build_app

# Routes that answer HTML or files rather than JSON.
NOT_JSON_ENDPOINTS = (
    "static",
    # The WooCommerce connect pages are merchant-facing HTML forms; only their callback is JSON.
    "woocommerce.connect_form",
    "woocommerce.connect_start",
    "woocommerce.connect_keys",
    "woocommerce.connected",
)
# HTML pages: the Shopify install pages (admin iframe, OAuth redirect), the merchant admin (its data API is
# /api/v1) with its data request downloads (a file behind the link emailed to the merchant), the demo shop,
# landing pages and demo inbox.
NOT_JSON_BLUEPRINTS = (
    "pages",
    "shopify",
    "admin",
    "admin_dashboard",
    "admin_results",
    "admin_settings",
    "admin_planning",
    "admin_plan",
    "admin_data",
    "admin_subscribers",
    "admin_privacy",
    "admin_dead_letters",
    "admin_emails",
    "demo_mail",
    "shop",
)
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def app() -> Flask:
    return build_app(Settings(env="test", database_url="sqlite://", app_url="https://backsoon.example"))


@pytest.fixture(scope="module")
def doc(app: Flask) -> dict[str, Any]:
    resp = app.test_client().get("/openapi.json")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    body: dict[str, Any] = resp.get_json()
    return body


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _json_rules(app: Flask) -> Iterator[tuple[str, set[str]]]:
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_JSON_ENDPOINTS or rule.endpoint.split(".")[0] in NOT_JSON_BLUEPRINTS:
            continue
        yield _openapi_path(rule.rule), {m.lower() for m in (rule.methods or set()) - IGNORED_METHODS}


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    target: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    assert isinstance(target, dict)
    return target


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_json_route_is_documented_with_its_methods(app: Flask, doc: dict[str, Any]) -> None:
    rules = list(_json_rules(app))
    expected = {
        "/healthz",
        "/openapi.json",
        "/api/v1/stores/{store_id}",
        "/api/v1/stores/{store_id}/variants",
        "/api/v1/stores/{store_id}/variants/{variant_id}",
        "/api/v1/stores/{store_id}/recompute",
    }
    assert expected <= {path for path, _ in rules}
    for path, methods in rules:
        assert path in doc["paths"], f"{path} is served but not documented"
        documented = {m for m in doc["paths"][path] if m in spec.HTTP_METHODS}
        assert methods <= documented, f"{path}: {sorted(methods - documented)} not documented"


def test_every_documented_operation_is_served(app: Flask, doc: dict[str, Any]) -> None:
    served: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        served.setdefault(_openapi_path(rule.rule), set()).update(m.lower() for m in rule.methods or set())
    for path, item in doc["paths"].items():
        for method in (m for m in item if m in spec.HTTP_METHODS):
            assert method in served.get(path, set()), f"{method.upper()} {path} is documented but not served"


def test_path_parameters_match_the_route(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        in_path = set(re.findall(r"{([^}]+)}", path))
        for method in (m for m in item if m in spec.HTTP_METHODS):
            params = [_resolve(doc, p) for p in [*item.get("parameters", []), *item[method].get("parameters", [])]]
            declared = {p["name"] for p in params if p["in"] == "path"}
            assert declared == in_path, f"{method.upper()} {path}"
            assert all(p["required"] is True for p in params if p["in"] == "path")


def test_document_is_structurally_valid(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] == "BackSoon API"
    assert doc["info"]["version"]
    assert doc["servers"] == [{"url": "https://backsoon.example"}]
    assert doc["paths"]
    operation_ids: list[str] = []
    for path, item in doc["paths"].items():
        assert path.startswith("/")
        for method in (m for m in item if m in spec.HTTP_METHODS):
            op = item[method]
            assert op["summary"], f"{method} {path}"
            assert op["responses"], f"{method} {path}"
            for status, response in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d|default", status), f"{method} {path} {status}"
                assert _resolve(doc, response)["description"]
            operation_ids.append(op["operationId"])
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"
    for ref in set(_refs(doc)):
        assert ref.startswith("#/components/"), ref
        _resolve(doc, {"$ref": ref})  # raises KeyError when the target is missing
    # Security schemes named by operations exist.
    schemes = set(doc["components"]["securitySchemes"])
    for item in doc["paths"].values():
        for method in (m for m in item if m in spec.HTTP_METHODS):
            for requirement in item[method].get("security", []):
                assert set(requirement) <= schemes
    if importlib.util.find_spec("openapi_spec_validator") is not None:  # not a dependency; used when present
        from openapi_spec_validator import validate  # type: ignore[import-not-found, unused-ignore]

        validate(doc)


def test_shared_schemas_are_present(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["Error"]["properties"]["error"]["required"] == ["code", "message"]
    assert set(schemas["Pagination"]["required"]) == {"page", "per_page", "total", "pages"}
    item = schemas["VariantItem"]["properties"]
    for figure in (
        "sellable_quantity",
        "velocity",
        "velocity_windows",
        "days_on_hand",
        "stockout_on",
        "reorder_by",
        "suggested_reorder_qty",
        "status",
        "badge",
        "signal",
        "restock_eta",
        "priority",
        "waitlist_open",
        "incoming_quantity",
        "lead_time_days",
        "campaign",
        "reasons",
        "computed_at",
    ):
        assert figure in item, figure
    listing = doc["paths"]["/api/v1/stores/{store_id}/variants"]["get"]
    assert listing["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert {p["name"] for p in listing["parameters"]} == {
        "status",
        "signal",
        "badge",
        "q",
        "at_risk",
        "has_waitlist",
        "sort",
        "page",
        "per_page",
    }


def test_document_merges_methods_and_refuses_conflicts() -> None:
    path = "/__test__/registry"
    document = spec.ApiDocument()
    document.add(openapi.OPENAPI)
    document.add(spec.ApiDoc({path: {"get": {"summary": "a", "responses": {}}}}))
    document.add(spec.ApiDoc({path: {"post": {"summary": "b", "responses": {}}}}))
    # The same definition again is a no-op, a different one is an error.
    document.add(spec.ApiDoc({path: {"get": {"summary": "a", "responses": {}}}}))
    with pytest.raises(ValueError, match="GET /__test__/registry is already registered differently"):
        document.add(spec.ApiDoc({path: {"get": {"summary": "changed", "responses": {}}}}))
    with pytest.raises(ValueError, match="already registered differently"):
        document.add(spec.ApiDoc({}, components={"schemas": {"Error": {"type": "string"}}}))
    with pytest.raises(ValueError, match="unknown OpenAPI component kind"):
        document.add(spec.ApiDoc({}, components={"widgets": {}}))
    with pytest.raises(ValueError, match="must start with '/'"):
        document.add(spec.ApiDoc({"relative": {}}))
    doc = document.build()
    assert set(doc["paths"][path]) == {"get", "post"}
    assert doc["paths"][path]["get"]["summary"] == "a"
    # The document is a copy: changing it leaves the app's alone.
    doc["paths"][path]["get"]["summary"] = "mutated"
    assert document.build()["paths"][path]["get"]["summary"] == "a"
    assert "servers" not in doc


def test_importing_a_blueprint_registers_nothing() -> None:
    """Two apps get equal documents, and neither depends on what was imported before it."""
    one = build_app(Settings(env="test", database_url="sqlite://", app_url="https://backsoon.example"))
    two = build_app(Settings(env="test", database_url="sqlite://", app_url="https://backsoon.example"))
    assert one.extensions[openapi.EXTENSION] is not two.extensions[openapi.EXTENSION]
    assert one.extensions[openapi.EXTENSION].build() == two.extensions[openapi.EXTENSION].build()
