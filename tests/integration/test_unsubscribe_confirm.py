"""Confirmation and unsubscribe pages on real PostgreSQL: GET never acts, POST acts once, friendly 4xx pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import Database
from app.infra.links import new_confirm_token, unsubscribe_url
from app.models import Product, Variant
from app.models.waitlist import ConsentRecord, Subscription
from app.services.notify.waitlist import hash_ip
from tests.factories import RecordingQueue, make_store, make_variant

pytestmark = pytest.mark.integration

SECRET = "confirm-secret"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Links signed with SECRET on the test app URL."""
    return {"secret_key": SECRET, "app_url": "https://app.example"}


@pytest.fixture
def job_queue() -> RecordingQueue:
    """Records instead of running."""
    return RecordingQueue()


@pytest.fixture
def env(db: Database, client: FlaskClient) -> Iterator[tuple[FlaskClient, Database, int, str]]:
    raw, digest = new_confirm_token()
    with db.session() as s:
        store = make_store(s, name="Winkel")
        variant = make_variant(s, store, qty=0, title="Rood")
        sub = Subscription(
            store_id=store.id,
            variant_id=variant.id,
            email="ann@example.com",
            locale="nl",
            state="pending_confirmation",
            confirm_token_hash=digest,
            confirm_expires_at=datetime.now(UTC) + timedelta(hours=48),
            confirm_sent_at=datetime.now(UTC),
        )
        s.add(sub)
        s.flush()
        s.add(
            ConsentRecord(
                store_id=store.id,
                subscription_id=sub.id,
                kind="signup",
                text_version="abc123",
                text="Mail me.",
                given_at=datetime.now(UTC),
            )
        )
        s.commit()
        sid = sub.id
    yield client, db, sid, raw


def _sub(db: Database, sid: int) -> Subscription:
    with db.session() as s:
        sub = s.get(Subscription, sid)
        assert sub is not None
        s.expunge(sub)
        return sub


def _product_title(db: Database, sid: int) -> str:
    with db.session() as s:
        variant = s.get(Variant, _sub(db, sid).variant_id)
        assert variant is not None
        product = s.get(Product, variant.product_id)
        assert product is not None
        return product.title


def test_confirm_get_shows_button_and_changes_nothing(env: Any) -> None:
    client, db, sid, raw = env
    resp = client.get(f"/c/{raw}")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert 'lang="nl"' in page and ">Bevestigen</button>" in page and 'method="post"' in page
    assert _sub(db, sid).state == "pending_confirmation"


def test_confirm_post_once(env: Any) -> None:
    client, db, sid, raw = env
    resp = client.post(f"/c/{raw}", environ_base={"REMOTE_ADDR": "192.0.2.4"}, headers={"User-Agent": "UA/1"})
    assert resp.status_code == 200
    assert "Je staat op de lijst" in resp.get_data(as_text=True)
    sub = _sub(db, sid)
    assert sub.state == "active" and sub.confirmed_at is not None
    with db.session() as s:
        records = s.scalars(select(ConsentRecord).order_by(ConsentRecord.id)).all()
        assert [(r.kind, r.text_version, r.text) for r in records] == [
            ("signup", "abc123", "Mail me."),
            ("confirmation", "abc123", "Mail me."),
        ]
        assert records[1].ip_hash == hash_ip(SECRET, "192.0.2.4") and records[1].user_agent == "UA/1"
    # A second click is harmless: it says what is true, with a 200.
    again = client.post(f"/c/{raw}")
    assert again.status_code == 200
    title = _product_title(db, sid)
    assert f'<h1 id="page-title">Je staat al op de lijst voor {title} (Rood)</h1>' in again.get_data(as_text=True)
    assert client.get(f"/c/{raw}").status_code == 200
    with db.session() as s:
        assert len(s.scalars(select(ConsentRecord)).all()) == 2


def test_confirm_expired_and_unknown(env: Any) -> None:
    client, db, sid, raw = env
    with db.session() as s:
        sub = s.get(Subscription, sid)
        assert sub is not None
        sub.confirm_expires_at = datetime.now(UTC) - timedelta(minutes=1)
        s.commit()
    assert client.get(f"/c/{raw}").status_code == 410
    resp = client.post(f"/c/{raw}")
    assert resp.status_code == 410 and "verlopen" in resp.get_data(as_text=True)
    assert _sub(db, sid).state == "pending_confirmation"
    assert client.post("/c/not-a-token").status_code == 404
    assert client.get("/c/" + "x" * 500).status_code == 404


def test_unsubscribe_get_never_unsubscribes(env: Any) -> None:
    client, db, sid, _raw = env
    path = unsubscribe_url("https://app.example", SECRET, sid).removeprefix("https://app.example")
    resp = client.get(path)
    assert resp.status_code == 200 and ">Afmelden</button>" in resp.get_data(as_text=True)
    assert _sub(db, sid).state == "pending_confirmation"


def test_unsubscribe_one_click_post(env: Any) -> None:
    client, db, sid, _raw = env
    path = unsubscribe_url("https://app.example", SECRET, sid).removeprefix("https://app.example")
    resp = client.post(path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 200 and "Je bent afgemeld" in resp.get_data(as_text=True)
    sub = _sub(db, sid)
    assert sub.state == "unsubscribed" and sub.unsubscribed_at is not None
    first_at = sub.unsubscribed_at
    again = client.post(path)  # idempotent, and says so
    assert again.status_code == 200 and "Je bent al afgemeld" in again.get_data(as_text=True)
    assert _sub(db, sid).unsubscribed_at == first_at
    assert "Je bent al afgemeld" in client.get(path).get_data(as_text=True)


def test_unsubscribe_forged_or_other_purpose_token(env: Any) -> None:
    client, db, sid, raw = env
    assert client.post("/u/forged.token").status_code == 404
    assert client.post(f"/u/{raw}").status_code == 404  # a confirm token is not an unsubscribe token
    other = unsubscribe_url("https://app.example", "another-secret", sid).removeprefix("https://app.example")
    assert client.post(other).status_code == 404
    assert _sub(db, sid).state == "pending_confirmation"


def test_confirmed_page_names_a_variant_beside_its_product_and_a_simple_product_once(env: Any) -> None:
    client, db, sid, raw = env
    with db.session() as s:
        variant = s.get(Variant, _sub(db, sid).variant_id)
        assert variant is not None
        product = s.get(Product, variant.product_id)
        assert product is not None
        product.title = "Stenen mok"
        s.commit()
    shown = client.get(f"/c/{raw}").get_data(as_text=True)
    assert "Stenen mok (Rood)" in shown
    with db.session() as s:
        variant = s.get(Variant, _sub(db, sid).variant_id)
        assert variant is not None
        variant.title = "Stenen mok"  # WooCommerce names a simple product's one variant as the product
        s.commit()
    page = client.post(f"/c/{raw}").get_data(as_text=True)
    assert "Stenen mok" in page and "Stenen mok (" not in page
