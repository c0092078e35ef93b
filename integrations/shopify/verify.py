"""Every Shopify signature check: webhook bodies, OAuth/app-home query HMAC, App Proxy, session tokens, shop, host.

Pure standard library (hmac, hashlib, base64). Shopify's ``shopifyapp`` package (1.0.2) was inspected and is not
wrapped here; each check says why beside it. All digests are compared with ``hmac.compare_digest`` on the
canonical encoding, so a re-encoded (malleable) signature never verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "DEFAULT_MAX_AGE",
    "InvalidHost",
    "InvalidSessionToken",
    "QueryInput",
    "SessionToken",
    "SessionTokenFailure",
    "decode_host",
    "decode_session_token",
    "is_valid_shop_domain",
    "verify_app_proxy",
    "verify_query_hmac",
    "verify_webhook",
]

QueryInput = str | bytes | Mapping[str, str | Sequence[str]]
"""A raw query string (``?`` optional; bytes as from ``request.query_string``) or already-split parameters."""

# Shopify's own libraries accept a signed query's timestamp within 90 s of their clock; past that it is a replay.
DEFAULT_MAX_AGE = 90.0

# parse_qsl raises past this many fields: a signed Shopify query has a handful, a hostile one may have thousands.
_MAX_QUERY_FIELDS = 200

# fullmatch, never `$`: `$` also matches before a trailing newline ("a.myshopify.com\n").
_SHOP_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com", re.ASCII)
_DEST_RE = re.compile(r"https://([a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com)", re.ASCII)
_B64URL_SEGMENT = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
_HOST_B64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}", re.ASCII)
_DIGITS = re.compile(r"[0-9]{1,12}", re.ASCII)
_URLSAFE_TO_STD = str.maketrans("-_", "+/")


def _secret_keys(secrets: str | Sequence[str]) -> tuple[bytes, ...]:
    # Empty entries are dropped so an unset SHOPIFY_API_SECRET_OLD ("") never becomes an empty HMAC key, which
    # anyone could sign with. No secret at all is a deployment error: raise rather than quietly reject everything.
    items = (secrets,) if isinstance(secrets, str) else tuple(secrets)
    keys = tuple(s.encode("utf-8") for s in items if s)
    if not keys:
        raise ValueError("no Shopify API secret configured")
    return keys


# --- webhooks ------------------------------------------------------------------------------------------------
# shopifyapp.verify_webhook_req passes the fixture/vectors, but it wants a request dict with a str body, and it
# json-parses the body for log redaction before checking the HMAC: an unsigned deeply nested body makes it raise
# RecursionError, and a non-ASCII header value makes hmac.compare_digest raise TypeError. The check itself is six
# lines, so it lives here.


def verify_webhook(raw_body: bytes, hmac_header: str | None, secrets: Sequence[str]) -> bool:
    """True when X-Shopify-Hmac-Sha256 is base64(HMAC-SHA256(secret, raw body)) for the current or an old secret."""
    keys = _secret_keys(secrets)
    if not hmac_header or not hmac_header.isascii():
        return False
    received = hmac_header.encode("ascii")
    ok = False
    for key in keys:  # every secret is tried, so timing does not tell which one matched
        expected = base64.b64encode(hmac.new(key, raw_body, hashlib.sha256).digest())
        ok |= hmac.compare_digest(expected, received)
    return ok


# --- signed query strings ------------------------------------------------------------------------------------


def _query_params(query: QueryInput) -> dict[str, list[str]] | None:
    """Parameters with every value kept in order; None when the query cannot be read."""
    if isinstance(query, bytes):
        try:
            query = query.decode("ascii")  # a raw query string is percent-encoded ASCII
        except UnicodeDecodeError:
            return None
    params: dict[str, list[str]] = {}
    if isinstance(query, str):
        try:
            pairs = parse_qsl(
                query.removeprefix("?"), keep_blank_values=True, errors="strict", max_num_fields=_MAX_QUERY_FIELDS
            )
        except ValueError:  # bad percent-encoded UTF-8, or too many fields
            return None
        for key, value in pairs:
            params.setdefault(key, []).append(value)
        return params
    for key, raw in query.items():
        if isinstance(raw, str):
            params[key] = [raw]
        elif isinstance(raw, Sequence) and all(isinstance(v, str) for v in raw):
            params[key] = list(raw)
        else:
            return None
    return params


def _single(params: Mapping[str, list[str]], key: str) -> str | None:
    # A repeated security parameter (hmac, signature, shop, timestamp) is refused rather than resolved: which copy
    # the app later reads would differ from the one that was checked.
    values = params.get(key)
    return values[0] if values is not None and len(values) == 1 else None


def _fresh(params: Mapping[str, list[str]], max_age: float | None, now: float | None) -> bool:
    if max_age is None:
        return True
    stamp = _single(params, "timestamp")
    if stamp is None or not _DIGITS.fullmatch(stamp):
        return False
    clock = time.time() if now is None else now
    return abs(clock - int(stamp)) <= max_age


def _hex_matches(keys: tuple[bytes, ...], message: str, given: str) -> bool:
    if not given.isascii():
        return False
    received = given.encode("ascii")
    ok = False
    for key in keys:
        expected = hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest().encode("ascii")
        ok |= hmac.compare_digest(expected, received)
    return ok


def _oauth_message(params: Mapping[str, list[str]]) -> str | None:
    """The signed string of an OAuth / app-home query, by the ShopifyAPI convention the vectors pin down."""
    pairs: list[str] = []
    for key, values in params.items():
        if key in ("hmac", "signature"):
            continue
        if key.endswith("[]"):
            # ids[]=2&ids[]=1 is signed as ids=["2", "1"]: a JSON list, order kept, ", " between items.
            name, value = key[:-2], json.dumps(values)
        elif len(values) == 1:
            name, value = key, values[0]
        else:
            return None  # Shopify never signs a repeated plain key; refuse rather than guess its rendering
        # Escape the delimiters so "a=1&b=2" inside a value cannot pose as two parameters.
        name = name.replace("%", "%25").replace("=", "%3D")
        value = value.replace("%", "%25")
        pairs.append(f"{name}={value}".replace("&", "%26"))
    return "&".join(sorted(pairs))


# shopifyapp has no OAuth authorization-code flow (it does token exchange), so there is nothing to wrap.
def verify_query_hmac(
    query: QueryInput,
    secrets: str | Sequence[str],
    *,
    max_age: float | None = DEFAULT_MAX_AGE,
    now: float | None = None,
) -> bool:
    """True when the query's hex ``hmac`` signs its other parameters (OAuth callback, app home URL) and is fresh."""
    keys = _secret_keys(secrets)
    params = _query_params(query)
    if params is None:
        return False
    given = _single(params, "hmac")
    message = _oauth_message(params)
    if given is None or message is None or not _fresh(params, max_age, now):
        return False
    return _hex_matches(keys, message, given)


