"""Benchmark: from a restock webhook received to the first restock email accepted by SMTP, with a worker running.

Everything is real and local: the app served by gunicorn (benchmarks.webhook_ingest.Server, production's
flags), PostgreSQL database backsoon_bench_latency, Redis db 15, one `backsoon worker` process (the Procfile's
worker line: RQ with every job module preloaded before it forks; --worker plain|simple compares a bare
`rq worker` and rq's SimpleWorker) and an aiosmtpd server (aiosmtpd.controller.Controller, in this
process) that records when each message is accepted (its handle_DATA, after the final dot). The store is a
WooCommerce store with its own webhook secret; its one simple product (id/sku of the fixture
tests/fixtures/woocommerce/webhooks/02-product-updated-simple-stock-to-5.json) is sold out and has
--subscribers active subscribers.

Each round: a product.updated delivery built from that fixture with stock_quantity 0 takes the variant to 0
(through the same path; its sell-out event, deliveries and inbox rows are then cleared and every subscriber is
active again), and once the worker is idle the measured delivery — the fixture's body, stock 0 → 5, with a
later date_modified so it is current state — is signed (base64 HMAC-SHA256 of the body with the store's
secret) and POSTed. value = median over rounds of (first message accepted by SMTP − POST sent):
drain job → catalog apply → mark dirty → recompute_dirty job → restock event → fanout job → SMTP.
floor = median time for the same POST to be answered (ratio = value / floor is informational: the goal is
value < 2 s). Human-readable lines go to stderr; the last stdout line is JSON.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.recompute import _ensure_db  # noqa: E402
from benchmarks.webhook_ingest import APP_TARGET, Server, _free_port  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "woocommerce" / "webhooks" / "02-product-updated-simple-stock-to-5.json"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/backsoon_bench_latency"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
SECRET_KEY = "bench-latency-secret-key"  # noqa: S105 - a benchmark key
WEBHOOK_SECRET = "bench-latency-woocommerce-webhook-secret"  # noqa: S105 - a benchmark secret
STORE_URL = "https://latency-bench.example.test"
QUEUES = ("high", "default", "low")
# Headers of the captured delivery that every POST carries as is (Host, Content-Length etc. are http.client's).
_KEPT = (
    "User-Agent",
    "Content-Type",
    "X-WC-Webhook-Source",
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Resource",
    "X-WC-Webhook-Event",
    "X-WC-Webhook-ID",
)


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Arrivals:
    """aiosmtpd handler: accepts every message and records when (time.perf_counter) and for whom."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: list[tuple[float, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.times.append((time.perf_counter(), ",".join(envelope.rcpt_tos)))
        return "250 OK"

    def clear(self) -> None:
        with self.lock:
            self.times.clear()

    def first(self) -> float | None:
        with self.lock:
            return self.times[0][0] if self.times else None

    def count(self) -> int:
        with self.lock:
            return len(self.times)


class Fixture:
    """The captured delivery: its JSON body (re-serialised per round) and headers."""

    def __init__(self) -> None:
        data = json.loads(FIXTURE.read_text())
        self.headers = {k: v for k, v in data["headers"].items() if k in _KEPT}
        self.body = json.loads(base64.b64decode(data["body_base64"]))
        self.product_id = str(self.body["id"])
        self.sku = str(self.body["sku"])
        self.modified_gmt = datetime.fromisoformat(self.body["date_modified_gmt"])
        self.modified_local = datetime.fromisoformat(self.body["date_modified"])

    def delivery(self, qty: int, later_by: timedelta) -> tuple[bytes, dict[str, str]]:
        """A signed delivery of the product with this stock, modified ``later_by`` after the capture."""
        body = dict(self.body)
        body["stock_quantity"] = qty
        body["stock_status"] = "instock" if qty > 0 else "outofstock"
        body["date_modified_gmt"] = (self.modified_gmt + later_by).isoformat(timespec="seconds")
        body["date_modified"] = (self.modified_local + later_by).isoformat(timespec="seconds")
        raw = json.dumps(body, separators=(",", ":")).encode()
        signature = base64.b64encode(hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).digest()).decode()
        headers = {
            **self.headers,
            "X-WC-Webhook-Signature": signature,
            "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
        }
        return raw, headers


