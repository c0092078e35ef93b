"""Whether the configured SMTP server offers SMTPUTF8, for signups: probed at start, cached in the process.

A signup whose local part is not ASCII (``jöhn@…``) is accepted only while the server advertises SMTPUTF8, or
the address could never be mailed. The answer lives in this process (each web worker has its own): the app
factory starts a probe in the background (EHLO, then QUIT), and a read finding the answer older than
``REFRESH_SECONDS`` (``RETRY_SECONDS`` while unknown) starts one more probe in the background and answers
with what it has. A signup therefore never opens an SMTP connection or waits on one. Unknown (no SMTP_URL,
server not reached yet) counts as not offered: the signup is refused rather than kept for an email that may
never go out.
"""

from __future__ import annotations

import logging
import os
import smtplib
import threading
import time
from collections.abc import Callable

from app.infra.mail import parse_smtp_url

log = logging.getLogger(__name__)

__all__ = ["SmtpUtf8Cache", "cache_for", "probe_smtputf8", "smtputf8_offered"]

REFRESH_SECONDS = 600.0
RETRY_SECONDS = 30.0
PROBE_TIMEOUT = 10.0


def probe_smtputf8(smtp_url: str) -> bool:
    """Connect, EHLO (after STARTTLS if configured) and QUIT: does the server advertise SMTPUTF8?"""
    config = parse_smtp_url(smtp_url)
    timeout = min(config.timeout, PROBE_TIMEOUT)
    smtp: smtplib.SMTP
    if config.implicit_tls:
        smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=timeout)
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=timeout)
    try:
        smtp.ehlo()
        if config.starttls:
            smtp.starttls()
            smtp.ehlo()
        return bool(smtp.does_esmtp and smtp.has_extn("smtputf8"))
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


class SmtpUtf8Cache:
    """One server's SMTPUTF8 answer, refreshed in the background; reads never block."""

    def __init__(
        self,
        smtp_url: str | None,
        *,
        probe: Callable[[str], bool] = probe_smtputf8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.smtp_url = smtp_url
        self.probe = probe
        self.clock = clock
        self.value: bool | None = None
        self.checked_at: float | None = None
        self._lock = threading.Lock()
        self._refreshing = False
        # The process whose thread is probing: a copy forked meanwhile (gunicorn --preload) must start its own.
        self._refreshing_pid = 0

    def refresh(self) -> bool | None:
        """Probe now (blocking) and keep the answer; None (and nothing kept) when the server cannot be reached."""
        if not self.smtp_url:
            return None
        try:
            value: bool | None = self.probe(self.smtp_url)
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            log.warning("SMTPUTF8 probe of the SMTP server failed: %s", exc)
            value = None
        with self._lock:
            if value is not None:
                self.value = value
            self.checked_at = self.clock()
            self._refreshing = False
        return value

    def start(self) -> None:
        """Probe in the background (the app factory calls this at start)."""
        with self._lock:
            if (self._refreshing and self._refreshing_pid == os.getpid()) or not self.smtp_url:
                return
            self._refreshing, self._refreshing_pid = True, os.getpid()
        threading.Thread(target=self.refresh, name="smtputf8-probe", daemon=True).start()

    def offered(self) -> bool:
        """The cached answer (False while unknown); a stale one is refreshed in the background."""
        with self._lock:
            value, checked = self.value, self.checked_at
        if checked is None:
            self.start()  # no probe has finished yet: one is (or is now) on its way
        else:
            age = self.clock() - checked
            if age >= (REFRESH_SECONDS if value is not None else RETRY_SECONDS):
                self.start()
        return bool(value)


_caches: dict[str, SmtpUtf8Cache] = {}
_caches_lock = threading.Lock()


def cache_for(smtp_url: str | None) -> SmtpUtf8Cache:
    """This process's cache for a server (one per SMTP_URL)."""
    key = smtp_url or ""
    with _caches_lock:
        cache = _caches.get(key)
        if cache is None:
            cache = _caches[key] = SmtpUtf8Cache(smtp_url)
        return cache


def smtputf8_offered(smtp_url: str | None) -> bool:
    """Whether signups may take a non-ASCII local part now (cached; never blocks on SMTP)."""
    return cache_for(smtp_url).offered()
