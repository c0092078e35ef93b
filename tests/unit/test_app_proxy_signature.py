"""App Proxy signature: Shopify's documented example, and a vector computed here independently with hmac."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

import pytest

from integrations.shopify.proxy import ProxyRequest, proxy_path, read_proxy_request

SECRET = "hush"
TS = 1_317_327_555


def _sign(pairs: list[tuple[str, str]], secret: str = SECRET) -> str:
    # Written out from the docs, independently of the code under test: group repeated keys, "k=v1,v2", sort the
    # strings, join with nothing, hex HMAC-SHA256 keyed by the app secret.
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    message = "".join(sorted(f"{k}={','.join(v)}" for k, v in grouped.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def _query(pairs: list[tuple[str, str]], secret: str = SECRET) -> str:
    return urlencode([*pairs, ("signature", _sign(pairs, secret))])


BASE = [
    ("extra", "1"),
    ("extra", "2"),
    ("shop", "Some-Shop.myshopify.com"),
    ("logged_in_customer_id", "1"),
    ("path_prefix", "/apps/awesome_reviews"),
    ("timestamp", str(TS)),
]


def test_independent_vector_message_and_result() -> None:
    # The exact string signed for the documented example, spelled out by hand.
    message = (
        "extra=1,2"
        "logged_in_customer_id=1"
        "path_prefix=/apps/awesome_reviews"
        "shop=Some-Shop.myshopify.com"
        "timestamp=1317327555"
    )
    expected = hmac.new(b"hush", message.encode(), hashlib.sha256).hexdigest()
    assert _sign(BASE) == expected
    got = read_proxy_request(_query(BASE), SECRET, now=TS + 10)
    assert got == ProxyRequest(shop="some-shop.myshopify.com", customer_id="1", path_prefix="/apps/awesome_reviews")


def test_shopify_documented_example() -> None:
    # shopify.dev "Authenticate app proxies": shop "shop-name.myshopify.com", secret "hush".
    pairs = [
        ("extra", "1"),
        ("extra", "2"),
        ("shop", "shop-name.myshopify.com"),
        ("logged_in_customer_id", "1"),
        ("path_prefix", "/apps/awesome_reviews"),
        ("timestamp", "1317327555"),
    ]
    query = _query(pairs)
    assert read_proxy_request(query, SECRET, max_age=None) is not None


def test_rejections() -> None:
    query = _query(BASE)
    assert read_proxy_request(query, "wrong", now=TS) is None
    assert read_proxy_request(query, SECRET, now=TS + 91) is None  # stale: a replay
    assert read_proxy_request(query, ["new-secret", SECRET], now=TS) is not None  # rotation
    tampered = query.replace("logged_in_customer_id=1", "logged_in_customer_id=2")
    assert read_proxy_request(tampered, SECRET, now=TS) is None
    assert read_proxy_request(urlencode(BASE), SECRET, now=TS) is None  # no signature
    bad_shop = [("shop", "evil.example.com"), ("timestamp", str(TS))]
    assert read_proxy_request(_query(bad_shop), SECRET, now=TS) is None  # signed but not a shop domain
    twice = _query([*BASE, ("shop", "other.myshopify.com")])
    assert read_proxy_request(twice, SECRET, now=TS) is None  # repeated shop is refused
    anonymous = [(k, "" if k == "logged_in_customer_id" else v) for k, v in BASE]
    got = read_proxy_request(_query(anonymous), SECRET, now=TS)
    assert got is not None and got.customer_id is None


def test_no_secret_is_a_deployment_error() -> None:
    with pytest.raises(ValueError):
        read_proxy_request(_query(BASE), [], now=TS)


@pytest.mark.parametrize(
    ("path_prefix", "expected"),
    [
        ("/apps/backsoon", "/apps/backsoon"),
        ("/a/restock/", "/a/restock"),
        ("/community/back-soon", "/community/back-soon"),
        ("/tools/bs_2", "/tools/bs_2"),
        ("/apps", None),
        ("/apps/", None),
        ("/store/backsoon", None),
        ("//evil.example/apps", None),
        ("/apps/back soon", None),
        ("/apps/backsoon/extra", None),
        ("", None),
        (None, None),
    ],
)
def test_proxy_path_is_only_where_shopify_can_mount_it(path_prefix: str | None, expected: str | None) -> None:
    assert proxy_path(path_prefix) == expected
