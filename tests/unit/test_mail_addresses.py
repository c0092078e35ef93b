"""Addresses on the wire (IDNA domains, SMTPUTF8 local parts) and which refusals are hard bounces."""

from __future__ import annotations

import pytest

from app.infra.mail import AddressError, Mailer, envelope_address
from app.services.notify.suppressions import is_hard_bounce
from tests.smtpd import smtp_server


def test_the_domain_goes_out_in_idna_and_the_local_part_as_given() -> None:
    assert envelope_address("ann@exämple.com") == "ann@xn--exmple-cua.com"
    assert envelope_address("jöhn.dœ@exämple.com") == "jöhn.dœ@xn--exmple-cua.com"
    assert envelope_address("ann@example.com") == "ann@example.com"
    for bad in ("no-at-sign", "ann@", "@example.com", "ann@exa\u200bmple..com", "a\r\nb@example.com"):
        with pytest.raises(AddressError):
            envelope_address(bad)


@pytest.mark.parametrize("smtputf8", [True, False])
def test_a_non_ascii_local_part_needs_smtputf8_and_leaves_the_connection_usable(smtputf8: bool) -> None:
    with smtp_server(smtputf8=smtputf8) as (handler, url), Mailer(url) as mailer:
        data = b"Subject: hi\r\n\r\nhello\r\n"
        if smtputf8:
            assert mailer.send(data, sender="bs@mail.test", recipients=["jöhn@exämple.com"]).code == 250
        else:
            with pytest.raises(AddressError, match="SMTPUTF8"):
                mailer.send(data, sender="bs@mail.test", recipients=["jöhn@exämple.com"])
        # The same connection then carries an ASCII message as usual.
        assert mailer.send(data, sender="bs@mail.test", recipients=["ann@exämple.com"]).code == 250
    expected = (["jöhn@xn--exmple-cua.com"] if smtputf8 else []) + ["ann@xn--exmple-cua.com"]
    assert [r.rcpt_tos[0] for r in handler.received] == expected


@pytest.mark.parametrize(
    ("code", "reply", "at_rcpt", "hard"),
    [
        (550, "5.1.1 no such user", False, True),
        (550, "5.1.1 no such user", True, True),
        (550, "no such user", True, True),
        (553, "mailbox name not allowed", True, True),
        (550, "no such user", False, False),  # at DATA without an enhanced code: could be the content
        (554, "5.7.1 rejected as spam", False, False),
        (550, "5.7.1 rejected by policy", True, False),
        (552, "5.2.2 mailbox full", True, False),
        (451, "4.1.1 try later", True, False),
        (0, "address not sendable", False, False),
    ],
)
def test_only_a_refusal_of_the_mailbox_itself_is_a_hard_bounce(
    code: int, reply: str, at_rcpt: bool, hard: bool
) -> None:
    assert is_hard_bounce(code, reply, at_rcpt=at_rcpt) is hard
