"""SMTP transport from SMTP_URL, with connection reuse and a commit point inside DATA.

``SMTP_URL``: ``smtp://[user:pass@]host:port`` (STARTTLS with ``?starttls=1`` or on port 587) or
``smtps://[user:pass@]host:port`` (implicit TLS).

Sent means accepted: ``Mailer.send(data, before_commit_point=hook)`` writes the whole message body, then
calls ``hook`` (which records the attempt, and may refuse it), and only then writes the final ``.``; the
caller marks the message sent only once ``send`` returns the server's 2xx reply to that dot. A worker killed
before the dot leaves a half-sent DATA that the server discards when the connection drops; one killed between
the dot and the recorded reply leaves the row unsent, so a resume sends that one message again: at most one
duplicate per connection, never a row marked sent that the server did not accept. If the hook refuses
(raises), the connection is dropped without the dot, so nothing is delivered.

Addresses: the domain always goes out in IDNA (punycode); a non-ASCII local part needs a server that offers
SMTPUTF8, else ``AddressError`` is raised before any command is written (a permanent failure of that
recipient alone, the connection stays usable).
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from urllib.parse import parse_qs, unquote, urlsplit

import idna

log = logging.getLogger(__name__)

__all__ = ["AddressError", "DeliveryResult", "Mailer", "SmtpConfig", "envelope_address", "parse_smtp_url"]

CRLF = b"\r\n"
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to connect."""

    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = DEFAULT_TIMEOUT


def parse_smtp_url(url: str) -> SmtpConfig:
    """Parse ``smtp://`` / ``smtps://`` URLs; raises ValueError on anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"SMTP_URL must start with smtp:// or smtps://, not {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("SMTP_URL has no host")
    implicit = parts.scheme == "smtps"
    port = parts.port or (465 if implicit else 25)
    query = parse_qs(parts.query)
    flag = (query.get("starttls") or [""])[0].lower()
    starttls = not implicit and (flag in ("1", "true", "yes", "on") or (port == 587 and flag not in ("0", "false")))
    timeout = float((query.get("timeout") or [str(DEFAULT_TIMEOUT)])[0])
    return SmtpConfig(
        host=parts.hostname,
        port=port,
        implicit_tls=implicit,
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=timeout,
    )


class AddressError(ValueError):
    """An address that cannot go out: a domain with no IDNA form, or a non-ASCII local part without SMTPUTF8."""


def envelope_address(address: str) -> str:
    """The address as SMTP carries it: the domain in IDNA (punycode), the local part as given."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(ch in address for ch in "\r\n\x00<>"):
        raise AddressError(f"not a mailbox address: {address!r}")
    if domain.isascii():
        return address
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise AddressError(f"the domain {domain!r} has no IDNA form: {exc}") from exc
    return f"{local}@{ascii_domain}"


def needs_smtputf8(address: str) -> bool:
    """True when the local part is not ASCII (only a server offering SMTPUTF8 can take it)."""
    return not address.rpartition("@")[0].isascii()


class CommitPointRefused(Exception):
    """The commit hook declined the send (e.g. another worker already sent this delivery)."""


class _HookedSMTP(smtplib.SMTP):
    """smtplib.SMTP whose DATA stops before the final dot to run a commit hook."""

    def data_with_hook(
        self, msg: bytes, before_dot: Callable[[], None], after_dot: Callable[[], None] | None = None
    ) -> tuple[int, bytes]:
        """DATA with ``before_dot`` run after the body is written and before the terminating ``.``.

        ``after_dot`` runs while the server digests the message, between the dot and its reply.
        """
        self.putcmd("data")
        code, repl = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, repl)
        q = smtplib._quote_periods(msg)  # type: ignore[attr-defined]  # the same dot-stuffing smtplib uses
        if q[-2:] != CRLF:
            q += CRLF
        self.send(q)
        try:
            before_dot()
        except BaseException:
            # No dot: the server never accepts this message and discards it when the socket closes.
            self.close()
            raise
        self.send(b"." + CRLF)
        if after_dot is not None:
            try:
                after_dot()
            except Exception:
                # Only the caller's own work; the reply must still be read, or the connection is out of step.
                log.exception("work done while waiting for the SMTP reply failed")
        return self.getreply()


