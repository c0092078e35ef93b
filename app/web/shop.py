"""The demo storefront (/demo/shop) and the hosted back-soon landing pages (/p/<store>/<product>).

Both pages render every variant's storefront state into the widget's mount (``data-states``), in the one
shape the Shopify metafield, the WooCommerce meta and the public API carry, so the widget needs no request
to show the badge or the "Back soon" form.

Landing-page availability (schema.org ``Offer.availability``), decided per product from its variants:
any variant in stock (or untracked) → InStock; else any that can be ordered now and shipped later (oversellable
at zero stock, status backorder) → BackOrder; else none can be bought → OutOfStock. A product not yet assessed
is InStock unless it never had a sellable unit, an order or a stock event (then OutOfStock). There is no
pre-order in the catalogue, so PreOrder is never claimed. availabilityDate is the earliest restock date of those
variants, printed only when there is one: the engine dates a restock only from a dated open purchase order or
an entered lead time the merchant chose to show, so the page promises only what the data supports.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.domain.stock import BadgeKind, Status
from app.models import OrderLine, Product, StockEvent, StockState, Store, StoreStatus, Variant
from app.services.notify import waitlist
from app.services.stock.recompute import store_today
from app.web.deps import db_session, runtime
from app.web.pages import demo_store
from integrations.shopify.storefront import state_value

bp = Blueprint("shop", __name__)

GRID_SIZE = 48
MAX_REF = 64  # external ids are String(64)
SUPPORTED_LOCALES = ("en", "nl", "fr", "de")
BUYABLE = (Status.IN_STOCK, Status.LOW_STOCK, Status.UNTRACKED)
SCHEMA_AVAILABILITY = "https://schema.org/"


@dataclass(frozen=True, slots=True)
class VariantView:
    """One variant as the storefront pages show it."""

    id: int
    external_id: str
    title: str
    price: Decimal
    sellable_quantity: int
    state: dict[str, Any] | None

    @property
    def status(self) -> str:
        """The state's status, "unknown" before the first recompute."""
        return str(self.state["status"]) if self.state else "unknown"


def _not_found(message: str) -> ResponseReturnValue:
    return render_template("not_found.html", message=message), 404


def locale_of(store: Store) -> str:
    """The store's language when the widget speaks it, else English."""
    lang = (store.locale or "en")[:2].lower()
    return lang if lang in SUPPORTED_LOCALES else "en"


def consent_for(session: Session, store: Store) -> tuple[str, str]:
    """The consent text the capture form shows (the merchant's own when saved) and its version, as the API checks."""
    agreed = waitlist.store_consent(session, store, locale_of(store))
    return agreed.text, agreed.version


def _variants(session: Session, store_id: int, product_id: int) -> list[VariantView]:
    rows = session.execute(
        select(Variant, StockState)
        .outerjoin(StockState, StockState.variant_id == Variant.id)
        .where(Variant.store_id == store_id, Variant.product_id == product_id, Variant.deleted_at.is_(None))
        .order_by(Variant.position, Variant.id)
    ).all()
    views = []
    for variant, state in rows:
        value = None
        if state is not None:
            value = state_value(
                {
                    "status": state.status,
                    "badge_kind": state.badge_kind,
                    "badge_quantity": state.badge_quantity,
                    "restock_eta": state.restock_eta,
                    "eta_source": state.eta_source,
                    "on_its_way": state.on_its_way,
                }
            )
        views.append(
            VariantView(
                id=variant.id,
                external_id=variant.external_id,
                title=variant.title,
                price=variant.price,
                sellable_quantity=variant.sellable_quantity,
                state=value,
            )
        )
    return views


def _product(session: Session, store_id: int, external_id: str) -> Product | None:
    if not external_id or len(external_id) > MAX_REF:
        return None
    return session.scalars(
        select(Product).where(
            Product.store_id == store_id, Product.external_id == external_id, Product.deleted_at.is_(None)
        )
    ).first()


def _selected(variants: Sequence[VariantView], wanted: str | None) -> VariantView | None:
    """The variant named in ?variant=, else the first buyable one, else the first (Shopify's rule)."""
    for v in variants:
        if wanted is not None and v.external_id == wanted:
            return v
    return next((v for v in variants if v.status in BUYABLE), variants[0] if variants else None)


