"""A real aiosmtpd server for tests: collects every envelope; replies can be scripted per recipient."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any, cast

from aiosmtpd.controller import Controller


@dataclass
class Received:
    """One accepted message."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """The message parsed with the modern policy."""
        return cast("EmailMessage", message_from_bytes(self.data, policy=default_policy))


@dataclass
class Collector:
    """aiosmtpd handler: accepts and records, unless a recipient has a scripted reply."""

    received: list[Received] = field(default_factory=list)
    # recipient → SMTP reply returned at DATA (e.g. "451 try later", "550 no such user").
    replies: dict[str, str] = field(default_factory=dict)
    # recipient → SMTP reply returned to its RCPT TO (e.g. "550 5.1.1 no such user").
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for rcpt in envelope.rcpt_tos:
            if rcpt in self.replies:
                return self.replies[rcpt]
        raw = envelope.original_content or envelope.content or b""
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(raw)))
        return "250 OK"

    def by_rcpt(self) -> dict[str, int]:
        """How many messages each recipient got."""
        counts: dict[str, int] = {}
        with self.lock:
            for r in self.received:
                for rcpt in r.rcpt_tos:
                    counts[rcpt] = counts.get(rcpt, 0) + 1
        return counts


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server(*, smtputf8: bool = False) -> Iterator[tuple[Collector, str]]:
    """A running aiosmtpd server and its smtp:// URL; ``smtputf8`` makes it advertise SMTPUTF8."""
    handler = Collector()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        yield handler, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()
