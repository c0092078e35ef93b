"""The app answers as /openapi.json says: schemathesis (pinned in pyproject.toml) against the app in process.

Every documented operation gets the examples, coverage and fuzzing phases with a fixed seed and a bounded number
of examples, and every check schemathesis has (server errors, status codes, content types, response schemas and
headers, auth that is really enforced, schema-valid data accepted, invalid data refused, 405 with ``Allow`` for
undeclared methods) plus ``machine_errors_are_json`` below. The database holds a realistic store: an admin API
key, a product with variants and stock states, a subscription with its confirmation and unsubscribe tokens, a sent
restock email (buy link), a feed token, a pending WooCommerce connect attempt, and a Shopify shop for signed App
Proxy queries. Two positive cases in three are aimed at those rows (``before_call``), and every operation but the
webhooks must succeed at least once, so the 2xx answers are checked too, not only the 404s of ids that name nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from app.db import Database
from app.domain import waitlist as rules
from app.infra.links import buy_token, hash_token, unsubscribe_token
from app.models import Delivery, Product, StockEvent, StockState, Store, Variant, WooConnectAttempt
from app.models.waitlist import Subscription
from app.services.merchant.api_keys import hash_api_key
from app.web.factory import JSON_PATHS, JSON_PREFIXES, api_document
from tests.factories import RecordingQueue

pytestmark = pytest.mark.integration

SECRET_KEY = "contract-secret-key-0123456789abcdef"
APP_SECRET = "shpss_contract"
API_KEY = "contract-admin-key"
FEED_TOKEN = "F" * 43
CONFIRM_TOKEN = "confirm-" + "c" * 40
# Fixed ids, so the cases can be aimed at the rows before the database exists; far above what the sequences reach.
STORE_ID, SHOP_ID = 910001, 910002
PRODUCT_ID, SHOP_PRODUCT_ID = 920001, 920002
VARIANT_IDS = {"v-out": 930001, "v-low": 930002, "v-in": 930003, "sv-1": 930004}
SUBSCRIPTION_ID, EVENT_ID, DELIVERY_ID, PENDING_ID = 940001, 950001, 960001, 910003
ATTEMPT = "a" * 43  # the user_id WooCommerce echoes back from a connect attempt
SHOP_DOMAIN = "contract-shop.myshopify.com"
MAX_EXAMPLES = 15

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261207,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    }
)
schema = schemathesis.openapi.from_dict(api_document().build(), config=CONFIG)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """The App Proxy secret, a known secret key (for the signed links) and limits no generated run reaches."""
    return {
        "shopify_api_secret": APP_SECRET,
        "secret_key": SECRET_KEY,
        "app_url": "https://app.backsoon.example",
        "extra": {name: "100000/minute" for name in ("SIGNUP_IP_LIMIT", "SIGNUP_EMAIL_LIMIT", "STATE_IP_LIMIT")},
    }


@pytest.fixture
def job_queue() -> RecordingQueue:
    """Signups and recomputes only queue: no mail goes out, no job runs."""
    return RecordingQueue()


@pytest.fixture
def seeded_app(db: Database, app: Flask) -> Flask:
    """The app on a database with a WooCommerce store (admin key, feed), its catalogue and a subscriber, and a shop."""
    now = datetime.now(UTC)
    with db.session() as s:
        store = Store(
            id=STORE_ID,
            platform="woocommerce",
            domain="https://acme.example",
            name="Acme",
            timezone="Europe/Brussels",
            currency="EUR",
            locale="en",
            api_key_hash=hash_api_key(API_KEY),
            feed_token=FEED_TOKEN,
        )
        shop = Store(id=SHOP_ID, platform="shopify", domain=SHOP_DOMAIN, name="Contract Shop", locale="en")
        s.add_all([store, shop])
        s.flush()
        s.add_all(
            [
                Product(
                    id=PRODUCT_ID, store_id=STORE_ID, external_id="p-1", title="Hat", url="https://acme.example/hat"
                ),
                Product(id=SHOP_PRODUCT_ID, store_id=SHOP_ID, external_id="sp-1", title="Cap"),
            ]
        )
        s.flush()
        for ext, (product_id, qty, status) in {
            "v-out": (PRODUCT_ID, 0, "out_of_stock"),
            "v-low": (PRODUCT_ID, 2, "low_stock"),
            "v-in": (PRODUCT_ID, 40, "in_stock"),
            "sv-1": (SHOP_PRODUCT_ID, 0, "out_of_stock"),
        }.items():
            store_id = SHOP_ID if ext.startswith("sv") else STORE_ID
            s.add(
                Variant(
                    id=VARIANT_IDS[ext],
                    store_id=store_id,
                    product_id=product_id,
                    external_id=ext,
                    sku=ext.upper(),
                    title=ext,
                    price=Decimal("19.90"),
                    sellable_quantity=qty,
                )
            )
            s.flush()
            s.add(
                StockState(
                    store_id=store_id,
                    variant_id=VARIANT_IDS[ext],
                    status=status,
                    sellable_quantity=qty,
                    badge_kind="only_n_left" if status == "low_stock" else "none",
                    badge_quantity=qty if status == "low_stock" else None,
                    restock_eta=(now + timedelta(days=9)).date() if status == "out_of_stock" else None,
                    eta_source="lead_time" if status == "out_of_stock" else None,
                    waitlist_open=1 if ext == "v-out" else 0,
                    computed_at=now,
                    changed_at=now,
                )
            )
        s.add(
            Subscription(
                id=SUBSCRIPTION_ID,
                store_id=STORE_ID,
                variant_id=VARIANT_IDS["v-out"],
                email="shopper@example.com",
                state="pending_confirmation",
                confirm_token_hash=hash_token(CONFIRM_TOKEN),
                confirm_expires_at=now + timedelta(days=2),
            )
        )
        s.flush()
        event = StockEvent(
            id=EVENT_ID,
            store_id=STORE_ID,
            variant_id=VARIANT_IDS["v-out"],
            kind="restock",
            quantity_before=0,
            quantity_after=5,
            occurred_at=now,
        )
        s.add(event)
        s.flush()
        s.add(
            Delivery(
                id=DELIVERY_ID,
                store_id=STORE_ID,
                subscription_id=SUBSCRIPTION_ID,
                stock_event_id=EVENT_ID,
                status="sent",
                claimed_at=now,
                sent_at=now,
            )
        )
        # A WooCommerce store waiting for the key its merchant is approving (the wc-auth callback's positive case).
        s.add(
            Store(
                id=PENDING_ID,
                platform="woocommerce",
                domain="https://pending.example",
                name="Pending",
                status="pending",
            )
        )
        s.flush()
        s.add(WooConnectAttempt(store_id=PENDING_ID, token_hash=hash_token(ATTEMPT), created_at=now))
        s.commit()
    return app


# --- aiming positive cases at the seeded rows -------------------------------------------------------------------


def _aimed(case: Any) -> bool:
    """Two positive cases in three go to the seeded rows; which ones follows from the generated data (reproducible)."""
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return False
    fingerprint = repr((case.method, case.path, case.path_parameters, case.query, case.body)).encode()
    return zlib.crc32(fingerprint) % 3 != 0


def _signed_proxy_query(query: dict[str, Any]) -> dict[str, Any]:
    """The generated query with a fresh, correctly signed App Proxy triple for the seeded shop."""
    signed = {k: v for k, v in query.items() if k not in ("shop", "timestamp", "signature")}
    signed.update(shop=SHOP_DOMAIN, timestamp=str(int(time.time())))
    flat = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in signed.items()}
    message = "".join(sorted(f"{k}={v}" for k, v in flat.items()))
    flat["signature"] = hmac.new(APP_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    return flat


def _signup_body(case: Any, store_name: str, variant: str) -> dict[str, Any]:
    body = dict(case.body) if isinstance(case.body, dict) else {}
    n = zlib.crc32(repr(case.body).encode()) % 1000
    body.update(
        email=f"shopper+{n}@example.com",
        variant_id=variant,
        consent=True,
        locale="en",
        consent_version=rules.consent("en", store_name).version,
    )
    if n % 4:
        body.pop("website", None)  # one body in four keeps what was generated for the honeypot
    return body


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Aim part of the positive cases at the seeded store, variants, tokens and shop (this module's schema only)."""
    if case.operation.schema.raw_schema is not schema.raw_schema or not _aimed(case):
        return
    path, params = case.path, case.path_parameters
    if "store_id" in params:
        params["store_id"] = STORE_ID
    if "variant_id" in params:
        params["variant_id"] = VARIANT_IDS["v-out"]
    if "product_ref" in params:
        params["product_ref"] = "sp-1" if path.startswith("/storefront/proxy/") else "p-1"
    if "variant_ref" in params:
        params["variant_ref"] = "sv-1" if path.startswith("/storefront/proxy/") else "v-low"
    if "feed_token" in params:
        params["feed_token"] = FEED_TOKEN
    if path == "/c/{token}":
        params["token"] = CONFIRM_TOKEN
    if path == "/u/{token}":
        params["token"] = unsubscribe_token(SECRET_KEY, SUBSCRIPTION_ID)
    if path == "/r/{token}":
        params["token"] = buy_token(SECRET_KEY, DELIVERY_ID)
    if path == "/woocommerce/callback" and isinstance(case.body, dict):
        case.body = {**case.body, "user_id": ATTEMPT}
    if path.startswith("/storefront/proxy/"):
        case.query = _signed_proxy_query(case.query or {})
    if path.endswith("/subscriptions") or path == "/storefront/proxy/subscribe":
        proxy = path.startswith("/storefront/proxy/")
        case.body = _signup_body(case, "Contract Shop" if proxy else "Acme", "sv-1" if proxy else "v-out")
    if path.endswith(("/privacy/export", "/privacy/erase")) and isinstance(case.body, dict):
        case.body = {**case.body, "email": "shopper@example.com"}