def _proxy_message(params: Mapping[str, list[str]]) -> str:
    """The signed string of an App Proxy query: sorted "k=v1,v2" strings, no separator, blank values kept."""
    # Shopify's reference (Ruby: collect { "#{k}=#{Array(v).join(',')}" }.sort.join) sorts the joined strings, not
    # the keys; the two orders differ for keys like "page" and "page2" ("=" sorts after "2").
    return "".join(sorted(f"{key}={','.join(values)}" for key, values in params.items() if key != "signature"))


# shopifyapp.verify_app_proxy_req checks the 90 s window against time.time() with no way to pass a clock (the
# published vectors date from 2011) and sorts by key rather than by "k=v" string as Shopify's reference does.
def verify_app_proxy(
    query: QueryInput,
    secrets: str | Sequence[str],
    *,
    max_age: float | None = DEFAULT_MAX_AGE,
    now: float | None = None,
) -> bool:
    """True when an App Proxy request's hex ``signature`` signs its other parameters and its timestamp is fresh."""
    keys = _secret_keys(secrets)
    params = _query_params(query)
    if params is None:
        return False
    given = _single(params, "signature")
    if given is None or ("shop" in params and _single(params, "shop") is None):
        return False
    if not _fresh(params, max_age, now):
        return False
    return _hex_matches(keys, _proxy_message(params), given)


# --- session tokens ------------------------------------------------------------------------------------------
# shopifyapp checks session tokens only inside verify_app_home_req (a request dict plus a redirect path) through
# PyJWT with the system clock, so the published 2020 tokens cannot be checked, and it compares neither iss with
# dest nor dest with a *.myshopify.com origin. HS256 is one HMAC; done here without adding PyJWT.

SessionTokenFailure = Literal[
    "malformed",
    "unsupported_algorithm",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "wrong_audience",
    "bad_destination",
    "issuer_mismatch",
]


class InvalidSessionToken(Exception):
    """A session token (App Bridge ID token) that must not be trusted; ``reason`` says why."""

    def __init__(self, reason: SessionTokenFailure, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: SessionTokenFailure = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class SessionToken:
    """The verified claims of a session token."""

    shop: str  # lowercase myshopify domain, from dest
    user_id: str | None  # sub: the staff member, for online tokens
    session_id: str | None  # sid
    token_id: str | None  # jti
    issued_at: datetime | None
    not_before: datetime
    expires_at: datetime
    claims: Mapping[str, object] = field(compare=False)
    token: str = field(default="", repr=False, compare=False)  # the raw JWT, kept for token exchange; never logged


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _json_segment(segment: str, what: str) -> dict[str, object]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw, parse_constant=_reject_constant)
    except (binascii.Error, ValueError, RecursionError) as exc:  # bad base64, bad UTF-8, bad JSON, NaN
        raise InvalidSessionToken("malformed", f"{what} is not base64url JSON") from exc
    if not isinstance(value, dict):
        raise InvalidSessionToken("malformed", f"{what} is not a JSON object")
    return value


