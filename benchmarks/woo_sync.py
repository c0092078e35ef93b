"""Benchmark: the WooCommerce REST sync's products phase into PostgreSQL, against the merchant's page latency.

A child process serves a simulated WooCommerce REST v3 API on 127.0.0.1 (http.server, threaded, HTTP/1.1
keep-alive): GET /wp-json/wc/v3/products pages --products simple products in id order, per_page=100, with X-WP-Total
and X-WP-TotalPages, each item generated on request from tests/fixtures/woocommerce/rest/product-simple-instock.json
(deterministic id, name, SKU, price and stock quantity), and every products page answered after --delay seconds. The
orders list is empty (X-WP-TotalPages 0), the webhooks list is empty and webhook creation answers a minimal webhook.
Auth is not checked (the client signs OAuth 1.0a over plain http; the server ignores it).
The app side, in its own child process, is the real sync: a woocommerce Store row with encrypted credentials in
PostgreSQL database backsoon_bench_woo (BENCH_WOO_DATABASE_URL; created and migrated, catalog tables emptied first), a
WooClient for http://127.0.0.1:<port> (allow_private) and woo_sync.step over every phase, jobs dropped.
  value — wall time of the products phase (first page requested → last batch committed);
  floor — pages × delay: the time the merchant's server needs for the pages asked one at a time (concurrency 1).
Also reported: the whole step (products, orders, webhooks, finalize with its recompute) and the sync process's RSS at
25/50/75/100 % of the products. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import copy
import http.server
import json
import math
import multiprocessing as mp
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/backsoon_bench_woo"
FIXTURE = ROOT / "tests" / "fixtures" / "woocommerce" / "rest" / "product-simple-instock.json"
PRODUCT_BASE = 1000
PAGE_SIZE = 100
KEY, SECRET = "ck_bench", "cs_bench"  # dummy credentials for a loopback server
WEBHOOK_SECRET = "bench-webhook-secret"  # noqa: S105
API_PREFIX = "/wp-json/wc/v3/"

RESET_SQL = (
    "TRUNCATE products, variants, inventory_levels, locations, dirty_variants, sync_runs, suppliers,"
    " stock_states, stock_state_history, stock_events, orders, order_lines CASCADE"
)


# --- the simulated API -----------------------------------------------------------------------------------------


def _template() -> dict[str, Any]:
    path = FIXTURE if FIXTURE.exists() else ROOT / "tests" / "fixtures" / "woocommerce" / "rest" / FIXTURE.name
    body: dict[str, Any] = json.loads(path.read_text())["body"]
    return body


def _product(template: dict[str, Any], n: int) -> dict[str, Any]:
    pid = PRODUCT_BASE + n
    item = copy.copy(template)
    item.update(
        id=pid,
        name=f"Bench Product {n}",
        slug=f"bench-product-{n}",
        permalink=f"http://127.0.0.1/product/bench-product-{n}/",
        sku=f"WB-{n:06d}",
        price=f"{10 + n % 90}.{(n * 7) % 100:02d}",
        regular_price=f"{10 + n % 90}.{(n * 7) % 100:02d}",
        stock_quantity=(n * 37) % 23 - 2,
        stock_status="instock" if (n * 37) % 23 - 2 > 0 else "outofstock",
        total_sales=n % 17,
        backorders="notify" if n % 5 == 0 else "no",
        backorders_allowed=n % 5 == 0,
        _links={"self": [{"href": f"http://127.0.0.1/wp-json/wc/v3/products/{pid}"}]},
    )
    return item


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pages = self.requests = self.in_flight = self.max_in_flight = 0


def _make_handler(products: int, delay: float, stats: Stats) -> type:
    template = _template()
    total_pages = math.ceil(products / PAGE_SIZE)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            """Products pages (delayed), an empty orders list, an empty webhooks list, and /stats."""
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if url.path == "/stats":
                self._send(
                    200, {"pages": stats.pages, "requests": stats.requests, "max_in_flight": stats.max_in_flight}
                )
                return
            path = url.path.removeprefix(API_PREFIX)
            with stats.lock:
                stats.requests += 1
            if path == "products":
                per_page = int(query.get("per_page", ["10"])[0])
                page = int(query.get("page", ["1"])[0])
                if per_page != PAGE_SIZE or query.get("orderby") != ["id"]:
                    self._send(400, {"code": "rest_invalid_param", "message": "unexpected paging"})
                    return
                with stats.lock:
                    stats.in_flight += 1
                    stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
                try:
                    time.sleep(delay)
                    first = (page - 1) * PAGE_SIZE
                    items = [_product(template, n) for n in range(first, min(products, first + PAGE_SIZE))]
                    headers = {"X-WP-Total": str(products), "X-WP-TotalPages": str(total_pages)}
                    self._send(200, items, headers)
                finally:
                    with stats.lock:
                        stats.in_flight -= 1
                        stats.pages += 1
                return
            if path in ("orders", "webhooks"):
                total = "0" if path == "orders" else "1"
                self._send(200, [], {"X-WP-Total": "0", "X-WP-TotalPages": total})
                return
            self._send(404, {"code": "rest_no_route", "message": "No route was found"})

        def do_POST(self) -> None:
            """Webhook creation: a minimal active webhook."""
            url = urlsplit(self.path)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            if url.path.removeprefix(API_PREFIX) != "webhooks":
                self._send(404, {"code": "rest_no_route", "message": "No route was found"})
                return
            with stats.lock:
                stats.requests += 1
                hook_id = stats.requests
            hook = {
                "id": hook_id,
                "name": body.get("name", ""),
                "status": "active",
                "topic": body.get("topic"),
                "delivery_url": body.get("delivery_url"),
                "api_version": "wp_api_v3",
            }
            self._send(201, hook)

    return Handler


def _server(products: int, delay: float, out: Any) -> None:
    stats = Stats()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(products, delay, stats))
    server.daemon_threads = True
    out.send({"port": server.server_address[1], "pages": math.ceil(products / PAGE_SIZE)})
    server.serve_forever()


# --- database ------------------------------------------------------------------------------------------------


def _ensure_db(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).scalar():
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")


def _store(url: str, store_url: str) -> int:
    """The benchmark's woocommerce store, pointing at the simulated API, with empty catalog tables."""
    from sqlalchemy import select, text

    from app.config import Settings
    from app.db import Database
    from app.infra.crypto import cipher_for
    from app.models import Store

    cipher = cipher_for(Settings(env="test"))
    db = Database(url)
    with db.session() as s:
        s.execute(text(RESET_SQL))
        store = s.execute(select(Store).where(Store.platform == "woocommerce")).scalars().first()
        if store is None:
            store = Store(platform="woocommerce", domain=store_url, name="BackSoon WooCommerce sync benchmark")
            s.add(store)
        store.domain = store_url
        store.status = "active"
        store.last_synced_at = None
        store.credentials_encrypted = cipher.encrypt_json({"consumer_key": KEY, "consumer_secret": SECRET})
        store.webhook_secret_encrypted = cipher.encrypt(WEBHOOK_SECRET.encode())
        s.flush()
        sid = int(store.id)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE products, variants, inventory_levels"))
    db.dispose()
    return sid


