"""Reading a WooCommerce store's identity from the live 9.4.3 captures: every source, and each one failing alone."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import responses

from integrations.base import AuthRevoked, StoreInfo, TransientError
from integrations.woocommerce.client import WooClient
from integrations.woocommerce.identity import _wp_locale, read_store_info
from tests.woo_live import IDENTITY, constructed, live, serve_identity, serve_identity_with_site_logo

STORE = "http://11.22.33.44:8080"  # the live store: plain http, so every wc/v3 call is OAuth 1.0a signed
KEY = {"key": "ck_fixture", "secret": "cs_fixture"}
LIVE_STORE_INFO = StoreInfo(
    name="Live Test Shop",
    domain=STORE,
    timezone="Europe/Amsterdam",
    currency="EUR",
    locale="en_US",
    country="NL",
    email="admin@shop.example",
    # system_status' settings: "&euro;", position "left", "," and ".", 2 decimals
    money_format={"pattern": "€{amount}", "thousands": ",", "decimal": ".", "decimals": 2},
    logo_url="",  # the index's site_logo 0: no logo
)
REFUSED = (401, live("error-401-oauth1-comma-not-double-encoded")[2])


def client() -> WooClient:
    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("11.22.33.44", port))]

    return WooClient(STORE, "ck_fixture", "cs_fixture", resolver=resolve, get_retries=0)


def edited(name: str, edit: Any) -> bytes:
    """A capture's body after edit(body) changed it in place."""
    body = json.loads(live(name)[2])
    edit(body)
    return json.dumps(body).encode()


def setting(body: list[dict[str, Any]], setting_id: str, **values: Any) -> None:
    next(item for item in body if item["id"] == setting_id).update(values)


def paths() -> list[str]:
    return [urlsplit(call.request.url or "").path for call in responses.calls]


@responses.activate
def test_the_live_store_reads_exactly() -> None:
    serve_identity(STORE, **KEY)
    assert read_store_info(client()) == LIVE_STORE_INFO
    # The administrator answered, so the email settings were not asked for.
    assert paths() == [
        "/wp-json/",
        "/wp-json/wc/v3/settings/general",
        "/wp-json/wc/v3/customers",
        "/wp-json/wc/v3/system_status",
    ]


@responses.activate
def test_customers_refused_falls_back_to_the_email_sender_value() -> None:
    sender = edited(
        "wc-settings-email", lambda b: setting(b, "woocommerce_email_from_address", value="Orders@Shop.example")
    )
    serve_identity(
        STORE, **KEY, replace={"/wp-json/wc/v3/customers": REFUSED, "/wp-json/wc/v3/settings/email": (200, sender)}
    )
    assert read_store_info(client()) == replace(LIVE_STORE_INFO, email="Orders@Shop.example")
    assert paths()[2:4] == ["/wp-json/wc/v3/customers", "/wp-json/wc/v3/settings/email"]


@responses.activate
def test_an_empty_sender_value_falls_back_to_its_default() -> None:
    sender = edited("wc-settings-email", lambda b: setting(b, "woocommerce_email_from_address", value=""))
    no_admins = (200, b"[]")
    serve_identity(
        STORE, **KEY, replace={"/wp-json/wc/v3/customers": no_admins, "/wp-json/wc/v3/settings/email": (200, sender)}
    )
    assert read_store_info(client()) == LIVE_STORE_INFO  # WooCommerce's default is WordPress's admin_email


@responses.activate
def test_no_email_anywhere_is_none() -> None:
    serve_identity(
        STORE, **KEY, replace={"/wp-json/wc/v3/customers": REFUSED, "/wp-json/wc/v3/settings/email": REFUSED}
    )
    assert read_store_info(client()) == replace(LIVE_STORE_INFO, email=None)  # none invented


@responses.activate
def test_a_site_index_that_is_not_json_leaves_name_and_timezone_unknown() -> None:
    serve_identity(STORE, **KEY, replace={"/wp-json/": (200, b"<!doctype html><title>Blocked</title>")})
    assert read_store_info(client()) == replace(LIVE_STORE_INFO, name=None, timezone=None, logo_url=None)


