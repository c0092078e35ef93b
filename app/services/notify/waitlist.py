"""The waitlist lifecycle: sign up, confirm, unsubscribe; and the public storefront reads, always scoped by store.

Signups are idempotent on (store, variant, email): one ``INSERT ... ON CONFLICT DO NOTHING`` through the dialect
(PostgreSQL and SQLite both have it), so concurrent duplicates make one row and never an error. What happens to an
existing row depends on its state (see :func:`subscribe`); the caller answers the shopper the same way whatever
happened, so the response never tells whether an address was already on the list.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app import job_specs
from app.db import as_utc
from app.domain import waitlist as rules
from app.domain.naming import variant_label
from app.domain.stock import BadgeKind, Status
from app.infra.links import hash_token
from app.models import Product, StockState, Store, StoreStatus, Variant
from app.models.waitlist import ConsentRecord, Subscription, SubscriptionState
from app.queue import JobQueue, enqueue_after_commit
from app.services.stock import recompute as stock
from app.services.stock.storefront_state import listing_value, product_listings
from integrations.shopify.storefront import state_value

__all__ = [
    "ConfirmOutcome",
    "SignupError",
    "SignupRequest",
    "SignupResult",
    "active_store",
    "confirm",
    "confirm_status",
    "hash_ip",
    "normalise_email",
    "product_view",
    "store_consent",
    "store_double_opt_in",
    "store_texts",
    "subscribe",
    "subscription_by_confirm_token",
    "subscription_context",
    "subscription_for_link",
    "unsubscribe",
    "variant_view",
]

MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit; the column allows 320
MAX_USER_AGENT = 500
SOURCES = ("widget", "app_proxy", "landing")
# Rows in these states are on the list already; a repeated signup changes nothing.
_WAITING = frozenset({SubscriptionState.ACTIVE})
# Rows in these states are no longer waiting; a new signup starts them again, with a new consent record.
_RESTARTABLE = frozenset({SubscriptionState.UNSUBSCRIBED, SubscriptionState.NOTIFIED, SubscriptionState.CONVERTED})


class SignupError(Exception):
    """A signup refused for a reason the shopper can fix; ``status`` and ``code`` become the JSON error."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


@dataclass(frozen=True, slots=True)
class SignupRequest:
    """A validated-enough signup as the web layer read it (the email is checked here)."""

    variant_ref: str
    email: str
    consent: bool
    consent_version: str | None
    locale: str
    source: str
    ip: str | None
    user_agent: str | None
    customer_external_id: str | None = None
    storefront_root: str | None = None  # validated by rules.storefront_root


@dataclass(frozen=True, slots=True)
class SignupResult:
    """What the shopper is told: whether a confirmation email is on its way, in which language."""

    confirm: bool
    locale: str
    # For logs and tests only, never for the response: new | restarted | unchanged | resent.
    outcome: str
    subscription_id: int


def hash_ip(secret_key: str, ip: str | None) -> str | None:
    """HMAC-SHA256 of the client IP keyed by SECRET_KEY: provable later, useless to whoever reads the table."""
    if not ip:
        return None
    return hmac.new(secret_key.encode("utf-8"), ip.encode("utf-8"), hashlib.sha256).hexdigest()


