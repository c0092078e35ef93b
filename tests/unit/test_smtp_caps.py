"""The SMTPUTF8 answer signups read: cached, refreshed in the background when stale, never probed per read."""

from __future__ import annotations

import threading

from app.infra.smtp_caps import REFRESH_SECONDS, RETRY_SECONDS, SmtpUtf8Cache


class Probe:
    """A stand-in server probe: counts calls, answers from a script, signals each finished call."""

    def __init__(self, *answers: bool | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.done = threading.Semaphore(0)

    def __call__(self, url: str) -> bool:
        self.calls += 1
        try:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        finally:
            self.done.release()


def _settle(cache: SmtpUtf8Cache, probe: Probe) -> None:
    assert probe.done.acquire(timeout=10)
    while cache._refreshing:  # the probe returned; its thread is storing the answer
        threading.Event().wait(0.001)


def test_reads_use_the_cached_answer_and_refresh_it_in_the_background_when_stale() -> None:
    now = [1000.0]
    probe = Probe(True, False)
    cache = SmtpUtf8Cache("smtp://mail.test:25", probe=probe, clock=lambda: now[0])
    cache.start()  # the app factory's probe at start
    _settle(cache, probe)
    assert [cache.offered() for _ in range(50)] == [True] * 50
    assert probe.calls == 1  # fifty signups, no probe
    now[0] += REFRESH_SECONDS
    assert cache.offered() is True  # stale: answered from the cache, a refresh started
    _settle(cache, probe)
    assert probe.calls == 2
    assert cache.offered() is False  # the server stopped advertising SMTPUTF8


def test_unknown_counts_as_not_offered_and_is_retried_sooner() -> None:
    now = [0.0]
    probe = Probe(OSError("connection refused"), True)
    cache = SmtpUtf8Cache("smtp://mail.test:25", probe=probe, clock=lambda: now[0])
    assert cache.offered() is False  # nothing known yet: a probe starts
    _settle(cache, probe)
    assert (cache.offered(), probe.calls) == (False, 1)
    now[0] += RETRY_SECONDS
    cache.offered()
    _settle(cache, probe)
    assert (cache.offered(), probe.calls) == (True, 2)


def test_without_an_smtp_url_nothing_is_probed() -> None:
    probe = Probe()
    cache = SmtpUtf8Cache(None, probe=probe)
    assert (cache.offered(), cache.refresh(), probe.calls) == (False, None, 0)
