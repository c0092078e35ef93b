"""The SMTP transport against a real aiosmtpd server: URL parsing, reuse, reconnect, the commit hook."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from app.infra.mail import CommitPointRefused, Mailer, SmtpConfig, parse_smtp_url
from tests.smtpd import Collector, smtp_server


@pytest.fixture
def server() -> Iterator[tuple[Collector, str]]:
    with smtp_server() as s:
        yield s


def _msg(to: str, body: str = "hello\n.leading dot\n") -> EmailMessage:
    m = EmailMessage()
    m["From"] = "Shop <restock@shop.test>"
    m["To"] = to
    m["Subject"] = "hi"
    m.set_content(body)
    return m


def test_parse_smtp_urls() -> None:
    assert parse_smtp_url("smtp://127.0.0.1:1025") == SmtpConfig("127.0.0.1", 1025)
    assert parse_smtp_url("smtp://mail.test") == SmtpConfig("mail.test", 25)
    assert parse_smtp_url("smtp://u%40x:p%3Aw@mail.test:587") == SmtpConfig(
        "mail.test", 587, starttls=True, username="u@x", password="p:w"
    )
    assert parse_smtp_url("smtp://mail.test:2525?starttls=1").starttls is True
    assert parse_smtp_url("smtp://mail.test:587?starttls=0").starttls is False
    assert parse_smtp_url("smtps://mail.test") == SmtpConfig("mail.test", 465, implicit_tls=True)
    with pytest.raises(ValueError, match="smtp://"):
        parse_smtp_url("http://mail.test")
    with pytest.raises(ValueError, match="no host"):
        parse_smtp_url("smtp://")


def test_one_connection_for_many_messages_and_dot_stuffing(server: tuple[Collector, str]) -> None:
    handler, url = server
    with Mailer(url) as mailer:
        first = mailer.connection()
        for i in range(5):
            result = mailer.send(_msg(f"s{i}@example.test"))
            assert (result.code, result.accepted) == (250, True)
        assert mailer.connection() is first
    assert [r.rcpt_tos for r in handler.received] == [[f"s{i}@example.test"] for i in range(5)]
    assert handler.received[0].mail_from == "restock@shop.test"
    assert handler.received[0].message.get_content() == "hello\r\n.leading dot\r\n"


def test_hook_runs_before_the_final_dot(server: tuple[Collector, str]) -> None:
    handler, url = server
    seen: list[int] = []
    with Mailer(url) as mailer:
        mailer.send(_msg("a@example.test"), before_commit_point=lambda: seen.append(len(handler.received)))
    # The hook ran while the server had not yet accepted the message.
    assert seen == [0]
    assert len(handler.received) == 1


def test_while_waiting_runs_after_the_dot_and_before_the_reply_is_read(server: tuple[Collector, str]) -> None:
    handler, url = server
    order: list[str] = []
    with Mailer(url) as mailer:
        result = mailer.send(
            _msg("a@example.test"),
            before_commit_point=lambda: order.append("commit"),
            while_waiting=lambda: order.append("waiting"),
        )
        # A failing while_waiting is logged, not raised: the message's reply is still read and reported.
        failing = mailer.send(_msg("b@example.test"), while_waiting=lambda: 1 / 0 and None)
        assert mailer.send(_msg("c@example.test")).accepted
    assert order == ["commit", "waiting"]
    assert (result.code, failing.code) == (250, 250)
    assert [r.rcpt_tos for r in handler.received] == [["a@example.test"], ["b@example.test"], ["c@example.test"]]


def test_while_waiting_is_not_called_when_the_commit_point_refuses(server: tuple[Collector, str]) -> None:
    handler, url = server
    called: list[bool] = []

    def refuse() -> None:
        raise CommitPointRefused("already sent")

    with Mailer(url) as mailer, pytest.raises(CommitPointRefused):
        mailer.send(_msg("a@example.test"), before_commit_point=refuse, while_waiting=lambda: called.append(True))
    assert called == []
    assert handler.received == []


def test_refusing_hook_drops_the_message_and_reconnects(server: tuple[Collector, str]) -> None:
    handler, url = server

    def refuse() -> None:
        raise CommitPointRefused("already sent")

    with Mailer(url) as mailer:
        with pytest.raises(CommitPointRefused):
            mailer.send(_msg("a@example.test"), before_commit_point=refuse)
        assert mailer.send(_msg("b@example.test")).accepted
    assert [r.rcpt_tos for r in handler.received] == [["b@example.test"]]


def test_reconnects_when_the_server_hung_up(server: tuple[Collector, str]) -> None:
    handler, url = server
    with Mailer(url) as mailer:
        mailer.send(_msg("a@example.test"))
        # Simulate an idle timeout: the socket is gone under the mailer.
        conn = mailer.connection()
        assert conn.sock is not None
        conn.sock.close()
        assert mailer.send(_msg("b@example.test")).accepted
    assert [r.rcpt_tos for r in handler.received] == [["a@example.test"], ["b@example.test"]]


def test_refusal_after_dot_is_reported_not_raised(server: tuple[Collector, str]) -> None:
    handler, url = server
    handler.replies["full@example.test"] = "452 mailbox full"
    with Mailer(url) as mailer:
        result = mailer.send(_msg("full@example.test"))
    assert (result.code, result.accepted, result.transient) == (452, False, True)
    assert handler.received == []


def test_unreachable_server_raises() -> None:
    with Mailer("smtp://127.0.0.1:9?timeout=2") as mailer, pytest.raises(OSError):
        mailer.send(_msg("a@example.test"))


def test_message_without_recipient_is_refused(server: tuple[Collector, str]) -> None:
    _, url = server
    m = _msg("a@example.test")
    del m["To"]
    with Mailer(url) as mailer, pytest.raises(ValueError, match="recipient"):
        mailer.send(m)
    assert smtplib.SMTP is not None
