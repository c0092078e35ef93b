"""Benchmark: Shopify webhook ingest under gunicorn against a bare Flask endpoint under the same gunicorn.

Serves `app:create_app()` (PostgreSQL database backsoon_bench_ingest, Redis db 14, one active Shopify store)
and benchmarks/bare_app.py (one POST endpoint that reads the body and answers 200) with the same gunicorn
configuration on 127.0.0.1, and posts orders/create deliveries to both. Every delivery is new (its own
X-Shopify-Webhook-Id, event id and order id, so bodies and HMACs differ) and is signed before the clock starts.
Client processes (--clients) hold HTTP/1.1 keep-alive connections (http.client) and take the next delivery
from a shared counter.
  phase 1, throughput — --requests deliveries at --concurrency connections, app and floor interleaved, best of
           --rounds;
  phase 2, latency   — an open-loop sender paced at --rate for --duration seconds, each latency measured from
           the request's scheduled time (no coordinated omission), app and floor;
  phase 3, lost      — after every app run: every delivery answered 200 is a webhook_events row, and every
           row has its RQ job on the `high` queue (no RQ worker runs, so jobs stay there).
webhook_events is truncated and Redis db 14 flushed before every app run. Both servers are killed on exit,
error or timeout. Human-readable lines go to stderr; JSON lines to stdout, the last the throughput one.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import math
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIXTURE = ROOT / "tests" / "fixtures" / "shopify" / "webhooks" / "orders-create.json"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/backsoon_bench_ingest"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
SECRET = "shpss_fixture_secret"  # noqa: S105 - the fixture's published test secret
SHOP = "backsoon-demo.myshopify.com"
PATH = "/webhooks/shopify"
FIXTURE_ORDER_ID = b"6104827363421"
# Production's web line (Procfile: 2 workers x 4 threads, which gunicorn runs as gthread) on loopback, without
# the access log; both servers get exactly these flags.
GUNICORN_FLAGS = ("--workers", "2", "--threads", "4", "--worker-class", "gthread", "--log-level", "warning")
APP_TARGET = "app:create_app()"
BARE_TARGET = "benchmarks.bare_app:create_app()"
REQUEST_TIMEOUT = 10.0
# Per-delivery headers; every other fixture header is sent as is.
_VARYING = ("X-Shopify-Hmac-Sha256", "X-Shopify-Webhook-Id", "X-Shopify-Event-Id", "X-Shopify-Triggered-At")
_RECONNECT = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.CannotSendRequest)

Item = tuple[str, str, int, str]  # webhook id, event id, order id, HMAC


@dataclass(frozen=True, slots=True)
class Template:
    """The fixture body split around its order id, and the headers every delivery shares."""

    parts: list[bytes]
    headers: dict[str, str]

    def body(self, order_id: int) -> bytes:
        """The body with this order id in place of the fixture's."""
        return str(order_id).encode("ascii").join(self.parts)


@dataclass
class RunResult:
    """What the client processes of one run saw."""

    ok: list[int] = field(default_factory=list)  # indices answered 200
    latencies: list[float] = field(default_factory=list)  # seconds, 200s only
    lateness: list[float] = field(default_factory=list)  # send start minus scheduled time (paced runs)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    retries: int = 0
    duplicates: int = 0
    abandoned: int = 0
    seconds: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    per_worker: list[int] | None = None

    @property
    def rps(self) -> float:
        """200 answers per second of wall time."""
        return len(self.ok) / self.seconds if self.seconds else 0.0


# --- setup ---------------------------------------------------------------------------------------------------


def _db_url() -> str:
    explicit = os.environ.get("BENCH_INGEST_DATABASE_URL")
    if explicit:
        return explicit
    base = os.environ.get("BENCH_DATABASE_URL")
    if not base:
        return DEFAULT_URL
    from sqlalchemy.engine import make_url

    # Same server as the other benchmarks, its own database: this one truncates webhook_events.
    return make_url(base).set(database="backsoon_bench_ingest").render_as_string(hide_password=False)


