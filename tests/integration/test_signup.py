"""Waitlist signup on real PostgreSQL and Redis: rows, consent, jobs, idempotence, honeypot, limits, hostile input."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import job_specs
from app.db import Database
from app.domain import waitlist as rules
from app.models import StockState, Store, StoreSetting
from app.models.waitlist import ConsentRecord, Subscription
from app.queue import JobSpec
from app.services.notify.waitlist import hash_ip
from tests.conftest import TEST_REDIS_URL
from tests.factories import RecordingQueue, make_store, make_variant

pytestmark = pytest.mark.integration

SECRET = "test-secret-key"


class Env:
    """The app, its recording queue and the seeded ids."""

    def __init__(self, app: Flask, jobs: RecordingQueue, db: Database, store_id: int, eu_id: int, v: dict[str, str]):
        self.app, self.jobs, self.db, self.store_id, self.eu_id, self.v = app, jobs, db, store_id, eu_id, v
        self.client: FlaskClient = app.test_client()

    def post(self, body: Any, store_id: int | None = None, **kw: Any) -> Any:
        url = f"/storefront/v1/stores/{store_id or self.store_id}/subscriptions"
        return self.client.post(url, json=body, environ_base={"REMOTE_ADDR": kw.pop("ip", "203.0.113.7")}, **kw)

    def subs(self) -> list[Subscription]:
        with self.db.session() as s:
            return list(s.scalars(select(Subscription).order_by(Subscription.id)))

    def consents(self) -> list[ConsentRecord]:
        with self.db.session() as s:
            return list(s.scalars(select(ConsentRecord).order_by(ConsentRecord.id)))


def _state(session: Any, variant: Any, status: str, eta: Any = None) -> None:
    session.add(StockState(store_id=variant.store_id, variant_id=variant.id, status=status, restock_eta=eta))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Rate limits counted in the test Redis; links signed with SECRET."""
    return {"redis_url": TEST_REDIS_URL, "secret_key": SECRET}


@pytest.fixture
def job_queue() -> RecordingQueue:
    """Records the confirmation mails a signup queues."""
    return RecordingQueue()


@pytest.fixture
def env(db: Database, redis_conn: object, app: Flask, job_queue: RecordingQueue) -> Iterator[Env]:
    with db.session() as s:
        store = make_store(s, name="Acme", country="US", locale="en")
        eu = make_store(s, name="Winkel", country="NL", locale="nl")
        sold = make_variant(s, store, qty=0, external_id="sold")
        _state(s, sold, "out_of_stock")
        instock = make_variant(s, store, qty=9, external_id="instock")
        _state(s, instock, "in_stock")
        back_eta = make_variant(s, store, qty=0, external_id="bo-eta")
        _state(s, back_eta, "backorder", datetime(2026, 12, 1, tzinfo=UTC).date())
        back = make_variant(s, store, qty=0, external_id="bo")
        _state(s, back, "backorder")
        make_variant(s, store, qty=0, external_id="coming")  # never computed: "coming soon"
        gone = make_variant(s, store, qty=0, external_id="gone", deleted_at=datetime.now(UTC))
        _state(s, gone, "out_of_stock")
        eu_sold = make_variant(s, eu, qty=0, external_id="eu-sold")
        _state(s, eu_sold, "out_of_stock")
        s.commit()
        ids = (store.id, eu.id)
    yield Env(app, job_queue, db, ids[0], ids[1], {})


def body(store_name: str = "Acme", **kw: Any) -> dict[str, Any]:
    """A signup as the widget sends it: the version of the default consent text it showed in the shopper's language."""
    values: dict[str, Any] = {"email": "Ann@Example.COM", "variant_id": "sold", "consent": True, "locale": "en"}
    values.update(kw)
    if "consent_version" not in kw:
        values["consent_version"] = rules.consent(rules.pick_locale([str(values["locale"])]), store_name).version
    return values


OK_EN = {"ok": True, "confirm": False, "message": "Thanks! We'll email you once when it's back in stock."}