class Backend:
    """The app's database and Redis as the benchmark sees them."""

    def __init__(self, url: str, redis_url: str, settings: Any) -> None:
        from redis import Redis

        from app.db import Database

        _ensure_db(url)
        self.db = Database(url)
        self.redis = Redis.from_url(redis_url)
        self.redis.ping()
        self.settings = settings

    def reset_all(self) -> int:
        """Empty every table and Redis db; create the WooCommerce store with its webhook secret."""
        from sqlalchemy import text

        from app.db import Base
        from app.infra.crypto import cipher_for
        from app.models import Store

        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with self.db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        self.redis.flushdb()
        cipher = cipher_for(self.settings)
        with self.db.session() as s:
            store = Store(
                platform="woocommerce",
                domain=STORE_URL,
                name="Latency Bench Shop",
                timezone="UTC",
                status="active",
                webhook_secret_encrypted=cipher.encrypt(WEBHOOK_SECRET.encode()),
            )
            s.add(store)
            s.flush()
            return int(store.id)

    def variant(self, store_id: int) -> tuple[int, int] | None:
        """(variant id, sellable quantity) of the store's one variant, once the catalog has it."""
        from sqlalchemy import text

        with self.db.session() as s:
            row = s.execute(
                text("SELECT id, sellable_quantity FROM variants WHERE store_id = :s ORDER BY id LIMIT 1"),
                {"s": store_id},
            ).first()
        return (int(row[0]), int(row[1])) if row else None

    def subscribe(self, store_id: int, variant_id: int, n: int) -> None:
        from sqlalchemy import insert

        from app.models import Subscription

        created = datetime.now(UTC) - timedelta(days=1)
        with self.db.session() as s:
            s.execute(
                insert(Subscription),
                [
                    {
                        "store_id": store_id,
                        "variant_id": variant_id,
                        "email": f"shopper{i}@example.test",
                        "state": "active",
                        "locale": ("en", "nl", "fr", "de")[i % 4],
                        "created_at": created + timedelta(milliseconds=i),
                        "updated_at": created,
                    }
                    for i in range(n)
                ],
            )

    def clear_round(self) -> None:
        """Forget the previous round's notifications: deliveries, stock events, inbox rows; all subscribed again.

        The store is set active again: the storefront write-back that follows a recompute cannot reach the
        benchmark's store (it has no real WooCommerce behind it) and marks it disconnected, which would make the
        next delivery 'ignored'. That write-back is not on the path measured here.
        """
        from sqlalchemy import text

        self.activate()
        with self.db.session() as s:
            s.execute(text("DELETE FROM deliveries"))
            s.execute(text("DELETE FROM stock_events"))
            s.execute(text("DELETE FROM webhook_events"))
            s.execute(text("UPDATE subscriptions SET state = 'active', notified_at = NULL, skip_reason = NULL"))

    def activate(self) -> None:
        """The store active again (see clear_round)."""
        from sqlalchemy import text

        with self.db.session() as s:
            s.execute(text("UPDATE stores SET status = 'active'"))

    def idle(self) -> bool:
        """No job queued, scheduled or running."""
        from rq import Queue, Worker
        from rq.registry import ScheduledJobRegistry, StartedJobRegistry

        for name in QUEUES:
            q = Queue(name, connection=self.redis)
            if q.count or StartedJobRegistry(queue=q).count or ScheduledJobRegistry(queue=q).count:  # type: ignore[no-untyped-call]
                return False
        workers = Worker.all(connection=self.redis)
        return bool(workers) and all(w.get_state() == "idle" for w in workers)

    def wait_idle(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            quiet = quiet + 1 if self.idle() else 0
            if quiet >= 3:
                return
            time.sleep(0.05)
        raise RuntimeError("the worker did not become idle")

    def debug(self) -> Any:
        from sqlalchemy import text

        with self.db.session() as s:
            rows = s.execute(text("SELECT id, status, topic, error FROM webhook_events")).all()
            ev = s.execute(text("SELECT id, kind, fanout_status FROM stock_events")).all()
            v = s.execute(text("SELECT id, sellable_quantity, published FROM variants")).all()
        return rows, ev, v, self.redis.keys("*")

    def close(self) -> None:
        self.db.dispose()
        self.redis.close()


def post(port: int, path: str, raw: bytes, headers: dict[str, str]) -> tuple[float, float, int]:
    """(send time, answer time, status): perf_counter right before the request and after the answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.connect()
    sent = time.perf_counter()
    conn.request("POST", path, body=raw, headers=headers)
    resp = conn.getresponse()
    resp.read()
    answered = time.perf_counter()
    conn.close()
    return sent, answered, resp.status


# The job modules (and through them the app, SQLAlchemy, the models) imported once in the worker parent, so each
# forked work horse inherits them instead of importing them again (about a second per job on this machine).
def start_worker(kind: str, env: dict[str, str], redis_url: str, log: Any) -> subprocess.Popen[bytes]:
    """procfile: the Procfile's worker (`backsoon worker`: job modules preloaded, one fork per job);
    plain: a bare `rq worker` that imports the app in every forked job; simple: rq's SimpleWorker (no fork)."""
    rq_args = ["worker", "--url", redis_url, "--with-scheduler"]
    bin_dir = Path(sys.executable).parent
    if kind == "procfile":
        cmd = [str(bin_dir / "backsoon"), "worker", "--queues", ",".join(QUEUES)]
    elif kind == "plain":
        cmd = [str(bin_dir / "rq"), *rq_args, *QUEUES]
    else:
        cmd = [str(bin_dir / "rq"), *rq_args, "--worker-class", "rq.worker.SimpleWorker", *QUEUES]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.002)
    raise RuntimeError(f"timed out waiting for {what}")


