"""Restock and confirmation emails: exact subjects per language, headers, bodies, the per-event template."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import cast

import pytest

from app.infra import links
from app.services.notify import emails

SECRET = "test-secret"
APP = "https://app.backsoon.test"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def ctx(locale: str = "en", **kw: object) -> emails.RestockContext:
    base = emails.RestockContext(
        to="shopper@example.test",
        locale=locale,
        store_name="Bakery & Co",
        product_title="Linen Shirt",
        variant_title="Blue / M",
        image_url="https://cdn.example.test/shirt.jpg",
        buy_url=links.buy_url(APP, SECRET, 41),
        unsubscribe_url=links.unsubscribe_url(APP, SECRET, 7),
        unsubscribe_mailto=links.unsubscribe_mailto("restock@backsoon.test", SECRET, 7),
        message_id=emails.restock_message_id(41, "BackSoon <restock@backsoon.test>"),
        mail_from="BackSoon <restock@backsoon.test>",
        date=NOW,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def parse(data: bytes) -> EmailMessage:
    return cast("EmailMessage", message_from_bytes(data, policy=default_policy))


@pytest.mark.parametrize(
    ("locale", "subject"),
    [
        ("en", "Back in stock: Linen Shirt"),
        ("nl", "Weer op voorraad: Linen Shirt"),
        ("fr", "De retour en stock : Linen Shirt"),
        ("de", "Wieder auf Lager: Linen Shirt"),
        ("nl-BE", "Weer op voorraad: Linen Shirt"),
        ("es", "Back in stock: Linen Shirt"),
    ],
)
def test_restock_subject_per_language(locale: str, subject: str) -> None:
    msg = parse(emails.build_restock(ctx(locale)).as_bytes())
    assert msg["Subject"] == subject


@pytest.mark.parametrize(
    ("locale", "subject"),
    [
        ("en", "Please confirm your email for Bakery & Co"),
        ("nl", "Bevestig je e-mailadres voor Bakery & Co"),
        ("fr", "Confirmez votre adresse e-mail pour Bakery & Co"),
        ("de", "Bitte bestätige deine E-Mail-Adresse für Bakery & Co"),
    ],
)
def test_confirmation_subject_per_language(locale: str, subject: str) -> None:
    msg = emails.build_confirmation(
        emails.ConfirmContext(
            to="shopper@example.test",
            locale=locale,
            store_name="Bakery & Co",
            product_title="Linen Shirt",
            variant_title="Default Title",
            confirm_url=f"{APP}/c/rawtoken",
            message_id="<confirm-1@backsoon.test>",
            mail_from="BackSoon <restock@backsoon.test>",
            date=NOW,
        )
    )
    parsed = parse(msg.as_bytes())
    assert parsed["Subject"] == subject
    # No advertising and nothing of a mailing list: no List-Unsubscribe(-Post), no buy link, no image.
    assert parsed["List-Unsubscribe-Post"] is None
    assert parsed["List-Unsubscribe"] is None
    html = cast("EmailMessage", parsed.get_body(("html",))).get_content()
    text = cast("EmailMessage", parsed.get_body(("plain",))).get_content()
    assert f"{APP}/c/rawtoken" in html and f"{APP}/c/rawtoken" in text
    assert "/r/" not in html and "<img" not in html
    assert "Default Title" not in text


def test_restock_headers_exact() -> None:
    raw = emails.build_restock(ctx()).as_bytes(policy=emails.SMTP_POLICY)
    msg = parse(raw)
    unsub = links.unsubscribe_url(APP, SECRET, 7)
    mailto = links.unsubscribe_mailto("restock@backsoon.test", SECRET, 7)
    # One unfolded line on the wire, https first.
    assert f"\r\nList-Unsubscribe: <{unsub}>, <{mailto}>\r\n".encode() in raw
    assert msg["List-Unsubscribe"] == f"<{unsub}>, <{mailto}>"
    assert unsub.startswith("https://app.backsoon.test/u/")
    assert mailto.startswith("mailto:restock@backsoon.test?subject=unsubscribe%20")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Message-ID"] == "<restock-41@backsoon.test>"
    sender = msg["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Bakery & Co", "restock@backsoon.test")
    assert msg["To"] == "shopper@example.test"
    assert msg["Date"] == "Fri, 20 Nov 2026 12:00:00 +0000"
    assert msg.get_content_type() == "multipart/alternative"


def test_restock_body_has_store_image_variant_buy_and_unsubscribe() -> None:
    msg = parse(emails.build_restock(ctx("nl")).as_bytes())
    html = cast("EmailMessage", msg.get_body(("html",))).get_content()
    text = cast("EmailMessage", msg.get_body(("plain",))).get_content()
    buy = links.buy_url(APP, SECRET, 41)
    unsub = links.unsubscribe_url(APP, SECRET, 7)
    assert "Bakery &amp; Co" in html and "Bakery & Co" in text
    assert '<img src="https://cdn.example.test/shirt.jpg" alt="Linen Shirt - Blue / M"' in html
    assert "Blue / M" in html and "Linen Shirt - Blue / M" in text
    assert f'href="{buy}"' in html and f"Nu kopen: {buy}" in text
    assert f'href="{unsub}"' in html and f"Afmelden: {unsub}" in text


def test_hostile_titles_cannot_inject_headers_or_markup() -> None:
    msg = parse(
        emails.build_restock(
            ctx(product_title="Shirt\r\nBcc: victim@example.test", store_name="<script>x</script>")
        ).as_bytes()
    )
    assert msg["Bcc"] is None
    assert msg["Subject"] == "Back in stock: Shirt Bcc: victim@example.test"
    html = cast("EmailMessage", msg.get_body(("html",))).get_content()
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_non_http_image_is_dropped() -> None:
    html = cast(
        "EmailMessage", parse(emails.build_restock(ctx(image_url="javascript:alert(1)")).as_bytes()).get_body(("html",))
    ).get_content()
    assert "<img" not in html


@pytest.mark.parametrize("locale", ["en", "nl", "fr", "de"])
def test_template_render_equals_full_build(locale: str) -> None:
    full = ctx(locale)
    tpl = emails.RestockTemplate(replace(full, to="x@example.invalid"))
    assert tpl.usable
    data = tpl.render(
        to=full.to,
        message_id=full.message_id,
        buy_url=full.buy_url,
        unsubscribe_url=full.unsubscribe_url,
        unsubscribe_mailto=full.unsubscribe_mailto,
    )
    fast, slow = parse(data), parse(emails.build_restock(full).as_bytes(policy=emails.SMTP_POLICY))
    for header in ("Subject", "From", "To", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert fast[header] == slow[header], header
    for kind in ("plain", "html"):
        a = cast("EmailMessage", fast.get_body((kind,))).get_content()
        b = cast("EmailMessage", slow.get_body((kind,))).get_content()
        assert a == b
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")


def test_template_falls_back_for_unusual_addresses() -> None:
    full = ctx(to="jöran@exämple.test")
    tpl = emails.RestockTemplate(full)
    data = tpl.render(
        to=full.to,
        message_id=full.message_id,
        buy_url=full.buy_url,
        unsubscribe_url=full.unsubscribe_url,
        unsubscribe_mailto=full.unsubscribe_mailto,
    )
    # The domain in IDNA; the non-ASCII local part as raw UTF-8 (an SMTPUTF8 message), never RFC 2047-encoded.
    assert parse(data)["To"] == "jöran@xn--exmple-cua.test"
    assert "To: jöran@xn--exmple-cua.test\r\n".encode() in data


def test_sender_name_and_reply_to_from_the_store_settings() -> None:
    msg = parse(emails.build_restock(ctx(sender_name="Bakery Team", reply_to="help@bakery.test")).as_bytes())
    sender = msg["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Bakery Team", "restock@backsoon.test")
    assert msg["Reply-To"] == "help@bakery.test"
    plain = parse(emails.build_restock(ctx()).as_bytes())
    assert plain["Reply-To"] is None
    assert plain["From"].addresses[0].display_name == "Bakery & Co"


def test_confirmation_uses_sender_name_and_reply_to() -> None:
    msg = parse(
        emails.build_confirmation(
            emails.ConfirmContext(
                to="shopper@example.test",
                locale="en",
                store_name="Bakery & Co",
                product_title="Linen Shirt",
                variant_title="Default Title",
                confirm_url=f"{APP}/c/rawtoken",
                message_id="<confirm-1@backsoon.test>",
                mail_from="BackSoon <restock@backsoon.test>",
                date=NOW,
                sender_name="Bakery Team",
                reply_to="help@bakery.test",
            )
        ).as_bytes()
    )
    assert str(msg["From"]) == "Bakery Team <restock@backsoon.test>"
    assert msg["Reply-To"] == "help@bakery.test"


@pytest.mark.parametrize("bad", ["a@b.test\r\nBcc: x@y.test", "a@b.test, c@d.test", "no-at-sign", "<a@b.test>", ""])
def test_unsafe_reply_to_is_left_out(bad: str) -> None:
    raw = emails.build_restock(ctx(reply_to=bad)).as_bytes()
    msg = parse(raw)
    assert msg["Reply-To"] is None
    assert b"Bcc" not in raw


def test_template_render_carries_sender_name_and_reply_to() -> None:
    tpl = emails.RestockTemplate(ctx(sender_name="Bakery Team", reply_to="help@bakery.test"))
    msg = parse(
        tpl.render(
            to="ann@example.test",
            message_id="<restock-9@backsoon.test>",
            buy_url=links.buy_url(APP, SECRET, 9),
            unsubscribe_url=links.unsubscribe_url(APP, SECRET, 9),
            unsubscribe_mailto=links.unsubscribe_mailto("restock@backsoon.test", SECRET, 9),
        )
    )
    assert (str(msg["From"]), msg["Reply-To"], msg["To"]) == (
        "Bakery Team <restock@backsoon.test>",
        "help@bakery.test",
        "ann@example.test",
    )


def test_store_sender_reads_saved_values() -> None:
    assert emails.store_sender({"sender_name": "Bakery Team", "reply_to": "help@bakery.test"}) == (
        "Bakery Team",
        "help@bakery.test",
    )
    assert emails.store_sender({"sender_name": " ", "reply_to": 5}) == (None, None)
    assert emails.store_sender(None) == (None, None)


def test_store_sender_replies_go_to_the_store_email_unless_the_merchant_chose_one() -> None:
    assert emails.store_sender({}, "owner@bakery.test") == (None, "owner@bakery.test")
    assert emails.store_sender(None, "owner@bakery.test") == (None, "owner@bakery.test")
    assert emails.store_sender({"reply_to": " "}, "owner@bakery.test") == (None, "owner@bakery.test")
    assert emails.store_sender({"reply_to": "help@bakery.test"}, "owner@bakery.test") == (None, "help@bakery.test")
    assert emails.store_sender({}, " ") == (None, None)


def test_a_simple_woocommerce_products_variant_named_as_its_product_is_named_once() -> None:
    msg = parse(emails.build_restock(ctx(product_title="Stoneware Mug", variant_title="Stoneware Mug")).as_bytes())
    text = cast("EmailMessage", msg.get_body(("plain",))).get_content()
    html = cast("EmailMessage", msg.get_body(("html",))).get_content()
    assert "\nStoneware Mug\n" in text
    assert text.count("Stoneware Mug") == 1
    assert "<strong>Stoneware Mug</strong></td>" in html
    assert "<br><span" not in html


def _bodies(msg: EmailMessage) -> tuple[str, str]:
    parsed = parse(msg.as_bytes())
    html = cast("EmailMessage", parsed.get_body(("html",))).get_content()
    text = cast("EmailMessage", parsed.get_body(("plain",))).get_content()
    return html, text


@pytest.mark.parametrize(
    ("locale", "line"),
    [
        ("en", "Only 3 back in stock"),
        ("nl", "Slechts 3 weer op voorraad"),
        ("fr", "Seulement 3 de retour en stock"),
        ("de", "Nur 3 wieder auf Lager"),
    ],
)
def test_restock_urgency_line_per_language_when_the_count_is_known(locale: str, line: str) -> None:
    html, text = _bodies(emails.build_restock(ctx(locale, price="€24,95", only_left=3)))
    assert (
        f'<td class="urgency" style="padding:12px 24px 0;font-size:15px;font-weight:bold;color:#b91c1c">{line}</td>'
        in html
    )
    assert f"Linen Shirt - Blue / M\n€24,95\n\n{line}\n\n" in text
    assert '<span class="price" style="font-weight:bold">€24,95</span>' in html


def test_restock_without_a_known_count_or_price_says_neither() -> None:
    html, text = _bodies(emails.build_restock(ctx("en")))
    assert 'class="urgency"' not in html and "Only" not in text and "Only" not in html
    assert 'class="price"' not in html
    assert "Linen Shirt - Blue / M\n\nYou asked us" in text


def test_confirmation_shows_product_variant_price_and_image_with_alt() -> None:
    msg = emails.build_confirmation(
        emails.ConfirmContext(
            to="shopper@example.test",
            locale="nl",
            store_name="Bakery & Co",
            product_title="Linen Shirt",
            variant_title="Blue / M",
            confirm_url=f"{APP}/c/rawtoken",
            message_id="<confirm-1@backsoon.test>",
            mail_from="BackSoon <restock@backsoon.test>",
            date=NOW,
            image_url="https://cdn.example.test/shirt.jpg",
            price="€\u00a024,95",
        )
    )
    html, text = _bodies(msg)
    assert '<strong>Linen Shirt</strong> - Blue / M<br><span class="price">€\u00a024,95</span>' in html
    assert '<img src="https://cdn.example.test/shirt.jpg" alt="Linen Shirt - Blue / M" width="256"' in html
    assert "Linen Shirt - Blue / M\n€\u00a024,95\n\nMijn e-mailadres bevestigen: " in text