def test_signup_creates_active_row_and_consent(env: Env) -> None:
    resp = env.post(body(), headers={"User-Agent": "Mozilla/5.0 test"})
    assert resp.status_code == 202
    assert resp.get_json() == OK_EN
    [sub] = env.subs()
    assert (sub.email, sub.state, sub.locale, sub.source) == ("ann@example.com", "active", "en", "widget")
    [consent] = env.consents()
    agreed = rules.consent("en", "Acme")
    assert (consent.kind, consent.text, consent.text_version) == ("signup", agreed.text, agreed.version)
    assert consent.ip_hash == hash_ip(SECRET, "203.0.113.7") and len(consent.ip_hash or "") == 64
    assert "203.0.113.7" not in (consent.ip_hash or "")
    assert consent.user_agent == "Mozilla/5.0 test"
    assert consent.subscription_id == sub.id
    assert env.jobs.specs == []  # no double opt-in: nothing to send now


def test_same_answer_and_one_row_for_a_repeat(env: Env) -> None:
    first = env.post(body())
    again = env.post(body(email="ann@example.com"))
    assert first.status_code == again.status_code == 202
    assert first.get_json() == again.get_json() == OK_EN
    assert len(env.subs()) == 1 and len(env.consents()) == 1


def test_form_encoded_and_per_variant(env: Env) -> None:
    resp = env.client.post(
        f"/storefront/v1/stores/{env.store_id}/subscriptions",
        data={
            "email": "bob@example.com",
            "variant_id": "bo",
            "consent": "on",
            "consent_version": rules.consent("en", "Acme").version,
            "source": "landing",
        },
    )
    assert resp.status_code == 202
    assert env.post(body(email="bob@example.com", variant_id="coming")).status_code == 202
    subs = env.subs()
    assert [(s.email, s.source) for s in subs] == [("bob@example.com", "landing"), ("bob@example.com", "widget")]
    assert len({s.variant_id for s in subs}) == 2


def test_double_opt_in_for_eu_store_enqueues_confirmation(env: Env) -> None:
    resp = env.post(body("Winkel", variant_id="eu-sold", locale="nl-BE"), store_id=env.eu_id)
    assert resp.status_code == 202
    assert resp.get_json() == {"ok": True, "confirm": True, "message": rules.message("nl", "confirm_sent")}
    [sub] = env.subs()
    assert (sub.state, sub.locale) == ("pending_confirmation", "nl")
    assert env.jobs.specs == [JobSpec(job_specs.SEND_CONFIRMATION, (sub.id,), job_id=f"confirm-{sub.id}")]
    # Again at once: same answer, no second email.
    assert env.post(body("Winkel", variant_id="eu-sold"), store_id=env.eu_id).get_json()["confirm"] is True
    assert len(env.jobs.specs) == 1
    # Once the email went out more than ten minutes ago, a new signup asks for another one.
    with env.db.session() as s:
        row = s.get(Subscription, sub.id)
        assert row is not None
        row.confirm_sent_at = datetime.now(UTC) - timedelta(minutes=9)
        row.confirm_token_hash = "x" * 64
        s.commit()
    env.post(body("Winkel", variant_id="eu-sold"), store_id=env.eu_id)
    assert len(env.jobs.specs) == 1  # nine minutes: too soon
    with env.db.session() as s:
        row = s.get(Subscription, sub.id)
        assert row is not None
        row.confirm_sent_at = datetime.now(UTC) - timedelta(minutes=11)
        s.commit()
    env.post(body("Winkel", variant_id="eu-sold"), store_id=env.eu_id)
    assert len(env.jobs.specs) == 2
    [sub] = env.subs()
    assert sub.confirm_sent_at is None and sub.confirm_token_hash is None
    assert len(env.consents()) == 1