def main() -> int:
    from aiosmtpd.controller import Controller

    from app.config import Settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--worker", choices=("procfile", "plain", "simple"), default="procfile")
    args = parser.parse_args()

    fixture = Fixture()
    arrivals = Arrivals()
    smtp_port = _free_port()
    controller = Controller(arrivals, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    smtp_url = f"smtp://127.0.0.1:{smtp_port}"
    settings = Settings(env="test", secret_key=SECRET_KEY, database_url=args.database_url, redis_url=args.redis_url)
    backend = Backend(args.database_url, args.redis_url, settings)
    store_id = backend.reset_all()
    path = f"/webhooks/woocommerce/{store_id}"
    env = {k: v for k, v in os.environ.items() if k not in ("GUNICORN_CMD_ARGS", "TOKEN_ENCRYPTION_KEYS")}
    env.update(
        {
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "SMTP_URL": smtp_url,
            "SECRET_KEY": SECRET_KEY,
            "APP_URL": "https://app.latency-bench.test",
            "MAIL_FROM": "Latency Bench <restock@latency-bench.test>",
            "BACKSOON_ENV": "test",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    latencies: list[float] = []
    answers: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp,
        open(Path(tmp) / "app.log", "wb") as app_log,
        open(Path(tmp) / "worker.log", "wb") as worker_log,
    ):
        if True:
            server = Server("app", APP_TARGET, env, app_log)
            worker = start_worker(args.worker, env, args.redis_url, worker_log)
            try:
                server.wait_ready()
                wait_for(backend.idle, 30, "the rq worker to register")
                for i in range(args.rounds):
                    # Sold out (through the same path), then a clean slate for this round's notifications.
                    backend.activate()
                    raw, headers = fixture.delivery(0, timedelta(minutes=2 * i + 1))
                    _, _, status = post(server.port, path, raw, headers)
                    if status != 200:
                        raise RuntimeError(f"sell-out delivery answered {status}")
                    found = wait_for(lambda: (v := backend.variant(store_id)) and v[1] == 0 and v, 30, "stock 0")
                    backend.wait_idle()
                    if i == 0:
                        backend.subscribe(store_id, found[0], args.subscribers)
                    backend.clear_round()
                    arrivals.clear()
                    raw, headers = fixture.delivery(5, timedelta(minutes=2 * i + 2))
                    sent, answered, status = post(server.port, path, raw, headers)
                    if status != 200:
                        raise RuntimeError(f"restock delivery answered {status}")
                    first = wait_for(arrivals.first, 30, "the first restock email")
                    latencies.append(first - sent)
                    answers.append(answered - sent)
                    backend.wait_idle()
                    say(
                        f"round {i + 1}: answered in {1000 * (answered - sent):.1f} ms, first email accepted after "
                        f"{1000 * (first - sent):.0f} ms, {arrivals.count()} emails in the wave"
                    )
            except BaseException:
                worker_log.flush()
                say(repr(backend.debug()))
                say(Path(worker_log.name).read_text(errors="replace")[-3000:])
                say(server.log_tail())
                raise
            finally:
                stop(worker)
                server.stop()
                controller.stop()
                backend.close()
    value, floor = statistics.median(latencies), statistics.median(answers)
    say(
        f"webhook → first email: median {value:.3f} s (min {min(latencies):.3f}, max {max(latencies):.3f}) over "
        f"{len(latencies)} rounds; POST answered: median {1000 * floor:.1f} ms; goal < 2 s"
    )
    print(
        json.dumps(
            {
                "benchmark": "restock_latency",
                "metric": "restock webhook to first email accepted by SMTP (median)",
                "value": round(value, 3),
                "floor": round(floor, 4),
                "ratio": round(value / floor, 1),
                "unit": "s",
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
