"""WooCommerce webhook fixtures: signatures verify over the raw body, pings are recognised, dedupe keys hold."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from integrations.woocommerce.payloads import PayloadError
from integrations.woocommerce.webhooks import WooHeaders, dedupe_key, is_ping, verify_signature

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "woocommerce" / "webhooks"
SECRET = "wc-fixture-secret"
SIGNED = sorted(p.name for p in FIXTURES.glob("[0-9][0-9]-*.json"))


def load(name: str) -> tuple[dict[str, Any], bytes]:
    data = json.loads((FIXTURES / name).read_text())
    return data, base64.b64decode(data["body_base64"])


def test_eleven_signed_fixtures() -> None:
    assert len(SIGNED) == 11


@pytest.mark.parametrize("name", SIGNED)
def test_signature_verifies_over_raw_body(name: str) -> None:
    data, raw = load(name)
    assert data["secret"] == SECRET
    assert raw == data["body_text"].encode("utf-8")
    headers = WooHeaders.from_headers(data["headers"])
    assert verify_signature(raw, headers.signature, SECRET)


@pytest.mark.parametrize("name", SIGNED)
def test_tampered_or_wrong_secret_fails(name: str) -> None:
    _, raw = load(name)
    signature = WooHeaders.from_headers(load(name)[0]["headers"]).signature
    assert not verify_signature(raw + b" ", signature, SECRET)
    assert not verify_signature(raw.replace(b'"id":', b'"id": ', 1), signature, SECRET)
    assert not verify_signature(raw, signature, "another-secret")


def test_missing_or_garbage_signature_fails() -> None:
    _, raw = load("01-product-updated-simple-stock-to-0.json")
    assert not verify_signature(raw, None, SECRET)
    assert not verify_signature(raw, "", SECRET)
    assert not verify_signature(raw, "not base64 ✓", SECRET)


def test_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        verify_signature(b"{}", "x", "")


def test_ping_detected_and_unsigned() -> None:
    data, raw = load("ping-webhook-1.json")
    assert raw == b"webhook_id=1"
    assert is_ping(data["headers"]["Content-Type"], raw) == 1
    assert not any(name.lower().startswith("x-wc-webhook") for name in data["headers"])
    with pytest.raises(PayloadError):
        WooHeaders.from_headers(data["headers"])


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"webhook_id=1"),
        ("application/x-www-form-urlencoded", b"webhook_id=abc"),
        ("application/x-www-form-urlencoded", b"webhook_id=1&x=2"),
        ("application/x-www-form-urlencoded", b"other=1"),
        (None, b"webhook_id=1"),
    ],
)
def test_not_a_ping(content_type: str | None, body: bytes) -> None:
    assert is_ping(content_type, body) is None


def test_ping_content_type_parameters_allowed() -> None:
    assert is_ping("application/x-www-form-urlencoded; charset=UTF-8", b"webhook_id=42") == 42


def test_deliveries_are_not_pings() -> None:
    for name in SIGNED:
        data, raw = load(name)
        assert is_ping(data["headers"]["Content-Type"], raw) is None


def test_headers_read() -> None:
    data, _ = load("06-order-created.json")
    headers = WooHeaders.from_headers(data["headers"])
    assert (headers.topic, headers.resource, headers.event) == ("order.created", "order", "created")
    assert headers.source == "http://127.0.0.1:8091/"
    assert headers.webhook_id == data["headers"]["X-WC-Webhook-ID"]
    assert headers.delivery_id == data["headers"]["X-WC-Webhook-Delivery-ID"]
    assert headers.signature == data["headers"]["X-WC-Webhook-Signature"]


def test_headers_case_insensitive_and_consistent() -> None:
    data, _ = load("01-product-updated-simple-stock-to-0.json")
    lowered = {k.lower(): v for k, v in data["headers"].items()}
    assert WooHeaders.from_headers(lowered).topic == "product.updated"
    forged = dict(data["headers"], **{"X-WC-Webhook-Event": "deleted"})
    with pytest.raises(PayloadError):
        WooHeaders.from_headers(forged)


def test_dedupe_same_bytes_different_topics_differ() -> None:
    d06, raw06 = load("06-order-created.json")
    d07, raw07 = load("07-order-updated-on-create.json")
    assert raw06 == raw07
    assert d06["headers"]["X-WC-Webhook-Signature"] == d07["headers"]["X-WC-Webhook-Signature"]
    k06 = dedupe_key(WooHeaders.from_headers(d06["headers"]).topic, raw06)
    k07 = dedupe_key(WooHeaders.from_headers(d07["headers"]).topic, raw07)
    assert k06 != k07


def test_dedupe_shared_delivery_id_still_distinct() -> None:
    d08, raw08 = load("08-product-updated-simple-after-order.json")
    d09, raw09 = load("09-product-updated-variation-after-order.json")
    h08, h09 = WooHeaders.from_headers(d08["headers"]), WooHeaders.from_headers(d09["headers"])
    assert h08.delivery_id == h09.delivery_id
    assert dedupe_key(h08.topic, raw08) != dedupe_key(h09.topic, raw09)


def test_dedupe_identical_retry_collapses() -> None:
    _, raw = load("02-product-updated-simple-stock-to-5.json")
    assert dedupe_key("product.updated", raw) == dedupe_key(" Product.Updated ", bytes(raw))
    assert len(dedupe_key("product.updated", raw)) == 64


def test_dedupe_keys_unique_across_fixtures() -> None:
    keys = set()
    for name in SIGNED:
        data, raw = load(name)
        keys.add(dedupe_key(WooHeaders.from_headers(data["headers"]).topic, raw))
    assert len(keys) == 11