class _HookedSMTPSSL(_HookedSMTP, smtplib.SMTP_SSL):
    """Implicit-TLS variant."""


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What the server said after the final dot."""

    code: int
    reply: str

    @property
    def accepted(self) -> bool:
        """2xx: the server took responsibility for the message."""
        return 200 <= self.code < 300

    @property
    def transient(self) -> bool:
        """4xx: worth retrying later."""
        return 400 <= self.code < 500


class Mailer:
    """One reusable SMTP connection; reconnects when the server hung up between messages."""

    def __init__(self, config: SmtpConfig | str, *, local_hostname: str | None = None) -> None:
        self.config = parse_smtp_url(config) if isinstance(config, str) else config
        self.local_hostname = local_hostname
        self._smtp: _HookedSMTP | None = None
        self.sent = 0

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> _HookedSMTP:
        c = self.config
        smtp: _HookedSMTP
        if c.implicit_tls:
            smtp = _HookedSMTPSSL(
                c.host, c.port, local_hostname=self.local_hostname, timeout=c.timeout,
                context=ssl.create_default_context(),
            )  # fmt: skip
        else:
            smtp = _HookedSMTP(c.host, c.port, local_hostname=self.local_hostname, timeout=c.timeout)
        # DATA is written in two pieces (body, then the dot after the commit point): without TCP_NODELAY
        # Nagle's algorithm holds the dot back until the body is ACKed, 40 ms of delayed ACK per message.
        if smtp.sock is not None:
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        smtp.ehlo()
        if c.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if c.username:
            smtp.login(c.username, c.password or "")
        return smtp

    def connection(self) -> _HookedSMTP:
        """The open connection, opened on first use."""
        if self._smtp is None:
            self._smtp = self._connect()
        return self._smtp

    def close(self) -> None:
        """QUIT politely; a dead connection is simply dropped."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _envelope(self, smtp: _HookedSMTP, sender: str, recipients: list[str], size: int) -> None:
        options: list[str] = []
        if smtp.does_esmtp and smtp.has_extn("size"):
            options.append(f"size={size}")
        # smtplib switches to UTF-8 commands for an SMTPUTF8 transaction and never back: every envelope says.
        smtp.command_encoding = "ascii"
        if any(needs_smtputf8(a) for a in (sender, *recipients)):
            if not (smtp.does_esmtp and smtp.has_extn("smtputf8")):
                raise AddressError("the SMTP server does not offer SMTPUTF8, needed for a non-ASCII local part")
            options.append("SMTPUTF8")
        code, resp = smtp.mail(sender, options)
        if code != 250:
            smtp.rset()
            raise smtplib.SMTPSenderRefused(code, resp, sender)
        refused: dict[str, tuple[int, bytes]] = {}
        for rcpt in recipients:
            code, resp = smtp.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, resp)
        if len(refused) == len(recipients):
            smtp.rset()
            raise smtplib.SMTPRecipientsRefused(refused)

    def send(
        self,
        data: bytes | EmailMessage,
        *,
        sender: str | None = None,
        recipients: list[str] | None = None,
        before_commit_point: Callable[[], None] | None = None,
        while_waiting: Callable[[], None] | None = None,
    ) -> DeliveryResult:
        """Send one message; ``before_commit_point`` runs right before the final dot of DATA.

        ``while_waiting`` runs after the dot, before the server's reply is read: a sender prepares its next
        message there instead of on the critical path (it must not use this connection).

        A server that hung up between messages is reconnected once, as long as nothing of this
        message's DATA was written yet. After the hook ran, a lost connection is not retried here:
        the message may have been accepted; the caller, which has not marked it sent, sends it again later.
        Raises ``AddressError`` (permanent, nothing written) for an address this server cannot carry.
        """
        if isinstance(data, EmailMessage):
            sender = sender or getaddresses([str(data["From"])])[0][1]
            recipients = recipients or [a for _, a in getaddresses([str(v) for v in data.get_all("To", [])])]
            data = data.as_bytes(policy=data.policy.clone(linesep="\r\n"))
        if not sender or not recipients:
            raise ValueError("a message needs a sender and at least one recipient")
        # Encoded before any command, so a bad address fails alone and leaves the connection in step.
        sender = envelope_address(sender)
        recipients = [envelope_address(r) for r in recipients]
        hook = before_commit_point or (lambda: None)
        for attempt in (1, 2):
            smtp = self.connection()
            try:
                self._envelope(smtp, sender, recipients, len(data))
                break
            except smtplib.SMTPServerDisconnected:
                self._smtp = None
                if attempt == 2:
                    raise
                log.info("SMTP server closed the connection; reconnecting")
        try:
            code, reply = smtp.data_with_hook(data, hook, while_waiting)
        except smtplib.SMTPServerDisconnected:
            self._smtp = None
            raise
        except BaseException:
            if smtp.sock is None:
                self._smtp = None
            raise
        self.sent += 1
        return DeliveryResult(code, reply.decode("utf-8", "replace"))