def test_store_setting_turns_double_opt_in_off_and_on(env: Env) -> None:
    with env.db.session() as s:
        s.add(StoreSetting(store_id=env.eu_id, scope="store", values={"double_opt_in": False}))
        s.add(StoreSetting(store_id=env.store_id, scope="store", values={"double_opt_in": "true"}))
        s.commit()
    assert env.post(body("Winkel", variant_id="eu-sold"), store_id=env.eu_id).get_json()["confirm"] is False
    assert env.post(body()).get_json()["confirm"] is True
    assert [s.state for s in env.subs()] == ["active", "pending_confirmation"]


def test_unsubscribed_address_is_reactivated_with_new_consent(env: Env) -> None:
    env.post(body())
    with env.db.session() as s:
        row = s.scalars(select(Subscription)).one()
        row.state, row.unsubscribed_at = "unsubscribed", datetime.now(UTC)
        s.commit()
    assert env.post(body(locale="de")).get_json() == {**OK_EN, "message": rules.message("de", "subscribed")}
    [sub] = env.subs()
    assert (sub.state, sub.unsubscribed_at, sub.locale) == ("active", None, "de")
    assert [c.kind for c in env.consents()] == ["signup", "signup"]
    assert env.consents()[1].text == rules.consent("de", "Acme").text


def test_the_storefront_root_is_kept_and_anything_else_dropped_without_losing_the_signup(env: Env) -> None:
    assert env.post(body(root="/nl", locale="nl")).status_code == 202
    assert [(s.email, s.storefront_root) for s in env.subs()] == [("ann@example.com", "/nl")]
    # Not a locale root: the signup is kept, the value is not.
    for n, hostile in enumerate(("//evil.example", "https://evil.example/nl", "/account/logout")):
        resp = env.post(body(email=f"shopper{n}@example.com", root=hostile))
        assert resp.status_code == 202
    assert [s.storefront_root for s in env.subs()] == ["/nl", None, None, None]
    # Not a string: refused like any other malformed field, nothing stored.
    resp = env.post(body(email="bob@example.com", root=["/nl"]))
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (400, "invalid_request")
    assert len(env.subs()) == 4
    # Signing up again after unsubscribing, now from the primary root: the old root no longer applies.
    with env.db.session() as s:
        row = s.scalars(select(Subscription).where(Subscription.email == "ann@example.com")).one()
        row.state, row.unsubscribed_at = "unsubscribed", datetime.now(UTC)
        s.commit()
    assert env.post(body(root="/")).status_code == 202
    assert env.subs()[0].storefront_root is None


def test_honeypot_same_answer_nothing_stored(env: Env) -> None:
    resp = env.post(body(website="http://spam.example"))
    assert resp.status_code == 202 and resp.get_json() == OK_EN
    resp = env.post(body(website="x", email="not an email"), store_id=env.eu_id)
    assert resp.status_code == 202 and resp.get_json()["confirm"] is True
    assert env.subs() == [] and env.consents() == [] and env.jobs.specs == []


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (body(email="not-an-email"), 400, "invalid_email"),
        (body(email="ann@example.com\r\nBcc: victim@example.com"), 400, "invalid_email"),
        (body(email="ann@example.com\nX: y"), 400, "invalid_email"),
        (body(email="a" * 300 + "@example.com"), 400, "invalid_email"),
        (body(email=""), 400, "invalid_email"),
        (body(email=12), 400, "invalid_request"),
        (body(consent=False), 400, "consent_required"),
        (body(consent="nope"), 400, "consent_required"),
        (body(consent_version="0000deadbeef"), 400, "consent_required"),
        (body(consent_version=""), 400, "consent_required"),
        (body(consent_version=None), 400, "consent_required"),
        ({k: v for k, v in body().items() if k != "consent_version"}, 400, "consent_required"),
        (body(variant_id=""), 400, "invalid_request"),
        (body(variant_id=["sold"]), 400, "invalid_request"),
        (body(locale="e\x00n"), 400, "invalid_request"),
        (body(variant_id="nope"), 404, "not_found"),
        (body(variant_id="gone"), 404, "not_found"),
        (body("Winkel", variant_id="eu-sold"), 404, "not_found"),  # another store's variant
        (body(variant_id="instock"), 409, "in_stock"),
        (body(variant_id="bo-eta"), 409, "in_stock"),
        ([1, 2], 400, "invalid_request"),
    ],
)
def test_refused_signups_store_and_send_nothing(env: Env, payload: Any, status: int, code: str) -> None:
    resp = env.post(payload)
    assert resp.status_code == status
    assert resp.get_json()["error"]["code"] == code
    assert env.subs() == [] and env.consents() == [] and env.jobs.specs == []


