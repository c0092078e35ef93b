"""The demo storefront (/demo/shop) and the hosted back-soon landing pages (/p/<store>/<product>).

Both pages render every variant's storefront state into the widget's mount (``data-states``), in the one
shape the Shopify metafield, the WooCommerce meta and the public API carry, so the widget needs no request
to show the badge or the "Back soon" form.

The landing page is made to be shared in ads and social posts: Open Graph and Twitter card tags, schema.org data
with an offer per variant (app.domain.landing_page), a canonical link to the merchant's own product page (the
search value goes to the store, not to BackSoon), and the store's languages. On Shopify it is also served through
the App Proxy (``/apps/backsoon/p/<product>`` on the store's own domain), the address the admin offers to share.

Product availability (the page's ``data-availability``, Open Graph's product:availability and the offer of a
variant not yet assessed), decided from its variants: any variant in stock (or untracked) → InStock; else any that
can be ordered now and shipped later (oversellable at zero stock, status backorder) → BackOrder; else none can be
bought → OutOfStock. A product not yet assessed is InStock unless it never had a sellable unit, an order or a stock
event (then OutOfStock). There is no pre-order in the catalogue, so PreOrder is never claimed. Restock dates come
only from a dated open purchase order or an entered lead time the merchant chose to show, so the page promises only
what the data supports.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.domain import landing_page as page
from app.domain import waitlist as rules
from app.domain.stock import BadgeKind, Status
from app.domain.waitlist import pick_locale
from app.models import OrderLine, Product, StockEvent, StockState, Store, StoreStatus, Variant
from app.platforms import registry
from app.platforms.shopify import auth as shopify_auth
from app.services.merchant import identity
from app.services.notify import waitlist
from app.services.stock.recompute import store_today
from app.web.deps import db_session, runtime
from app.web.pages import demo_store
from integrations.shopify.proxy import DEFAULT_PROXY_PATH, ProxyRequest, read_proxy_request
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
    row: Variant

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
                row=variant,
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


def _page_context(session: Session, store: Store, product: Product, locale: str | None = None) -> dict[str, Any] | None:
    variants = _variants(session, store.id, product.id)
    selected = _selected(variants, request.args.get("variant"))
    if selected is None:
        return None
    locale = locale or locale_of(store)
    agreed = waitlist.store_consent(session, store, locale)
    consent_text, consent_version = agreed.text, agreed.version
    texts = waitlist.store_texts(session, store, locale)
    return {
        "store": store,
        "product": product,
        "variants": variants,
        "selected": selected,
        "states_json": _states_json(variants),
        "locale": locale,
        "consent_text": consent_text,
        "consent_version": consent_version,
        # Only the merchant's own badge and back-soon words; the widget keeps its built-in ones otherwise.
        "texts_json": json.dumps({k: v for k, v in texts.items() if k != "consent"}, ensure_ascii=False),
        "money": _money,
        # Prices people read are written the way the store writes them ("€ 89,00"); machine-read ones keep "89.00".
        "price_text": lambda amount: identity.format_amount(store, amount),
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
    return render_template(
        "shop/index.html",
        store=store,
        items=items[:GRID_SIZE],
        total=len(items),
        price_text=lambda amount: identity.format_amount(store, amount),
    )


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
    """The hosted back-soon page of any active store's product, on BackSoon's own address."""
    session = db_session()
    # A string route, so "/p/abc/x" gets this page's friendly 404 rather than the bare default one.
    store_id = int(store_ref) if store_ref.isascii() and store_ref.isdigit() and len(store_ref) < 19 else 0
    store = session.get(Store, store_id) if store_id > 0 else None
    if store is None or store.status != StoreStatus.ACTIVE:
        return _not_found("This page does not exist.")
    return render_landing(session, store, external_id, None)


@bp.get("/storefront/proxy/p/<external_id>")
def proxy_landing(external_id: str) -> ResponseReturnValue:
    """The landing page through the Shopify App Proxy (``/apps/backsoon/p/<product>`` on the store's domain).

    Served as a whole HTML page, not Liquid: a Liquid answer is wrapped in the theme, whose head would carry the
    theme's tags instead of this page's Open Graph, canonical and structured data.
    """
    settings = runtime().settings
    secrets = [s for s in (settings.shopify_api_secret, settings.shopify_api_secret_old) if s]
    verified = read_proxy_request(request.query_string, secrets) if secrets else None
    session = db_session()
    store = shopify_auth.active_shop(session, verified.shop) if verified is not None else None
    if verified is None or store is None:
        return _not_found("This page does not exist.")
    return render_landing(session, store, external_id, verified)


def share_url(
    store: Store, product: Product, app_url: str, lang: str | None = None, proxy_path: str = DEFAULT_PROXY_PATH
) -> str:
    """The address a merchant shares: on a Shopify store its own domain, through the App Proxy; else BackSoon's."""
    query = f"?{urlencode({'lang': lang})}" if lang else ""
    return registry.landing_url(store, product, app_url, proxy_path) + query


def share_links(store: Store, product: Product, app_url: str) -> list[tuple[str, str]]:
    """The product's landing-page addresses the admin offers to share: ("", the page in the shopper's language), then
    one per language of the store the page speaks, when it speaks more than one."""
    offered = page.page_languages(identity.languages(store))
    links = [("", share_url(store, product, app_url))]
    return links + [(code, share_url(store, product, app_url, code)) for code in offered] if len(offered) > 1 else links


def _absolute(url: str, app_url: str) -> str:
    # The demo shop's pages are paths on BackSoon itself.
    return app_url.rstrip("/") + url if url.startswith("/") else url


def render_landing(session: Session, store: Store, external_id: str, proxy: ProxyRequest | None) -> ResponseReturnValue:
    """The landing page of a store's product: details, ETA, capture form, schema.org data, social tags, languages.

    ``proxy`` is the verified App Proxy request when Shopify forwarded it from the store's domain: its addresses
    are then the store's own, and its assets come from BackSoon's public address.
    """
    settings = runtime().settings
    app_url = settings.app_url.rstrip("/")
    product = _product(session, store.id, external_id)
    if product is None:
        return _not_found("This product does not exist.")
    offered = page.page_languages(identity.languages(store))
    asked = request.args.get("lang", "")[:35] or None
    lang = page.choose_language(asked, rules.accept_language_tags(request.headers.get("Accept-Language")), offered)
    ctx = _page_context(session, store, product, lang)
    if ctx is None:
        return _not_found("This product does not exist.")
    variants: list[VariantView] = ctx["variants"]
    kind, available_on = availability(variants, _never_stocked(session, store.id, variants))
    own_language = pick_locale([store.locale])
    # The store's page in the page's language (Shopify's /<locale> root; a platform without one ignores it).
    root = f"/{lang}" if lang != own_language else None
    canonical = _absolute(registry.product_page(store, product, root), app_url)
    offers = [
        page.VariantOffer(
            external_id=v.external_id,
            sku=v.row.sku,
            title=v.title,
            options={str(k): str(val) for k, val in (v.row.options or {}).items()},
            price=_money(v.price),
            status=v.state["status"] if v.state else None,
            restock_eta=v.state["restock_eta"] if v.state else None,
            image=v.row.image_url,
            url=_absolute(registry.product_url(store, product, v.row, root), app_url),
        )
        for v in variants
    ]
    description = page.plain_text(product.description or "")
    doc = page.structured_data(
        product_id=product.external_id,
        name=product.title,
        description=description,
        image=product.image_url,
        url=canonical,
        currency=store.currency,
        product_kind=kind,
        variants=offers,
    )
    # og:url is the shared page itself (on the store's domain through the App Proxy), so networks keep these tags.
    path = proxy.path_prefix if proxy is not None else DEFAULT_PROXY_PATH
    here = share_url(store, product, app_url, lang if lang != offered[0] else None, path)
    alternates = [(code, share_url(store, product, app_url, code, path)) for code in offered]
    if len(alternates) < 2:
        alternates = []
    image = product.image_url or next((o.image for o in offers if o.image), None)
    site_name = store.name or store.domain
    tags = page.social_tags(
        title=product.title,
        description=description,
        image=image,
        url=here,
        site_name=site_name,
        price=_money(min(v.price for v in variants)),
        currency=store.currency,
        availability=kind,
    )
    eta = ctx["selected"].state["restock_eta"] if ctx["selected"].state else None
    ctx = {**ctx, "source": "landing"}
    if proxy is not None:
        # Served on the store's domain: the widget talks to the App Proxy there, assets come from BackSoon.
        ctx = {**ctx, "api_base": f"{proxy.path_prefix}/v1", "source": "app_proxy"}
    return render_template(
        "shop/landing.html",
        json_ld=json_ld(doc),
        availability=kind,
        available_on=available_on,
        eta=eta,
        page_url=here,
        canonical=canonical,
        social_tags=tags,
        alternates=alternates,
        default_url=share_url(store, product, app_url, None, path) if alternates else None,
        buy_url=canonical,
        home_url=_absolute(registry.home_url(store), app_url),
        buy_text=rules.message(lang, "back_to_store", store=site_name),
        email_label=page.EMAIL_LABEL.get(lang, page.EMAIL_LABEL["en"]),
        submit_text=rules.message(lang, "agree_button"),
        asset_base=app_url if proxy is not None else "",
        form_action=f"{proxy.path_prefix}/subscribe" if proxy is not None else None,
        **ctx,
    )
