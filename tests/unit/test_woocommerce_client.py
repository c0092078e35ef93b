"""WooClient against the captured REST fixtures replayed by `responses`: paging, filters, errors, batch, SSRF guard."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from responses import matchers

from integrations.base import AuthRevoked, InvalidRequest, NotFound, PlatformError, RateLimited, TransientError
from integrations.woocommerce.client import (
    BatchItemError,
    WooClient,
    WooInvalidRequest,
    check_public_url,
)
from tests.woo_live import live, rawurlencode, request_matcher, serve

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "woocommerce" / "rest"
STORE = "http://127.0.0.1:8091"
HTTPS_STORE = "https://shop.example.test"
PAGING = {"per_page": "100", "page": "1", "orderby": "id", "order": "asc"}


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / name).read_text())
    return data


def query_without_oauth(expected: dict[str, str]) -> Callable[[requests.PreparedRequest], tuple[bool, str]]:
    """Match the query exactly, ignoring the oauth_* parameters (nonce and timestamp vary), which must be there."""

    def match(request: requests.PreparedRequest) -> tuple[bool, str]:
        pairs = parse_qsl(urlsplit(request.url or "").query, keep_blank_values=True)
        names = [k for k, _ in pairs]
        if len(names) != len(set(names)):
            return False, f"repeated parameters {names}"
        given = {k: v for k, v in pairs if not k.startswith("oauth_")}
        if request.url and STORE in request.url and "oauth_signature" not in names:
            return False, "not OAuth-signed"
        return given == expected, f"{given} != {expected}"

    return match


def replay(name: str, *, extra_query: dict[str, str] | None = None, base: str = STORE) -> None:
    data = fixture(name)
    req = data["request"]
    headers = {k: v for k, v in data["headers"].items() if k in ("X-WP-Total", "X-WP-TotalPages", "Link")}
    match: list[Any] = [query_without_oauth({**req["query"], **(extra_query or {})})]
    if "json" in req:
        match.append(matchers.json_params_matcher(req["json"]))
    responses.add(
        req["method"], base + req["path"], json=data["body"], status=data["status"], headers=headers, match=match
    )


def client(**kwargs: Any) -> WooClient:
    kwargs.setdefault("allow_private", True)  # the fixtures' store ran on loopback
    kwargs.setdefault("sleep", lambda _s: None)
    return WooClient(STORE, "ck_test", "cs_test", **kwargs)


def public_resolver(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]


LIVE_STORE = "http://11.22.33.44:8080"  # where the live captures were made: plain http, so OAuth 1.0a
LIVE_KEY = {"key": "ck_fixture", "secret": "cs_fixture"}


def live_client() -> WooClient:
    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("11.22.33.44", port))]

    return WooClient(LIVE_STORE, "ck_fixture", "cs_fixture", resolver=resolve, sleep=lambda _s: None)


@responses.activate
def test_paging_by_total_pages_in_id_order() -> None:
    replay("products-list-orderby-id-page1.json")
    replay("products-list-orderby-id-page2.json")
    ids = [p["id"] for p in client(page_size=3).iter_products()]
    assert ids == [10, 11, 12, 13, 14]  # no duplicates, no skips
    assert len(responses.calls) == 2  # X-WP-TotalPages 2: no third request, Link never followed
    for call in responses.calls:
        query = dict(parse_qsl(urlsplit(call.request.url or "").query))
        assert query["oauth_signature_method"] == "HMAC-SHA256"
        assert "Authorization" not in call.request.headers


@responses.activate
def test_read_ahead_requests_the_next_page_while_this_one_is_consumed() -> None:
    import threading
    import time

    replay("products-list-orderby-id-page1.json")
    replay("products-list-orderby-id-page2.json")
    pages = client(page_size=3).iter_products(read_ahead=True)
    first = next(pages)
    # Only the first product of page 1 has been taken, and page 2 is already being (or has been) fetched.
    deadline = time.monotonic() + 5
    while len(responses.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    requested = [dict(parse_qsl(urlsplit(c.request.url or "").query))["page"] for c in responses.calls]
    assert (first["id"], requested) == (10, ["1", "2"])
    assert [p["id"] for p in pages] == [11, 12, 13, 14]
    # X-WP-TotalPages 2: nothing is read ahead past the last page, and the helper thread is gone.
    assert len(responses.calls) == 2
    assert [t.name for t in threading.enumerate() if t.name.startswith("woo-read-ahead")] == []


@responses.activate
def test_read_ahead_keeps_one_request_in_flight_with_the_callers_own_requests() -> None:
    import threading
    import time

    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def slow(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        page = dict(parse_qsl(urlsplit(request.url or "").query)).get("page", "1")
        if "/variations" in (request.url or ""):
            return 200, {"X-WP-TotalPages": "1"}, "[]"
        return 200, {"X-WP-TotalPages": "3"}, json.dumps([{"id": int(page)}])

    responses.add_callback("GET", re.compile(re.escape(STORE) + "/wp-json/wc/v3/products.*"), callback=slow)
    woo = client(page_size=1)
    seen = []
    for product in woo.iter_products(read_ahead=True):
        # The caller's own request for this product while the next page is being read ahead.
        assert list(woo.iter_variations(product["id"])) == []
        seen.append(product["id"])
    assert seen == [1, 2, 3]
    assert state["max"] == 1
    assert len(responses.calls) == 6


@responses.activate
def test_read_ahead_waits_for_the_header_and_stops_with_the_caller() -> None:
    import threading

    # Without X-WP-TotalPages the next page is only asked for once this one proved full.
    page = {"id": 1, "name": "A"}
    for n in ("1", "2"):
        responses.add(
            "GET",
            STORE + "/wp-json/wc/v3/products",
            json=[{**page, "id": int(n)}],
            match=[query_without_oauth({**PAGING, "per_page": "1", "page": n})],
        )
    responses.add(
        "GET",
        STORE + "/wp-json/wc/v3/products",
        json=[],
        match=[query_without_oauth({**PAGING, "per_page": "1", "page": "3"})],
    )
    pages = client(page_size=1).iter_products(read_ahead=True)
    assert next(pages)["id"] == 1
    assert len(responses.calls) == 1
    assert [p["id"] for p in pages] == [2]
    assert len(responses.calls) == 3
    # A caller that stops early: the helper finishes the request in flight and is shut down with the generator.
    replay("products-list-orderby-id-page1.json")
    replay("products-list-orderby-id-page2.json")
    early = client(page_size=3).iter_products(read_ahead=True)
    assert next(early)["id"] == 10
    early.close()
    assert [t.name for t in threading.enumerate() if t.name.startswith("woo-read-ahead")] == []


@responses.activate
def test_modified_after_sends_gmt_flag() -> None:
    replay("products-modified-after-gmt.json", extra_query=PAGING)
    since = datetime(2026, 11, 21, 20, 50, 23, tzinfo=timezone(timedelta(hours=-5)))  # = 01:50:23 UTC
    ids = [p["id"] for p in client().iter_products(modified_after=since)]
    assert ids == [14, 10, 12, 13]  # the 4 products the batch touched


def test_modified_after_must_be_aware() -> None:
    with pytest.raises(ValueError):
        list(client().iter_products(modified_after=datetime(2026, 11, 22, 1, 50, 23)))


@responses.activate
def test_empty_result_with_zero_total_pages() -> None:
    data = fixture("products-modified-after-local-time.json")
    responses.add("GET", STORE + "/wp-json/wc/v3/products", json=[], headers={"X-WP-TotalPages": "0"})
    assert data["headers"]["X-WP-TotalPages"] == "0"
    assert list(client().iter_products()) == []
    assert len(responses.calls) == 1


@responses.activate
def test_variations_orders_refunds() -> None:
    replay("product-variations-list.json", extra_query=PAGING)
    replay("orders-list.json", extra_query=PAGING)
    responses.add(
        "GET",
        STORE + "/wp-json/wc/v3/orders/21/refunds",
        json=[fixture("order-refund-get.json")["body"]],
        headers={"X-WP-TotalPages": "1"},
        match=[query_without_oauth(PAGING)],
    )
    c = client()
    assert [v["id"] for v in c.iter_variations(14)] == [17, 16, 15]
    assert [o["id"] for o in c.iter_orders()] == [21, 20, 19, 18]
    (refund,) = c.iter_refunds("21")
    assert refund["line_items"][0]["quantity"] == -1
    with pytest.raises(ValueError):
        list(c.iter_variations("14/../../users"))


@responses.activate
def test_list_params_comma_separated() -> None:
    responses.add(
        "GET",
        STORE + "/wp-json/wc/v3/products",
        json=[],
        headers={"X-WP-TotalPages": "0"},
        match=[query_without_oauth({**PAGING, "include": "10,12,14", "status": "publish"})],
    )
    assert list(client().iter_products(include=[10, 12, 14], status="publish")) == []


@responses.activate
def test_401_is_auth_revoked() -> None:
    replay("error-401-bad-signature.json")
    with pytest.raises(AuthRevoked) as info:
        client().get("products", {"per_page": 3})
    assert info.value.status == 401 and info.value.code == "woocommerce_rest_authentication_error"


@responses.activate
def test_404_is_not_found() -> None:
    replay("error-404-unknown-product.json")
    with pytest.raises(NotFound) as info:
        client().get("products/999999")
    assert info.value.code == "woocommerce_rest_product_invalid_id"


@responses.activate
def test_400_is_invalid_request_with_params() -> None:
    replay("error-400-per-page-101.json")
    with pytest.raises(WooInvalidRequest) as info:
        client().get("products", {"per_page": 101})
    assert isinstance(info.value, InvalidRequest)
    assert info.value.code == "rest_invalid_param"
    assert set(info.value.params) == {"per_page"}
    assert info.value.details["per_page"]["code"] == "rest_out_of_bounds"


@responses.activate
def test_batch_item_error_surfaced() -> None:
    replay("products-batch-update-item-error.json")
    updates = fixture("products-batch-update-item-error.json")["request"]["json"]["update"]
    errors = client().batch_update_products(updates)
    assert errors == [
        BatchItemError(
            action="update", id="999999", code="woocommerce_rest_product_invalid_id", message="Invalid ID.", status=400
        )
    ]


@responses.activate
def test_batch_chunks_of_100() -> None:
    responses.add("POST", STORE + "/wp-json/wc/v3/products/batch", json={"update": []})
    client().batch_update_products([{"id": i, "stock_quantity": 1} for i in range(1, 251)])
    sizes = [len(json.loads(call.request.body or b"{}")["update"]) for call in responses.calls]
    assert sizes == [100, 100, 50]


@responses.activate
def test_create_and_list_webhooks() -> None:
    replay("webhook-create.json")
    responses.add(
        "GET",
        STORE + "/wp-json/wc/v3/webhooks",
        json=[fixture("webhook-create.json")["body"]],
        headers={"X-WP-TotalPages": "1"},
        match=[query_without_oauth(PAGING)],
    )
    c = client()
    created = c.create_webhook(
        "product.created",
        "http://127.0.0.1:8080/webhooks/woocommerce",
        "wc-fixture-secret",
        name="Fixture product.created",
    )
    assert created["id"] == 1 and "secret" not in created
    assert [w["topic"] for w in c.list_webhooks()] == ["product.created"]


@responses.activate
def test_get_retried_on_transient_errors_post_not() -> None:
    url = STORE + "/wp-json/wc/v3/products/10"
    responses.add("GET", url, status=503, json={"code": "down"})
    responses.add("GET", url, body=requests.ConnectTimeout())
    responses.add("GET", url, json=fixture("product-simple-instock.json")["body"])
    slept: list[float] = []
    assert client(sleep=slept.append).get("products/10")["id"] == 10
    assert len(slept) == 2

    responses.add("POST", STORE + "/wp-json/wc/v3/products/batch", status=502)
    with pytest.raises(TransientError):
        client().batch_update_products([{"id": 10, "stock_quantity": 1}])
    assert sum(1 for c in responses.calls if c.request.method == "POST") == 1


@responses.activate
def test_rate_limited_and_gives_up() -> None:
    responses.add("GET", STORE + "/wp-json/wc/v3/products/10", status=429, headers={"Retry-After": "7"})
    slept: list[float] = []
    with pytest.raises(RateLimited) as info:
        client(sleep=slept.append, get_retries=1).get("products/10")
    assert info.value.retry_after == 7.0 and slept == [7.0]


@responses.activate
def test_https_basic_auth_then_query_string_fallback() -> None:
    url = HTTPS_STORE + "/wp-json/wc/v3/products/10"
    body = fixture("product-simple-instock.json")["body"]
    responses.add(
        "GET",
        url,
        status=401,
        json={"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot view this resource."},
        match=[matchers.query_param_matcher({})],
    )
    responses.add(
        "GET", url, json=body, match=[matchers.query_param_matcher({"consumer_key": "ck", "consumer_secret": "cs"})]
    )
    c = WooClient(HTTPS_STORE, "ck", "cs", resolver=public_resolver)
    assert c.get("products/10")["id"] == 10
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert c.uses_query_string_auth


@responses.activate
def test_https_bad_key_stays_auth_revoked() -> None:
    responses.add("GET", HTTPS_STORE + "/wp-json/wc/v3/products/10", status=401, json={"code": "x"})
    c = WooClient(HTTPS_STORE, "ck", "cs", resolver=public_resolver)
    with pytest.raises(AuthRevoked):
        c.get("products/10")
    assert not c.uses_query_string_auth


@responses.activate
def test_redirect_not_followed() -> None:
    responses.add("GET", STORE + "/wp-json/wc/v3/products/10", status=301, headers={"Location": "http://10.0.0.1/"})
    with pytest.raises(InvalidRequest):
        client().get("products/10")
    assert len(responses.calls) == 1


# --- private addresses ---------------------------------------------------------------------------------------


def resolver_for(*addresses: str) -> Callable[..., list[tuple[Any, ...]]]:
    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    return resolve


@pytest.mark.parametrize(
    "addresses",
    [
        ("127.0.0.1",),
        ("10.0.0.5",),
        ("169.254.169.254",),
        ("::1",),
        ("::ffff:127.0.0.1",),
        ("93.184.216.34", "192.168.1.2"),
    ],
)
def test_private_addresses_refused(addresses: tuple[str, ...]) -> None:
    with pytest.raises(InvalidRequest):
        check_public_url("https://shop.example.test", resolver_for(*addresses))


def test_public_address_allowed() -> None:
    check_public_url("https://shop.example.test/store/", resolver_for("93.184.216.34", "2606:2800:220:1::1"))


@pytest.mark.parametrize("url", ["ftp://shop.example.test", "https://user:pw@shop.example.test", "shop.example.test"])
def test_bad_urls_refused(url: str) -> None:
    with pytest.raises(InvalidRequest):
        check_public_url(url, resolver_for("93.184.216.34"))


def test_unresolvable_refused() -> None:
    def fail(*_a: Any, **_k: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror("no such host")

    with pytest.raises(InvalidRequest):
        check_public_url("https://nowhere.example.test", fail)


def test_loopback_store_refused_unless_allowed() -> None:
    with pytest.raises(InvalidRequest):
        WooClient(STORE, "ck", "cs")
    calls: list[str] = []

    def spy(host: str, *_a: Any, **_k: Any) -> list[tuple[Any, ...]]:
        calls.append(host)
        return []

    WooClient(STORE, "ck", "cs", resolver=spy, allow_private=True)
    assert calls == []


@responses.activate
def test_private_check_runs_before_each_request() -> None:
    answers = [resolver_for("93.184.216.34"), resolver_for("10.0.0.1")]
    state = {"n": 0}

    def rebinding(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        resolve = answers[min(state["n"], 1)]
        state["n"] += 1
        return resolve(host, port, **kwargs)

    c = WooClient(HTTPS_STORE, "ck", "cs", resolver=rebinding)
    with pytest.raises(InvalidRequest):
        c.get("products/10")
    assert len(responses.calls) == 0


# --- OAuth 1.0a signing and the public site index (live 9.4.3 captures) ----------------------------------------


@responses.activate
def test_oauth_signs_commas_and_colons_as_woocommerce_checks_them() -> None:
    # The live store refused a comma in _fields signed with single encoding (README surprise 4): the client's
    # signature must pass WooCommerce's own check, which encodes each value twice.
    fields = "id,label,description,type,default,tip,value"
    serve(LIVE_STORE, "/wp-json/wc/v3/settings/general", "wc-settings-general", {"_fields": fields}, **LIVE_KEY)
    status, _headers, refused = live("error-401-oauth1-comma-not-double-encoded")
    responses.add("GET", LIVE_STORE + "/wp-json/wc/v3/settings/general", body=refused, status=status)
    settings = live_client().get("settings/general", {"_fields": fields.split(",")})
    assert [s["id"] for s in settings][:4] == [
        "woocommerce_store_address",
        "woocommerce_store_address_2",
        "woocommerce_store_city",
        "woocommerce_default_country",
    ]
    (call,) = responses.calls
    # The same request signed with single encoding is what the store answered 401 to.
    parts = urlsplit(call.request.url or "")
    params = dict(parse_qsl(parts.query))
    signature = params.pop("oauth_signature")
    pairs = "%26".join(f"{rawurlencode(k)}%3D{rawurlencode(v)}" for k, v in sorted(params.items()))
    single = f"GET&{rawurlencode(LIVE_STORE + parts.path)}&{pairs}"
    digest = hmac.new(b"cs_fixture&", single.encode(), hashlib.sha256).digest()
    assert base64.b64encode(digest).decode() != signature


@responses.activate
def test_oauth_signs_a_gmt_time_with_colons() -> None:
    query = {**PAGING, "modified_after": "2026-12-01T00:00:00", "dates_are_gmt": "true"}
    responses.add(
        "GET",
        LIVE_STORE + "/wp-json/wc/v3/products",
        json=[],
        headers={"X-WP-TotalPages": "0"},
        match=[request_matcher(query, signed=True, **LIVE_KEY)],
    )
    since = datetime(2026, 12, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert list(live_client().iter_products(modified_after=since)) == []


@responses.activate
def test_site_index_is_read_without_the_key_and_only_the_fields_asked() -> None:
    serve(LIVE_STORE, "/wp-json/", "site-index", {"_fields": "name,timezone_string"}, **LIVE_KEY)
    index = live_client().get_site_index(("name", "timezone_string"))
    assert (index["name"], index["timezone_string"], index["gmt_offset"]) == ("Live Test Shop", "Europe/Amsterdam", 1)


@responses.activate
def test_site_index_over_https_sends_no_authorization_and_keeps_header_auth() -> None:
    responses.add("GET", HTTPS_STORE + "/wp-json/", status=401, json={"code": "rest_cannot_access"})
    c = WooClient(HTTPS_STORE, "ck", "cs", resolver=public_resolver)
    with pytest.raises(AuthRevoked):
        c.get_site_index(("name",))
    (call,) = responses.calls  # a 401 on the public index is not the header-stripping host: no retry in the query
    assert "Authorization" not in call.request.headers
    assert dict(parse_qsl(urlsplit(call.request.url or "").query)) == {"_fields": "name"}
    assert not c.uses_query_string_auth


@responses.activate
def test_site_index_that_is_not_json_is_a_platform_error() -> None:
    responses.add("GET", LIVE_STORE + "/wp-json/", body="<html>blocked</html>", content_type="text/html")
    with pytest.raises(PlatformError, match=r"^GET /wp-json/: response is not JSON$"):
        live_client().get_site_index(("name",))


@responses.activate
def test_site_index_is_guarded_and_not_redirected() -> None:
    responses.add("GET", LIVE_STORE + "/wp-json/", status=302, headers={"Location": "http://10.0.0.1/wp-json/"})
    with pytest.raises(InvalidRequest):
        live_client().get_site_index(("name",))
    assert len(responses.calls) == 1
    private = WooClient(HTTPS_STORE, "ck", "cs", resolver=resolver_for("93.184.216.34"))
    private._resolver = resolver_for("10.0.0.1")
    with pytest.raises(InvalidRequest):
        private.get_site_index(("name",))
    assert len(responses.calls) == 1


@responses.activate
def test_a_disabled_webhook_is_set_active_again_and_each_request_is_counted() -> None:
    # The webhook resource as WooCommerce 9.4.3 returns it (live capture of webhook 12 while active).
    active = json.loads((ROOT.parent / "live-9.4.3" / "webhook-12-active-before-failures.json").read_text())
    responses.add(
        "PUT",
        LIVE_STORE + "/wp-json/wc/v3/webhooks/12",
        json=active,
        match=[matchers.json_params_matcher({"status": "active"})],
    )
    c = live_client()
    assert c.requests_sent == 0
    hook = c.set_webhook_status(12, "active")
    assert (hook["id"], hook["status"], hook["topic"]) == (12, "active", "product.updated")
    assert c.requests_sent == 1
    with pytest.raises(ValueError, match="unknown webhook status 'deleted'"):
        c.set_webhook_status(12, "deleted")
    with pytest.raises(ValueError, match="not a numeric id"):
        c.set_webhook_status("12/../../products", "active")
    assert (len(responses.calls), c.requests_sent) == (1, 1)  # refused before anything was sent