@responses.activate
def test_a_manual_utc_offset_leaves_the_timezone_unknown() -> None:
    def manual(body: dict[str, Any]) -> None:
        body.update(timezone_string="", gmt_offset=1)

    serve_identity(STORE, **KEY, replace={"/wp-json/": (200, edited("site-index", manual))})
    assert read_store_info(client()) == replace(LIVE_STORE_INFO, timezone=None)  # no zone made up from +1


@responses.activate
def test_country_state_and_an_escaped_blogname() -> None:
    general = edited("wc-settings-general", lambda b: setting(b, "woocommerce_default_country", value="NL:NH"))
    index = edited("site-index", lambda b: b.update(name="Tom &amp; Jerry&#039;s"))
    serve_identity(STORE, **KEY, replace={"/wp-json/": (200, index), "/wp-json/wc/v3/settings/general": (200, general)})
    assert read_store_info(client()) == replace(LIVE_STORE_INFO, name="Tom & Jerry's")


@responses.activate
def test_one_source_down_the_others_still_read() -> None:
    serve_identity(STORE, **KEY, replace={"/wp-json/wc/v3/system_status": (500, b"")})
    assert read_store_info(client()) == replace(LIVE_STORE_INFO, locale=None, money_format=None)


@responses.activate
def test_a_key_refused_everywhere_raises_auth_revoked_even_with_the_index_answering() -> None:
    refused = {path: REFUSED for path in IDENTITY if path != "/wp-json/"}
    serve_identity(STORE, **KEY, replace=refused)
    with pytest.raises(AuthRevoked) as info:
        read_store_info(client())
    assert info.value.code == "woocommerce_rest_authentication_error"
    assert len(responses.calls) == 5  # every source was tried before giving up


@responses.activate
def test_nothing_answering_raises_the_first_error() -> None:
    for path in IDENTITY:
        responses.add("GET", STORE + path, body=requests.ConnectionError("refused"))
    with pytest.raises(TransientError, match=r"^GET /wp-json/: connection failed"):
        read_store_info(client())
    assert len(responses.calls) == 5


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("nl_NL", "nl_NL"), ("de_DE_formal", "de_DE"), ("ca", "ca"), ("es_419", "es_419"), (" ", None), (7, None)],
)
def test_wordpress_locales(raw: Any, expected: str | None) -> None:
    assert _wp_locale(raw) == expected


def test_the_capture_holds_what_the_tests_rely_on() -> None:
    # The language is WordPress's locale in system_status' environment, the timezone only in the site index.
    status = json.loads(live("wc-system-status")[2])
    assert (status["environment"]["language"], status["environment"]["default_timezone"]) == ("en_US", "UTC")
    assert "timezone" not in json.dumps(status["settings"])


# --- the site logo (tests/fixtures/woocommerce/constructed) --------------------------------------------------------

SITE_LOGO = constructed("media-site-logo")["body"]["source_url"]


@responses.activate
def test_a_store_with_a_site_logo_reports_its_address_read_without_the_key() -> None:
    serve_identity_with_site_logo(STORE, **KEY)
    assert SITE_LOGO == "https://shop.example.com/wp-content/uploads/2026/11/live-test-shop-logo.png"
    assert read_store_info(client()) == replace(LIVE_STORE_INFO, logo_url=SITE_LOGO)
    assert paths()[-1] == "/wp-json/wp/v2/media/31"
    media = responses.calls[-1].request
    assert "oauth_signature" not in (media.url or "") and media.headers.get("Authorization") is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, b'{"code":"rest_forbidden","message":"Sorry, you are not allowed to do that.","data":{"status":401}}'),
        (404, b'{"code":"rest_post_invalid_id","message":"Invalid post ID.","data":{"status":404}}'),
        (200, b'{"id":31,"media_type":"file","source_url":"https://shop.example.com/wp-content/uploads/a.pdf"}'),
    ],
)
@responses.activate
def test_a_logo_that_cannot_be_read_is_unknown_not_none(status: int, body: bytes) -> None:
    index = json.dumps(constructed("site-index-site-logo")["body"]).encode()
    serve_identity(STORE, **KEY, replace={"/wp-json/": (200, index)})
    responses.add("GET", f"{STORE}/wp-json/wp/v2/media/31", body=body, status=status, content_type="application/json")
    # None (unknown) keeps a logo read before; "" would say the store has none.
    assert read_store_info(client()) == replace(LIVE_STORE_INFO, logo_url=None)
