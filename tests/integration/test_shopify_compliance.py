"""Shopify's compliance webhooks end to end, each followed by a search of every table for the personal data.

customers/data_request reaches the merchant (admin page, emailed signed link through a real SMTP server);
customers/redact erases the shopper, the document made for them and the stored deliveries naming them;
shop/redact leaves no row with the store's or its shoppers' personal data, only the audit rows (domain, times).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker
from sqlalchemy import MetaData, select, update

from app import job_specs
from app.config import Settings
from app.db import Database
from app.models import ComplianceRequest, ConsentRecord, Store, Subscription, Variant, WebhookEvent
from app.queue import RedisJobQueue
from app.services.merchant import data_requests
from app.web.admin.auth import session_fields
from tests.conftest import FIXTURES, TEST_REDIS_URL
from tests.factories import make_store
from tests.smtpd import Collector, smtp_server

pytestmark = [
    pytest.mark.integration,
    pytest.mark.truncating("the webhook front stores deliveries on its autocommit engine's own connections"),
]

SECRET = "shpss_fixture_secret"
SHOP = "backsoon-demo.myshopify.com"
APP_URL = "https://restock.example.org"
HOOKS = FIXTURES / "shopify" / "webhooks"
KEY = "compliance-test-secret-key-0123456789"
OWNER = "owner@example.com"  # the shop's email in shop-update.json, the store's admin address
# Maya: orders-create.json (#1042) and the data request; Sam: orders-cancelled.json (#1043) and customers-redact.json.
MAYA = ("maya.chen@example.com", "8123498765421", "+18025550142", "12 church street", "maya chen")
SAM = ("sam.ortiz@example.com", "8123498798189", "48 elm avenue")
LINK = re.compile(r"https://restock\.example\.org/privacy/data-requests/\d+\?expires=\d+&signature=[0-9a-f]{64}")
STORE_PERSONAL = (OWNER, "dana whitfield", "1 main street", "8025550100", "support@example.com")


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, str]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def settings_overrides(smtp: tuple[Collector, str]) -> dict[str, Any]:
    return {
        "shopify_api_secret": SECRET,
        "app_url": APP_URL,
        "smtp_url": smtp[1],
        "secret_key": KEY,
    }


@pytest.fixture
def job_queue(redis_conn: Any) -> RedisJobQueue:
    return RedisJobQueue(TEST_REDIS_URL)


@dataclass
class Shop:
    app: Flask
    client: FlaskClient
    jobs: RedisJobQueue
    db: Database
    mail: Collector
    smtp_url: str

    def post(self, name: str) -> None:
        hook = json.loads((HOOKS / f"{name}.json").read_text())
        self.send(hook["body_text"].encode(), hook["headers"])

    def send(self, raw: bytes, headers: dict[str, str]) -> None:
        resp = self.client.post("/webhooks/shopify", data=raw, headers=headers)
        assert resp.status_code == 200, resp.get_data(as_text=True)

    def signed(self, topic: str, body: dict[str, Any], webhook_id: str) -> None:
        raw = json.dumps(body).encode()
        sig = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sig,
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-API-Version": "2026-10",
            "X-Shopify-Webhook-Id": webhook_id,
        }
        self.send(raw, headers)

    def work(self) -> None:
        queues = [self.jobs.queues[q] for q in ("high", "default", "low")]
        SimpleWorker(queues, connection=self.jobs.connection).work(burst=True)

    def store_id(self) -> int:
        with self.db.session() as s:
            return int(s.execute(select(Store.id).where(Store.domain == SHOP)).scalar_one())

    def sign_in(self, store_id: int) -> None:
        with self.client.session_transaction() as sess:
            sess.update(session_fields(store_id, 0))
            sess["admin_csrf"] = "t" * 40


def personal_data_left(db: Database, needles: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Every (table, column, needle) where a needle appears, across every table in the database."""
    meta = MetaData()
    found = []
    with db.engine.connect() as conn:
        meta.reflect(bind=conn)
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):
                        text = bytes(value).decode("utf-8", "replace")
                    elif isinstance(value, dict | list):
                        text = json.dumps(value, ensure_ascii=False)
                    else:
                        text = str(value)
                    found.extend((table.name, str(column), n) for n in needles if n in text.lower())
    return sorted(set(found))


