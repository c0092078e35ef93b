"""Shopify signature checks against every published vector in tests/fixtures/shopify/vectors.json, and attacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from integrations.shopify.verify import (
    InvalidHost,
    InvalidSessionToken,
    _oauth_message,
    _proxy_message,
    _query_params,
    decode_host,
    decode_session_token,
    is_valid_shop_domain,
    verify_app_proxy,
    verify_query_hmac,
    verify_webhook,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify"
VECTORS: dict[str, Any] = json.loads((FIXTURES / "vectors.json").read_text(encoding="utf-8"))


def _vectors(group: str) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in VECTORS[group]]


def test_every_vector_group_is_exercised() -> None:
    groups = {"oauth_query_hmac", "app_proxy_signature", "session_token_jwt", "webhook_body_hmac", "host_param"}
    assert set(VECTORS) - {"about"} == groups
    assert sum(len(VECTORS[g]) for g in groups) == 15  # README: 15 vectors
    assert all(v["verified"] for g in groups for v in VECTORS[g])


def _hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


# --- OAuth / app home query HMAC -------------------------------------------------------------------------------


def _oauth_query(vector: dict[str, Any]) -> Any:
    inputs = vector["inputs"]
    if "query_string" in inputs:
        return inputs["query_string"]
    return {**inputs["params"], "hmac": vector["expected_hmac"]}


@pytest.mark.parametrize("vector", _vectors("oauth_query_hmac"))
def test_oauth_vector_canonical_message(vector: dict[str, Any]) -> None:
    params = _query_params(_oauth_query(vector))
    assert params is not None
    assert _oauth_message(params) == vector["canonical_message"]
    assert _hex(vector["secret"], vector["canonical_message"]) == vector["expected_hmac"]


@pytest.mark.parametrize("vector", _vectors("oauth_query_hmac"))
def test_oauth_vector_verifies(vector: dict[str, Any]) -> None:
    query = _oauth_query(vector)
    assert verify_query_hmac(query, vector["secret"], max_age=None)
    assert verify_query_hmac(query, ["rotated-new-secret", vector["secret"]], max_age=None)  # old secret still ok
    assert not verify_query_hmac(query, "wrong", max_age=None)


@pytest.mark.parametrize("vector", [p for p in _vectors("oauth_query_hmac") if "query_string" in p.values[0]["inputs"]])
def test_oauth_vector_timestamp_window(vector: dict[str, Any]) -> None:
    query = vector["inputs"]["query_string"]
    assert verify_query_hmac(query, vector["secret"], now=1337178173 + 90)
    assert verify_query_hmac(query, vector["secret"], now=1337178173 - 90)
    assert not verify_query_hmac(query, vector["secret"], now=1337178173 + 91)
    assert not verify_query_hmac(query, vector["secret"])  # by default 2012 is far too old: a replay


OAUTH = VECTORS["oauth_query_hmac"][0]["inputs"]["query_string"]


@pytest.mark.parametrize(
    "query",
    [
        OAUTH.replace("some-shop", "evil-shop"),  # tampered value
        OAUTH.replace("state=0.678", "state=1.678"),
        OAUTH + "&extra=1",  # added parameter
        OAUTH.replace("&hmac=", "&x="),  # hmac missing
        OAUTH + "&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf",  # hmac twice
        OAUTH + "&shop=other.myshopify.com",  # repeated plain key
        OAUTH.replace("hmac=700e", "hmac=700E"),  # not the canonical lowercase hex
        OAUTH.replace("hmac=700e", "hmac=%C3%A9"),  # non-ASCII hmac
        OAUTH.replace("state=", "state=%FF"),  # invalid percent-encoded UTF-8
        OAUTH + "".join(f"&f{i}=1" for i in range(300)),  # too many fields
        "",
    ],
)
def test_oauth_rejects(query: str) -> None:
    assert not verify_query_hmac(query, "hush", now=1337178173)


def test_oauth_accepts_bytes_and_leading_question_mark() -> None:
    assert verify_query_hmac(OAUTH.encode(), "hush", now=1337178173)
    assert verify_query_hmac("?" + OAUTH, "hush", now=1337178173)
    assert not verify_query_hmac(b"shop=\xff", "hush", max_age=None)


def test_oauth_escaping_blocks_parameter_smuggling() -> None:
    # {"a": "1&b=2"} and {"a": "1", "b": "2"} must not share a signature.
    smuggled = {"a": "1&b=2", "c=3&d": "4"}
    digest = VECTORS["oauth_query_hmac"][4]["expected_hmac"]
    assert verify_query_hmac({**smuggled, "hmac": digest}, "secret", max_age=None)
    assert not verify_query_hmac({"a": "1", "b": "2", "c": "3", "d": "4", "hmac": digest}, "secret", max_age=None)


def test_oauth_array_param_from_query_string() -> None:
    query = (
        "shop=some-shop.myshopify.com&ids%5B%5D=2&ids%5B%5D=1&hmac=" + VECTORS["oauth_query_hmac"][3]["expected_hmac"]
    )
    assert verify_query_hmac(query, "hush", max_age=None)
    assert not verify_query_hmac(query.replace("=2&", "=3&"), "hush", max_age=None)


def test_secrets_must_be_configured() -> None:
    for check in (verify_query_hmac, verify_app_proxy):
        with pytest.raises(ValueError, match="no Shopify API secret"):
            check(OAUTH, "")
        with pytest.raises(ValueError, match="no Shopify API secret"):
            check(OAUTH, ["", ""])
    assert verify_query_hmac(OAUTH, ["hush", ""], now=1337178173)  # unset old secret is ignored


# --- App Proxy -------------------------------------------------------------------------------------------------

PROXY_TS = 1317327555


@pytest.mark.parametrize("vector", _vectors("app_proxy_signature"))
def test_proxy_vector_canonical_message(vector: dict[str, Any]) -> None:
    params = _query_params(vector["inputs"]["query_string"])
    assert params is not None
    assert _proxy_message(params) == vector["canonical_message"]
    assert _hex(vector["secret"], vector["canonical_message"]) == vector["expected_signature"]


@pytest.mark.parametrize("vector", _vectors("app_proxy_signature"))
def test_proxy_vector_verifies(vector: dict[str, Any]) -> None:
    query = vector["inputs"]["query_string"]
    assert verify_app_proxy(query, vector["secret"], now=PROXY_TS)
    assert verify_app_proxy(query, vector["secret"], max_age=None)
    assert verify_app_proxy(query, ["new-secret", vector["secret"]], now=PROXY_TS + 90)
    assert not verify_app_proxy(query, vector["secret"], now=PROXY_TS + 91)
    assert not verify_app_proxy(query, vector["secret"])  # 2011: a replay
    assert not verify_app_proxy(query, "wrong", now=PROXY_TS)


def test_proxy_empty_customer_id_is_signed() -> None:
    query = VECTORS["app_proxy_signature"][1]["inputs"]["query_string"]
    assert "logged_in_customer_id=&" in query
    assert not verify_app_proxy(query.replace("logged_in_customer_id=&", ""), "hush", now=PROXY_TS)
    assert not verify_app_proxy(query.replace("logged_in_customer_id=&", "logged_in_customer_id=1&"), "hush")


PROXY = VECTORS["app_proxy_signature"][0]["inputs"]["query_string"]


@pytest.mark.parametrize(
    "query",
    [
        PROXY.replace("awesome_reviews", "other"),
        PROXY.replace("extra=1&extra=2", "extra=2&extra=1"),  # order of repeated values is signed
        PROXY.replace("extra=1&extra=2", "extra=1,2x"),
        PROXY + "&shop=evil.myshopify.com",  # a second shop: which one would the app read?
        PROXY + "&signature=4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb",
        PROXY.replace("&signature=", "&sig="),
        PROXY.replace("timestamp=1317327555", "timestamp=1317327555.0"),
        PROXY.replace("&timestamp=1317327555", ""),
    ],
)
def test_proxy_rejects(query: str) -> None:
    assert not verify_app_proxy(query, "hush", now=PROXY_TS)


def test_proxy_sorts_joined_strings_like_shopifys_reference() -> None:
    # Ruby reference: collect { "k=v" }.sort.join. "page2=…" sorts before "page=…" because "2" < "=".
    params = {"page": "1", "page2": "x", "shop": "a.myshopify.com", "timestamp": str(PROXY_TS)}
    message = "page2=xpage=1shop=a.myshopify.comtimestamp=1317327555"
    by_key = "page=1page2=xshop=a.myshopify.comtimestamp=1317327555"
    assert verify_app_proxy({**params, "signature": _hex("hush", message)}, "hush", now=PROXY_TS)
    assert not verify_app_proxy({**params, "signature": _hex("hush", by_key)}, "hush", now=PROXY_TS)


def test_proxy_mapping_input_with_list_values() -> None:
    params = {
        "extra": ["1", "2"],
        "shop": "shop-name.myshopify.com",
        "logged_in_customer_id": "1",
        "path_prefix": "/apps/awesome_reviews",
        "timestamp": str(PROXY_TS),
        "signature": VECTORS["app_proxy_signature"][0]["expected_signature"],
    }
    assert verify_app_proxy(params, "hush", now=PROXY_TS)
    assert verify_app_proxy("?" + urlencode(params, doseq=True), "hush", now=PROXY_TS)


# --- session tokens --------------------------------------------------------------------------------------------

API_KEY = "client-id-123"
SECRET = "app-secret"
NOW = 1591765000  # inside [nbf - 10 s, exp + 10 s] of the vector claims
CLAIMS: dict[str, Any] = VECTORS["session_token_jwt"][0]["inputs"]["claims"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: dict[str, Any], secret: str = SECRET, header: dict[str, Any] | None = None) -> str:
    head = _b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = _b64url(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


@pytest.mark.parametrize("vector", _vectors("session_token_jwt"))
def test_session_token_vector(vector: dict[str, Any]) -> None:
    token = vector["expected_token"]
    assert _jwt(vector["inputs"]["claims"], vector["secret"]) == token  # the vector is what we think it is
    session = decode_session_token(token, API_KEY, vector["secret"], now=NOW)
    assert session.shop == vector["expected_shop_domain"]
    assert session.user_id == "42"
    assert session.session_id == vector["inputs"]["claims"]["sid"]
    assert session.token_id == "f8912129-1af6-4cad-9ca3-76b0f7621087"
    assert session.expires_at.timestamp() == 1591765058
    assert session.not_before.timestamp() == 1591764998
    assert session.issued_at is not None and session.issued_at.timestamp() == 1591764998
    assert session.claims["aud"] == API_KEY
    assert session.token == token
    assert token not in repr(session)
    # Rotation: the old secret still verifies.
    assert decode_session_token(token, API_KEY, ["new-secret", vector["secret"]], now=NOW).shop == session.shop


def _reason(token: str, *, now: float = NOW, api_key: str = API_KEY, secrets: Any = SECRET) -> str:
    with pytest.raises(InvalidSessionToken) as info:
        decode_session_token(token, api_key, secrets, now=now)
    return info.value.reason


def test_session_token_time_window_with_10s_leeway() -> None:
    token = VECTORS["session_token_jwt"][0]["expected_token"]
    exp, nbf = CLAIMS["exp"], CLAIMS["nbf"]
    assert decode_session_token(token, API_KEY, SECRET, now=exp + 9).shop
    assert _reason(token, now=exp + 10) == "expired"
    assert _reason(token, now=exp + 3600) == "expired"
    assert decode_session_token(token, API_KEY, SECRET, now=nbf - 10).shop
    assert _reason(token, now=nbf - 11) == "not_yet_valid"
    assert decode_session_token(token, API_KEY, SECRET, now=exp + 30, leeway=60).shop
    assert _reason(token, now=exp + 3600 * 24 * 365 * 5) == "expired"


def test_session_token_rejections() -> None:
    good = VECTORS["session_token_jwt"][0]["expected_token"]
    head, body, sig = good.split(".")
    assert _reason(good, api_key="other-app") == "wrong_audience"
    assert _reason(good, secrets="wrong") == "bad_signature"
    assert _reason(f"{head}.{_b64url(json.dumps({**CLAIMS, 'sub': '1'}).encode())}.{sig}") == "bad_signature"
    assert _reason(f"{head}.{body}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}") == "bad_signature"
    assert _reason(f"{head}.{body}.") == "malformed"
    assert _reason(f"{head}.{body}") == "malformed"
    assert _reason("not a token") == "malformed"
    assert _reason(good + "é") == "malformed"
    assert _reason(_jwt(CLAIMS, header={"alg": "none"})) == "unsupported_algorithm"
    assert _reason(_jwt(CLAIMS, header={"alg": "HS512"})) == "unsupported_algorithm"
    assert _reason(_jwt(CLAIMS, header={"typ": "JWT"})) == "unsupported_algorithm"
    assert _reason(_jwt(CLAIMS, header={"alg": "HS256", "crit": ["x"]})) == "malformed"
    assert _reason(_jwt({**CLAIMS, "aud": None})) == "wrong_audience"
    assert _reason(_jwt({k: v for k, v in CLAIMS.items() if k != "exp"})) == "malformed"
    assert _reason(_jwt({**CLAIMS, "nbf": "1591764998"})) == "malformed"
    assert _reason(_jwt({**CLAIMS, "exp": True})) == "malformed"
    head_only = _b64url(b'{"alg":"HS256"}')
    assert _reason(f"{head_only}.{_b64url(b'[1]')}.x") == "bad_signature"


def test_session_token_audience_is_compared_as_shopify_api_does() -> None:
    """@shopify/shopify-api (decodeSessionToken): `if (checkAudience && payload.aud !== config.apiKey) throw
    InvalidJwtError('Session token had invalid API key')`: a strict comparison with the client id string."""
    assert decode_session_token(_jwt({**CLAIMS, "aud": API_KEY}), API_KEY, SECRET, now=NOW).claims["aud"] == API_KEY
    assert _reason(_jwt({**CLAIMS, "aud": [API_KEY]})) == "wrong_audience"
    assert _reason(_jwt({**CLAIMS, "aud": ["other", API_KEY]})) == "wrong_audience"
    assert _reason(_jwt({**CLAIMS, "aud": [API_KEY, API_KEY]})) == "wrong_audience"
    assert _reason(_jwt({k: v for k, v in CLAIMS.items() if k != "aud"})) == "wrong_audience"
    assert _reason(_jwt({**CLAIMS, "aud": API_KEY.upper()})) == "wrong_audience"
    assert _reason(_jwt({**CLAIMS, "aud": f" {API_KEY}"})) == "wrong_audience"
    assert _reason(_jwt({**CLAIMS, "aud": ""})) == "wrong_audience"


def test_session_token_claims_array_payload_is_malformed() -> None:
    head = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    body = _b64url(b"[1,2]")
    sig = _b64url(hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    assert _reason(f"{head}.{body}.{sig}") == "malformed"


@pytest.mark.parametrize(
    ("dest", "iss", "reason"),
    [
        ("https://evil.com", "https://evil.com/admin", "bad_destination"),
        ("http://exampleshop.myshopify.com", "https://exampleshop.myshopify.com/admin", "bad_destination"),
        ("https://exampleshop.myshopify.com/admin", "https://exampleshop.myshopify.com/admin", "bad_destination"),
        ("https://exampleshop.myshopify.com.evil.com", "https://exampleshop.myshopify.com.evil.com", "bad_destination"),
        ("https://exampleshop.myshopify.com:8443", "https://exampleshop.myshopify.com/admin", "bad_destination"),
        ("exampleshop.myshopify.com", "https://exampleshop.myshopify.com/admin", "bad_destination"),
        (None, "https://exampleshop.myshopify.com/admin", "bad_destination"),
        ("https://exampleshop.myshopify.com", "https://othershop.myshopify.com/admin", "issuer_mismatch"),
        ("https://exampleshop.myshopify.com", "http://exampleshop.myshopify.com/admin", "issuer_mismatch"),
        ("https://exampleshop.myshopify.com", "https://exampleshop.myshopify.com:444/admin", "issuer_mismatch"),
        ("https://exampleshop.myshopify.com", "https://x@exampleshop.myshopify.com/admin", "issuer_mismatch"),
        ("https://exampleshop.myshopify.com", "https://[bad/admin", "issuer_mismatch"),
        ("https://exampleshop.myshopify.com", None, "issuer_mismatch"),
    ],
)
def test_session_token_destination_and_issuer(dest: str | None, iss: str | None, reason: str) -> None:
    assert _reason(_jwt({**CLAIMS, "dest": dest, "iss": iss})) == reason


def test_session_token_shop_is_lowercased_and_optional_claims_absent() -> None:
    claims = {k: v for k, v in CLAIMS.items() if k not in ("sub", "sid", "jti", "iat")}
    claims.update(dest="https://ExampleShop.myshopify.com", iss="https://exampleshop.MYSHOPIFY.com/admin")
    session = decode_session_token(_jwt(claims), API_KEY, SECRET, now=NOW)
    assert session.shop == "exampleshop.myshopify.com"
    assert (session.user_id, session.session_id, session.token_id, session.issued_at) == (None, None, None, None)


def test_session_token_needs_configuration() -> None:
    token = VECTORS["session_token_jwt"][0]["expected_token"]
    with pytest.raises(ValueError, match="API key"):
        decode_session_token(token, "", SECRET, now=NOW)
    with pytest.raises(ValueError, match="secret"):
        decode_session_token(token, API_KEY, [], now=NOW)


# --- webhooks --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", _vectors("webhook_body_hmac"))
def test_webhook_vector(vector: dict[str, Any]) -> None:
    body = vector["inputs"]["body_text"].encode("utf-8")
    expected = vector["expected_hmac_b64"]
    assert verify_webhook(body, expected, [vector["secret"]])
    assert verify_webhook(body, expected, ["new-secret", vector["secret"]])  # rotation: old secret accepted
    assert verify_webhook(body, expected, vector["secret"])  # a lone str is one secret
    assert not verify_webhook(body, expected, ["wrong"])
    assert not verify_webhook(body + b" ", expected, [vector["secret"]])
    assert not verify_webhook(body.replace(b"1", b"2", 1), expected, [vector["secret"]])


def test_webhook_hashes_raw_bytes_not_the_parsed_object() -> None:
    by_id = {v["id"]: v for v in VECTORS["webhook_body_hmac"]}
    compact = by_id["webhook-inventory-level-docs-fields"]
    for other in ("webhook-inventory-level-reserialized", "webhook-inventory-level-slash-escaped"):
        body = by_id[other]["inputs"]["body_text"]
        assert json.loads(body) == json.loads(compact["inputs"]["body_text"])  # same object …
        assert not verify_webhook(body.encode(), compact["expected_hmac_b64"], ["hush"])  # … other bytes


WEBHOOK = VECTORS["webhook_body_hmac"][0]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "not base64!!",
        "é",  # non-ASCII must be False, not a TypeError from compare_digest
        WEBHOOK["expected_hmac_b64"].rstrip("="),  # not canonical base64
        " " + WEBHOOK["expected_hmac_b64"],
        WEBHOOK["expected_hmac_b64"].lower(),
        base64.b64encode(hmac.new(b"hush", b'{"id":1}', hashlib.sha1).digest()).decode(),
        hmac.new(b"hush", b'{"id":1}', hashlib.sha256).hexdigest(),  # hex, not base64
    ],
)
def test_webhook_rejects_header(header: str | None) -> None:
    assert not verify_webhook(b'{"id":1}', header, ["hush"])


def test_webhook_secrets() -> None:
    body, header = b'{"id":1}', WEBHOOK["expected_hmac_b64"]
    assert verify_webhook(body, header, ["hush", ""])
    with pytest.raises(ValueError, match="no Shopify API secret"):
        verify_webhook(body, header, [])
    with pytest.raises(ValueError, match="no Shopify API secret"):
        verify_webhook(body, header, ["", ""])
    # An empty key is never used, so a body "signed" with one does not pass.
    empty_key = base64.b64encode(hmac.new(b"", body, hashlib.sha256).digest()).decode()
    assert not verify_webhook(body, empty_key, ["hush", ""])


def test_webhook_hostile_bodies_do_not_raise() -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    assert not verify_webhook(deep, WEBHOOK["expected_hmac_b64"], ["hush"])
    assert not verify_webhook(b"\xff\xfe", WEBHOOK["expected_hmac_b64"], ["hush"])


# --- host and shop ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", _vectors("host_param"))
def test_host_vector(vector: dict[str, Any]) -> None:
    host = vector["inputs"]["host"]
    assert len(host) % 4 != 0  # really unpadded: base64.b64decode alone would fail
    assert decode_host(host) == vector["expected_decoded"]
    padded = host + "=" * (-len(host) % 4)
    assert decode_host(padded) == vector["expected_decoded"]


@pytest.mark.parametrize(
    "host",
    [
        "",
        "!!!",
        "YQ=x",
        "a",
        base64.b64encode(b"admin.shopify.com/\nstore").decode(),
        base64.b64encode(b"\xff").decode(),
    ],
)
def test_host_rejects(host: str) -> None:
    with pytest.raises(InvalidHost):
        decode_host(host)


def test_host_accepts_urlsafe_alphabet() -> None:
    raw = b"admin.shopify.com/store/a?>"
    assert decode_host(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == raw.decode()


@pytest.mark.parametrize(
    "shop",
    ["backsoon-demo.myshopify.com", "a.myshopify.com", "A1.myshopify.com", "1shop.myshopify.com", "a-.myshopify.com"],
)
def test_valid_shop_domains(shop: str) -> None:
    assert is_valid_shop_domain(shop)


@pytest.mark.parametrize(
    "shop",
    [
        "evil.com?x.myshopify.com",
        "a.myshopify.com.evil.com",
        "evil.com/a.myshopify.com",
        "evil.com#a.myshopify.com",
        "https://a.myshopify.com",
        "a.myshopify.com/",
        "a.myshopify.com/admin",
        "a.myshopify.com:443",
        "a.myshopify.com\n",
        "a.myshopify.com.",
        "\na.myshopify.com",
        " a.myshopify.com",
        "-a.myshopify.com",
        ".myshopify.com",
        "myshopify.com",
        "a.b.myshopify.com",
        "a_b.myshopify.com",
        "a..myshopify.com",
        "a.myshopifyXcom",
        "a.MYSHOPIFY.COM",
        "ä.myshopify.com",
        "a%2emyshopify.com",
        "a@b.myshopify.com",
        "",
        None,
        123,
        b"a.myshopify.com",
    ],
)
def test_invalid_shop_domains(shop: object) -> None:
    assert not is_valid_shop_domain(shop)
