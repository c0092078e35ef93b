"""Benchmark: a flash-sale spike of webhooks over many stores, accepted by the front and applied by two RQ workers.

Serves `app:create_app()` under gunicorn exactly as benchmarks/webhook_ingest.py does (PostgreSQL database
backsoon_bench_spike, Redis db 13) for --stores Shopify stores (20 products of 3 variants each, plus one probe
product), and starts two `backsoon worker` processes (the Procfile's worker line). Deliveries are built from the
fixtures' shapes (tests/fixtures/shopify/webhooks: orders/create and orders/updated, inventory_levels/update,
products/update), each signed and given its own webhook id before the clock starts; their `updated_at` grows with
their index, so the newest state is the last one sent.
  phase 1, live     — the burst (--deliveries) sent at the front's top rate (closed loop, --concurrency keep-alive
                      connections from --clients processes) while the workers run. Every 50th delivery is a probe:
                      an inventory level of its store's probe variant set to a new, higher value. A poller reads
                      stock_states (what the storefront and its write-back read) every 50 ms; a probe's lag runs from
                      the 200 answer to the first poll whose sellable quantity shows its value (or a later one).
                      Reports the accept rate, the time until the inbox is empty, and the lag p50/p99.
  phase 2, capacity — the workers suspended (rq suspend), a second burst of the same size is accepted; then they
                      resume and the processing rate is its deliveries over the time from the resume until the inbox
                      is empty. Its ratio to this burst's accept rate (the front at its top rate, nothing else
                      running) says whether processing keeps up with the front.
--per-delivery runs the workers with INBOX_BATCH=0 (one delivery per transaction, the path before batching).
Human-readable lines go to stderr; JSON lines to stdout, the last the headline (processing rate, accept rate floor).
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import http.client
import json
import math
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.webhook_ingest import APP_TARGET, REQUEST_TIMEOUT, SECRET, Server, Services, _pct, _say  # noqa: E402

HOOKS = ROOT / "tests" / "fixtures" / "shopify" / "webhooks"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/backsoon_bench_spike"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
PATH = "/webhooks/shopify"
PRODUCTS, VARIANTS = 20, 3
PROBE_EVERY = 50
# Each store's ids: products, variants, inventory items and its location, apart from every other store's.
_PRODUCT, _VARIANT, _ITEM, _LOCATION, _ORDER, _LINE = (
    8_000_000_000_000, 9_000_000_000_000, 5_000_000_000_000, 70_000_000_000, 6_000_000_000_000, 16_000_000_000_000,
)  # fmt: skip
_RECONNECT = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.CannotSendRequest)
BIN = Path(sys.executable).parent


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.loads((HOOKS / f"{name}.json").read_text())["body_text"])
    return data


def _ts(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Store:
    """One benchmark store: its domain and the platform ids of its catalog."""

    n: int
    domain: str
    products: list[int]
    variants: dict[int, list[int]]  # product id → variant ids
    probe_variant: int

    def item(self, variant: int) -> int:
        """The inventory item of a variant."""
        return variant - _VARIANT + _ITEM

    @property
    def location(self) -> int:
        """The store's one location."""
        return _LOCATION + self.n


def _stores(count: int) -> list[Store]:
    out = []
    for n in range(count):
        products = [_PRODUCT + n * 1000 + p for p in range(PRODUCTS + 1)]
        variants = {pid: [_VARIANT + n * 100_000 + (pid % 1000) * 10 + v for v in range(VARIANTS)] for pid in products}
        probe = products[-1]
        variants[probe] = variants[probe][:1]
        out.append(Store(n, f"spike-{n:02d}.myshopify.com", products, variants, variants[probe][0]))
    return out