def badge_text(state: dict[str, Any] | None) -> str:
    """The English badge the grid shows for a state (same rule as the widget)."""
    if not state or state["status"] not in (Status.IN_STOCK, Status.LOW_STOCK):
        return ""
    badge = state["badge"]
    if badge["kind"] == BadgeKind.ONLY_N_LEFT and badge["quantity"] is not None:
        return f"Only {badge['quantity']} left"
    return "Selling fast" if badge["kind"] == BadgeKind.SELLING_FAST else ""


def _states_json(variants: Sequence[VariantView]) -> str:
    return json.dumps({v.external_id: v.state for v in variants if v.state}, separators=(",", ":"))


def _never_stocked(session: Session, store_id: int, variants: Sequence[VariantView]) -> bool:
    ids = [v.id for v in variants]
    if not ids or any(v.sellable_quantity > 0 for v in variants):
        return False
    sold = session.scalar(
        select(exists().where(OrderLine.store_id == store_id, OrderLine.variant_id.in_(ids)))
    ) or session.scalar(select(exists().where(StockEvent.store_id == store_id, StockEvent.variant_id.in_(ids))))
    return not sold


def _earliest(dates: Sequence[str | None]) -> str | None:
    known = sorted(d for d in dates if d)
    return known[0] if known else None


def availability(variants: Sequence[VariantView], never_stocked: bool) -> tuple[str, str | None]:
    """The schema.org availability (short name) and availabilityDate (ISO day or None) for a product."""
    states = [v.state for v in variants if v.state]
    if not states:
        return ("OutOfStock", None) if never_stocked else ("InStock", None)
    if any(s["status"] in BUYABLE for s in states):
        return "InStock", None
    backorder = [s for s in states if s["status"] == Status.BACKORDER]
    if backorder:
        return "BackOrder", _earliest([s["restock_eta"] for s in backorder])
    return "OutOfStock", _earliest([s["restock_eta"] for s in states])


def json_ld(doc: dict[str, Any]) -> Markup:
    """JSON for a <script type="application/ld+json">, with <, > and & escaped so no text can close the tag."""
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - JSON with every markup character escaped


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _page_context(session: Session, store: Store, product: Product) -> dict[str, Any] | None:
    variants = _variants(session, store.id, product.id)
    selected = _selected(variants, request.args.get("variant"))
    if selected is None:
        return None
    consent_text, consent_version = consent_for(session, store)
    texts = waitlist.store_texts(session, store, locale_of(store))
    return {
        "store": store,
        "product": product,
        "variants": variants,
        "selected": selected,
        "states_json": _states_json(variants),
        "locale": locale_of(store),
        "consent_text": consent_text,
        "consent_version": consent_version,
        # Only the merchant's own badge and back-soon words; the widget keeps its built-in ones otherwise.
        "texts_json": json.dumps({k: v for k, v in texts.items() if k != "consent"}, ensure_ascii=False),
        "money": _money,
        "badge_text": badge_text,
        "api_base": f"{request.script_root}/storefront/v1/stores/{store.id}",
        "source": "widget",
        # The store's own day: the widget names a date's year only when it is not the store's current one.
        "today": store_today(store, datetime.now(UTC)).isoformat(),
    }