@pytest.fixture
def shop(db: Database, app: Flask, job_queue: RedisJobQueue, smtp: tuple[Collector, str]) -> Shop:
    """A Shopify store with its settings, catalog, two shoppers' orders and waitlist signups, and an admin address."""
    with db.session() as s:
        s.add(Store(platform="shopify", domain=SHOP, name="BackSoon Demo", timezone="America/New_York"))
    h = Shop(app, app.test_client(), job_queue, db, smtp[0], smtp[1])
    for name in ("shop-update", "products-update", "orders-create", "orders-cancelled"):
        h.post(name)
    h.work()
    with db.session() as s:
        store = s.execute(select(Store).where(Store.domain == SHOP)).scalar_one()
        store.admin_email = OWNER
        variant = s.execute(select(Variant).where(Variant.sku == "MCS-S")).scalar_one()
        for email in (MAYA[0], SAM[0]):
            sub = Subscription(store_id=store.id, variant_id=variant.id, email=email, locale="en")
            s.add(sub)
            s.flush()
            s.add(
                ConsentRecord(
                    store_id=store.id,
                    subscription_id=sub.id,
                    kind="signup",
                    text_version="v1",
                    text="Email me when it is back",
                    given_at=datetime(2026, 10, 14, 15, 0, tzinfo=UTC),
                )
            )
    return h


def _link_in(message_text: str) -> str:
    match = LINK.search(message_text)
    assert match is not None, message_text
    return match.group(0)