# --- the sync process ------------------------------------------------------------------------------------------


class NoJobs:
    """A JobQueue that drops every job: the benchmark measures the sync, not Redis."""

    def __init__(self) -> None:
        self.enqueued = 0

    def enqueue(self, spec: Any) -> bool:
        """Count and drop."""
        self.enqueued += 1
        return True

    def clear_gate(self, gate: str) -> None:
        """Nothing to reopen."""


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_sync(url: str, sid: int, store_url: str, products: int, out: Any) -> None:
    from app.config import Settings
    from app.db import Database
    from app.models import SyncRun
    from app.platforms.woocommerce import sync as woo_sync
    from integrations.woocommerce.client import WooClient

    settings = Settings(env="test", app_url="https://backsoon.example")
    samples: list[dict[str, float]] = []
    marks = {math.ceil(products * q / 4): q * 25 for q in (1, 2, 3, 4)}

    class SampledClient(WooClient):
        """The real client; only counts the products it yields, to sample RSS at 25/50/75/100 %."""

        def iter_products(self, *args: Any, **kwargs: Any) -> Any:
            for i, item in enumerate(super().iter_products(*args, **kwargs), 1):
                if i in marks:
                    samples.append({"pct": marks[i], "rss_mb": round(_rss_now_mb(), 1), "at": time.perf_counter()})
                yield item

    phases: dict[str, float] = {}
    originals = dict(woo_sync._PHASES)

    def timed(name: str) -> Any:
        def run(ctx: Any, cursor: dict[str, Any]) -> None:
            t0 = time.perf_counter()
            originals[name](ctx, cursor)
            phases[name] = time.perf_counter() - t0

        return run

    for name in originals:
        woo_sync._PHASES[name] = timed(name)

    db = Database(url)
    jobs = NoJobs()
    with db.session() as s:
        run_id = int(woo_sync.start_sync(s, jobs, sid).id)
    client = SampledClient(store_url, KEY, SECRET, allow_private=True)
    rss_before = _rss_now_mb()
    started = time.perf_counter()
    status = woo_sync.step(db, jobs, run_id, client, settings=settings)
    took = time.perf_counter() - started
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        counts, error = dict(run.counts or {}), run.error
    db.dispose()
    for sample in samples:
        sample["at"] = round(sample["at"] - started, 2)
    out.send(
        {
            "status": status,
            "error": error,
            "step_s": took,
            "phases": phases,
            "counts": counts,
            "jobs": jobs.enqueued,
            "rss_before_mb": rss_before,
            "samples": samples,
            "peak_rss_mb": _peak_rss_mb(),
        }
    )


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> None:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds each products page takes to answer")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_WOO_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()

    import requests

    url = args.database_url
    _ensure_db(url)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_server, args=(args.products, args.delay, child), daemon=True)
    server.start()
    try:
        if not parent.poll(60):
            raise SystemExit("simulated API did not start")
        info = parent.recv()
        store_url = f"http://127.0.0.1:{info['port']}"
        sid = _store(url, store_url)
        _say(f"simulated WooCommerce on {store_url}: {args.products} products, {info['pages']} pages; store {sid}")
        receive, send = ctx.Pipe()
        sync = ctx.Process(target=_child_sync, args=(url, sid, store_url, args.products, send))
        sync.start()
        result = receive.recv()
        sync.join(60)
        stats = requests.get(f"{store_url}/stats", timeout=10).json()
    finally:
        server.terminate()
        server.join(10)
    if result["status"] != "done":
        raise SystemExit(f"sync ended {result['status']}: {result['error']}")
    if result["counts"].get("products") != args.products:
        raise SystemExit(f"synced {result['counts']}, expected {args.products} products")
    pages = stats["pages"]
    floor = pages * args.delay
    value = result["phases"]["products"]
    phases = ", ".join(f"{k} {v:.2f}s" for k, v in result["phases"].items())
    _say(
        f"synced {result['counts']} in {pages} products pages ({stats['requests']} requests, at most "
        f"{stats['max_in_flight']} products page in flight); jobs dropped: {result['jobs']}"
    )
    _say(f"whole step {result['step_s']:.2f}s: {phases}")
    _say(
        f"products phase {value:.2f}s, floor {floor:.2f}s ({pages} × {args.delay * 1000:.0f} ms), overhead "
        f"{value - floor:.2f}s ({(value - floor) / max(pages, 1) * 1000:.1f} ms/page)"
    )
    rss = ", ".join(f"{s['pct']}% {s['rss_mb']:.0f} MB (t={s['at']:.1f}s)" for s in result["samples"])
    _say(f"sync process RSS: before {result['rss_before_mb']:.0f} MB; {rss}; peak {result['peak_rss_mb']:.0f} MB")
    print(
        json.dumps(
            {
                "benchmark": "woo_sync",
                "metric": f"products_phase_{args.products}_products",
                "value": round(value, 3),
                "floor": round(floor, 3),
                "ratio": round(value / floor, 3) if floor > 0 else None,
                "unit": "s",
            }
        )
    )


if __name__ == "__main__":
    main()
