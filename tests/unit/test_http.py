"""The shared HTTP session: default timeouts, retries only for idempotent methods, the BackSoon user agent."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import responses

from integrations.http import DEFAULT_TIMEOUT, USER_AGENT, TimeoutHTTPAdapter, make_session

URL = "https://api.example.test/resource"


def test_user_agent_names_backsoon() -> None:
    assert USER_AGENT.startswith("BackSoon/")
    assert make_session().headers["User-Agent"] == USER_AGENT
    assert make_session(user_agent="BackSoon-test/1").headers["User-Agent"] == "BackSoon-test/1"


def test_both_schemes_use_the_hardened_adapter() -> None:
    session = make_session(retries=2)
    for prefix in ("https://", "http://"):
        adapter = session.get_adapter(prefix + "example.test")
        assert isinstance(adapter, TimeoutHTTPAdapter)
        assert adapter.timeout == DEFAULT_TIMEOUT
        retry = adapter.max_retries
        assert (retry.total, retry.connect, retry.read, retry.status) == (2, 2, 2, 2)
        assert retry.allowed_methods is not None
        assert "POST" not in retry.allowed_methods and "PATCH" not in retry.allowed_methods
        assert set(retry.status_forcelist or ()) == {502, 503, 504}
    no_retries = make_session(retries=0).get_adapter("https://example.test")
    assert isinstance(no_retries, TimeoutHTTPAdapter)
    assert no_retries.max_retries.read is False  # a read timeout stays a ReadTimeout


@responses.activate
def test_every_request_gets_the_default_timeout_unless_it_sets_one() -> None:
    responses.get(URL, body="ok")
    responses.post(URL, body="ok")
    session = make_session(timeout=(2.0, 9.0))

    session.get(URL)
    session.post(URL, data=b"x")
    session.get(URL, timeout=1.5)

    timeouts = [call.request.req_kwargs["timeout"] for call in responses.calls]  # type: ignore[attr-defined]
    assert timeouts == [(2.0, 9.0), (2.0, 9.0), 1.5]
    assert responses.calls[0].request.headers["User-Agent"] == USER_AGENT


@responses.activate
@pytest.mark.parametrize("status", [502, 503, 504])
def test_idempotent_requests_are_retried_on_gateway_errors(status: int) -> None:
    responses.get(URL, status=status)
    responses.get(URL, body="ok")

    response = make_session(backoff_factor=0).get(URL)

    assert response.status_code == 200
    assert len(responses.calls) == 2


@responses.activate
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_non_idempotent_requests_are_not_retried(method: str) -> None:
    responses.add(method, URL, status=503)
    responses.add(method, URL, body="ok")

    response = make_session(backoff_factor=0).request(method, URL, data=b"{}")

    assert response.status_code == 503
    assert len(responses.calls) == 1


@responses.activate
def test_500_is_not_retried() -> None:
    responses.get(URL, status=500)
    responses.get(URL, body="ok")

    assert make_session(backoff_factor=0).get(URL).status_code == 500
    assert len(responses.calls) == 1


@responses.activate
def test_exhausted_retries_hand_back_the_last_response() -> None:
    for _ in range(3):
        responses.get(URL, status=503)

    response = make_session(retries=2, backoff_factor=0).get(URL)

    assert response.status_code == 503
    assert len(responses.calls) == 3


@responses.activate
def test_zero_retries_means_one_attempt() -> None:
    responses.get(URL, status=503)
    responses.get(URL, body="ok")

    assert make_session(retries=0).get(URL).status_code == 503
    assert len(responses.calls) == 1


# --- against a real local socket: read timeouts and their retries --------------------------------------------


class _SlowServer(ThreadingHTTPServer):
    daemon_threads = True
    hits: int = 0
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    server: _SlowServer

    def _answer(self) -> None:
        self.server.hits += 1
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        time.sleep(self.server.delay)
        try:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:  # the client gave up first
            pass

    # http.server dispatches on these names.
    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        return  # keep the test output quiet


@pytest.fixture
def slow_server() -> Iterator[_SlowServer]:
    server = _SlowServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _url(server: _SlowServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/slow"


def test_read_timeout_applies_without_a_per_call_timeout(slow_server: _SlowServer) -> None:
    slow_server.delay = 1.0
    session = make_session(retries=0, timeout=(1.0, 0.1))

    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        session.get(_url(slow_server))
    assert time.monotonic() - started < 0.9
    assert slow_server.hits == 1


def test_a_timed_out_get_is_retried(slow_server: _SlowServer) -> None:
    slow_server.delay = 0.5
    session = make_session(retries=2, timeout=(1.0, 0.1), backoff_factor=0)

    # urllib3 retried the read twice; requests reports the exhausted retries as a ConnectionError.
    with pytest.raises(requests.ConnectionError):
        session.get(_url(slow_server))
    assert slow_server.hits == 3


def test_a_timed_out_post_is_not_retried(slow_server: _SlowServer) -> None:
    slow_server.delay = 0.5
    session = make_session(retries=2, timeout=(1.0, 0.1), backoff_factor=0)

    with pytest.raises(requests.ReadTimeout):
        session.post(_url(slow_server), data=b'{"create": "order"}')
    assert slow_server.hits == 1


def test_a_fast_server_answers_normally(slow_server: _SlowServer) -> None:
    response = make_session(timeout=(1.0, 2.0)).get(_url(slow_server))
    assert response.text == "ok"
    assert slow_server.hits == 1
