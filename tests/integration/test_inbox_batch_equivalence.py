"""A batched drain ends where one delivery at a time ends: the same rows, and the same echo and stale verdicts."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import Database
from app.models import Product, Variant, WebhookEvent
from app.runtime import Runtime, set_runtime
from app.services.ingest import inbox
from jobs.webhooks import drain_inbox
from tests.conftest import FIXTURES
from tests.factories import RecordingQueue, make_store

pytestmark = pytest.mark.integration

HOOKS = FIXTURES / "shopify" / "webhooks"


def _body(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.loads((HOOKS / f"{name}.json").read_text())["body_text"])
    return data


def _updates(seed: int, n: int) -> list[dict[str, Any]]:
    """Product updates of one product: new titles and prices, exact repeats (echoes) and late older states."""
    rng = random.Random(seed)
    base = _body("products-update")
    start = datetime.fromisoformat(base["updated_at"])
    out: list[dict[str, Any]] = []
    state = base
    for i in range(n):
        at = start + timedelta(minutes=i + 1)
        roll = rng.random()
        if roll < 0.3 and out:
            body = dict(state, updated_at=at.isoformat())  # the same state again: an echo
        elif roll < 0.4 and out:
            body = dict(out[rng.randrange(len(out))], updated_at=(at - timedelta(hours=1)).isoformat())  # late
        else:
            variants = [dict(v, price=f"{rng.choice([79, 89, 94])}.00") for v in state["variants"]]
            body = dict(state, title=rng.choice(["Merino Crew", "Merino Crew II"]), variants=variants)
            body["updated_at"] = at.isoformat()
            state = body
        out.append(body)
    return out


def _drain(
    db: Database, domain: str, bodies: list[tuple[str, dict[str, Any]]], batch: int
) -> tuple[list[str], list[Any]]:
    set_runtime(Runtime(Settings(env="test", inbox_batch=batch), db, RecordingQueue()))
    with db.session() as s:
        sid = make_store(s, platform="shopify", domain=domain).id
    with db.session() as s:
        for key, (topic, body) in enumerate([("products/create", _body("products-create")), *bodies]):
            inbox.record_delivery(
                s, RecordingQueue(), platform="shopify", topic=topic, dedupe_key=f"{domain}-{key}",
                body=json.dumps(body).encode(), headers={}, store_id=sid,
            )  # fmt: skip
    drain_inbox(sid)
    with db.session() as s:
        events = select(WebhookEvent.status).where(WebhookEvent.store_id == sid).order_by(WebhookEvent.id)
        statuses = list(s.scalars(events))
        rows = s.execute(
            select(Product.external_id, Product.title, Variant.external_id, Variant.price, Variant.deleted_at)
            .join(Variant, Variant.product_id == Product.id)
            .where(Product.store_id == sid)
            .order_by(Product.external_id, Variant.external_id)
        ).all()
    return statuses, [tuple(r) for r in rows]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_batched_and_one_at_a_time_agree(db: Database, seed: int) -> None:
    bodies = [("products/update", b) for b in _updates(seed, 60)]
    batched = _drain(db, f"batched-{seed}.myshopify.com", bodies, 500)
    alone = _drain(db, f"alone-{seed}.myshopify.com", bodies, 0)
    # Delivery by delivery first, so a difference names the delivery (0 is the create).
    for i, (a, b) in enumerate(zip(batched[0], alone[0], strict=True)):
        assert a == b, (i, a, b)
    assert batched == alone