@bp.get("/demo/shop/")
def demo_shop() -> ResponseReturnValue:
    """The demo store's products as a shop grid, with their badges; the interesting ones first."""
    store = demo_store()
    if store is None:
        return _not_found("No demo store is seeded. Run `make demo` to create one.")
    session = db_session()
    rows = session.execute(
        select(Product, Variant, StockState)
        .join(Variant, Variant.product_id == Product.id)
        .outerjoin(StockState, StockState.variant_id == Variant.id)
        .where(
            Product.store_id == store.id,
            Product.deleted_at.is_(None),
            Product.published.is_(True),
            Variant.deleted_at.is_(None),
        )
        .order_by(Product.id, Variant.position, Variant.id)
    ).all()
    cards: dict[int, dict[str, Any]] = {}
    for product, variant, state in rows:
        card = cards.setdefault(
            product.id, {"product": product, "prices": [], "statuses": [], "badges": [], "etas": []}
        )
        card["prices"].append(variant.price)
        status = state.status if state is not None else "unknown"
        card["statuses"].append(status)
        if state is not None and status in (Status.IN_STOCK, Status.LOW_STOCK):
            text = badge_text(
                state_value({"status": status, "badge_kind": state.badge_kind, "badge_quantity": state.badge_quantity})
            )
            if text:
                card["badges"].append((state.badge_kind, text))
        if state is not None and state.restock_eta is not None and status == Status.OUT_OF_STOCK:
            card["etas"].append(state.restock_eta)
    items = []
    for card in cards.values():
        statuses = card["statuses"]
        sold_out = all(s == Status.OUT_OF_STOCK for s in statuses)
        some_out = any(s == Status.OUT_OF_STOCK for s in statuses)
        badge = min(card["badges"], key=lambda b: (b[0] != BadgeKind.ONLY_N_LEFT, b[1])) if card["badges"] else None
        etas: list[date] = card["etas"]
        items.append(
            {
                "product": card["product"],
                "price": min(card["prices"]),
                "sold_out": sold_out,
                "some_out": some_out,
                "badge": badge,
                "eta": min(etas).isoformat() if etas else None,
                # Sold out with an ETA first, then low stock, then the rest: the demo's story up front.
                "rank": (
                    0
                    if sold_out and etas
                    else 1
                    if badge and badge[0] == BadgeKind.ONLY_N_LEFT
                    else 2
                    if sold_out or some_out or badge
                    else 3
                ),
            }
        )
    items.sort(key=lambda i: (i["rank"], i["product"].title, i["product"].id))
    return render_template("shop/index.html", store=store, items=items[:GRID_SIZE], total=len(items), money=_money)


@bp.get("/demo/shop/products/<external_id>")
def demo_product(external_id: str) -> ResponseReturnValue:
    """A demo product page: picker, buy area and the widget mounted with server-rendered states."""
    store = demo_store()
    if store is None:
        return _not_found("No demo store is seeded. Run `make demo` to create one.")
    session = db_session()
    product = _product(session, store.id, external_id)
    ctx = None if product is None else _page_context(session, store, product)
    if product is None or ctx is None:
        return _not_found("The demo shop has no such product.")
    return render_template("shop/product.html", **ctx)


@bp.get("/p/<store_ref>/<external_id>")
def landing(store_ref: str, external_id: str) -> ResponseReturnValue:
    """The hosted back-soon page of any active store's product: details, ETA, capture form, schema.org Offer."""
    session = db_session()
    # A string route, so "/p/abc/x" gets this page's friendly 404 rather than the bare default one.
    store_id = int(store_ref) if store_ref.isascii() and store_ref.isdigit() and len(store_ref) < 19 else 0
    store = session.get(Store, store_id) if store_id > 0 else None
    if store is None or store.status != StoreStatus.ACTIVE:
        return _not_found("This page does not exist.")
    product = _product(session, store.id, external_id)
    ctx = None if product is None else _page_context(session, store, product)
    if product is None or ctx is None:
        return _not_found("This product does not exist.")
    variants: list[VariantView] = ctx["variants"]
    kind, available_on = availability(variants, _never_stocked(session, store.id, variants))
    # The public origin (APP_URL), not whatever Host header reached us: this is the canonical address.
    page_url = runtime().settings.app_url.rstrip("/") + url_for(
        "shop.landing", store_ref=store.id, external_id=product.external_id
    )
    offer: dict[str, Any] = {
        "@type": "Offer",
        "url": page_url,
        "price": _money(min(v.price for v in variants)),
        "priceCurrency": store.currency,
        "availability": SCHEMA_AVAILABILITY + kind,
    }
    if available_on:
        offer["availabilityDate"] = available_on
    doc: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.title,
        "url": page_url,
        "offers": offer,
    }
    if product.image_url:
        doc["image"] = product.image_url
    if product.description:
        doc["description"] = product.description
    eta = ctx["selected"].state["restock_eta"] if ctx["selected"].state else None
    return render_template(
        "shop/landing.html",
        json_ld=json_ld(doc),
        availability=kind,
        available_on=available_on,
        eta=eta,
        page_url=page_url,
        **{**ctx, "source": "landing"},
    )
