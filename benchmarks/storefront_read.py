"""Benchmark: public storefront state reads under gunicorn against a bare Flask endpoint under the same gunicorn.

Seeds the demo store (500 variants, 180 days) into PostgreSQL database backsoon_bench_storefront and computes its
states, then serves `app:create_app()` (Redis db 14 for the rate limiter) and benchmarks/bare_app.py with the same
gunicorn flags as the webhook benchmark (production's web line: 2 workers x 4 gthreads). Client processes hold
keep-alive connections and GET /storefront/v1/stores/<id>/products/<ref> for products picked at random from the
seeded catalog, with an Origin header as a browser sends it. The floor serves the same URL shape with a constant
JSON body of the same size (no database, no limiter). Runs are interleaved, best of --rounds; the app's answers are
checked (200, JSON, CORS header for the demo origin). Human-readable lines go to stderr, the JSON line to stdout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.webhook_ingest import GUNICORN_FLAGS, Server  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/backsoon_bench_storefront"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
APP_URL = "http://127.0.0.1:5000"  # the demo store's own origin, so CORS is answered as for a real shop
APP_TARGET = "app:create_app()"
BARE_TARGET = "benchmarks.bare_app:create_app()"


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _seed(url: str) -> tuple[int, list[str]]:
    """The demo store's id and its product refs, seeding and recomputing when the database is new."""
    from sqlalchemy import select

    from app.db import Database
    from app.models import Product, Store
    from app.platforms.demo.seed import seed_demo
    from app.services.stock import recompute as stock
    from benchmarks.recompute import _ensure_db

    _ensure_db(url)
    db = Database(url)
    try:
        with db.session() as s:
            store_id = s.execute(select(Store.id).where(Store.platform == "demo")).scalar_one_or_none()
        if store_id is None:
            store_id = seed_demo(db, variants=500, days=180).store_id
            with db.session() as s:
                stock.recompute(s, store_id)
        with db.session() as s:
            refs = list(
                s.execute(
                    select(Product.external_id).where(Product.store_id == store_id, Product.deleted_at.is_(None))
                ).scalars()
            )
        return int(store_id), refs
    finally:
        db.dispose()


def _client(port: int, paths: list[str], seconds: float, threads: int, pipe: Any) -> None:
    """One client process: `threads` keep-alive connections GETting random paths until the clock runs out."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(threads)]
    for c in conns:
        c.connect()
    pipe.send("ready")
    t0: float = pipe.recv()
    counts = [0] * threads
    bad: list[str] = []

    def run(i: int, conn: http.client.HTTPConnection) -> None:
        rng = random.Random(i)
        headers = {"Origin": APP_URL, "Accept": "application/json"}
        while time.monotonic() < t0 + seconds:
            conn.request("GET", rng.choice(paths), headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200 or not body.startswith(b"{"):
                bad.append(f"{resp.status} {body[:120]!r}")
                continue
            counts[i] += 1
        conn.close()

    workers = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(conns)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    pipe.send({"ok": sum(counts), "bad": bad[:5], "bad_count": len(bad)})


def _drive(port: int, paths: list[str], seconds: float, clients: int, threads: int) -> tuple[float, int]:
    """Requests per second over `seconds` from `clients` processes, and the count of bad answers."""
    ctx = mp.get_context("fork")
    pipes = []
    procs = []
    for _ in range(clients):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_client, args=(port, paths, seconds, threads, child), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    for p in pipes:
        assert p.recv() == "ready"
    t0 = time.monotonic() + 0.2
    for p in pipes:
        p.send(t0)
    results = [p.recv() for p in pipes]
    for proc in procs:
        proc.join(10)
    bad = sum(r["bad_count"] for r in results)
    if bad:
        _say(f"  bad answers: {bad}, e.g. {results[0]['bad'] or results[-1]['bad']}")
    return sum(r["ok"] for r in results) / seconds, bad


def _status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status


def _sample(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Origin": APP_URL})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200 or resp.getheader("Access-Control-Allow-Origin") != APP_URL:
        raise RuntimeError(f"unexpected answer {resp.status} {resp.getheaders()} {body[:200]!r}")
    conn.close()
    return body


def main() -> None:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each measured run")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=8, help="keep-alive connections per client process")
    parser.add_argument("--rounds", type=int, default=3, help="runs per server, interleaved; the best counts")
    args = parser.parse_args()

    url = os.environ.get("BENCH_STOREFRONT_DATABASE_URL", DEFAULT_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    store_id, refs = _seed(url)
    paths = [f"/storefront/v1/stores/{store_id}/products/{ref}" for ref in refs]
    env = {k: v for k, v in os.environ.items() if k != "GUNICORN_CMD_ARGS"}
    env.update(
        {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "APP_URL": APP_URL,
            "BACKSOON_ENV": "test",
            "LOG_LEVEL": "WARNING",
            # Every client here is 127.0.0.1; real shoppers come from many addresses. The limiter still counts
            # each read in Redis, so its cost stays in the measurement.
            "RATE_LIMIT_STATE_IP": "100000000/minute",
        }
    )
    servers: list[Server] = []
    try:
        with tempfile.NamedTemporaryFile(prefix="bench-app-", suffix=".log") as app_log:
            app = Server("app", APP_TARGET, env, app_log)  # type: ignore[arg-type]
            servers.append(app)
            app.wait_ready()
            served = [p for p in paths if _status(app.port, p) == 200]
            if len(served) < len(paths):
                # Unpublished products are not public; the clients only ask for what a shop page would show.
                _say(f"  {len(paths) - len(served)} unpublished product(s) left out")
            paths = served
            body = _sample(app.port, paths[0])
            floor_env = {**env, "BENCH_BARE_BODY_BYTES": str(len(body))}
            with tempfile.NamedTemporaryFile(prefix="bench-bare-", suffix=".log") as bare_log:
                bare = Server("bare", BARE_TARGET, floor_env, bare_log)  # type: ignore[arg-type]
                servers.append(bare)
                bare.wait_ready()
                _say(
                    f"{len(paths)} products of store {store_id}, ~{len(body)} B JSON each; gunicorn "
                    f"{' '.join(GUNICORN_FLAGS)}; {args.clients}x{args.threads} keep-alive connections; "
                    f"{os.cpu_count()} CPUs"
                )
                # Warm both: connection pools, imports, the first queries.
                _drive(app.port, paths, 1.0, args.clients, args.threads)
                _drive(bare.port, paths, 1.0, args.clients, args.threads)
                best_app = best_bare = 0.0
                for r in range(args.rounds):
                    rps_app, bad = _drive(app.port, paths, args.seconds, args.clients, args.threads)
                    if bad:
                        raise RuntimeError(f"the app answered {bad} requests wrongly:\n{app.log_tail()}")
                    rps_bare, _ = _drive(bare.port, paths, args.seconds, args.clients, args.threads)
                    _say(f"  round {r + 1}: app {rps_app:,.0f} req/s, bare Flask {rps_bare:,.0f} req/s")
                    best_app, best_bare = max(best_app, rps_app), max(best_bare, rps_bare)
    finally:
        for s in servers:
            s.stop()
    ratio = best_app / best_bare if best_bare else 0.0
    _say(f"storefront reads: {best_app:,.0f} req/s vs bare {best_bare:,.0f} req/s = {ratio:.2f}x (goal >= 0.8)")
    line = {
        "benchmark": "storefront_read",
        "metric": "throughput",
        "value": round(best_app, 1),
        "floor": round(best_bare, 1),
        "ratio": round(ratio, 3),
        "unit": "req/s",
    }
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
