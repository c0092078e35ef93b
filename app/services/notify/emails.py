"""Shopper emails: the restock notification and the double-opt-in confirmation, per language.

Every message is an ``email.message.EmailMessage``: headers are set through its header registry (so a
hostile product title cannot inject a header) and bodies through ``set_content``. A fan-out sends one
message per subscriber of the same restock, so ``RestockTemplate`` builds the message once per (event,
locale) with placeholder tokens in the per-recipient fields, serialises it, and per recipient only swaps
those tokens for the recipient's address, Message-ID and signed links (all plain ASCII with no CR/LF,
checked), falling back to a full build for anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app.domain.naming import variant_label
from app.infra.mail import AddressError, envelope_address
from app.models import Store
from app.services.merchant.identity import format_amount

__all__ = [
    "LOCALES",
    "TEMPLATES",
    "ConfirmContext",
    "RestockContext",
    "RestockTemplate",
    "build_confirmation",
    "build_restock",
    "email_price",
    "normalise_locale",
    "restock_message_id",
    "sender_address",
    "store_sender",
    "subject_for",
]

LOCALES = ("en", "nl", "fr", "de")
_TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"
# The email templates' environment, shared by every email we build (restock, confirmation, merchant alerts).
TEMPLATES = Environment(
    loader=FileSystemLoader(str(_TEMPLATES)),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
# SMTP wants CRLF; 8bit bodies keep URLs intact (no quoted-printable soft breaks inside a link).
# Headers are not folded below RFC 5322's hard 998 limit: List-Unsubscribe stays one line, as mail clients
# expect of it, and placeholders are never moved onto continuation lines.
MESSAGE_POLICY = policy.default.clone(max_line_length=998)
SMTP_POLICY = MESSAGE_POLICY.clone(linesep="\r\n")
# A non-ASCII local part cannot be RFC 2047-encoded: such a message is an SMTPUTF8 one, its headers raw UTF-8.
UTF8_MESSAGE_POLICY = MESSAGE_POLICY.clone(utf8=True)
UTF8_SMTP_POLICY = SMTP_POLICY.clone(utf8=True)

_TEXT: dict[str, dict[str, dict[str, str]]] = {
    "restock": {
        "en": {
            "subject": "Back in stock: {product}",
            "heading": "Good news: it's back in stock",
            "intro": "You asked us to let you know when this item was available again. It is, while stock lasts.",
            "button": "Buy now",
            "footer": "You receive this email because you joined the waitlist for this item at {store}.",
            "unsubscribe": "Unsubscribe",
            "urgency": "Only {count} back in stock",
        },
        "nl": {
            "subject": "Weer op voorraad: {product}",
            "heading": "Goed nieuws: het is weer op voorraad",
            "intro": "Je vroeg ons je te laten weten wanneer dit artikel weer beschikbaar is. Dat is het nu, "
            "zolang de voorraad strekt.",
            "button": "Nu kopen",
            "footer": "Je ontvangt deze e-mail omdat je je bij {store} op de wachtlijst voor dit artikel hebt gezet.",
            "unsubscribe": "Afmelden",
            "urgency": "Slechts {count} weer op voorraad",
        },
        "fr": {
            "subject": "De retour en stock : {product}",
            "heading": "Bonne nouvelle : il est de retour en stock",
            "intro": "Vous nous avez demandé de vous prévenir quand cet article serait de nouveau disponible. "
            "C'est le cas, dans la limite des stocks disponibles.",
            "button": "Acheter maintenant",
            "footer": "Vous recevez cet e-mail car vous vous êtes inscrit à la liste d'attente de cet article "
            "chez {store}.",
            "unsubscribe": "Se désabonner",
            "urgency": "Seulement {count} de retour en stock",
        },
        "de": {
            "subject": "Wieder auf Lager: {product}",
            "heading": "Gute Nachricht: Der Artikel ist wieder auf Lager",
            "intro": "Du wolltest informiert werden, sobald dieser Artikel wieder verfügbar ist. "
            "Er ist es jetzt, solange der Vorrat reicht.",
            "button": "Jetzt kaufen",
            "footer": "Du erhältst diese E-Mail, weil du dich bei {store} auf die Warteliste für diesen Artikel "
            "eingetragen hast.",
            "unsubscribe": "Abmelden",
            "urgency": "Nur {count} wieder auf Lager",
        },
    },
    "confirm": {
        "en": {
            "subject": "Please confirm your email for {store}",
            "intro": "Please confirm that you want an email from {store} when this item is back in stock:",
            "button": "Confirm my email",
            "ignore": "If you did not ask for this, ignore this email: nothing will be sent to you.",
        },
        "nl": {
            "subject": "Bevestig je e-mailadres voor {store}",
            "intro": "Bevestig dat je een e-mail van {store} wilt ontvangen zodra dit artikel weer op voorraad is:",
            "button": "Mijn e-mailadres bevestigen",
            "ignore": "Heb je dit niet aangevraagd? Negeer deze e-mail dan: je ontvangt niets.",
        },
        "fr": {
            "subject": "Confirmez votre adresse e-mail pour {store}",
            "intro": "Confirmez que vous souhaitez recevoir un e-mail de {store} quand cet article sera de "
            "nouveau en stock :",
            "button": "Confirmer mon adresse",
            "ignore": "Si vous n'avez rien demandé, ignorez cet e-mail : vous ne recevrez rien.",
        },
        "de": {
            "subject": "Bitte bestätige deine E-Mail-Adresse für {store}",
            "intro": "Bitte bestätige, dass du eine E-Mail von {store} erhalten möchtest, sobald dieser Artikel "
            "wieder auf Lager ist:",
            "button": "E-Mail-Adresse bestätigen",
            "ignore": "Wenn du das nicht angefordert hast, ignoriere diese E-Mail: Du erhältst nichts.",
        },
    },
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


# Variant titles platforms give single-variant products; showing them would only add noise.
def normalise_locale(locale: str | None) -> str:
    """The supported language for a locale tag ('nl-BE' → 'nl'); English when unsupported."""
    lang = (locale or "").strip().lower().replace("_", "-").split("-", 1)[0]
    return lang if lang in LOCALES else "en"


def _clean(value: str | None) -> str:
    # Titles come from the shop; control characters (CR/LF above all) never reach a header or a body.
    return _CONTROL.sub(" ", value or "").strip()


def _sender(mail_from: str, store_name: str, sender_name: str | None = None) -> Address:
    # The merchant's sender name (settings page) shows in From; the address is always MAIL_FROM's (SPF/DKIM).
    _, addr = parseaddr(mail_from)
    user, _, domain = addr.partition("@")
    display = _clean(sender_name) or _clean(store_name) or "BackSoon"
    return Address(display_name=display, username=user, domain=domain)


def _reply_to(value: str | None) -> Address | None:
    """The merchant's reply-to address as a header value, or None when unset or not a plain address."""
    raw = (value or "").strip()
    if not raw or _CONTROL.search(raw) or any(c in raw for c in ',;<>()"\\ '):
        return None
    user, at, domain = raw.rpartition("@")
    if not at or not user or not domain:
        return None
    try:
        return Address(username=user, domain=domain)
    except (ValueError, IndexError):
        return None