def normalise_email(raw: object, *, smtputf8: bool | Callable[[], bool] = True) -> str:
    """The address as stored: validated by email-validator (no DNS), then lowercased; SignupError 400 otherwise.

    The whole address is lowercased, local part included: RFC 5321 lets a server treat "Ann" and "ann" apart, but
    no mailbox provider shoppers use does, and two rows for one inbox would mean two emails. An internationalised
    domain is kept in Unicode (the same inbox whether typed as ``exämple.com`` or ``xn--exmple-cua.com``; the
    mailer sends it as punycode). A non-ASCII local part is refused with 400 ``email_not_supported`` unless
    ``smtputf8`` (the SMTP server offers SMTPUTF8; a callable is asked only for such an address), since it could
    not be mailed.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise SignupError(400, "invalid_email", "Enter an email address.", {"email": "required"})
    text = raw.strip()
    # CR/LF/NUL would be header injection if the address ever reached a header unchecked; refuse them outright.
    if any(ch in text for ch in "\r\n\x00") or len(text) > MAX_EMAIL_LENGTH:
        raise SignupError(400, "invalid_email", "This email address is not valid.", {"email": "invalid"})
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise SignupError(400, "invalid_email", "This email address is not valid.", {"email": str(exc)}) from exc
    local_ascii = str(checked.local_part).isascii()
    if not local_ascii and not (smtputf8() if callable(smtputf8) else smtputf8):
        raise SignupError(
            400,
            "email_not_supported",
            "This store cannot send email to an address with non-ASCII characters before the @. "
            "Please use another address.",
            {"email": "non-ASCII characters before the @ are not supported by this store's mail server"},
        )
    return str(checked.normalized).lower()


def active_store(session: Session, store_id: int) -> Store | None:
    """The store if it exists and is active; a pending, disconnected or uninstalled store reads as unknown.

    Its shoppers cannot be notified any more (no webhooks, no stock), so taking their addresses would be a
    promise nobody keeps; a 404 is the honest answer and also tells nothing about which stores ever existed.
    """
    if not 0 < store_id <= 2**63 - 1:
        return None
    store = session.get(Store, store_id)
    return store if store is not None and store.status == StoreStatus.ACTIVE else None


def store_values(session: Session, store: Store) -> Mapping[str, Any]:
    """The store-level settings values (merchant texts, sender, opt-in choice), {} when none are saved."""
    return stock.store_values(session, store.id)


def store_double_opt_in(session: Session, store: Store) -> bool:
    """Double opt-in for this store: its store-level ``double_opt_in`` setting, else on for EU/EEA countries."""
    return rules.double_opt_in(store.country, store_values(session, store).get("double_opt_in"))


def store_texts(session: Session, store: Store, locale: str) -> dict[str, str]:
    """The merchant's own storefront texts in one language (only those set), as saved on the settings page."""
    return rules.saved_texts(store_values(session, store), locale)


def store_consent(session: Session, store: Store, locale: str) -> rules.Consent:
    """The consent text the store shows in a language (its own, else the default) and its version."""
    return rules.consent(locale, store.name, store_texts(session, store, locale).get("consent"))


