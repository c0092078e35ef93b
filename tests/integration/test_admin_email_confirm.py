"""A typed admin email takes effect only after the link sent to it is clicked (settings and the connect form)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from app.db import Database
from app.infra.links import hash_token
from app.models import AdminEmailConfirmation, AdminLoginToken, Store
from app.services.merchant.identity import record_reported
from app.web.admin.auth import SESSION_STORE_KEY, session_fields
from tests.conftest import AppFactory
from tests.factories import make_store
from tests.smtpd import Collector, smtp_server

pytestmark = pytest.mark.integration

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REPORTED = {"name": "Tulpen Winkel", "admin_email": "owner@tulpen.example"}


@dataclass
class Shop:
    client: FlaskClient
    db: Database
    mail: Collector
    store_id: int

    def save_email(self, email: str) -> Any:
        match = _CSRF.search(self.client.get("/admin/settings").get_data(as_text=True))
        assert match is not None
        return self.client.post(
            "/admin/settings/store", data={"csrf_token": match.group(1), "identity_admin_email": email}
        )

    def store(self) -> Store:
        with self.db.session() as s:
            store = s.get(Store, self.store_id)
            assert store is not None
            s.expunge(store)
        return store

    def confirmations(self) -> list[AdminEmailConfirmation]:
        with self.db.session() as s:
            rows = list(s.scalars(select(AdminEmailConfirmation).order_by(AdminEmailConfirmation.id)))
            s.expunge_all()
        return rows

    def link(self, index: int = -1) -> str:
        body = self.mail.received[index].message.get_body(("plain",))
        assert body is not None
        match = re.search(r"http://backsoon\.test(/admin/email/confirm/[\w-]+)", body.get_content())
        assert match is not None
        return match.group(1)


@pytest.fixture
def shop(db: Database, make_app: AppFactory) -> Iterator[Shop]:
    with smtp_server() as (mail, url):
        app = make_app(app_url="http://backsoon.test", smtp_url=url)
        with db.session() as s:
            store = make_store(s, platform="woocommerce", domain="tulpen.example", name=None, timezone="UTC")
            record_reported(store, REPORTED, datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
            s.commit()
            store_id = store.id
        client = app.test_client()
        with client.session_transaction() as sess:
            sess.update(session_fields(store_id, 0))
        yield Shop(client, db, mail, store_id)


def test_a_typed_email_waits_for_its_link_then_applies_once(shop: Shop) -> None:
    resp = shop.save_email(" New.Owner@Tulpen.example ")
    assert resp.status_code == 302
    store = shop.store()
    # Not applied: sign-in links still go to the address the store reports.
    assert (store.admin_email, store.identity_overrides) == ("owner@tulpen.example", None)
    (row,) = shop.confirmations()
    assert (row.email, row.confirmed_at, row.superseded_at) == ("new.owner@tulpen.example", None, None)
    assert row.expires_at - row.created_at == timedelta(hours=24)
    (received,) = shop.mail.received
    assert received.rcpt_tos == ["new.owner@tulpen.example"]
    assert received.message["Subject"] == "Confirm your admin email for Tulpen Winkel on BackSoon"
    link = shop.link()
    assert row.token_hash == hash_token(link.rsplit("/", 1)[1])  # only the link's hash is stored
    page = shop.client.get("/admin/settings").get_data(as_text=True)
    assert 'data-pending-email="new.owner@tulpen.example"' in page
    # Saving the same address again sends nothing more.
    assert shop.save_email("new.owner@tulpen.example").status_code == 302
    assert len(shop.mail.received) == 1 and len(shop.confirmations()) == 1

    other = shop.client.application.test_client()  # the link works without a session: it proves the inbox
    shown = other.get(link)
    assert shown.status_code == 200 and "Confirm this address" in shown.get_data(as_text=True)
    assert shop.store().admin_email == "owner@tulpen.example"  # a GET (a mail scanner) changes nothing
    done = other.post(link)
    assert done.status_code == 200 and "new.owner@tulpen.example is now" in done.get_data(as_text=True)
    store = shop.store()
    assert (store.admin_email, store.identity_overrides) == (
        "new.owner@tulpen.example",
        {"admin_email": "new.owner@tulpen.example"},
    )
    assert shop.confirmations()[0].confirmed_at is not None
    assert other.post(link).status_code == 410  # once
    assert other.get(link).status_code == 410
    with other.session_transaction() as sess:
        assert SESSION_STORE_KEY not in sess
    assert "data-pending-email" not in shop.client.get("/admin/settings").get_data(as_text=True)


def test_a_newer_address_supersedes_the_pending_one(shop: Shop) -> None:
    shop.save_email("first@tulpen.example")
    first = shop.link()
    shop.save_email("second@tulpen.example")
    second = shop.link()
    assert [r.rcpt_tos for r in shop.mail.received] == [["first@tulpen.example"], ["second@tulpen.example"]]
    assert shop.client.post(first).status_code == 410
    assert shop.store().admin_email == "owner@tulpen.example"
    assert shop.client.post(second).status_code == 200
    assert shop.store().admin_email == "second@tulpen.example"


def test_clearing_the_admin_email_voids_the_pending_address(shop: Shop) -> None:
    shop.save_email("typo@tulpen.exmaple")
    link = shop.link()
    match = _CSRF.search(shop.client.get("/admin/settings").get_data(as_text=True))
    assert match is not None
    data = {"csrf_token": match.group(1), "identity_admin_email": "", "identity_admin_email_reset": "1"}
    assert shop.client.post("/admin/settings/store", data=data).status_code == 302
    assert shop.client.post(link).status_code == 410
    assert shop.store().admin_email == "owner@tulpen.example"
    assert [r.superseded_at is not None for r in shop.confirmations()] == [True]
    assert "data-pending-email" not in shop.client.get("/admin/settings").get_data(as_text=True)
    assert len(shop.mail.received) == 1


def test_the_address_the_store_reports_applies_at_once_without_a_link(shop: Shop) -> None:
    assert shop.save_email("Owner@Tulpen.example").status_code == 302
    assert shop.store().identity_overrides == {"admin_email": "owner@tulpen.example"}
    assert shop.confirmations() == [] and shop.mail.received == []


def test_an_invalid_address_is_a_400_and_nothing_is_stored_or_sent(shop: Shop) -> None:
    resp = shop.save_email("not an email\r\nBcc: x@evil.example")
    assert resp.status_code == 400
    assert "Not a valid admin email" in resp.get_data(as_text=True)
    assert shop.confirmations() == [] and shop.mail.received == []
    assert shop.store().identity_overrides is None


def test_an_expired_or_unknown_link_changes_nothing(shop: Shop) -> None:
    shop.save_email("late@tulpen.example")
    link = shop.link()
    with shop.db.session() as s:
        s.execute(update(AdminEmailConfirmation).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert shop.client.get(link).status_code == 410
    assert shop.client.post(link).status_code == 410
    assert shop.client.post("/admin/email/confirm/" + "x" * 43).status_code == 410
    assert shop.client.post("/admin/email/confirm/" + "x" * 101).status_code == 410
    assert shop.store().admin_email == "owner@tulpen.example"
    assert [r.confirmed_at for r in shop.confirmations()] == [None]
    with shop.db.session() as s:
        assert s.scalar(select(func.count()).select_from(AdminLoginToken)) == 0
