"""A local SMTP sink for the demo: accepts every message on 127.0.0.1 and keeps the latest ones in memory.

`make demo` starts one when SMTP_URL is unset, points the mailer at it, and /demo/mail shows what arrived,
so the restock flow can be watched end to end without a mail server.
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["MailSink", "ReceivedMessage", "active_sink", "start_sink", "stop_sink"]

DEFAULT_CAPACITY = 200


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message the sink accepted, parsed with the modern email policy."""

    id: int
    received_at: datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    size: int

    @property
    def subject(self) -> str:
        """The decoded Subject header ('' when absent)."""
        return str(self.message.get("Subject", ""))

    def header(self, name: str) -> str | None:
        """A decoded header value, or None when the message has none."""
        value = self.message.get(name)
        return None if value is None else str(value)

    def body(self, subtype: str) -> str | None:
        """The text/<subtype> part's content ('plain' or 'html'), or None when there is none."""
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None or part.get_content_type() != f"text/{subtype}":
            return None
        return cast("str", part.get_content())


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        self.sink.add(envelope.mail_from or "", tuple(envelope.rcpt_tos), data)
        return "250 Message accepted for delivery"


def _free_port(host: str) -> int:
    # aiosmtpd's Controller connects to its own port to check it started, so port 0 cannot be passed through.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MailSink:
    """An in-process SMTP server keeping the last `capacity` messages; safe to read from any thread."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, capacity: int = DEFAULT_CAPACITY) -> None:
        self.host = host
        self.port = port or _free_port(host)
        self._messages: deque[ReceivedMessage] = deque(maxlen=capacity)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """The SMTP_URL that sends into this sink."""
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> MailSink:
        """Start listening (idempotent)."""
        if self._controller is None:
            controller = Controller(
                _Handler(self), hostname=self.host, port=self.port, ready_timeout=5.0, enable_SMTPUTF8=True
            )
            controller.start()
            self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening; the messages received so far stay readable."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        """Whether the SMTP server is listening."""
        return self._controller is not None

    def add(self, mail_from: str, rcpt_tos: tuple[str, ...], data: bytes) -> ReceivedMessage:
        """Store one message (the SMTP handler calls this; tests may too)."""
        parsed = message_from_bytes(data, policy=default_policy)
        with self._lock:
            item = ReceivedMessage(
                id=next(self._ids),
                received_at=datetime.now(UTC),
                mail_from=mail_from,
                rcpt_tos=rcpt_tos,
                message=parsed,
                size=len(data),
            )
            self._messages.append(item)
        return item

    def messages(self) -> list[ReceivedMessage]:
        """Every kept message, newest first."""
        with self._lock:
            return list(reversed(self._messages))

    def get(self, message_id: int) -> ReceivedMessage | None:
        """One kept message by id, or None when unknown or already dropped."""
        with self._lock:
            return next((m for m in self._messages if m.id == message_id), None)

    def clear(self) -> None:
        """Forget every message."""
        with self._lock:
            self._messages.clear()

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


_active: MailSink | None = None
_active_lock = threading.Lock()


def start_sink(host: str = "127.0.0.1", port: int | None = None) -> MailSink:
    """Start the process's sink (or return the running one); /demo/mail reads from it."""
    global _active
    with _active_lock:
        if _active is None or not _active.running:
            _active = MailSink(host, port).start()
        return _active


def active_sink() -> MailSink | None:
    """The sink this process started, if any."""
    with _active_lock:
        return _active


def stop_sink() -> None:
    """Stop and forget the process's sink."""
    global _active
    with _active_lock:
        if _active is not None:
            _active.stop()
        _active = None
