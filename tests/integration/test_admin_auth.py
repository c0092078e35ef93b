"""Merchant admin sign-in and request authentication: emailed links, sessions, CSRF, embedded session tokens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select, update

from app import job_specs
from app.db import Database
from app.models import AdminLoginRequest, AdminLoginToken, Store
from app.queue import resolve
from app.web.admin.auth import admin, admin_required, session_fields
from tests.conftest import AppFactory
from tests.factories import RecordingQueue
from tests.smtpd import Collector, smtp_server
from tests.unit.test_shopify_auth import API_KEY, API_SECRET, SHOP, make_session_token

pytestmark = pytest.mark.integration

HOST = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYmFja3Nvb24tZGVtbw"


@dataclass
class Harness:
    app: Flask
    client: FlaskClient
    db: Database
    mail: Collector
    woo_id: int
    other_id: int
    shopify_id: int

    def tokens(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(AdminLoginToken)) or 0)

    def sign_in_link(self) -> str:
        match = re.search(
            r"http://[^\s]+/admin/login/[\w-]+", self.mail.received[-1].message.get_body(("plain",)).get_content()
        )  # type: ignore[union-attr]
        assert match is not None
        return match.group(0).replace("http://backsoon.test", "")


@pytest.fixture
def harness(db: Database, make_app: AppFactory) -> Iterator[Harness]:
    with smtp_server() as (mail, url):
        app = make_app(
            app_url="http://backsoon.test", smtp_url=url, shopify_api_key=API_KEY, shopify_api_secret=API_SECRET
        )

        @app.post("/admin/_probe")
        @admin_required
        def probe() -> dict[str, object]:
            return {"store": admin().store.id, "via": admin().via}

        with db.session() as s:
            woo = Store(
                platform="woocommerce", domain="shop.example", name="Woo Shop", admin_email="owner@shop.example"
            )
            other = Store(platform="woocommerce", domain="other.example", name="Other", admin_email="x@other.example")
            shop = Store(platform="shopify", domain=SHOP, name="Shopify Shop")
            s.add_all([woo, other, shop])
            s.flush()
            ids = (woo.id, other.id, shop.id)
        yield Harness(app, app.test_client(), db, mail, *ids)


def test_an_anonymous_admin_request_is_sent_to_sign_in(harness: Harness) -> None:
    resp = harness.client.get("/admin/")
    assert (resp.status_code, resp.headers["Location"]) == (302, "/admin/login?next=/admin/?")
    assert resp.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    json_resp = harness.client.post("/admin/_probe", headers={"Accept": "application/json"})
    assert json_resp.status_code == 401
    assert json_resp.get_json()["error"]["code"] == "unauthorized"


def test_an_unknown_address_gets_the_same_answer_and_nothing_is_sent(harness: Harness) -> None:
    known = harness.client.post("/admin/login", data={"email": "Owner@Shop.Example"})
    assert known.status_code == 200
    assert len(harness.mail.received) == 1
    unknown = harness.client.post("/admin/login", data={"email": "nobody@shop.example"})
    assert unknown.status_code == 200
    assert harness.tokens() == 1
    assert len(harness.mail.received) == 1
    # Same page, only the echoed address differs.
    assert known.get_data(as_text=True).replace("owner@shop.example", "X") == unknown.get_data(as_text=True).replace(
        "nobody@shop.example", "X"
    )


def test_an_invalid_address_is_a_400_with_the_message_next_to_the_field(harness: Harness) -> None:
    resp = harness.client.post("/admin/login", data={"email": "not an email\r\nBcc: x@evil.example"})
    assert resp.status_code == 400
    assert 'aria-invalid="true"' in resp.get_data(as_text=True)
    assert "Enter a valid email address." in resp.get_data(as_text=True)
    assert harness.tokens() == 0
    assert harness.mail.received == []


def test_the_emailed_link_signs_in_once(harness: Harness) -> None:
    harness.client.post("/admin/login", data={"email": "owner@shop.example"})
    message = harness.mail.received[0].message
    assert message["To"] == "owner@shop.example"
    assert message["Subject"] == "Sign in to BackSoon for Woo Shop"
    link = harness.sign_in_link()

    # GET shows a button and spends nothing (mail scanners follow links).
    page = harness.client.get(link)
    assert page.status_code == 200 and "Sign in" in page.get_data(as_text=True)
    assert harness.client.get("/admin/").status_code == 302

    resp = harness.client.post(link)
    assert (resp.status_code, resp.headers["Location"]) == (302, "/admin/")
    dash = harness.client.get("/admin/")
    assert dash.status_code == 200 and "Woo Shop" in dash.get_data(as_text=True)

    # Spent: neither a second click nor another browser can use it.
    other = harness.app.test_client()
    assert other.post(link).status_code == 410
    assert other.get("/admin/").status_code == 302


def test_an_expired_link_does_not_sign_in(harness: Harness) -> None:
    harness.client.post("/admin/login", data={"email": "owner@shop.example"})
    link = harness.sign_in_link()
    with harness.db.session() as s:
        s.execute(update(AdminLoginToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert harness.client.get(link).status_code == 410
    assert harness.client.post(link).status_code == 410
    assert harness.client.get("/admin/").status_code == 302


def test_a_cookie_session_needs_the_csrf_token_on_every_post(harness: Harness) -> None:
    harness.client.post("/admin/login", data={"email": "owner@shop.example"})
    harness.client.post(harness.sign_in_link())
    assert harness.client.post("/admin/_probe").status_code == 403
    assert harness.client.post("/admin/_probe", data={"csrf_token": "forged"}).status_code == 403
    with harness.client.session_transaction() as sess:
        token = sess["admin_csrf"]
    ok = harness.client.post("/admin/_probe", data={"csrf_token": token})
    assert ok.get_json() == {"store": harness.woo_id, "via": "cookie"}
    assert harness.client.post("/admin/_probe", headers={"X-CSRF-Token": token}).status_code == 200


def test_signing_out_ends_the_session(harness: Harness) -> None:
    harness.client.post("/admin/login", data={"email": "owner@shop.example"})
    harness.client.post(harness.sign_in_link())
    assert harness.client.post("/admin/logout").status_code == 302
    assert harness.client.get("/admin/").status_code == 302


def test_an_embedded_page_load_is_authenticated_by_its_session_token(harness: Harness) -> None:
    resp = harness.client.get(f"/admin/?shop={SHOP}&host={HOST}&embedded=1&id_token={make_session_token()}")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert "Shopify Shop" in body
    assert f'<meta name="shopify-api-key" content="{API_KEY}">' in body
    assert resp.headers["Content-Security-Policy"] == f"frame-ancestors https://{SHOP} https://admin.shopify.com"
    # The app's menu goes to the Shopify admin's own navigation (App Bridge), links keeping shop and host.
    assert f'<a href="/admin/?shop={SHOP}&amp;host={HOST}&amp;embedded=1" rel="home">Dashboard</a>' in body
    # The next step after installing: the theme editor deep link that switches on the app embed, out of the iframe.
    editor = f"https://{SHOP}/admin/themes/current/editor?context=apps&amp;activateAppId={API_KEY}/app-embed"
    assert f'<a href="{editor}" target="_top" rel="noopener" data-theme-editor>' in body
    assert "data-plugin-zip" not in body and "data-revoke-key" not in body
    # No cookie session was created: the next load without a token bounces through App Bridge again.
    bounce = harness.client.get(f"/admin/?shop={SHOP}&host={HOST}&embedded=1")
    assert bounce.status_code == 200 and 'id="backsoon-bounce"' in bounce.get_data(as_text=True)


def test_embedded_posts_use_a_bearer_or_form_session_token_and_need_no_csrf(harness: Harness) -> None:
    bearer = harness.client.post("/admin/_probe", headers={"Authorization": f"Bearer {make_session_token()}"})
    assert bearer.get_json() == {"store": harness.shopify_id, "via": "session_token"}
    form = harness.client.post("/admin/_probe", data={"id_token": make_session_token(), "shop": SHOP})
    assert form.get_json() == {"store": harness.shopify_id, "via": "session_token"}


def test_a_forged_or_expired_session_token_is_refused(harness: Harness) -> None:
    forged = make_session_token(secret="not-the-app-secret")
    resp = harness.client.post(
        "/admin/_probe", headers={"Authorization": f"Bearer {forged}", "Accept": "application/json"}
    )
    assert resp.status_code == 401
    assert resp.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    expired = make_session_token(now=datetime.now(UTC).timestamp() - 600)
    page = harness.client.get(f"/admin/?shop={SHOP}&host={HOST}&id_token={expired}")
    assert page.status_code == 200 and 'id="backsoon-bounce"' in page.get_data(as_text=True)


def test_a_token_for_an_uninstalled_shop_signs_in_nowhere(harness: Harness) -> None:
    with harness.db.session() as s:
        s.execute(update(Store).where(Store.id == harness.shopify_id).values(status="uninstalled"))
    resp = harness.client.post(
        "/admin/_probe", headers={"Authorization": f"Bearer {make_session_token()}", "Accept": "application/json"}
    )
    assert resp.status_code == 401


# --- session lifetime and server-side revocation ----------------------------------------------------------------------


def _signed_in(harness: Harness, client: FlaskClient | None = None) -> FlaskClient:
    client = client or harness.app.test_client()
    client.post("/admin/login", data={"email": "owner@shop.example"})
    assert client.post(harness.sign_in_link()).status_code == 302
    assert client.get("/admin/").status_code == 200
    return client


def _generation(harness: Harness, store_id: int) -> int:
    with harness.db.session() as s:
        return int(s.scalar(select(Store.admin_session_generation).where(Store.id == store_id)) or 0)


def test_the_admin_cookie_lasts_twelve_hours_not_a_month(harness: Harness) -> None:
    client = _signed_in(harness)
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.expires is not None
    left = cookie.expires - datetime.now(UTC)
    assert timedelta(hours=11, minutes=59) < left <= timedelta(hours=12)
    assert harness.app.permanent_session_lifetime == timedelta(hours=12)


@pytest.mark.parametrize(
    ("since", "seen", "signed_in"),
    [
        (timedelta(hours=13), timedelta(hours=12, seconds=1), False),  # unused for 12 h
        (timedelta(hours=13), timedelta(hours=11, minutes=59), True),
        (timedelta(days=7, seconds=1), timedelta(minutes=1), False),  # signed in over 7 days ago, used all along
        (timedelta(days=6, hours=23, minutes=59), timedelta(minutes=1), True),
    ],
)
def test_a_session_ends_after_twelve_idle_hours_or_seven_days(
    harness: Harness, since: timedelta, seen: timedelta, signed_in: bool
) -> None:
    client = _signed_in(harness)
    now = int(datetime.now(UTC).timestamp())
    with client.session_transaction() as sess:
        sess["admin_since"] = now - int(since.total_seconds())
        sess["admin_seen"] = now - int(seen.total_seconds())
    resp = client.get("/admin/")
    if signed_in:
        assert resp.status_code == 200
        with client.session_transaction() as sess:
            assert now <= sess["admin_seen"] <= now + 60  # this request counts as use
    else:
        assert (resp.status_code, resp.headers["Location"]) == (302, "/admin/login?next=/admin/?")
        with client.session_transaction() as sess:
            assert "admin_store_id" not in sess
        assert client.get("/admin/").status_code == 302


def test_signing_out_ends_every_session_of_that_admin_a_stolen_cookie_too(harness: Harness) -> None:
    laptop = _signed_in(harness)
    phone = _signed_in(harness)
    stolen = harness.app.test_client()
    cookie = laptop.get_cookie("session")
    assert cookie is not None
    stolen.set_cookie("session", cookie.value)
    assert stolen.get("/admin/").status_code == 200
    # Another store's admin is not signed out.
    other_client = _cookie_session_for(harness, harness.app.test_client(), harness.other_id)
    assert other_client.get("/admin/").status_code == 200

    assert laptop.post("/admin/logout").status_code == 302
    assert _generation(harness, harness.woo_id) == 1
    assert _generation(harness, harness.other_id) == 0
    for client in (laptop, phone, stolen):
        assert client.get("/admin/").status_code == 302
        probe = client.post("/admin/_probe", headers={"Accept": "application/json"})
        assert probe.status_code == 401
    assert other_client.get("/admin/").status_code == 200
    # A cookie revoked already cannot sign anyone out again; a new sign-in works under the new generation.
    assert stolen.post("/admin/logout").status_code == 302
    assert _generation(harness, harness.woo_id) == 1
    assert _signed_in(harness).get("/admin/").status_code == 200


def _cookie_session_for(harness: Harness, client: FlaskClient, store_id: int) -> FlaskClient:
    """A client signed in to ``store_id`` the way the sign-in link does it (for a store whose link we do not read)."""
    with client.session_transaction() as sess:
        sess.update(session_fields(store_id, _generation(harness, store_id)))
    return client


def test_a_cookie_without_the_session_fields_of_today_signs_in_nowhere(harness: Harness) -> None:
    # What a 31-day cookie signed before sessions were revocable held: a store id and a CSRF token.
    client = harness.app.test_client()
    with client.session_transaction() as sess:
        sess.update({"admin_store_id": harness.woo_id, "admin_csrf": "x" * 43})
    assert client.get("/admin/").status_code == 302
    assert _generation(harness, harness.woo_id) == 0


def test_embedded_pages_may_be_framed_by_their_shop_only_and_nothing_else_may(harness: Harness) -> None:
    embedded = harness.client.get(f"/admin/?shop={SHOP}&host={HOST}&embedded=1&id_token={make_session_token()}")
    assert embedded.status_code == 200
    assert embedded.headers["Content-Security-Policy"] == f"frame-ancestors https://{SHOP} https://admin.shopify.com"
    assert "X-Frame-Options" not in embedded.headers
    assert embedded.headers["X-Content-Type-Options"] == "nosniff"
    bounce = harness.client.get(f"/admin/?shop={SHOP}&host={HOST}&embedded=1")
    assert bounce.headers["Content-Security-Policy"] == f"frame-ancestors https://{SHOP} https://admin.shopify.com"
    assert "X-Frame-Options" not in bounce.headers
    standalone = _signed_in(harness).get("/admin/")
    assert (standalone.headers["Content-Security-Policy"], standalone.headers["X-Frame-Options"]) == (
        "frame-ancestors 'none'",
        "DENY",
    )


# --- sign-in: the same work for every address ---------------------------------------------------------------------


def test_sign_in_does_the_same_work_for_known_and_unknown_addresses(db: Database, make_app: AppFactory) -> None:
    jobs = RecordingQueue()
    with smtp_server() as (mail, url):
        app = make_app(app_url="http://backsoon.test", smtp_url=url, jobs=jobs)
        with db.session() as s:
            s.add(
                Store(platform="woocommerce", domain="shop.example", name="Woo Shop", admin_email="owner@shop.example")
            )
        client = app.test_client()
        work: dict[str, list[str]] = {}
        for email in ("owner@shop.example", "nobody@shop.example"):
            statements: list[str] = []

            def record(_conn: Any, _cursor: Any, statement: str, *_args: Any, log: list[str] = statements) -> None:
                log.append(re.sub(r"sa_savepoint_\d+", "sa_savepoint_N", statement))  # the test's own savepoints

            event.listen(db.engine, "before_cursor_execute", record)
            try:
                resp = client.post("/admin/login", data={"email": email})
            finally:
                event.remove(db.engine, "before_cursor_execute", record)
            assert resp.status_code == 200
            work[email] = statements
        # Same statements, same job: the answer cannot depend on whether the address is a merchant's.
        assert work["owner@shop.example"] == work["nobody@shop.example"]
        assert [st.split(" (")[0] for st in work["owner@shop.example"]] == [
            "SAVEPOINT sa_savepoint_N",  # the handler's commit, inside the test's transaction
            "INSERT INTO admin_login_requests",
            "RELEASE SAVEPOINT sa_savepoint_N",
        ]
        with db.session() as s:
            requests = s.execute(select(AdminLoginRequest.id, AdminLoginRequest.email).order_by(AdminLoginRequest.id))
            ids = [(rid, email) for rid, email in requests]
        assert [e for _, e in ids] == ["owner@shop.example", "nobody@shop.example"]
        assert jobs.specs == [job_specs.send_admin_login(rid) for rid, _ in ids]
        assert [s.func for s in jobs.specs] == ["jobs.admin.send_login_links"] * 2
        # Nothing is looked up or mailed until the job runs; then only the merchant gets a link, once.
        assert mail.received == []
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(AdminLoginToken)) == 0
        sent = [resolve(spec.func)(*spec.args) for spec in jobs.specs]
        assert sent == [1, 0]
        assert [m.message["To"] for m in mail.received] == ["owner@shop.example"]
        # Twice is harmless: the request is gone once handled.
        assert [resolve(spec.func)(*spec.args) for spec in jobs.specs] == [0, 0]
        assert len(mail.received) == 1
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(AdminLoginRequest)) == 0
            assert s.scalar(select(func.count()).select_from(AdminLoginToken)) == 1
