"""The OpenAPI description of the public storefront routes (app.web.storefront): state reads, signups, the App Proxy."""

from __future__ import annotations

from typing import Any

from app.domain import waitlist as rules
from app.domain.stock import BadgeKind, Status
from app.infra.openapi import ApiDoc, error_response, json_response, schema_ref
from app.web.read_cache import CACHE_CONTROL

JsonDict = dict[str, Any]

_STORE_ID: JsonDict = {"$ref": "#/components/parameters/StoreId"}
_PRODUCT_REF: JsonDict = {
    "name": "product_ref",
    "in": "path",
    "required": True,
    "description": "The product's id on the platform (its external id)",
    "schema": {"type": "string", "maxLength": 64},
}
_VARIANT_REF: JsonDict = {
    "name": "variant_ref",
    "in": "path",
    "required": True,
    "description": "The variant's id on the platform (its external id)",
    "schema": {"type": "string", "maxLength": 64},
}
_LOCALE: JsonDict = {
    "name": "locale",
    "in": "query",
    "required": False,
    "description": "Language of the consent text (en, nl, fr, de; a tag like nl-BE works); default: the store's",
    "schema": {"type": "string"},
}
_PROXY_PARAMS: list[JsonDict] = [
    {"name": name, "in": "query", "required": name in ("shop", "timestamp", "signature"), "schema": {"type": "string"}}
    for name in ("shop", "logged_in_customer_id", "path_prefix", "timestamp", "signature")
]
_CACHE_HEADERS: JsonDict = {
    "ETag": {"description": "Strong validator; send it back as If-None-Match", "schema": {"type": "string"}},
    "Cache-Control": {"description": CACHE_CONTROL, "schema": {"type": "string"}},
}
_READ_ERRORS: JsonDict = {
    "304": {"description": "Not modified (If-None-Match matched)"},
    "404": error_response("Unknown or inactive store, or unknown product/variant"),
    "429": error_response("Too many requests from this address (Retry-After says when to retry)"),
}
_SIGNUP_ERRORS: JsonDict = {
    "400": error_response("invalid_email, email_not_supported, consent_required or invalid_request (bad JSON, types)"),
    "404": error_response("Unknown or inactive store, or unknown variant"),
    "409": error_response("in_stock: the variant can be bought now, no waitlist needed"),
    "413": error_response("The body is larger than 1 MiB"),
    "429": error_response("rate_limited: too many signups from this address or for this email"),
}
_PROXY_ERRORS: JsonDict = {"401": error_response("The App Proxy signature is missing, wrong or older than 90 s")}
_SIGNUP_BODY: JsonDict = {
    "required": True,
    "content": {
        media: {"schema": schema_ref("StorefrontSignup")}
        for media in ("application/json", "application/x-www-form-urlencoded")
    },
}


def _read_op(op_id: str, summary: str, schema: str, params: list[JsonDict], proxy: bool = False) -> JsonDict:
    return {
        "operationId": op_id,
        "summary": summary,
        "tags": ["storefront"],
        "security": [],
        "parameters": params,
        "responses": {
            "200": json_response(summary, schema_ref(schema), headers=_CACHE_HEADERS),
            **_READ_ERRORS,
            **(_PROXY_ERRORS if proxy else {}),
        },
    }


def _signup_op(op_id: str, summary: str, params: list[JsonDict], proxy: bool = False) -> JsonDict:
    return {
        "operationId": op_id,
        "summary": summary,
        "description": (
            "Idempotent per (store, variant, email); the same 202 whether or not the address was already on "
            "the list. A filled `website` field (honeypot) is answered 202 and ignored. With double opt-in the "
            "shopper gets a confirmation email (confirm: true)."
        ),
        "tags": ["storefront"],
        "security": [],
        "parameters": params,
        "requestBody": _SIGNUP_BODY,
        "responses": {
            "202": json_response("Accepted", schema_ref("StorefrontSignupAccepted")),
            **_SIGNUP_ERRORS,
            **(_PROXY_ERRORS if proxy else {}),
        },
    }


_HTML_PAGE: JsonDict = {"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
_TOKEN: JsonDict = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}