def _number_claim(claims: Mapping[str, object], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSessionToken("malformed", f"{name} claim missing or not a number")
    return float(value)


def _optional_str_claim(claims: Mapping[str, object], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


def _issuer_host(iss: object) -> str | None:
    if not isinstance(iss, str):
        return None
    try:
        parts = urlsplit(iss)
        port = parts.port  # raises on a non-numeric port
    except ValueError:
        return None
    if parts.scheme != "https" or port is not None or parts.username is not None or parts.password is not None:
        return None
    return parts.hostname  # already lowercase


def decode_session_token(
    token: str,
    api_key: str,
    secrets: str | Sequence[str],
    *,
    now: float | None = None,
    leeway: float = 10.0,
) -> SessionToken:
    """Verify an App Bridge session token (HS256 JWT) and return its claims, or raise InvalidSessionToken."""
    keys = _secret_keys(secrets)
    if not api_key:
        raise ValueError("no Shopify API key configured")
    if not isinstance(token, str) or not token.isascii():
        raise InvalidSessionToken("malformed", "not an ASCII string")
    parts = token.split(".")
    if len(parts) != 3 or not all(_B64URL_SEGMENT.fullmatch(p) for p in parts):
        raise InvalidSessionToken("malformed", "expected three base64url segments")

    header = _json_segment(parts[0], "header")
    # Only HS256 is ever right: "none" or an asymmetric alg would let the token choose how it is checked.
    if header.get("alg") != "HS256":
        raise InvalidSessionToken("unsupported_algorithm", repr(header.get("alg")))
    if "crit" in header:
        raise InvalidSessionToken("malformed", "critical header extensions are not supported")

    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    received = parts[2].encode("ascii")
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(_b64url(hmac.new(key, signing_input, hashlib.sha256).digest()), received)
    if not ok:
        raise InvalidSessionToken("bad_signature")

    # Claims are read only once the signature holds.
    claims = _json_segment(parts[1], "payload")
    exp = _number_claim(claims, "exp")
    nbf = _number_claim(claims, "nbf")
    iat = None if claims.get("iat") is None else _number_claim(claims, "iat")
    clock = time.time() if now is None else now
    if exp <= clock - leeway:
        raise InvalidSessionToken("expired", f"exp {exp:.0f} is before {clock - leeway:.0f}")
    if nbf > clock + leeway:
        raise InvalidSessionToken("not_yet_valid", f"nbf {nbf:.0f} is after {clock + leeway:.0f}")

    # @shopify/shopify-api's decodeSessionToken compares `payload.aud !== config.apiKey` with no audience option
    # to jose: only the app's key as a plain string passes; a list, even one holding the key, is refused.
    if claims.get("aud") != api_key:
        raise InvalidSessionToken("wrong_audience")

    dest = claims.get("dest")
    match = _DEST_RE.fullmatch(dest) if isinstance(dest, str) else None
    if match is None:
        raise InvalidSessionToken("bad_destination", repr(dest))
    shop = match.group(1).lower()
    if _issuer_host(claims.get("iss")) != shop:
        raise InvalidSessionToken("issuer_mismatch", f"iss {claims.get('iss')!r} is not on {shop}")

    return SessionToken(
        shop=shop,
        user_id=_optional_str_claim(claims, "sub"),
        session_id=_optional_str_claim(claims, "sid"),
        token_id=_optional_str_claim(claims, "jti"),
        issued_at=None if iat is None else datetime.fromtimestamp(iat, UTC),
        not_before=datetime.fromtimestamp(nbf, UTC),
        expires_at=datetime.fromtimestamp(exp, UTC),
        claims=MappingProxyType(claims),
        token=token,
    )


# --- shop and host -------------------------------------------------------------------------------------------


def is_valid_shop_domain(shop: object) -> bool:
    """True for a bare ``<name>.myshopify.com`` (anchored: no scheme, path, port, suffix or trailing newline)."""
    return isinstance(shop, str) and _SHOP_RE.fullmatch(shop) is not None


class InvalidHost(ValueError):
    """The ``host`` query parameter is not base64 of a printable host/path."""


def decode_host(host: str) -> str:
    """Decode Shopify's ``host`` parameter, which is base64 with its ``=`` padding stripped."""
    if not isinstance(host, str) or not _HOST_B64.fullmatch(host):
        raise InvalidHost("host is not base64")
    bare = host.rstrip("=")
    try:
        decoded = base64.b64decode((bare + "=" * (-len(bare) % 4)).translate(_URLSAFE_TO_STD), validate=True)
        text = decoded.decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidHost("host is not base64 of ASCII") from exc
    if not text or not text.isprintable() or any(c.isspace() for c in text):
        raise InvalidHost("host decodes to an empty or unprintable value")
    return text
