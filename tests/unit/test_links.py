"""Signed email links: each purpose refuses the other's tokens, forgeries read as None."""

from __future__ import annotations

import hashlib

from app.infra import links

SECRET = "test-secret-key-for-links"
APP = "https://backsoon.example.com/"


def test_unsubscribe_url_round_trips_the_subscription_id() -> None:
    url = links.unsubscribe_url(APP, SECRET, 42)
    assert url.startswith("https://backsoon.example.com/u/")
    token = url.rsplit("/", 1)[1]
    assert links.read_unsubscribe_token(SECRET, token) == 42


def test_buy_url_round_trips_the_delivery_id() -> None:
    url = links.buy_url(APP, SECRET, 7)
    assert url.startswith("https://backsoon.example.com/r/")
    assert links.read_buy_token(SECRET, url.rsplit("/", 1)[1]) == 7


def test_a_token_for_one_purpose_is_refused_by_the_other() -> None:
    unsub = links.unsubscribe_token(SECRET, 5)
    buy = links.buy_token(SECRET, 5)
    assert unsub != buy
    assert links.read_buy_token(SECRET, unsub) is None
    assert links.read_unsubscribe_token(SECRET, buy) is None


def test_another_secret_or_a_tampered_token_reads_as_none() -> None:
    token = links.unsubscribe_token(SECRET, 5)
    assert links.read_unsubscribe_token("another-secret", token) is None
    assert links.read_unsubscribe_token(SECRET, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert links.read_unsubscribe_token(SECRET, "") is None
    assert links.read_unsubscribe_token(SECRET, "not.a.token") is None


def test_only_positive_int_ids_are_accepted() -> None:
    from itsdangerous import URLSafeSerializer

    for value in (True, 0, -3, "5", 1.5, None):
        forged = URLSafeSerializer(SECRET, salt="backsoon.unsubscribe.v1").dumps(value)
        assert links.read_unsubscribe_token(SECRET, str(forged)) is None


def test_confirm_token_stores_only_its_hash() -> None:
    raw, digest = links.new_confirm_token()
    assert digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in digest
    assert len(raw) == 43
    assert links.confirm_url(APP, raw) == f"https://backsoon.example.com/c/{raw}"
    assert links.new_confirm_token()[0] != raw


def test_unsubscribe_mailto_carries_the_token_in_the_subject() -> None:
    token = links.unsubscribe_token(SECRET, 9)
    assert links.unsubscribe_mailto("restock@shop.example", SECRET, 9) == (
        f"mailto:restock@shop.example?subject=unsubscribe%20{token}"
    )