class Bodies:
    """Delivery bodies in the fixtures' shapes, for one store's ids."""

    def __init__(self) -> None:
        self.product = _fixture("products-update")
        self.order = _fixture("orders-create")
        self.level = _fixture("inventory_levels-update-available_7")

    def product_body(self, store: Store, pid: int, at: datetime, title: str) -> dict[str, Any]:
        """A products/update body listing all the product's variants."""
        body = copy.deepcopy(self.product)
        template = body["variants"][0]
        variants = []
        for pos, vid in enumerate(store.variants[pid], 1):
            v = {**template, "id": vid, "product_id": pid, "inventory_item_id": store.item(vid), "position": pos}
            v.update(admin_graphql_api_id=f"gid://shopify/ProductVariant/{vid}", sku=f"SP{vid}", title=f"Size {pos}")
            v.update(option1=f"Size {pos}", updated_at=_ts(at))
            variants.append(v)
        body.update(id=pid, admin_graphql_api_id=f"gid://shopify/Product/{pid}", title=title, handle=f"p-{pid}")
        body.update(updated_at=_ts(at), variants=variants, images=[], image=None, media=[])
        body["options"] = [{**body["options"][0], "product_id": pid, "values": [v["option1"] for v in variants]}]
        body["variant_gids"] = [
            {"admin_graphql_api_id": v["admin_graphql_api_id"], "updated_at": _ts(at)} for v in variants
        ]
        return body

    def order_body(
        self, store: Store, oid: int, lines: list[tuple[int, int, int]], at: datetime, paid: bool
    ) -> dict[str, Any]:
        """An orders/create (or, paid, orders/updated) body; lines are (line id, variant id, quantity)."""
        body = copy.deepcopy(self.order)
        template = body["line_items"][0]
        items = []
        for lid, vid, qty in lines:
            pid = _PRODUCT + store.n * 1000 + (vid - _VARIANT - store.n * 100_000) // 10
            item = {**template, "id": lid, "admin_graphql_api_id": f"gid://shopify/LineItem/{lid}", "variant_id": vid}
            item.update(product_id=pid, quantity=qty, current_quantity=qty, fulfillable_quantity=qty, sku=f"SP{vid}")
            items.append(item)
        body.update(id=oid, admin_graphql_api_id=f"gid://shopify/Order/{oid}", name=f"#{oid % 100000}")
        body.update(line_items=items, updated_at=_ts(at), fulfillments=[], refunds=[])
        body["financial_status"] = "paid" if paid else "pending"
        return body

    def level_body(self, store: Store, vid: int, available: int, at: datetime) -> dict[str, Any]:
        """An inventory_levels/update body for the variant's item at the store's location."""
        item = store.item(vid)
        return {
            **self.level,
            "inventory_item_id": item,
            "location_id": store.location,
            "available": available,
            "updated_at": _ts(at),
            "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{store.location}?inventory_item_id={item}",
        }


# One delivery: body, its varying headers (domain, topic, HMAC, ids), and the probe it is (store index, value) if any.
Delivery = tuple[bytes, dict[str, str], tuple[int, int] | None]


def _sign(body: dict[str, Any], domain: str, topic: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body, separators=(",", ":")).encode()
    mac = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode("ascii")
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": mac,
        "X-Shopify-Shop-Domain": domain,
        "X-Shopify-API-Version": "2025-10",
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": _ts(datetime.now(UTC)),
    }
    return raw, headers


