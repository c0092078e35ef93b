"""The plugin-facing privacy API: export and erase one shopper with the store's admin API key.

Exact documents for the shopper asked about; other shoppers, other stores and refused requests leave every row
as it was, with no audit row written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import Database
from app.models import ComplianceRequest, ConsentRecord, Order, Product, Subscription, Variant
from app.services.merchant.api_keys import hash_api_key
from app.services.merchant.compliance import email_hash
from tests.conftest import FIXTURES
from tests.factories import add_sale, make_store, make_variant

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
KEY = "bsk_store-key-a"
OTHER_KEY = "bsk_store-key-b"
MAYA = "maya.chen@example.com"
SAM = "sam.ortiz@example.com"


@dataclass
class World:
    store_id: int
    other_store_id: int
    order_id: int


def _subscribe(s: Session, variant: Variant, email: str) -> None:
    sub = Subscription(
        store_id=variant.store_id, variant_id=variant.id, email=email, locale="nl", storefront_root="/nl", created_at=AT
    )
    s.add(sub)
    s.flush()
    s.add(
        ConsentRecord(
            store_id=variant.store_id,
            subscription_id=sub.id,
            kind="signup",
            text_version="v1",
            text="Email me when it is back",
            given_at=AT,
        )
    )


@pytest.fixture
def world(db: Database) -> World:
    with db.session() as s:
        store = make_store(s, platform="woocommerce", domain="https://shop.example.com", api_key_hash=hash_api_key(KEY))
        other = make_store(s, platform="woocommerce", api_key_hash=hash_api_key(OTHER_KEY))
        hoodie = Product(store_id=store.id, external_id="14", title="Hoodie")
        s.add(hoodie)
        s.flush()
        v = make_variant(s, store, qty=0, product=hoodie, sku="HOODIE-S", title="S")
        _subscribe(s, v, MAYA)
        _subscribe(s, v, SAM)
        _subscribe(s, make_variant(s, other, qty=0), MAYA)
        line = add_sale(s, v, 1, days_ago=3)
        order = s.get(Order, line.order_id)
        assert order is not None
        order.email, order.name = MAYA, "#1042"
        return World(store.id, other.id, order.id)


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / "plugin" / f"{name}.json").read_text())


def _post(client: FlaskClient, store_id: int, action: str, body: Any, key: str | None = KEY) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post(f"/api/v1/stores/{store_id}/privacy/{action}", json=body, headers=headers)


def _counts(db: Database) -> tuple[int, int, int, int]:
    with db.session() as s:
        return (
            s.scalar(select(func.count()).select_from(Subscription)) or 0,
            s.scalar(select(func.count()).select_from(ConsentRecord)) or 0,
            s.scalar(select(func.count()).select_from(Order).where(Order.email.is_not(None))) or 0,
            s.scalar(select(func.count()).select_from(ComplianceRequest)) or 0,
        )


def test_export_answers_the_shoppers_data_and_keeps_only_counts(
    client: FlaskClient, db: Database, world: World
) -> None:
    resp = _post(client, world.store_id, "export", {"email": " Maya.Chen@Example.com "})
    assert resp.status_code == 200
    # The same document the plugin's PHP tests feed to its exporter.
    assert resp.get_json() == _fixture("privacy-export-200")
    with db.session() as s:
        (audit,) = s.scalars(select(ComplianceRequest)).all()
        assert (audit.store_id, audit.platform, audit.kind, audit.customer_email_hash) == (
            world.store_id,
            "woocommerce",
            "privacy/export",
            email_hash(MAYA),
        )
        assert (audit.export, audit.counts) == (None, {"waitlist_subscriptions": 1, "orders": 1})
    assert _counts(db) == (3, 3, 1, 1)  # nothing erased


def test_export_of_an_unknown_shopper_is_empty(client: FlaskClient, world: World) -> None:
    resp = _post(client, world.store_id, "export", {"email": "nobody@example.com"})
    assert resp.status_code == 200
    assert resp.get_json() == {"email": "nobody@example.com", "waitlist_subscriptions": [], "orders": []}


@pytest.mark.parametrize("email", ["shopper@localhost", "Shopper@Shop.TEST"])
def test_an_address_signup_would_refuse_is_answered_as_nothing_held(
    client: FlaskClient, db: Database, world: World, email: str
) -> None:
    # WordPress may hold such addresses; its privacy tool needs an answer, not an error that stops the request.
    export = _post(client, world.store_id, "export", {"email": email})
    assert (export.status_code, export.get_json()) == (
        200,
        {"email": email.lower(), "waitlist_subscriptions": [], "orders": []},
    )
    erase = _post(client, world.store_id, "erase", {"email": email})
    assert (erase.status_code, erase.get_json()) == (
        200,
        {"email": email.lower(), "subscriptions_removed": 0, "orders_anonymised": 0},
    )
    assert _counts(db) == (3, 3, 1, 2)  # only the two audit rows


def test_an_internationalised_domain_finds_the_address_as_signup_stored_it(
    client: FlaskClient, db: Database, world: World
) -> None:
    with db.session() as s:
        variant = s.scalars(select(Variant).where(Variant.store_id == world.store_id)).first()
        assert variant is not None
        _subscribe(s, variant, "jonas@bücher.example")  # as normalise_email stores it
    resp = _post(client, world.store_id, "erase", {"email": "Jonas@xn--bcher-kva.example"})
    assert resp.get_json() == {"email": "jonas@bücher.example", "subscriptions_removed": 1, "orders_anonymised": 0}


def test_erase_removes_only_this_shopper_in_this_store_and_is_idempotent(
    client: FlaskClient, db: Database, world: World
) -> None:
    resp = _post(client, world.store_id, "erase", {"email": "MAYA.chen@example.com"})
    assert resp.status_code == 200
    assert resp.get_json() == _fixture("privacy-erase-200")
    with db.session() as s:
        left = s.execute(select(Subscription.store_id, Subscription.email).order_by(Subscription.id)).all()
        assert [tuple(r) for r in left] == [(world.store_id, SAM), (world.other_store_id, MAYA)]
        order = s.get(Order, world.order_id)
        assert order is not None and (order.email, order.customer_external_id, order.name) == (None, None, "#1042")
        (audit,) = s.scalars(select(ComplianceRequest)).all()
        assert (audit.kind, audit.customer_email_hash, audit.counts) == (
            "privacy/erase",
            email_hash(MAYA),
            {"subscriptions": 1, "orders": 1},
        )

    again = _post(client, world.store_id, "erase", {"email": MAYA})
    assert again.status_code == 200
    assert again.get_json() == {"email": MAYA, "subscriptions_removed": 0, "orders_anonymised": 0}
    assert _counts(db) == (2, 2, 0, 2)
    export = _post(client, world.store_id, "export", {"email": MAYA})
    assert export.get_json() == {"email": MAYA, "waitlist_subscriptions": [], "orders": []}


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        (None, 401, "unauthorized"),
        ("bsk_wrong", 403, "forbidden"),
        (OTHER_KEY, 403, "forbidden"),  # another store's valid key
    ],
)
@pytest.mark.parametrize("action", ["export", "erase"])
def test_a_missing_or_wrong_key_is_refused_and_nothing_happens(
    client: FlaskClient, db: Database, world: World, action: str, key: str | None, status: int, code: str
) -> None:
    resp = _post(client, world.store_id, action, {"email": MAYA}, key=key)
    assert resp.status_code == status
    assert resp.get_json()["error"]["code"] == code
    assert _counts(db) == (3, 3, 1, 0)


def test_a_store_without_a_key_refuses_every_key(client: FlaskClient, db: Database) -> None:
    with db.session() as s:
        store_id = make_store(s, platform="woocommerce").id
    resp = _post(client, store_id, "erase", {"email": MAYA}, key=KEY)
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (403, "forbidden")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "not-an-address"}, "invalid_email"),
        ({"email": ""}, "invalid_email"),
        ({"email": "maya.chen@example.com\r\nBcc: x@evil.example"}, "invalid_email"),
        ({"email": "m@" + "x" * 260 + ".example"}, "invalid_email"),
        ({"email": 42}, "invalid_email"),
        ({}, "invalid_email"),
        (["maya.chen@example.com"], "invalid_body"),
        ("maya.chen@example.com", "invalid_body"),
    ],
)
def test_bad_bodies_are_400_and_nothing_happens(
    client: FlaskClient, db: Database, world: World, body: Any, code: str
) -> None:
    resp = _post(client, world.store_id, "erase", body)
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == code
    assert _counts(db) == (3, 3, 1, 0)


def test_a_body_that_is_not_json_is_400(client: FlaskClient, db: Database, world: World) -> None:
    resp = client.post(
        f"/api/v1/stores/{world.store_id}/privacy/erase",
        data=b"email=maya",
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (400, "invalid_body")
    assert _counts(db) == (3, 3, 1, 0)


@pytest.mark.parametrize("store_id", ["0", "99999999", str(2**63)])
def test_unknown_stores_are_404(client: FlaskClient, world: World, store_id: str) -> None:
    resp = client.post(
        f"/api/v1/stores/{store_id}/privacy/export", json={"email": MAYA}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (404, "not_found")