def _load_template() -> tuple[Template, bytes, str]:
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    raw = fixture["body_text"].encode("utf-8")
    assert fixture["secret"] == SECRET, "fixture secret changed"
    expected = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode("ascii")
    assert fixture["headers"]["X-Shopify-Hmac-Sha256"] == expected, "fixture HMAC does not match its body"
    assert FIXTURE_ORDER_ID in raw, "fixture order id not found"
    headers = {k: v for k, v in fixture["headers"].items() if k not in _VARYING}
    headers.update(
        {
            "User-Agent": "Shopify-Captain-Hook",
            "Accept": "*/*",
            "Accept-Encoding": "gzip;q=1.0,deflate;q=0.6,identity;q=0.3",
        }
    )
    return Template(parts=raw.split(FIXTURE_ORDER_ID), headers=headers), raw, fixture["headers"]["X-Shopify-Topic"]


class Deliveries:
    """Makes new, correctly signed deliveries; each order id is used once per benchmark run."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self.next_order = 7_000_000_000_000

    def make(self, n: int) -> list[Item]:
        """n new deliveries: ids and HMACs computed here, before any clock starts."""
        items: list[Item] = []
        key = SECRET.encode()
        for _ in range(n):
            order_id = self.next_order
            self.next_order += 1
            mac = base64.b64encode(hmac.new(key, self.template.body(order_id), hashlib.sha256).digest())
            items.append((str(uuid.uuid4()), str(uuid.uuid4()), order_id, mac.decode("ascii")))
        return items


class Services:
    """A benchmark's own PostgreSQL database (created and migrated when missing) and Redis database."""

    def __init__(self, url: str, redis_url: str) -> None:
        from redis import Redis

        from app.db import Database
        from benchmarks.recompute import _ensure_db

        _ensure_db(url)
        self.db = Database(url)
        self.redis = Redis.from_url(redis_url)
        self.redis.ping()


class Backend(Services):
    """The app's database and Redis, seen from the benchmark: setup, reset between runs, and the audit."""

    def ensure_store(self) -> int:
        """The active Shopify store the deliveries are for, created if missing."""
        from sqlalchemy import select

        from app.models import Store

        with self.db.session() as s:
            store = s.execute(
                select(Store).where(Store.platform == "shopify", Store.domain == SHOP)
            ).scalar_one_or_none()
            if store is None:
                store = Store(platform="shopify", domain=SHOP, name="BackSoon demo (ingest benchmark)")
                s.add(store)
            store.status = "active"
            store.uninstalled_at = None
            s.flush()
            return int(store.id)

    def reset(self) -> None:
        """Empty the inbox and the queues (ids keep counting, so RQ job ids never repeat)."""
        from sqlalchemy import text

        with self.db.session() as s:
            s.execute(text("TRUNCATE webhook_events"))
        self.redis.flushdb()

    def audit(self, acked: set[str]) -> dict[str, int]:
        """Compare 200 answers with stored rows, and every store with received rows with a queued drain job."""
        from rq import Queue
        from sqlalchemy import text

        from app import job_specs

        time.sleep(0.5)  # a request the client gave up on may still commit
        with self.db.session() as s:
            rows = s.execute(text("SELECT id, dedupe_key, status, store_id FROM webhook_events")).all()
        keys = {r.dedupe_key for r in rows}
        queue = Queue("high", connection=self.redis)
        # Deliveries are processed by one gated drain job per store and burst.
        drained_stores = {
            job.args[0] for job in queue.get_jobs() if job.func_name == job_specs.DRAIN_INBOX and job.args
        }
        uncovered = [r for r in rows if r.status == "received" and r.store_id not in drained_stores]
        return {
            "acked": len(acked),
            "rows": len(rows),
            "jobs": queue.count,
            "acked_not_stored": len(acked - keys),
            "stored_not_enqueued": len(uncovered),
            "not_processable": sum(1 for r in rows if r.status != "received"),
            "stored_not_acked": len(keys - acked),
        }

    def close(self) -> None:
        """Release connections."""
        self.db.dispose()
        self.redis.close()