@dataclass
class Generator:
    """Makes bursts: orders (new, and updates of earlier ones), inventory levels, product updates, probes."""

    stores: list[Store]
    bodies: Bodies
    rnd: random.Random
    at: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(hours=1))
    next_order: int = _ORDER
    next_line: int = _LINE
    open_orders: dict[int, list[tuple[int, list[tuple[int, int, int]]]]] = field(default_factory=dict)
    probe_values: dict[int, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def burst(self, n: int) -> list[Delivery]:
        """n signed deliveries over random stores, newest `updated_at` last."""
        out: list[Delivery] = []
        for i in range(n):
            self.at += timedelta(milliseconds=1)
            store = self.stores[self.rnd.randrange(len(self.stores))]
            if i % PROBE_EVERY == PROBE_EVERY - 1:
                value = self.probe_values[store.n] = self.probe_values.get(store.n, 1000) + 1
                body, topic = (
                    self.bodies.level_body(store, store.probe_variant, value, self.at),
                    "inventory_levels/update",
                )
                out.append((*_sign(body, store.domain, topic), (store.n, value)))
                self.counts["probe"] = self.counts.get("probe", 0) + 1
                continue
            body, topic = self._one(store)
            self.counts[topic] = self.counts.get(topic, 0) + 1
            out.append((*_sign(body, store.domain, topic), None))
        return out

    def _one(self, store: Store) -> tuple[dict[str, Any], str]:
        roll = self.rnd.random()
        catalog = [v for pid in store.products[:-1] for v in store.variants[pid]]
        waiting = self.open_orders.setdefault(store.n, [])
        if roll < 0.12 and waiting:
            oid, lines = waiting.pop(self.rnd.randrange(len(waiting)))
            return self.bodies.order_body(store, oid, lines, self.at, paid=True), "orders/updated"
        if roll < 0.42:
            oid, self.next_order = self.next_order, self.next_order + 1
            lines = []
            for vid in self.rnd.sample(catalog, self.rnd.randint(1, 3)):
                lines.append((self.next_line, vid, self.rnd.randint(1, 2)))
                self.next_line += 1
            waiting.append((oid, lines))
            return self.bodies.order_body(store, oid, lines, self.at, paid=False), "orders/create"
        if roll < 0.80:
            vid = self.rnd.choice(catalog)
            return self.bodies.level_body(store, vid, self.rnd.randint(0, 40), self.at), "inventory_levels/update"
        pid = self.rnd.choice(store.products[:-1])
        title = f"Product {pid} ({self.rnd.choice(['new', 'sale', 'last units', 'back'])})"
        return self.bodies.product_body(store, pid, self.at, title), "products/update"


class _NoJobs:
    """A job queue that enqueues nothing."""

    def enqueue(self, spec: Any) -> bool:
        """Nothing is run."""
        return False

    def clear_gate(self, gate: str) -> None:
        """No gates."""


# --- backend -------------------------------------------------------------------------------------------------


class Backend(Services):
    """The benchmark's database and Redis: seeding, counting the inbox, reading probe states."""

    def seed(self, stores: list[Store], bodies: Bodies) -> dict[int, int]:
        """Empty every table, then create the stores, their catalogs, stock and stock states; probe variant → row id."""
        from sqlalchemy import select, text

        from app.db import Base
        from app.models import Store as StoreRow
        from app.models import Variant
        from app.services import catalog
        from app.services.stock import recompute
        from integrations.base import InventoryRecord, ProductRecord
        from integrations.shopify import payloads as p

        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables if t.name != "alembic_version")
        with self.db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        self.redis.flushdb()
        jobs = _NoJobs()  # the seed's recompute runs here; its dirty marks are dropped below
        at = datetime.now(UTC) - timedelta(days=1)
        probes: dict[int, int] = {}
        for store in stores:
            with self.db.session() as s:
                row = StoreRow(platform="shopify", domain=store.domain, name=f"Spike {store.n}", status="active")
                s.add(row)
                s.flush()
                records = []
                for pid in store.products:
                    raw = json.dumps(bodies.product_body(store, pid, at, f"Product {pid}")).encode()
                    record = p.parse_topic_payload("products/update", raw)
                    assert isinstance(record, ProductRecord)
                    records.append(record)
                catalog.apply_products(s, jobs, row.id, records)
                levels = [
                    InventoryRecord(
                        variant_external_id=str(store.item(v)),
                        location_external_id=str(store.location),
                        available=1000 if v == store.probe_variant else 20,
                        updated_at=at,
                    )
                    for pid in store.products
                    for v in store.variants[pid]
                ]
                catalog.apply_inventory(s, jobs, row.id, levels, key="inventory_item")
                recompute.recompute(s, row.id)
                probes[store.n] = int(
                    s.execute(
                        select(Variant.id).where(
                            Variant.store_id == row.id, Variant.external_id == str(store.probe_variant)
                        )
                    ).scalar_one()
                )
        with self.db.engine.begin() as conn:
            conn.execute(text("DELETE FROM dirty_variants"))
        return probes

    def inbox(self) -> dict[str, int]:
        """Inbox rows by status."""
        from sqlalchemy import text

        with self.db.engine.connect() as conn:
            return {
                str(k): int(v) for k, v in conn.execute(text("SELECT status, count(*) FROM webhook_events GROUP BY 1"))
            }

    def probe_quantities(self, variant_ids: list[int]) -> dict[int, int]:
        """Sellable quantity of each probe variant as the storefront reads it (stock_states)."""
        from sqlalchemy import text

        with self.db.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT variant_id, sellable_quantity FROM stock_states WHERE variant_id = ANY(:ids)"),
                {"ids": variant_ids},
            )
            return {int(v): int(q) for v, q in rows}

    def close(self) -> None:
        """Release connections."""
        self.db.dispose()
        self.redis.close()