@schema.auth()
class AdminKey:
    """The seeded store's admin API key, for the operations that declare adminKey."""

    def get(self, case: Any, ctx: Any) -> str:
        """The key."""
        return API_KEY

    def set(self, case: Any, data: str, ctx: Any) -> None:
        """As a bearer token."""
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


# --- the project's own check --------------------------------------------------------------------------------------


def _machine_path(path: str) -> bool:
    return path.startswith(JSON_PREFIXES) or path in JSON_PATHS


def allowed_methods(document: dict[str, Any], path: str) -> set[str]:
    """The methods a documented path answers: its operations, HEAD with GET, and OPTIONS (Flask answers it)."""
    methods = {m.upper() for m in document["paths"][path] if m != "parameters"}
    return methods | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())


DOCUMENT = api_document().build()


@schemathesis.check
def machine_errors_are_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """405s carry an Allow header naming exactly the path's methods; 4xx on machine paths are the JSON error."""
    status = response.status_code
    if status == 405:
        allow = response.headers.get("allow") or response.headers.get("Allow")
        value = ", ".join(allow) if isinstance(allow, list) else allow
        assert value, f"{case.method} {case.path}: 405 without Allow"
        advertised = {m.strip().upper() for m in value.split(",") if m.strip()}
        assert advertised == allowed_methods(DOCUMENT, case.path), f"Allow: {value} for {case.path}"
    url_path = case.formatted_path
    if 400 <= status < 500 and _machine_path(url_path):
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), f"{status} {url_path} answered {content_type}"
        body = json.loads(response.content)
        assert isinstance(body.get("error"), dict) and isinstance(body["error"].get("code"), str), body
    return None