# --- servers -------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One gunicorn master in its own process group, killed with it."""

    def __init__(self, name: str, target: str, env: dict[str, str], log: IO[bytes]) -> None:
        self.name = name
        self.port = _free_port()
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *GUNICORN_FLAGS, "--bind", f"127.0.0.1:{self.port}", target],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self) -> str:
        """The last lines gunicorn wrote."""
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read()[-3000:].decode("utf-8", "replace")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until gunicorn answers HTTP and has its workers; raise with its log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} gunicorn exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                conn.close()
                if len(self.workers()) >= 2:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} gunicorn not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def workers(self) -> list[int]:
        """The worker pids (Linux /proc), or [] when unknown."""
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and its workers so far (Linux /proc), 0 when unknown."""
        total = 0.0
        for pid in (self.proc.pid, *self.workers()):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def log_lines(self) -> list[str]:
        """Everything gunicorn and the app logged (warnings and up)."""
        self.log.flush()
        return Path(self.log.name).read_text(encoding="utf-8", errors="replace").splitlines()

    def connections_per_worker(self) -> list[int] | None:
        """How many established client connections each worker holds (Linux /proc), for diagnosis."""
        try:
            inodes: set[str] = set()
            for table in ("/proc/net/tcp", "/proc/net/tcp6"):
                with open(table) as f:
                    next(f)
                    for line in f:
                        cols = line.split()
                        if int(cols[1].rsplit(":", 1)[1], 16) == self.port and cols[3] == "01":
                            inodes.add(cols[9])
            counts = []
            for pid in self.workers():
                fd_dir = Path(f"/proc/{pid}/fd")
                n = 0
                for fd in fd_dir.iterdir():
                    try:
                        link = os.readlink(fd)
                    except OSError:
                        continue
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        n += 1
                counts.append(n)
            return counts
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it lingers."""
        if self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


# --- clients -------------------------------------------------------------------------------------------------