def _live_variant(session: Session, store_id: int, variant_ref: str) -> tuple[Variant, Product] | None:
    if not variant_ref or len(variant_ref) > 64:
        return None
    row = session.execute(
        select(Variant, Product)
        .join(Product, Product.id == Variant.product_id)
        .where(
            Variant.store_id == store_id,
            Product.store_id == store_id,
            Variant.external_id == variant_ref,
            Variant.deleted_at.is_(None),
            Product.deleted_at.is_(None),
            Variant.published.is_(True),
            Product.published.is_(True),
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def _fallback_state(variant: Variant) -> dict[str, Any]:
    # No computed state yet (a new or never-stocked "coming soon" variant): say only what the row itself supports.
    sold_out = variant.tracked and variant.sellable_quantity <= 0
    status = (Status.BACKORDER if variant.backorder else Status.OUT_OF_STOCK) if sold_out else Status.IN_STOCK
    return {
        "status": status,
        "badge_kind": BadgeKind.NONE,
        "badge_quantity": None,
        "restock_eta": None,
        "eta_source": None,
        "on_its_way": False,
    }


def _state_of(state: StockState | None, variant: Variant) -> dict[str, Any]:
    if state is None:
        return state_value(_fallback_state(variant))
    return state_value(
        {
            "status": state.status,
            "badge_kind": state.badge_kind,
            "badge_quantity": state.badge_quantity,
            "restock_eta": state.restock_eta,
            "eta_source": state.eta_source,
            "on_its_way": state.on_its_way,
        }
    )


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"no ON CONFLICT insert for dialect {dialect!r}")


def _consent_record(
    store_id: int, subscription_id: int, kind: str, agreed: rules.Consent, req_ip_hash: str | None, ua: str | None
) -> ConsentRecord:
    return ConsentRecord(
        store_id=store_id,
        subscription_id=subscription_id,
        kind=kind,
        text_version=agreed.version,
        text=agreed.text,
        ip_hash=req_ip_hash,
        user_agent=ua,
        given_at=datetime.now(UTC),
    )


def _clean_user_agent(ua: str | None) -> str | None:
    if not ua:
        return None
    return ua.replace("\x00", "")[:MAX_USER_AGENT] or None


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive UTC datetimes.
    if value is None:
        return None
    return as_utc(value)


def subscribe(
    session: Session,
    jobs: JobQueue,
    secret_key: str,
    store: Store,
    req: SignupRequest,
    *,
    now: datetime | None = None,
) -> SignupResult:
    """Put an address on a variant's waitlist; the caller commits (the confirmation job is enqueued after commit).

    - Unknown, deleted or unpublished variant of this store: SignupError 404 ``not_found``.
    - A variant that can be bought now (see :func:`app.domain.waitlist.signup_refusal`): 409 ``in_stock``.
    - Bad address: 400 ``invalid_email``; consent not given: 400 ``consent_required``; no ``consent_version``, or one
      other than the current text's: 400 ``consent_required`` (we cannot tell which words were agreed to, or the
      shopper agreed to words we no longer show).
    - New address: a row (``pending_confirmation`` with double opt-in, else ``active``) and a signup consent record.
    - Already ``active``: nothing changes. Unsubscribed, notified or converted: started again with a new consent
      record (the shopper asked again, so the old refusal or the spent notification no longer applies).
    - Still ``pending_confirmation``: the confirmation email is asked for again when the last one (or, if none went
      out, the last change to the row) is at least ten minutes old (``CONFIRM_RESEND_AFTER_SECONDS``); sooner,
      nothing happens, so the form cannot be used to flood somebody's inbox.
    """
    moment = now or datetime.now(UTC)
    email = normalise_email(req.email)
    found = _live_variant(session, store.id, req.variant_ref)
    if found is None:
        raise SignupError(404, "not_found", "No such product variant in this store.")
    variant, _product = found
    state = session.get(StockState, variant.id)
    status = state.status if state is not None else _fallback_state(variant)["status"]
    eta_known = state is not None and state.restock_eta is not None
    refusal = rules.signup_refusal(status, eta_known)
    if refusal is not None:
        raise SignupError(409, refusal, rules.message(req.locale, refusal))
    saved = store_values(session, store)
    agreed = rules.consent(req.locale, store.name, rules.saved_texts(saved, req.locale).get("consent"))
    if not req.consent:
        raise SignupError(400, "consent_required", rules.message(req.locale, "consent_required"))
    if not req.consent_version:
        # Without the version we cannot know which words were ticked: a form drawn before its text arrived would be
        # recorded as agreeing to the full text.
        raise SignupError(
            400,
            "consent_required",
            rules.message(req.locale, "consent_unversioned"),
            {"consent_version": "required: the version of the consent text the form showed"},
        )
    if req.consent_version != agreed.version:
        # Widgets deployed before they asked for ?locale= (cached copies, theme extensions not yet redeployed) show
        # a Dutch shopper on an English store the English consent: that is the text ticked, so it is recorded.
        shown = rules.consent(store.locale, store.name, rules.saved_texts(saved, store.locale).get("consent"))
        if req.consent_version == shown.version:
            agreed = shown
    if req.consent_version != agreed.version:
        raise SignupError(
            400,
            "consent_required",
            rules.message(req.locale, "consent_changed"),
            {"consent_version": f"the consent text changed; the current version is {agreed.version}"},
        )
    double = rules.double_opt_in(store.country, saved.get("double_opt_in"))
    fresh_state = SubscriptionState.PENDING_CONFIRMATION if double else SubscriptionState.ACTIVE
    ip_hash = hash_ip(secret_key, req.ip)
    ua = _clean_user_agent(req.user_agent)
    source = req.source if req.source in SOURCES else "widget"

    stmt: Insert = (
        _insert(session)(Subscription)
        .values(
            store_id=store.id,
            variant_id=variant.id,
            email=email,
            locale=req.locale,
            state=fresh_state,
            source=source,
            customer_external_id=req.customer_external_id,
            storefront_root=req.storefront_root,
            created_at=moment,
            updated_at=moment,
        )
        .on_conflict_do_nothing(index_elements=["store_id", "variant_id", "email"])
        .returning(Subscription.id)
    )
    new_id = session.execute(stmt).scalar_one_or_none()
    if new_id is not None:
        session.add(_consent_record(store.id, new_id, "signup", agreed, ip_hash, ua))
        if double:
            enqueue_after_commit(session, jobs, job_specs.send_confirmation(new_id))
        return SignupResult(confirm=double, locale=req.locale, outcome="new", subscription_id=new_id)

    # The row exists (maybe inserted by a concurrent request a moment ago): lock it and decide from its state.
    sub = session.execute(
        select(Subscription)
        .where(Subscription.store_id == store.id, Subscription.variant_id == variant.id, Subscription.email == email)
        .with_for_update()
    ).scalar_one()
    if sub.state in _RESTARTABLE:
        sub.state = fresh_state
        sub.locale = req.locale
        sub.storefront_root = req.storefront_root
        sub.skip_reason = None
        sub.unsubscribed_at = None
        sub.notified_at = None
        sub.confirm_token_hash = None
        sub.confirm_expires_at = None
        sub.confirm_sent_at = None
        sub.confirmed_at = None
        _fresh_confirmation(sub)
        sub.created_at = moment  # back of the queue: first come, first served counts from this signup
        session.add(_consent_record(store.id, sub.id, "signup", agreed, ip_hash, ua))
        if double:
            enqueue_after_commit(session, jobs, job_specs.send_confirmation(sub.id))
        return SignupResult(confirm=double, locale=req.locale, outcome="restarted", subscription_id=sub.id)
    if sub.state == SubscriptionState.PENDING_CONFIRMATION:
        # Measured from the last email, or (none sent yet: job queued or lost) from the last change to the row.
        last = _aware(sub.confirm_sent_at) or _aware(sub.updated_at) or moment
        if moment - last >= timedelta(seconds=rules.CONFIRM_RESEND_AFTER_SECONDS):
            # The job sends only while confirm_sent_at is empty; clearing it (and the old link) asks for a new one.
            sub.confirm_sent_at = None
            sub.confirm_token_hash = None
            sub.confirm_expires_at = None
            _fresh_confirmation(sub)
            enqueue_after_commit(session, jobs, job_specs.send_confirmation(sub.id))
            return SignupResult(confirm=True, locale=sub.locale, outcome="resent", subscription_id=sub.id)
        return SignupResult(confirm=True, locale=sub.locale, outcome="unchanged", subscription_id=sub.id)
    # Active (or redacted, which is never reopened by a form post): answer as if it had worked.
    return SignupResult(confirm=double, locale=req.locale, outcome="unchanged", subscription_id=sub.id)


def _fresh_confirmation(sub: Subscription) -> None:
    """The shopper asked again: the confirmation email gets its full attempts anew (a suppression still holds)."""
    sub.confirm_attempts = 0
    sub.confirm_retry_at = None
    sub.confirm_error = None


# --- confirmation and unsubscribe --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfirmOutcome:
    """What a confirmation link did: confirmed, already confirmed (spent), expired or unknown."""

    status: str  # confirmed | spent | expired | unknown
    subscription: Subscription | None


def subscription_by_confirm_token(session: Session, raw_token: str) -> Subscription | None:
    """The subscription a raw confirmation token belongs to (by its sha256), or None."""
    if not raw_token or len(raw_token) > 200:
        return None
    return session.execute(
        select(Subscription).where(Subscription.confirm_token_hash == hash_token(raw_token))
    ).scalar_one_or_none()


def confirm_status(sub: Subscription | None, now: datetime) -> str:
    """Whether a confirmation link can still be used: open, spent (already used), expired or unknown."""
    if sub is None or sub.state == SubscriptionState.REDACTED:
        return "unknown"
    if sub.state != SubscriptionState.PENDING_CONFIRMATION:
        return "spent"
    expires = _aware(sub.confirm_expires_at)
    if expires is None or expires <= now:
        return "expired"
    return "open"


def confirm(
    session: Session,
    secret_key: str,
    raw_token: str,
    *,
    ip: str | None,
    user_agent: str | None,
    now: datetime | None = None,
) -> ConfirmOutcome:
    """Spend a confirmation token once: pending → active with a confirmation consent record; the caller commits."""
    moment = now or datetime.now(UTC)
    sub = subscription_by_confirm_token(session, raw_token)
    status = confirm_status(sub, moment)
    if sub is None or status != "open":
        return ConfirmOutcome(status=status, subscription=sub)
    # A conditional UPDATE so two clicks at once confirm once (and record one consent).
    done = session.execute(
        update(Subscription)
        .where(
            Subscription.id == sub.id,
            Subscription.state == SubscriptionState.PENDING_CONFIRMATION,
            Subscription.confirm_token_hash == hash_token(raw_token),
        )
        .values(state=SubscriptionState.ACTIVE, confirmed_at=moment, updated_at=moment)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        session.refresh(sub)
        return ConfirmOutcome(status="spent", subscription=sub)
    signup = session.execute(
        select(ConsentRecord)
        .where(ConsentRecord.subscription_id == sub.id, ConsentRecord.kind == "signup")
        .order_by(ConsentRecord.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    agreed = (
        rules.Consent(text=signup.text, version=signup.text_version)
        if signup is not None
        else rules.consent(sub.locale, "")
    )
    session.add(
        _consent_record(
            sub.store_id, sub.id, "confirmation", agreed, hash_ip(secret_key, ip), _clean_user_agent(user_agent)
        )
    )
    session.refresh(sub)
    return ConfirmOutcome(status="confirmed", subscription=sub)


def unsubscribe(session: Session, subscription_id: int, *, now: datetime | None = None) -> Subscription | None:
    """Stop all email for a subscription (any state but redacted); idempotent; the caller commits."""
    moment = now or datetime.now(UTC)
    sub = session.get(Subscription, subscription_id)
    if sub is None or sub.state == SubscriptionState.REDACTED:
        return None
    if sub.state != SubscriptionState.UNSUBSCRIBED:
        sub.state = SubscriptionState.UNSUBSCRIBED
        sub.unsubscribed_at = moment
        sub.updated_at = moment
    return sub


def subscription_for_link(session: Session, subscription_id: int) -> Subscription | None:
    """The subscription an unsubscribe link names, unless it was redacted (erased on request)."""
    sub = session.get(Subscription, subscription_id)
    return None if sub is None or sub.state == SubscriptionState.REDACTED else sub


def subscription_context(session: Session, sub: Subscription) -> dict[str, str]:
    """Store name, product and variant titles for the confirm and unsubscribe pages."""
    row = session.execute(
        select(Store.name, Product.title, Variant.title)
        .join(Variant, Variant.store_id == Store.id)
        .join(Product, Product.id == Variant.product_id)
        .where(Store.id == sub.store_id, Variant.id == sub.variant_id)
    ).one_or_none()
    if row is None:
        return {"store": "", "product": ""}
    store_name, product_title, variant_title = row
    label = variant_label(product_title, variant_title)
    product = f"{product_title} ({label})" if label else product_title
    return {"store": store_name or "", "product": product or ""}


# --- storefront reads -------------------------------------------------------------------------------------------


def product_view(session: Session, store: Store, product_ref: str, locale: str) -> dict[str, Any] | None:
    """The public product document: store (name, language, double opt-in, consent), product, state per variant."""
    if not product_ref or len(product_ref) > 64:
        return None
    product = session.execute(
        select(Product).where(
            Product.store_id == store.id,
            Product.external_id == product_ref,
            Product.deleted_at.is_(None),
            Product.published.is_(True),
        )
    ).scalar_one_or_none()
    if product is None:
        return None
    rows = session.execute(
        select(Variant, StockState)
        .outerjoin(StockState, StockState.variant_id == Variant.id)
        .where(
            Variant.store_id == store.id,
            Variant.product_id == product.id,
            Variant.deleted_at.is_(None),
            Variant.published.is_(True),
        )
        .order_by(Variant.position, Variant.id)
    ).all()
    saved = store_values(session, store)
    own = rules.saved_texts(saved, locale)
    agreed = rules.consent(locale, store.name, own.get("consent"))
    return {
        "store": {
            "id": store.id,
            "name": store.name,
            "locale": locale,
            "double_opt_in": rules.double_opt_in(store.country, saved.get("double_opt_in")),
            "consent": {"text": agreed.text, "version": agreed.version},
            # The merchant's badge and back-soon texts ([count], [date] left for the widget); empty: built-in ones.
            "texts": {k: v for k, v in own.items() if k != "consent"},
        },
        "product": {
            "id": product.external_id,
            "title": product.title,
            "url": product.url,
            "image_url": product.image_url,
            # The whole product as a listing or collection card shows it, never one variant's badge.
            "listing": listing_value(*product_listings(session, store.id, [product.id])[product.id]),
        },
        "variants": {v.external_id: {**_state_of(s, v), "title": v.title} for v, s in rows},
    }


def variant_view(session: Session, store: Store, variant_ref: str) -> dict[str, Any] | None:
    """The public state of one variant: its external id, its product's, and the state shape."""
    found = _live_variant(session, store.id, variant_ref)
    if found is None:
        return None
    variant, product = found
    return {
        "variant": variant.external_id,
        "product": product.external_id,
        "state": _state_of(session.get(StockState, variant.id), variant),
    }