def _recipient(to: str) -> tuple[Address | str, bool]:
    """The To header value (domain in IDNA) and whether the message must be an SMTPUTF8 one."""
    try:
        addr = envelope_address(to)
    except AddressError:
        return to, False  # the mailer refuses it before anything is written
    user, _, domain = addr.rpartition("@")
    return Address(username=user, domain=domain), not user.isascii()


def message_bytes(msg: EmailMessage) -> bytes:
    """The message as SMTP DATA (CRLF), raw UTF-8 headers only when it is an SMTPUTF8 message."""
    return msg.as_bytes(policy=UTF8_SMTP_POLICY if msg.policy.utf8 else SMTP_POLICY)  # type: ignore[attr-defined]


def store_sender(store_values: object, store_email: str | None = None) -> tuple[str | None, str | None]:
    """(sender_name, reply_to) from a store's saved settings values; replies go to the store's email when unset."""
    # Mail is sent from MAIL_FROM's domain (sending as the store's would fail DMARC), so a shopper's reply reaches
    # the merchant only through Reply-To: the store's own email unless the merchant chose another address.
    fallback = store_email if isinstance(store_email, str) and store_email.strip() else None
    if not isinstance(store_values, dict):
        return None, fallback
    name, reply = store_values.get("sender_name"), store_values.get("reply_to")
    return (name if isinstance(name, str) and name.strip() else None), (
        reply if isinstance(reply, str) and reply.strip() else fallback
    )


def mail_domain(mail_from: str) -> str:
    """The domain of MAIL_FROM, used on the right of every Message-ID."""
    return parseaddr(mail_from)[1].rpartition("@")[2] or "backsoon.localhost"


def sender_address(mail_from: str) -> str:
    """The bare address of MAIL_FROM (the SMTP envelope sender)."""
    return parseaddr(mail_from)[1] or "restock@backsoon.localhost"


def restock_message_id(delivery_id: int, mail_from: str) -> str:
    """Deterministic Message-ID of a delivery: a resend after a crash carries the same one."""
    return f"<restock-{delivery_id}@{mail_domain(mail_from)}>"