# What the seeded rows let each operation answer at least once: without it the run could pass on 404s alone. The
# webhooks are left out: their positive cases need a signature over the exact bytes sent, which the signed-delivery
# tests (tests/integration/test_*_webhooks.py) cover.
SUCCESS = {
    "GET /api/v1/stores/{store_id}": {200},
    "GET /api/v1/stores/{store_id}/attribution": {200},
    "POST /api/v1/stores/{store_id}/privacy/erase": {200},
    "POST /api/v1/stores/{store_id}/privacy/export": {200},
    "POST /api/v1/stores/{store_id}/recompute": {202},
    "GET /api/v1/stores/{store_id}/sync": {200},
    "GET /api/v1/stores/{store_id}/variants": {200},
    "GET /api/v1/stores/{store_id}/variants/{variant_id}": {200},
    "GET /c/{token}": {200},
    "POST /c/{token}": {200},
    "GET /feeds/{feed_token}/signals.{fmt}": {200},
    "GET /healthz": {200},
    "GET /openapi.json": {200},
    "GET /r/{token}": {302},
    "POST /storefront/proxy/subscribe": {200, 303},
    "GET /storefront/proxy/v1/products/{product_ref}": {200},
    "POST /storefront/proxy/v1/subscriptions": {202},
    "GET /storefront/proxy/v1/variants/{variant_ref}": {200},
    "GET /storefront/v1/stores/{store_id}/products/{product_ref}": {200},
    "POST /storefront/v1/stores/{store_id}/subscriptions": {202},
    "GET /storefront/v1/stores/{store_id}/variants/{variant_ref}": {200},
    "GET /u/{token}": {200},
    "POST /u/{token}": {200},
    "POST /woocommerce/callback": {200},
}
UNSIGNED = {"POST /webhooks/shopify", "POST /webhooks/woocommerce/{store_id}"}
FAILED = -1  # recorded when a call failed its checks


@pytest.fixture
def answers(request: pytest.FixtureRequest) -> Any:
    """The statuses the operation's own method got; afterwards, it must have succeeded at least once."""
    seen: list[int] = []
    yield seen
    label = request.node.name.partition("[")[2].rstrip("]")
    if label in UNSIGNED or FAILED in seen:  # a failed run has already reported its failure
        return
    assert SUCCESS[label] & set(seen), f"{label} never succeeded: {sorted(set(seen))}"


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation_answers_as_documented(case: Any, seeded_app: Flask, answers: list[int]) -> None:
    """Each generated request's response conforms to the document and to machine_errors_are_json."""
    # The checks that send requests of their own (auth probes) reach the app through the schema, as from_wsgi would.
    case.operation.schema.app = case.operation.app = seeded_app
    try:
        response = case.call_and_validate()
    except BaseException:
        answers.append(FAILED)
        raise
    if case.method.upper() == case.operation.method.upper():
        answers.append(response.status_code)


def test_every_documented_operation_is_run() -> None:
    """The success table names every operation of the document, so a new endpoint cannot slip through unchecked."""
    labels = {f"{m.upper()} {p}" for p, item in DOCUMENT["paths"].items() for m in item if m != "parameters"}
    assert labels == set(SUCCESS) | UNSIGNED