def _client(port: int, spec: dict[str, Any], counter: Any, pipe: Any) -> None:
    """One client process: keep-alive connections on threads, each taking the next delivery from the counter."""
    template = Template(parts=spec["parts"], headers=spec["headers"])
    items: list[Item] = spec["items"]
    rate: float | None = spec["rate"]
    parse: bool = spec["parse"]
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT) for _ in range(spec["threads"])]
    for c in conns:
        c.connect()
    pipe.send("ready")
    t0: float = pipe.recv()
    stop_at = t0 + (len(items) / rate if rate else 0.0) + spec["grace"]
    out = RunResult()
    lock = threading.Lock()
    last_end = [t0]

    def take() -> int | None:
        with counter.get_lock():
            i = int(counter.value)
            if i >= len(items):
                return None
            counter.value = i + 1
            return i

    def run(conn: http.client.HTTPConnection) -> None:
        ok: list[int] = []
        lat: list[float] = []
        late: list[float] = []
        statuses: dict[int, int] = {}
        errors = retries = dups = abandoned = 0
        end = t0
        while (i := take()) is not None:
            scheduled = t0 + i / rate if rate else t0
            now = time.monotonic()
            if now < scheduled:
                time.sleep(scheduled - now)
            elif rate and now > stop_at:
                abandoned += 1  # hopelessly behind: bounded, counted, not sent
                continue
            webhook_id, event_id, order_id, mac = items[i]
            body = template.body(order_id)
            headers = {
                **template.headers,
                "X-Shopify-Hmac-Sha256": mac,
                "X-Shopify-Webhook-Id": webhook_id,
                "X-Shopify-Event-Id": event_id,
                "X-Shopify-Triggered-At": spec["triggered_at"],
            }
            started = time.monotonic()
            status: int | None = None
            data = b""
            for attempt in (0, 1):
                try:
                    conn.request("POST", PATH, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    status = resp.status
                    break
                except _RECONNECT:
                    # A keep-alive connection the server closed: reconnect and resend once (the same delivery,
                    # as Shopify would; the webhook id dedupes it if the first attempt was stored).
                    conn.close()
                    if attempt == 0:
                        retries += 1
                    else:
                        errors += 1
                except OSError:
                    conn.close()
                    errors += 1
                    break
            end = time.monotonic()
            if status is None:
                continue
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                ok.append(i)
                lat.append(end - (scheduled if rate else started))
                if rate:
                    late.append(started - scheduled)
                if parse and json.loads(data).get("duplicate"):
                    dups += 1
        conn.close()
        with lock:
            out.ok += ok
            out.latencies += lat
            out.lateness += late
            for k, v in statuses.items():
                out.statuses[k] = out.statuses.get(k, 0) + v
            out.errors += errors
            out.retries += retries
            out.duplicates += dups
            out.abandoned += abandoned
            last_end[0] = max(last_end[0], end)

    threads = [threading.Thread(target=run, args=(c,)) for c in conns]
    before = os.times()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = os.times()
    out.seconds = last_end[0] - t0
    out.client_cpu = (after.user - before.user) + (after.system - before.system)
    pipe.send(asdict(out))


_CHILDREN: list[Any] = []


def _drive(
    server: Server,
    template: Template,
    items: list[Item],
    *,
    clients: int,
    concurrency: int,
    rate: float | None = None,
    grace: float = 20.0,
    parse: bool = False,
) -> RunResult:
    """Run the client processes against one server and merge what they saw."""
    ctx = mp.get_context("spawn")
    counter = ctx.Value("q", 0)
    clients = max(1, min(clients, concurrency))
    spec = {
        "parts": template.parts,
        "headers": template.headers,
        "items": items,
        "rate": rate,
        "grace": grace,
        "parse": parse,
        "triggered_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    pipes, procs = [], []
    for k in range(clients):
        threads = concurrency // clients + (1 if k < concurrency % clients else 0)
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_client, args=(server.port, {**spec, "threads": threads}, counter, child))
        proc.daemon = True
        proc.start()
        _CHILDREN.append(proc)
        pipes.append(parent)
        procs.append(proc)
    for p in pipes:
        if not p.poll(60) or p.recv() != "ready":
            raise RuntimeError("a client process did not get ready")
    per_worker = server.connections_per_worker()
    cpu_before = server.cpu_seconds()
    t0 = time.monotonic() + 0.05
    for p in pipes:
        p.send(t0)
    bound = (len(items) / rate if rate else 0.0) + grace + REQUEST_TIMEOUT * 2 + 120
    merged = RunResult(per_worker=per_worker)
    for p in pipes:
        if not p.poll(max(1.0, t0 + bound - time.monotonic())):
            raise RuntimeError(f"a client process of the {server.name} run did not finish in {bound:.0f}s")
        r = RunResult(**p.recv())
        merged.ok += r.ok
        merged.latencies += r.latencies
        merged.lateness += r.lateness
        for k2, v in r.statuses.items():
            merged.statuses[k2] = merged.statuses.get(k2, 0) + v
        merged.errors += r.errors
        merged.retries += r.retries
        merged.duplicates += r.duplicates
        merged.abandoned += r.abandoned
        merged.seconds = max(merged.seconds, r.seconds)
        merged.client_cpu += r.client_cpu
    merged.server_cpu = server.cpu_seconds() - cpu_before
    for proc in procs:
        proc.join(10)
    return merged


# --- reporting -----------------------------------------------------------------------------------------------


def _pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _describe(label: str, r: RunResult, sent: int) -> str:
    workers = "/".join(map(str, r.per_worker)) if r.per_worker else "?"
    return (
        f"{label}: {len(r.ok)}/{sent} answered 200 in {r.seconds:.2f}s = {r.rps:.0f} req/s; "
        f"p50 {_pct(r.latencies, 50) * 1000:.1f} ms, p99 {_pct(r.latencies, 99) * 1000:.1f} ms; "
        f"statuses {r.statuses}, errors {r.errors}, reconnects {r.retries}, duplicates {r.duplicates}, "
        f"abandoned {r.abandoned}; CPU per request: gunicorn {r.server_cpu / sent * 1000:.2f} ms, "
        f"client {r.client_cpu / sent * 1000:.2f} ms; connections per worker {workers}"
    )


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _round(x: float, digits: int) -> float | None:
    return round(x, digits) if math.isfinite(x) else None


# --- main ----------------------------------------------------------------------------------------------------


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    raise TimeoutError("benchmark exceeded --timeout")


def main() -> None:
    """Run the benchmark and print its JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000, help="deliveries per throughput run")
    parser.add_argument("--concurrency", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--clients", type=int, default=4, help="client processes sharing the connections")
    parser.add_argument("--rounds", type=int, default=3, help="throughput runs per server, interleaved")
    parser.add_argument("--rate", type=float, default=300.0, help="paced deliveries per second (phase 2)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of paced sending (phase 2)")
    parser.add_argument("--warmup", type=int, default=300, help="deliveries sent to each server before measuring")
    parser.add_argument("--timeout", type=int, default=300, help="abort (and kill the servers) after this many s")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(args.timeout)

    url = _db_url()
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    template, _raw, topic = _load_template()
    deliveries = Deliveries(template)
    backend = Backend(url, redis_url)
    store_id = backend.ensure_store()
    env = {k: v for k, v in os.environ.items() if k not in ("SHOPIFY_API_SECRET_OLD", "GUNICORN_CMD_ARGS")}
    env.update(
        {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "SHOPIFY_API_SECRET": SECRET,
            "BACKSOON_ENV": "test",
            "LOG_LEVEL": "WARNING",
        }
    )
    _say(
        f"{topic} deliveries of {len(template.body(deliveries.next_order))} bytes to {SHOP} (store {store_id}); "
        f"gunicorn {' '.join(GUNICORN_FLAGS)} on 127.0.0.1; {os.cpu_count()} CPUs; "
        f"{args.concurrency} keep-alive connections from {args.clients} client processes"
    )

    servers: list[Server] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp,
        open(Path(tmp) / "app.log", "wb") as app_log,
        open(Path(tmp) / "bare.log", "wb") as bare_log,
    ):
        try:
            app = Server("app", APP_TARGET, env, app_log)
            servers.append(app)
            bare = Server("floor", BARE_TARGET, env, bare_log)
            servers.append(bare)
            app.wait_ready()
            bare.wait_ready()
            common = {"clients": args.clients, "concurrency": args.concurrency}
            for server in (app, bare):
                warm = _drive(server, template, deliveries.make(args.warmup), parse=server is app, **common)
                if len(warm.ok) != args.warmup:
                    raise RuntimeError(f"{server.name} warm-up: {_describe('warm-up', warm, args.warmup)}")

            audits: list[dict[str, int]] = []

            def app_run(label: str, items: list[Item], rate: float | None) -> RunResult:
                backend.reset()
                r = _drive(app, template, items, rate=rate, parse=True, **common)
                audit = backend.audit({items[i][0] for i in r.ok})
                audits.append(audit)
                _say(_describe(label, r, len(items)))
                _say(f"  audit: {audit}")
                return r

            # Phase 1: throughput, interleaved.
            app_runs, bare_runs = [], []
            for n in range(1, args.rounds + 1):
                app_runs.append(app_run(f"phase 1 app   round {n}", deliveries.make(args.requests), None))
                items = deliveries.make(args.requests)
                bare_runs.append(_drive(bare, template, items, **common))
                _say(_describe(f"phase 1 floor round {n}", bare_runs[-1], len(items)))
            app_rps = max(r.rps for r in app_runs)
            bare_rps = max(r.rps for r in bare_runs)

            # Phase 2: latency at a fixed rate, open loop.
            paced_n = round(args.rate * args.duration)
            app_paced = app_run(f"phase 2 app   at {args.rate:.0f}/s", deliveries.make(paced_n), args.rate)
            bare_items = deliveries.make(paced_n)
            bare_paced = _drive(bare, template, bare_items, rate=args.rate, **common)
            _say(_describe(f"phase 2 floor at {args.rate:.0f}/s", bare_paced, paced_n))
            for label, r in (("app", app_paced), ("floor", bare_paced)):
                _say(
                    f"  {label}: achieved {r.rps:.0f} req/s; client send lateness p50 "
                    f"{_pct(r.lateness, 50) * 1000:.2f} ms, p99 {_pct(r.lateness, 99) * 1000:.2f} ms"
                )
            app_p99 = _pct(app_paced.latencies, 99) * 1000
            bare_p99 = _pct(bare_paced.latencies, 99) * 1000
            failed_paced = paced_n - len(app_paced.ok)
            if failed_paced:
                # Unanswered requests are the worst latency there is: do not let them vanish from the p99.
                _say(f"  app: {failed_paced} paced deliveries got no 200; p99 counts them as infinite")
                app_p99 = _pct([*app_paced.latencies, *[math.inf] * failed_paced], 99) * 1000

            # Phase 3: nothing lost, over every app run.
            lost = sum(a["acked_not_stored"] + a["stored_not_enqueued"] for a in audits)
            acked = sum(a["acked"] for a in audits)
            _say(
                f"phase 3: {acked} deliveries answered 200 by the app over {len(audits)} runs; "
                f"{sum(a['acked_not_stored'] for a in audits)} not stored, "
                f"{sum(a['stored_not_enqueued'] for a in audits)} stored with no drain job queued for their store: "
                f"lost {lost}"
            )
            for server in servers:
                lines = server.log_lines()
                _say(f"{server.name} server log: {len(lines)} lines" + "".join(f"\n  | {x}" for x in lines[-10:]))
            _say(
                f"throughput: app {app_rps:.0f} req/s, floor {bare_rps:.0f} req/s, ratio {app_rps / bare_rps:.2f} "
                f"(goal >= 0.5); p99 at {args.rate:.0f}/s: app {app_p99:.1f} ms, floor {bare_p99:.1f} ms "
                f"(goal < 50 ms)"
            )
        finally:
            signal.alarm(0)
            for server in servers:
                server.stop()
            for proc in _CHILDREN:
                if proc.is_alive():
                    proc.kill()
            backend.close()

    print(
        json.dumps(
            {
                "benchmark": "webhook_ingest",
                "metric": "lost_deliveries",
                "value": lost,
                "floor": 0,
                "ratio": None,
                "unit": "deliveries",
            }
        )
    )
    print(
        json.dumps(
            {
                "benchmark": "webhook_ingest",
                "metric": f"p99_latency_at_{args.rate:.0f}rps",
                "value": _round(app_p99, 1),
                "floor": _round(bare_p99, 1),
                "ratio": _round(app_p99 / bare_p99, 2),
                "unit": "ms",
            }
        )
    )
    print(
        json.dumps(
            {
                "benchmark": "webhook_ingest",
                "metric": "requests_per_second",
                "value": round(app_rps, 1),
                "floor": round(bare_rps, 1),
                "ratio": round(app_rps / bare_rps, 3),
                "unit": "req/s",
            }
        )
    )


if __name__ == "__main__":
    main()