def _set_bodies(msg: EmailMessage, text_body: str, html_body: str) -> None:
    def cte(body: str) -> str:
        return "7bit" if body.isascii() else "8bit"

    msg.set_content(text_body, subtype="plain", cte=cte(text_body))
    msg.add_alternative(html_body, subtype="html", cte=cte(html_body))


@dataclass(frozen=True, slots=True)
class RestockContext:
    """Everything one restock email shows."""

    to: str
    locale: str
    store_name: str
    product_title: str
    variant_title: str
    image_url: str | None
    buy_url: str
    unsubscribe_url: str
    unsubscribe_mailto: str
    message_id: str
    mail_from: str
    date: datetime | None = None
    sender_name: str | None = None
    reply_to: str | None = None
    # The variant's price as the store writes it ("€ 24,95"); "" when unknown.
    price: str = ""
    # Units back in stock when that count is known and small (app.domain.urgency); None says nothing.
    only_left: int | None = None


def _image(url: str | None) -> str | None:
    # Only an absolute web address can load in a mail client; anything else is left out rather than broken.
    return url if url and url.startswith(("https://", "http://")) and not _CONTROL.search(url) else None


def email_price(store: Store, amount: Decimal | None) -> str:
    """A variant's price for an email, as the store writes it; "" when the platform gave none (0 or missing)."""
    if amount is None or amount <= 0:
        return ""  # WooCommerce sends a blank price as 0: showing "€ 0,00" would misstate it
    return format_amount(store, amount)


def _restock_parts(ctx: RestockContext) -> tuple[str, str, str]:
    locale = normalise_locale(ctx.locale)
    product = _clean(ctx.product_title)
    store = _clean(ctx.store_name)
    variant = _clean(variant_label(ctx.product_title, ctx.variant_title))
    raw = _TEXT["restock"][locale]
    t = {k: v.format(product=product, store=store, count=ctx.only_left) for k, v in raw.items()}
    values: dict[str, Any] = {
        "locale": locale,
        "t": t,
        "subject": t["subject"],
        "store_name": store,
        "product_title": product,
        "variant_title": variant,
        "image_url": _image(ctx.image_url),
        "image_alt": _clean(" - ".join(p for p in (product, variant) if p)),
        "price": _clean(ctx.price),
        "urgency": t["urgency"] if ctx.only_left is not None else "",
        "buy_url": ctx.buy_url,
        "unsubscribe_url": ctx.unsubscribe_url,
    }
    return (
        t["subject"],
        TEMPLATES.get_template("restock.txt").render(values),
        TEMPLATES.get_template("restock.html").render(values),
    )


def build_restock(ctx: RestockContext) -> EmailMessage:
    """The restock notification: store, product image, variant, signed buy link, one-click unsubscribe."""
    subject, text_body, html_body = _restock_parts(ctx)
    to, utf8 = _recipient(ctx.to)
    msg = EmailMessage(policy=UTF8_MESSAGE_POLICY if utf8 else MESSAGE_POLICY)
    msg["Subject"] = subject
    msg["From"] = _sender(ctx.mail_from, ctx.store_name, ctx.sender_name)
    reply_to = _reply_to(ctx.reply_to)
    if reply_to is not None:
        msg["Reply-To"] = reply_to
    msg["To"] = to
    msg["Date"] = format_datetime(ctx.date or datetime.now(UTC))
    msg["Message-ID"] = ctx.message_id
    # RFC 2369 + RFC 8058: https first (one-click POST), mailto for clients that only do mail.
    msg["List-Unsubscribe"] = f"<{ctx.unsubscribe_url}>, <{ctx.unsubscribe_mailto}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    _set_bodies(msg, text_body, html_body)
    return msg


# Per-recipient placeholders: letters and digits only, so no encoder escapes, folds or splits them.
_PH_TO = "bsphto0@bsph0.invalid"
_PH_MID = "<bsphmid0@bsph0.invalid>"
_PH_BUY = "https://bsph0.invalid/bsphbuy0"
_PH_UNSUB = "https://bsph0.invalid/bsphunsub0"
_PH_MAILTO = "mailto:bsphmailto0@bsph0.invalid"
_SAFE = re.compile(r"^[\x21-\x7e]+$")