_STATUS: JsonDict = {"type": "string", "enum": [s.value for s in Status]}
_BADGE: JsonDict = {
    "type": "object",
    "required": ["kind", "quantity"],
    "properties": {
        "kind": {"type": "string", "enum": [b.value for b in BadgeKind]},
        "quantity": {"type": ["integer", "null"]},
    },
}
_CONSENT_VERSION = "The consent version the form showed; missing or not current: 400 consent_required"
_WAY = "Only when true: sold out with no date, the platform reports stock on its way (undated): never say when"

_STATE_SCHEMA: JsonDict = {
    "type": "object",
    "required": ["status", "badge", "restock_eta", "eta_source", "back_soon", "v"],
    "properties": {
        "status": _STATUS,
        "badge": _BADGE,
        "restock_eta": {"type": ["string", "null"], "format": "date"},
        "eta_source": {"type": ["string", "null"]},
        "on_its_way": {"type": "boolean", "const": True, "description": _WAY},
        "back_soon": {"type": "boolean", "description": "true when the back-soon form should be offered"},
        "v": {"type": "integer", "const": 1},
    },
}

OPENAPI = ApiDoc(
    {
        "/storefront/v1/stores/{store_id}/products/{product_ref}": {
            "get": _read_op(
                "storefrontProduct",
                "A product's variants with their stock state, and the store's signup settings",
                "StorefrontProduct",
                [_STORE_ID, _PRODUCT_REF, _LOCALE],
            ),
        },
        "/storefront/v1/stores/{store_id}/variants/{variant_ref}": {
            "get": _read_op(
                "storefrontVariant", "One variant's stock state", "StorefrontVariant", [_STORE_ID, _VARIANT_REF]
            ),
        },
        "/storefront/v1/stores/{store_id}/subscriptions": {
            "post": _signup_op("storefrontSubscribe", "Join a variant's back-in-stock waitlist", [_STORE_ID]),
        },
        "/storefront/proxy/v1/products/{product_ref}": {
            "get": _read_op(
                "proxyProduct",
                "The product document through the Shopify App Proxy",
                "StorefrontProduct",
                [_PRODUCT_REF, _LOCALE, *_PROXY_PARAMS],
                proxy=True,
            ),
        },
        "/storefront/proxy/v1/variants/{variant_ref}": {
            "get": _read_op(
                "proxyVariant",
                "One variant's state through the Shopify App Proxy",
                "StorefrontVariant",
                [_VARIANT_REF, *_PROXY_PARAMS],
                proxy=True,
            ),
        },
        "/storefront/proxy/v1/subscriptions": {
            "post": _signup_op(
                "proxySubscribe", "Join a waitlist through the Shopify App Proxy", _PROXY_PARAMS, proxy=True
            ),
        },
        "/storefront/proxy/subscribe": {
            "post": {
                "operationId": "proxyFormSubscribe",
                "summary": "The theme block's plain form signup (no JavaScript) through the Shopify App Proxy",
                "description": (
                    "Form fields as StorefrontSignup plus return_to (a path on the shop). Answers 303 to "
                    "return_to with backsoon=subscribed|error and backsoon_reason, or a small HTML page."
                ),
                "tags": ["storefront"],
                "security": [],
                "parameters": _PROXY_PARAMS,
                "requestBody": {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": schema_ref("StorefrontSignup")}},
                },
                "responses": {
                    "200": _HTML_PAGE,
                    "303": {"description": "Back to return_to with the outcome in the query"},
                    "400": _HTML_PAGE,
                    **_PROXY_ERRORS,
                    "404": error_response("Unknown or inactive shop"),
                    "429": error_response("rate_limited"),
                },
            }
        },
        "/c/{token}": {
            "parameters": [_TOKEN],
            "get": {
                "operationId": "confirmPage",
                "summary": "Double-opt-in page with a Confirm button (never confirms by itself)",
                "tags": ["storefront"],
                "security": [],
                "responses": {"200": _HTML_PAGE, "404": _HTML_PAGE, "409": _HTML_PAGE, "410": _HTML_PAGE},
            },
            "post": {
                "operationId": "confirmSubscription",
                "summary": "Confirm the signup once (404 unknown, 409 already used, 410 expired)",
                "tags": ["storefront"],
                "security": [],
                "responses": {"200": _HTML_PAGE, "404": _HTML_PAGE, "409": _HTML_PAGE, "410": _HTML_PAGE},
            },
        },
        "/u/{token}": {
            "parameters": [_TOKEN],
            "get": {
                "operationId": "unsubscribePage",
                "summary": "Unsubscribe page with a button (never unsubscribes by itself)",
                "tags": ["storefront"],
                "security": [],
                "responses": {"200": _HTML_PAGE, "404": _HTML_PAGE},
            },
            "post": {
                "operationId": "unsubscribe",
                "summary": "Unsubscribe: the page's form or RFC 8058 one-click (List-Unsubscribe=One-Click)",
                "tags": ["storefront"],
                "security": [],
                "responses": {"200": _HTML_PAGE, "404": _HTML_PAGE},
            },
        },
    },
    components={
        "schemas": {
            "StorefrontState": _STATE_SCHEMA,
            "StorefrontProduct": {
                "type": "object",
                "required": ["store", "product", "variants"],
                "properties": {
                    "store": {
                        "type": "object",
                        "required": ["id", "name", "locale", "double_opt_in", "consent"],
                        "properties": {
                            "id": {"type": "integer"},
                            "name": {"type": "string"},
                            "locale": {"type": "string", "enum": list(rules.LOCALES)},
                            "double_opt_in": {"type": "boolean"},
                            "consent": {
                                "type": "object",
                                "required": ["text", "version"],
                                "properties": {"text": {"type": "string"}, "version": {"type": "string"}},
                            },
                            "texts": {
                                "type": "object",
                                "description": (
                                    "The merchant's own storefront words in this language, only those set: "
                                    "[count] and [date] are slots for the widget to fill."
                                ),
                                "properties": {
                                    "only_n_left": {"type": "string"},
                                    "selling_fast": {"type": "string"},
                                    "back_soon": {"type": "string"},
                                },
                            },
                        },
                    },
                    "product": {
                        "type": "object",
                        "required": ["id", "title", "url", "image_url", "listing"],
                        "properties": {
                            "id": {"type": "string"},
                            "title": {"type": "string"},
                            "url": {"type": ["string", "null"]},
                            "image_url": {"type": ["string", "null"]},
                            "listing": {
                                "type": "object",
                                "description": "The whole product as a listing card shows it (its published variants)",
                                "required": ["status", "badge"],
                                "properties": {"status": _STATUS, "badge": _BADGE},
                            },
                        },
                    },
                    "variants": {
                        "type": "object",
                        "description": "Keyed by variant external id: the state shape plus the variant title",
                        "additionalProperties": {
                            "allOf": [
                                schema_ref("StorefrontState"),
                                {"type": "object", "properties": {"title": {"type": "string"}}},
                            ]
                        },
                    },
                },
            },
            "StorefrontVariant": {
                "type": "object",
                "required": ["variant", "product", "state"],
                "properties": {
                    "variant": {"type": "string"},
                    "product": {"type": "string"},
                    "state": schema_ref("StorefrontState"),
                },
            },
            "StorefrontSignup": {
                "type": "object",
                "required": ["email", "variant_id", "consent", "consent_version"],
                "properties": {
                    "email": {"type": "string", "maxLength": 254},
                    "variant_id": {"type": "string", "description": "The variant's external id"},
                    "consent": {"type": "boolean"},
                    "consent_version": {"type": "string", "description": _CONSENT_VERSION},
                    "root": {
                        "type": "string",
                        "description": (
                            "The storefront's locale or market root the shopper is on (Shopify routes.root_url, "
                            "e.g. /nl or /en-ca); the restock email's buy link leads back under it. Other values are "
                            "ignored."
                        ),
                    },
                    "locale": {"type": "string"},
                    "source": {"type": "string", "enum": ["widget", "landing"]},
                    "website": {"type": "string", "description": "Honeypot: leave empty"},
                },
            },
            "StorefrontSignupAccepted": {
                "type": "object",
                "required": ["ok", "confirm", "message"],
                "properties": {
                    "ok": {"type": "boolean", "const": True},
                    "confirm": {"type": "boolean", "description": "true: a confirmation email is on its way"},
                    "message": {"type": "string", "description": "Localised text to show the shopper"},
                },
            },
        }
    },
)