@pytest.mark.parametrize(
    ("locale", "message"),
    [
        ("en", "This item is available again — refresh the page to buy it."),
        ("nl", "Dit artikel is weer beschikbaar — vernieuw de pagina om het te kopen."),
        ("fr", "Cet article est de nouveau disponible — actualisez la page pour l'acheter."),
        ("de", "Dieser Artikel ist wieder verfügbar – lade die Seite neu, um ihn zu kaufen."),
    ],
)
def test_in_stock_refusal_is_localised_and_stores_nothing(env: Env, locale: str, message: str) -> None:
    resp = env.post(body(variant_id="instock", locale=locale))
    assert resp.status_code == 409
    assert resp.get_json() == {"error": {"code": "in_stock", "message": message}}
    assert env.subs() == [] and env.consents() == [] and env.jobs.specs == []


def test_stale_in_stock_state_refuses_with_the_refresh_message(env: Env) -> None:
    """The platform sold the item out (its page says so) before we applied that delivery: our state decides."""
    with env.db.session() as s:
        store = s.get(Store, env.store_id)
        assert store is not None
        stale = make_variant(s, store, qty=0, external_id="stale")  # the row already reads 0 ...
        _state(s, stale, "in_stock")  # ... but the computed state still says in stock
        s.commit()
    resp = env.post(body(variant_id="stale", locale="nl"))
    assert resp.status_code == 409
    message = "Dit artikel is weer beschikbaar — vernieuw de pagina om het te kopen."
    assert resp.get_json() == {"error": {"code": "in_stock", "message": message}}
    assert env.subs() == [] and env.consents() == [] and env.jobs.specs == []


def test_current_consent_version_is_accepted(env: Env) -> None:
    version = rules.consent("nl", "Acme").version
    assert env.post(body(locale="nl", consent_version=version)).status_code == 202
    assert env.consents()[0].text_version == version


def test_a_shopper_who_ticked_the_stores_language_text_is_recorded_with_that_text(env: Env) -> None:
    # A widget that showed the store's own-language consent (an older cached copy fetched it without ?locale=)
    # to a Dutch shopper: the English text is what was ticked, and that is what is recorded; emails stay Dutch.
    english = rules.consent("en", "Acme")
    assert env.post(body(locale="nl", consent_version=english.version)).status_code == 202
    [sub] = env.subs()
    [consent] = env.consents()
    assert sub.locale == "nl"
    assert (consent.text, consent.text_version) == (english.text, english.version)
    # A version of neither the shopper's nor the store's language is still refused, and nothing more is stored.
    french = rules.consent("fr", "Acme")
    refused = env.post(body(email="fr@example.com", locale="nl", consent_version=french.version))
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "consent_required"
    assert len(env.subs()) == 1 and len(env.consents()) == 1


def test_bad_json_too_large_and_unknown_store(env: Env) -> None:
    url = f"/storefront/v1/stores/{env.store_id}/subscriptions"
    resp = env.client.post(url, data=b"{not json", content_type="application/json")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_request"
    resp = env.client.post(url, data=b"x" * (1024 * 1024 + 1), content_type="application/json")
    assert resp.status_code == 413 and resp.is_json
    for store_id in (999_999, 2**64):
        resp = env.client.post(f"/storefront/v1/stores/{store_id}/subscriptions", json=body())
        assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    with env.db.session() as s:
        store = s.get(Store, env.store_id)
        assert store is not None
        store.status = "uninstalled"
        s.commit()
    resp = env.post(body())
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    assert env.subs() == [] and env.jobs.specs == []