class RestockTemplate:
    """A restock message rendered once per (event, locale); per recipient only the variable fields change."""

    def __init__(self, ctx: RestockContext) -> None:
        self.base = ctx
        self.prototype = replace(
            ctx,
            to=_PH_TO,
            message_id=_PH_MID,
            buy_url=_PH_BUY,
            unsubscribe_url=_PH_UNSUB,
            unsubscribe_mailto=_PH_MAILTO,
        )
        self.data = build_restock(self.prototype).as_bytes(policy=SMTP_POLICY)
        # Split once into literal chunks and slots; rendering is one bytes.join per recipient.
        tokens = {_PH_TO: "to", _PH_MID: "message_id", _PH_BUY: "buy_url", _PH_UNSUB: "unsubscribe_url"}
        tokens[_PH_MAILTO] = "unsubscribe_mailto"
        pattern = re.compile("|".join(re.escape(t) for t in tokens).encode("ascii"))
        self.chunks: list[bytes] = []
        self.slots: list[str] = []
        pos = 0
        for m in pattern.finditer(self.data):
            self.chunks.append(self.data[pos : m.start()])
            self.slots.append(tokens[m.group().decode("ascii")])
            pos = m.end()
        self.chunks.append(self.data[pos:])
        # Every token must have survived serialisation, or per-recipient swapping is unsafe.
        self.usable = all(field in self.slots for field in set(tokens.values()))

    def render(self, *, to: str, message_id: str, buy_url: str, unsubscribe_url: str, unsubscribe_mailto: str) -> bytes:
        """The serialised message for one recipient (CRLF line endings, ready for SMTP DATA)."""
        values = {
            "to": to,
            "message_id": message_id,
            "buy_url": buy_url,
            "unsubscribe_url": unsubscribe_url,
            "unsubscribe_mailto": unsubscribe_mailto,
        }
        if not self.usable or not all(_SAFE.match(v) for v in values.values()) or any(c in to for c in ',;<>()"\\'):
            # Internationalised or unusual addresses get a full build, encoded by the email package.
            full = replace(
                self.base,
                to=to,
                message_id=message_id,
                buy_url=buy_url,
                unsubscribe_url=unsubscribe_url,
                unsubscribe_mailto=unsubscribe_mailto,
            )
            return message_bytes(build_restock(full))
        encoded = [values[s].encode("ascii") for s in self.slots]
        out = [self.chunks[0]]
        for value, chunk in zip(encoded, self.chunks[1:], strict=True):
            out.append(value)
            out.append(chunk)
        return b"".join(out)


@dataclass(frozen=True, slots=True)
class ConfirmContext:
    """Everything the double-opt-in confirmation shows: nothing but the request to confirm."""

    to: str
    locale: str
    store_name: str
    product_title: str
    variant_title: str
    confirm_url: str
    message_id: str
    mail_from: str
    date: datetime | None = None
    sender_name: str | None = None
    reply_to: str | None = None
    image_url: str | None = None
    price: str = ""


def build_confirmation(ctx: ConfirmContext) -> EmailMessage:
    """The double-opt-in confirmation: no advertising, no List-Unsubscribe-Post (nothing to unsubscribe from yet)."""
    locale = normalise_locale(ctx.locale)
    store = _clean(ctx.store_name)
    variant = _clean(variant_label(ctx.product_title, ctx.variant_title))
    t = {k: v.format(store=store) for k, v in _TEXT["confirm"][locale].items()}
    values: dict[str, Any] = {
        "locale": locale,
        "t": t,
        "subject": t["subject"],
        "store_name": store,
        "product_title": _clean(ctx.product_title),
        "variant_title": variant,
        "image_url": _image(ctx.image_url),
        "image_alt": _clean(" - ".join(p for p in (_clean(ctx.product_title), variant) if p)),
        "price": _clean(ctx.price),
        "confirm_url": ctx.confirm_url,
    }
    to, utf8 = _recipient(ctx.to)
    msg = EmailMessage(policy=UTF8_MESSAGE_POLICY if utf8 else MESSAGE_POLICY)
    msg["Subject"] = t["subject"]
    msg["From"] = _sender(ctx.mail_from, ctx.store_name, ctx.sender_name)
    reply_to = _reply_to(ctx.reply_to)
    if reply_to is not None:
        msg["Reply-To"] = reply_to
    msg["To"] = to
    msg["Date"] = format_datetime(ctx.date or datetime.now(UTC))
    msg["Message-ID"] = ctx.message_id
    msg["Auto-Submitted"] = "auto-generated"
    _set_bodies(
        msg, TEMPLATES.get_template("confirm.txt").render(values), TEMPLATES.get_template("confirm.html").render(values)
    )
    return msg


def subject_for(kind: str, locale: str, *, product: str = "", store: str = "") -> str:
    """The subject line of a restock ('restock') or confirmation ('confirm') email in a language."""
    return _TEXT[kind][normalise_locale(locale)]["subject"].format(product=_clean(product), store=_clean(store))