def _data_request(h: Shop) -> tuple[int, str]:
    h.post("customers-data_request")
    h.work()
    with h.db.session() as s:
        request_id = s.execute(
            select(ComplianceRequest.id).where(ComplianceRequest.kind == "customers/data_request")
        ).scalar_one()
    [mail] = h.mail.received
    return request_id, _link_in(mail.message.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def test_a_data_request_reaches_the_merchant_as_a_page_and_a_signed_link_without_the_data(shop: Shop) -> None:
    h = shop
    request_id, link = _data_request(h)
    [mail] = h.mail.received
    message = mail.message
    assert mail.rcpt_tos == [OWNER]
    assert message["Subject"] == "BackSoon Demo: a customer asked for their data (request 2518237)"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"{APP_URL}/admin/data-requests" in text
    # The email is a link, not the data: nothing about the shopper is in it.
    for part in (text, html, str(message["Subject"])):
        assert [n for n in (*MAYA, "mcs-s", "#1042") if n in part.lower()] == []

    url = urlsplit(link)
    resp = h.client.get(f"{url.path}?{url.query}")
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="data-request-2518237.json"'
    doc = resp.get_json()
    assert (doc["request"], doc["shop"]) == ("2518237", SHOP)
    assert [(x["email"], x["sku"], x["state"]) for x in doc["data"]["waitlist_subscriptions"]] == [
        (MAYA[0], "MCS-S", "active")
    ]
    assert [(o["order"], o["email"]) for o in doc["data"]["orders"]] == [("#1042", MAYA[0])]

    # A link that is not ours or has expired opens nothing.
    bad_sig = h.client.get(f"{url.path}?{url.query[:-4]}0000")
    assert (bad_sig.status_code, bad_sig.get_json()["error"]["code"]) == (403, "invalid_link")
    settings = Settings(app_url=APP_URL, secret_key=KEY)
    expired = data_requests.signed_link(
        settings, request_id, datetime.now(UTC) - data_requests.LINK_LIFETIME - timedelta(seconds=5)
    )
    old = h.client.get(expired.removeprefix(APP_URL))
    assert (old.status_code, old.get_json()["error"]["code"]) == (403, "invalid_link")
    other = h.client.get(f"/privacy/data-requests/{request_id + 1}?{url.query}")
    assert other.status_code == 403
    assert h.client.get(url.path).status_code == 400

    # The admin lists it with the same document; another store's admin cannot open it.
    h.sign_in(h.store_id())
    page = h.client.get("/admin/data-requests")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert f'<tr data-request="{request_id}">' in body and "2518237" in body
    assert f'href="/admin/data-requests/{request_id}.json"' in body
    download = h.client.get(f"/admin/data-requests/{request_id}.json")
    assert download.status_code == 200 and download.get_json() == doc
    with h.db.session() as s:
        other_store = make_store(s, platform="shopify", domain="other-shop.myshopify.com")
        other_id = other_store.id
    h.sign_in(other_id)
    assert h.client.get(f"/admin/data-requests/{request_id}.json").status_code == 404
    assert f'data-request="{request_id}"' not in h.client.get("/admin/data-requests").get_data(as_text=True)

    # Sending again (a retried job) sends nothing more; the delivery's raw body no longer names the shopper.
    h.jobs.enqueue(job_specs.send_data_request(request_id))
    h.work()
    assert len(h.mail.received) == 1
    with h.db.session() as s:
        req = s.get(ComplianceRequest, request_id)
        assert req is not None and req.notified_at is not None
        body_left = s.execute(
            select(WebhookEvent.body).where(WebhookEvent.topic == "customers/data_request")
        ).scalar_one()
        assert body_left == b""


def test_customers_redact_erases_the_shopper_and_the_document_made_for_them(shop: Shop) -> None:
    h = shop
    request_id, link = _data_request(h)
    # The search finds what is there (the phone was only in the data request's body, blanked once processed).
    assert {n for _t, _c, n in personal_data_left(h.db, MAYA)} == set(MAYA) - {MAYA[2]}
    h.signed(
        "customers/redact",
        {
            "shop_id": 68231794771,
            "shop_domain": SHOP,
            "customer": {"id": int(MAYA[1]), "email": MAYA[0], "phone": MAYA[2]},
            "orders_to_redact": [6104827363421],
        },
        "a1f0c2d4-0000-4000-8000-000000000001",
    )
    h.work()
    assert personal_data_left(h.db, MAYA) == []
    url = urlsplit(link)
    gone = h.client.get(f"{url.path}?{url.query}")
    assert (gone.status_code, gone.get_json()["error"]["code"]) == (410, "erased")
    with h.db.session() as s:
        redact = s.execute(select(ComplianceRequest).where(ComplianceRequest.kind == "customers/redact")).scalar_one()
        assert redact.counts == {"subscriptions": 1, "orders": 1, "exports": 1}
        assert s.scalars(select(Subscription.email)).all() == [SAM[0]]
    h.sign_in(h.store_id())
    assert h.client.get(f"/admin/data-requests/{request_id}.json").status_code == 404
    assert '<span class="muted">erased</span>' in h.client.get("/admin/data-requests").get_data(as_text=True)
    # The other shopper is untouched (and the search does see what is still there).
    assert {n for _t, _c, n in personal_data_left(h.db, SAM)} == set(SAM)


def test_shop_redact_leaves_no_personal_data_of_the_store_or_its_shoppers(shop: Shop) -> None:
    h = shop
    _data_request(h)
    h.post("customers-redact")  # Sam's
    h.work()
    everyone = (*MAYA, *SAM, *STORE_PERSONAL)
    assert {n for _t, _c, n in personal_data_left(h.db, everyone)} >= {MAYA[0], OWNER, "dana whitfield"}
    h.post("app-uninstalled")
    h.work()
    h.post("shop-redact")
    h.work()
    assert personal_data_left(h.db, everyone) == []
    with h.db.session() as s:
        audit = s.execute(
            select(
                ComplianceRequest.kind,
                ComplianceRequest.shop_domain,
                ComplianceRequest.store_id,
                ComplianceRequest.export,
                ComplianceRequest.customer_email_hash,
                ComplianceRequest.customer_id_hash,
            ).order_by(ComplianceRequest.id)
        ).all()
        assert [tuple(a) for a in audit] == [
            ("customers/data_request", SHOP, None, None, None, None),
            ("customers/redact", SHOP, None, None, None, None),
            ("shop/redact", SHOP, None, None, None, None),
        ]
        assert s.scalars(select(Store)).all() == []
        # Only the shop/redact delivery itself is left: its body names the shop and nothing else.
        [(topic, raw)] = s.execute(select(WebhookEvent.topic, WebhookEvent.body)).all()
        assert topic == "shop/redact"
        assert json.loads(raw) == {"shop_id": 68231794771, "shop_domain": SHOP}


def test_the_notice_is_retried_after_a_refused_send_and_skipped_without_an_address(shop: Shop) -> None:
    h = shop
    h.mail.replies[OWNER] = "451 4.3.0 try again later"
    h.post("customers-data_request")
    h.work()  # the job fails at the SMTP server: nothing is recorded as sent
    settings = Settings(app_url=APP_URL, secret_key=KEY, smtp_url=h.smtp_url)
    kind = ComplianceRequest.kind == "customers/data_request"
    with h.db.session() as s:
        request_id, notified = s.execute(select(ComplianceRequest.id, ComplianceRequest.notified_at).where(kind)).one()
    assert (notified, h.mail.received) == (None, [])
    del h.mail.replies[OWNER]
    # The periodic check finds the unsent notice and sends it; a second check finds nothing left to send.
    with h.db.session() as s:
        assert data_requests.unsent_ids(s, datetime.now(UTC)) == [request_id]
    h.jobs.enqueue(job_specs.SCHEDULE[[p.func for p in job_specs.SCHEDULE].index(job_specs.DATA_REQUESTS_ALL)].spec())
    h.work()
    assert [m.rcpt_tos for m in h.mail.received] == [[OWNER]]
    with h.db.session() as s:
        assert data_requests.unsent_ids(s, datetime.now(UTC)) == []
        assert data_requests.unsent_ids(s, datetime.now(UTC) + data_requests.LINK_LIFETIME) == []
    assert data_requests.send_notice(h.db, settings, request_id) == "already_sent"
    assert len(h.mail.received) == 1
    with h.db.session() as s:
        s.execute(update(ComplianceRequest).values(notified_at=None))
        s.execute(update(Store).values(admin_email=None))
    assert data_requests.send_notice(h.db, settings, request_id) == "no_address"
    assert len(h.mail.received) == 1
    with h.db.session() as s:
        assert s.get(ComplianceRequest, request_id).notified_at is None  # type: ignore[union-attr]