# --- workers and clients -------------------------------------------------------------------------------------


class Workers:
    """The Procfile's worker line, started twice, each in its own process group."""

    def __init__(self, count: int, env: dict[str, str], log: IO[bytes]) -> None:
        self.procs = [
            subprocess.Popen(
                [str(BIN / "backsoon"), "worker"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            for _ in range(count)
        ]

    def alive(self) -> bool:
        """Whether every worker still runs."""
        return all(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL what lingers."""
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)


def _client(port: int, items: list[Delivery], threads: int, pipe: Any) -> None:
    """One client process: keep-alive connections on threads, sending its share of the burst as fast as answered."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT) for _ in range(threads)]
    for c in conns:
        c.connect()
    pipe.send("ready")
    pipe.recv()
    lock = threading.Lock()
    state: dict[str, Any] = {"next": 0, "ok": 0, "errors": 0, "statuses": {}, "probes": [], "end": time.monotonic()}
    start = time.monotonic()

    def run(conn: http.client.HTTPConnection) -> None:
        while True:
            with lock:
                i = state["next"]
                if i >= len(items):
                    return
                state["next"] = i + 1
            body, headers, probe = items[i]
            status = None
            for _attempt in (0, 1):
                try:
                    conn.request("POST", PATH, body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    status = resp.status
                    break
                except _RECONNECT:
                    conn.close()  # resent once on a fresh connection; the webhook id dedupes it
                except OSError:
                    conn.close()
                    break
            now = time.monotonic()
            with lock:
                state["end"] = max(state["end"], now)
                if status is None:
                    state["errors"] += 1
                    continue
                state["statuses"][status] = state["statuses"].get(status, 0) + 1
                if status == 200:
                    state["ok"] += 1
                    if probe is not None:
                        state["probes"].append((probe[0], probe[1], now))

    workers = [threading.Thread(target=run, args=(c,)) for c in conns]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    pipe.send({**state, "start": start})


@dataclass
class Burst:
    """What the clients saw of one burst."""

    ok: int
    errors: int
    statuses: dict[int, int]
    seconds: float
    start: float
    probes: list[tuple[int, int, float]]

    @property
    def rate(self) -> float:
        """200 answers per second."""
        return self.ok / self.seconds if self.seconds else 0.0


def _send(port: int, items: list[Delivery], clients: int, concurrency: int) -> Burst:
    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    for k in range(clients):
        threads = concurrency // clients + (1 if k < concurrency % clients else 0)
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_client, args=(port, items[k::clients], threads, child), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    for p in pipes:
        if not p.poll(120) or p.recv() != "ready":
            raise RuntimeError("a client process did not get ready")
    for p in pipes:
        p.send("go")
    results = [p.recv() for p in pipes]
    for proc in procs:
        proc.join(10)
    start = min(r["start"] for r in results)
    statuses: dict[int, int] = {}
    for r in results:
        for k, v in r["statuses"].items():
            statuses[int(k)] = statuses.get(int(k), 0) + v
    return Burst(
        ok=sum(r["ok"] for r in results),
        errors=sum(r["errors"] for r in results),
        statuses=statuses,
        seconds=max(r["end"] for r in results) - start,
        start=start,
        probes=[tuple(x) for r in results for x in r["probes"]],
    )


class Poller(threading.Thread):
    """Reads the probe variants' storefront quantities every 50 ms and the inbox every 0.5 s."""

    def __init__(self, backend: Backend, probe_rows: dict[int, int]) -> None:
        super().__init__(daemon=True)
        self.backend = backend
        self.probe_rows = probe_rows  # store index → variant row id
        self.first_seen: dict[tuple[int, int], float] = {}  # (store index, value) → first time shown
        self.expected: dict[int, list[int]] = {}
        self.stop_event = threading.Event()
        self.lock = threading.Lock()

    def expect(self, store: int, value: int) -> None:
        """A probe value that will be sent for the store."""
        with self.lock:
            self.expected.setdefault(store, []).append(value)

    def run(self) -> None:
        """Poll until stopped."""
        ids = list(self.probe_rows.values())
        by_row = {row: n for n, row in self.probe_rows.items()}
        while not self.stop_event.is_set():
            quantities = self.backend.probe_quantities(ids)
            now = time.monotonic()
            with self.lock:
                for row, qty in quantities.items():
                    n = by_row[row]
                    for value in self.expected.get(n, []):
                        # A value superseded before this poll saw it was shown no later than its successor.
                        if qty >= value and (n, value) not in self.first_seen:
                            self.first_seen[(n, value)] = now
            self.stop_event.wait(0.05)


def _wait_empty(backend: Backend, workers: Workers, total: int, timeout: float) -> float:
    """Block until every stored delivery is processed; returns the monotonic time it was seen empty."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = backend.inbox()
        if counts.get("received", 0) == 0 and sum(counts.values()) >= total:
            return time.monotonic()
        if not workers.alive():
            raise RuntimeError("an RQ worker exited")
        time.sleep(0.1)
    raise RuntimeError(f"the inbox was not empty after {timeout:.0f}s: {backend.inbox()}")


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    """Run both phases and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stores", type=int, default=50)
    ap.add_argument("--deliveries", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--per-delivery", action="store_true", help="the workers run with INBOX_BATCH=0")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds each phase may take to empty the inbox")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _on_signal)

    url = os.environ.get("BENCH_SPIKE_DATABASE_URL", DEFAULT_URL)
    redis_url = os.environ.get("BENCH_SPIKE_REDIS_URL", DEFAULT_REDIS_URL)
    backend = Backend(url, redis_url)
    stores = _stores(args.stores)
    bodies = Bodies()
    _say(f"seeding {args.stores} stores of {PRODUCTS * VARIANTS + 1} variants")
    probe_rows = backend.seed(stores, bodies)
    gen = Generator(stores, bodies, random.Random(18))
    live_items, capacity_items = gen.burst(args.deliveries), gen.burst(args.deliveries)
    mix = {k: round(v / (2 * args.deliveries), 3) for k, v in sorted(gen.counts.items())}
    env = {k: v for k, v in os.environ.items() if k not in ("SHOPIFY_API_SECRET_OLD", "GUNICORN_CMD_ARGS")}
    env.update(
        {
            "DATABASE_URL": url, "REDIS_URL": redis_url, "SHOPIFY_API_SECRET": SECRET, "BACKSOON_ENV": "test",
            "LOG_LEVEL": "WARNING", "INBOX_BATCH": "0" if args.per_delivery else env.get("INBOX_BATCH", "500"),
        }
    )  # fmt: skip
    mode = "per delivery (INBOX_BATCH=0)" if args.per_delivery else f"batched (INBOX_BATCH={env['INBOX_BATCH']})"
    _say(f"{args.deliveries} deliveries per burst over {args.stores} stores, mix {mix}; {args.workers} workers, {mode}")
    _say(f"{os.cpu_count()} CPUs; load average before: {os.getloadavg()}")
    from rq.suspension import resume, suspend

    with tempfile.TemporaryDirectory() as tmp:
        app_log = open(Path(tmp) / "app.log", "wb")  # noqa: SIM115 - closed with the directory
        worker_log = open(Path(tmp) / "workers.log", "wb")  # noqa: SIM115
        server = Server("app", APP_TARGET, env, app_log)
        workers = Workers(args.workers, env, worker_log)
        poller = Poller(backend, probe_rows)
        try:
            server.wait_ready()
            for _, _, probe in live_items:
                if probe is not None:
                    poller.expect(*probe)
            poller.start()
            # Phase 1: the burst while the workers run.
            t_start = time.monotonic()
            live = _send(server.port, live_items, args.clients, args.concurrency)
            t_empty = _wait_empty(backend, workers, live.ok, args.timeout)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and len(poller.first_seen) < len(live.probes):
                time.sleep(0.1)
            poller.stop_event.set()
            lags = [poller.first_seen[(n, v)] - at for n, v, at in live.probes if (n, v) in poller.first_seen]
            unseen = len(live.probes) - len(lags)
            live_rate = live.ok / (t_empty - live.start)
            _say(
                f"live: accepted {live.ok} at {live.rate:.0f}/s ({live.errors} errors, {live.statuses}); inbox empty "
                f"{t_empty - live.start:.1f}s after the first send ({live_rate:.0f}/s); storefront lag of "
                f"{len(lags)} probes p50 {_pct(lags, 50):.2f}s p99 {_pct(lags, 99):.2f}s "
                f"max {max(lags or [math.nan]):.2f}s"
                f"{f' ({unseen} never seen)' if unseen else ''}"
            )
            # Phase 2: the same burst with the workers suspended, then their rate on the backlog.
            suspend(backend.redis)
            time.sleep(2.0)
            stored_before = sum(backend.inbox().values())
            capacity = _send(server.port, capacity_items, args.clients, args.concurrency)
            time.sleep(0.5)
            backlog = sum(backend.inbox().values()) - stored_before
            t_resume = time.monotonic()
            resume(backend.redis)
            t_done = _wait_empty(backend, workers, stored_before + backlog, args.timeout)
            processing = backlog / (t_done - t_resume)
            ratio = processing / capacity.rate
            _say(
                f"capacity: accepted {capacity.ok} at {capacity.rate:.0f}/s (workers suspended; {capacity.errors} "
                f"errors); {backlog} applied in {t_done - t_resume:.1f}s after resuming: {processing:.0f}/s, "
                f"{ratio:.2f}x the accept rate; inbox {backend.inbox()}"
            )
            _say(f"elapsed {time.monotonic() - t_start:.0f}s; load average after: {os.getloadavg()}")
            details = {
                "benchmark": "spike", "mode": "per_delivery" if args.per_delivery else "batched",
                "stores": args.stores, "deliveries": args.deliveries, "workers": args.workers, "mix": mix,
                "live_accept_rate": round(live.rate, 1), "live_drain_rate": round(live_rate, 1),
                "live_empty_after_s": round(t_empty - live.start, 2), "lag_probes": len(lags), "lag_unseen": unseen,
                "lag_p50_s": round(_pct(lags, 50), 3), "lag_p99_s": round(_pct(lags, 99), 3),
                "accept_rate": round(capacity.rate, 1), "processing_rate": round(processing, 1),
                "errors": live.errors + capacity.errors,
            }  # fmt: skip
            print(json.dumps(details), flush=True)
            headline = {
                "benchmark": "spike", "metric": "processing_rate", "value": round(processing, 1),
                "floor": round(capacity.rate, 1), "ratio": round(ratio, 3), "unit": "deliveries/s",
            }  # fmt: skip
            print(json.dumps(headline), flush=True)
        except BaseException:
            worker_log.flush()
            _say("workers' log tail:\n" + Path(worker_log.name).read_bytes()[-3000:].decode("utf-8", "replace"))
            _say("app log tail:\n" + server.log_tail())
            raise
        finally:
            poller.stop_event.set()
            resume(backend.redis)
            workers.stop()
            server.stop()
            backend.close()


if __name__ == "__main__":
    main()