def test_flood_from_one_ip_is_rate_limited(env: Env) -> None:
    env.app.config["BACKSOON_SIGNUP_IP_LIMIT"] = "3/minute"
    answers = [env.post(body(email=f"u{i}@example.com")).status_code for i in range(8)]
    assert answers == [202, 202, 202, 429, 429, 429, 429, 429]
    resp = env.post(body(email="late@example.com"))
    assert resp.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert sorted(s.email for s in env.subs()) == ["u0@example.com", "u1@example.com", "u2@example.com"]
    # Another address is not affected.
    assert env.post(body(email="other@example.com"), ip="198.51.100.1").status_code == 202


def test_per_email_limit_across_ips(env: Env) -> None:
    env.app.config["BACKSOON_SIGNUP_EMAIL_LIMIT"] = "2/hour"
    codes = [env.post(body(email="ANN@example.com"), ip=f"198.51.100.{i}").status_code for i in range(4)]
    assert codes == [202, 202, 429, 429]
    assert len(env.subs()) == 1


@pytest.mark.truncating("eight signups at once on threads, each with a connection of its own")
def test_concurrent_duplicate_signups_make_one_row(env: Env) -> None:
    env.app.config["BACKSOON_SIGNUP_IP_LIMIT"] = "1000/minute"
    env.app.config["BACKSOON_SIGNUP_EMAIL_LIMIT"] = "1000/minute"
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def go() -> None:
        client = env.app.test_client()
        barrier.wait()
        resp = client.post(
            f"/storefront/v1/stores/{env.eu_id}/subscriptions", json=body("Winkel", variant_id="eu-sold")
        )
        codes.append(resp.status_code)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [202] * 8
    [sub] = env.subs()
    assert len(env.consents()) == 1
    assert {s.job_id for s in env.jobs.specs} == {f"confirm-{sub.id}"}
    with env.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Subscription)) == 1


def test_signup_on_sqlite_is_idempotent_too(sqlite_db: Database) -> None:
    from app.services.notify import waitlist as service

    jobs = RecordingQueue()
    with sqlite_db.session() as s:
        store = make_store(s, name="Embedded")
        variant = make_variant(s, store, qty=0, external_id="sq")
        _state(s, variant, "out_of_stock")
        req = service.SignupRequest(
            "sq", "Zed@Example.com", True, rules.consent("en", "Embedded").version, "en", "widget", "127.0.0.1", "UA"
        )
        first = service.subscribe(s, jobs, SECRET, store, req)
        second = service.subscribe(s, jobs, SECRET, store, req)
        s.commit()
        assert (first.outcome, second.outcome) == ("new", "unchanged")
        assert first.subscription_id == second.subscription_id
        assert s.scalars(select(Subscription.email)).all() == ["zed@example.com"]


def test_the_stores_own_consent_text_is_recorded_and_versioned(env: Env) -> None:
    own = "I agree that [store] emails me once about this item."
    with env.db.session() as s:
        s.add(StoreSetting(store_id=env.store_id, scope="store", values={"texts": {"en": {"consent": own}}}))
    shown = "I agree that Acme emails me once about this item."
    agreed = rules.consent("en", "Acme", own)
    assert (agreed.text, agreed.version) == (shown, rules.consent_version(shown))
    # A form rendered with the default text before the merchant changed it: refused, nothing stored.
    stale = env.post(body(consent_version=rules.consent("en", "Acme").version))
    assert stale.status_code == 400
    assert stale.get_json()["error"]["code"] == "consent_required"
    assert stale.get_json()["error"]["details"] == {
        "consent_version": f"the consent text changed; the current version is {agreed.version}"
    }
    assert env.subs() == [] and env.consents() == []
    ok = env.post(body(consent_version=agreed.version))
    assert ok.status_code == 202
    [consent] = env.consents()
    assert (consent.text, consent.text_version) == (shown, agreed.version)
    # Another language without its own text keeps the default.
    assert (
        env.post(
            body(email="nl@example.com", locale="nl", consent_version=rules.consent("nl", "Acme").version)
        ).status_code
        == 202
    )


@pytest.mark.parametrize(
    ("locale", "message"),
    [
        ("en", "We could not tell which consent text you agreed to; please reload the page and agree again."),
        (
            "nl",
            "We weten niet met welke toestemmingstekst je akkoord ging; laad de pagina opnieuw en ga opnieuw akkoord.",
        ),
        (
            "fr",
            "Nous ne savons pas quel texte de consentement vous avez accepté ;"
            " rechargez la page et acceptez à nouveau.",
        ),
        (
            "de",
            "Wir wissen nicht, welchem Einwilligungstext du zugestimmt hast; lade die Seite neu und stimme erneut zu.",
        ),
    ],
)
def test_a_signup_without_a_consent_version_is_refused_in_the_shoppers_language(
    env: Env, locale: str, message: str
) -> None:
    # A form drawn before its consent text arrived sends no version: nothing it shows may be recorded as agreed to.
    resp = env.post({k: v for k, v in body(locale=locale).items() if k != "consent_version"})
    assert resp.status_code == 400
    assert resp.get_json() == {
        "error": {
            "code": "consent_required",
            "message": message,
            "details": {"consent_version": "required: the version of the consent text the form showed"},
        }
    }
    assert env.subs() == [] and env.consents() == [] and env.jobs.specs == []


IDN = "jöhn.dœ@exämple.com"


@pytest.mark.parametrize("smtputf8", [True, False])
def test_a_non_ascii_local_part_is_taken_only_while_the_smtp_server_offers_smtputf8(
    env: Env, make_app: Any, smtputf8: bool
) -> None:
    from app.infra import smtp_caps
    from tests.smtpd import smtp_server

    with smtp_server(smtputf8=smtputf8) as (_handler, url):
        app = make_app(smtp_url=url)  # starts the background probe
        cache = smtp_caps.cache_for(url)
        assert cache.refresh() is smtputf8  # the probe's answer, awaited here rather than raced
        probes: list[str] = []
        real_probe = cache.probe
        cache.probe = lambda u: probes.append(u) or real_probe(u)  # type: ignore[func-returns-value]
        client = app.test_client()
        resp = client.post(
            f"/storefront/v1/stores/{env.store_id}/subscriptions", json=body(email=IDN),
            environ_base={"REMOTE_ADDR": "203.0.113.9"},
        )  # fmt: skip
        # A second, ASCII signup with an internationalised domain is always taken.
        other = client.post(
            f"/storefront/v1/stores/{env.store_id}/subscriptions", json=body(email="Ann@EXÄMPLE.com"),
            environ_base={"REMOTE_ADDR": "203.0.113.9"},
        )  # fmt: skip
        # The signups read the cached answer: no SMTP connection was opened for them.
        assert probes == []
    assert other.status_code == 202
    if smtputf8:
        assert (resp.status_code, resp.get_json()) == (202, OK_EN)
        assert [(s.email, s.state) for s in env.subs()] == [(IDN, "active"), ("ann@exämple.com", "active")]
    else:
        assert resp.status_code == 400
        assert resp.get_json() == {
            "error": {
                "code": "email_not_supported",
                "message": "This store cannot send email to an address with non-ASCII characters before the @. "
                "Please use another address.",
                "details": {"email": "non-ASCII characters before the @ are not supported by this store's mail server"},
            }
        }
        # Nothing stored, no consent recorded, no email queued for the refused address.
        assert [(s.email, s.state) for s in env.subs()] == [("ann@exämple.com", "active")]
        assert len(env.consents()) == 1
    assert env.jobs.specs == []
