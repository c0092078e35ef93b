"""Benchmark: a Shopify bulk catalog file applied to PostgreSQL by the sync, against a COPY + INSERT … SELECT floor.

Generates (deterministically, streamed to a temp file) a grouped bulk JSONL shaped exactly like
tests/fixtures/shopify/graphql/bulk_products.jsonl: --variants variants, 3 per product, 1–2 inventory levels per
variant over 2 locations. The file is served by http.server on 127.0.0.1 and, in one run, each side starts from
empty catalog tables (PostgreSQL database backsoon_bench_sync, one Shopify store) in a fresh child process:
  value — the app path: download_lines over HTTP → iter_bulk_records → shopify_sync._apply_catalog_stream
          (batches of PRODUCT_BATCH products through catalog.apply_products / apply_inventory, committing progress
          on a SyncRun row); also that child's peak RSS;
  floor — the minimal SQL way: the HTTP stream COPYed as raw jsonb lines into a temp table, then one
          INSERT … SELECT … ON CONFLICT each into locations, products, variants and inventory_levels (ANALYZE of
          the fresh tables between them), and one UPDATE of the variants' sellable quantity, in one transaction.
Both end states are compared (counts and a checksum of every product, variant and level). Best of --repeat runs.
The app child's peak RSS goes to stderr; ends with one JSON line (the time).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/backsoon_bench_sync"
SHOP = "backsoon-bench-sync.myshopify.com"
FILE_NAME = "bulk_products.jsonl"
PRODUCT_BASE = 9_587_413_000_000
VARIANT_BASE = 49_712_345_000_000
ITEM_BASE = 51_823_456_000_000
LOCATIONS = (79_432_187_993, 79_432_220_761)
SIZES = ("S", "M", "L")

RESET_SQL = (
    "TRUNCATE products, variants, inventory_levels, locations, dirty_variants, sync_runs, suppliers,"
    " stock_states, stock_state_history, stock_events CASCADE"
)

FLOOR_SQL = (
    "CREATE TEMP TABLE stage (line jsonb) ON COMMIT DROP",
    None,  # COPY goes here
    "ANALYZE stage",
    """INSERT INTO locations (store_id, external_id, name, active, fulfills_online, created_at, updated_at)
       SELECT DISTINCT :sid, split_part(line->'location'->>'id', '/', 5), '', true, true, now(), now()
       FROM stage WHERE line->>'id' LIKE 'gid://shopify/InventoryLevel/%'
       ON CONFLICT (store_id, external_id) DO NOTHING""",
    """WITH n AS (
         SELECT line->>'__parentId' AS pid, count(*) AS c FROM stage
         WHERE line->>'id' LIKE 'gid://shopify/ProductVariant/%' GROUP BY 1)
       INSERT INTO products (store_id, external_id, title, handle, description, vendor, product_type, kind,
                             status, published, collections, tags, external_updated_at, created_at, updated_at)
       SELECT :sid, split_part(p.line->>'id', '/', 5), p.line->>'title', p.line->>'handle', '', '', '',
              CASE WHEN n.c > 1 THEN 'variable' ELSE 'simple' END, lower(p.line->>'status'), true,
              '[]'::jsonb, '[]'::jsonb, (p.line->>'updatedAt')::timestamptz, now(), now()
       FROM stage p LEFT JOIN n ON n.pid = p.line->>'id'
       WHERE p.line->>'id' LIKE 'gid://shopify/Product/%'
       ON CONFLICT (store_id, external_id) DO UPDATE SET
         title = EXCLUDED.title, handle = EXCLUDED.handle, kind = EXCLUDED.kind, status = EXCLUDED.status,
         external_updated_at = EXCLUDED.external_updated_at, deleted_at = NULL, updated_at = EXCLUDED.updated_at""",
    "ANALYZE products, locations",
    """INSERT INTO variants (store_id, product_id, external_id, inventory_item_external_id, sku, title, options,
                             price, tracked, inventory_policy, backorder, stock_from_parent, published, position,
                             sellable_quantity, external_updated_at, created_at, updated_at)
       SELECT :sid, p.id, split_part(v.line->>'id', '/', 5), split_part(v.line->'inventoryItem'->>'id', '/', 5),
              v.line->>'sku', v.line->>'title', '{}'::jsonb, (v.line->>'price')::numeric,
              (v.line->'inventoryItem'->>'tracked')::boolean, lower(v.line->>'inventoryPolicy'), false, false, true,
              0, 0, (v.line->>'updatedAt')::timestamptz, now(), now()
       FROM stage v JOIN products p ON p.store_id = :sid AND p.external_id = split_part(v.line->>'__parentId', '/', 5)
       WHERE v.line->>'id' LIKE 'gid://shopify/ProductVariant/%'
       ON CONFLICT (store_id, external_id) DO UPDATE SET
         product_id = EXCLUDED.product_id, inventory_item_external_id = EXCLUDED.inventory_item_external_id,
         sku = EXCLUDED.sku, title = EXCLUDED.title, price = EXCLUDED.price, tracked = EXCLUDED.tracked,
         inventory_policy = EXCLUDED.inventory_policy, external_updated_at = EXCLUDED.external_updated_at,
         deleted_at = NULL, updated_at = EXCLUDED.updated_at""",
    "ANALYZE variants",
    """INSERT INTO inventory_levels (store_id, variant_id, location_id, available, on_hand, updated_at)
       SELECT :sid, v.id, loc.id,
              (SELECT (q->>'quantity')::int FROM jsonb_array_elements(l.line->'quantities') q
               WHERE q->>'name' = 'available'),
              (SELECT (q->>'quantity')::int FROM jsonb_array_elements(l.line->'quantities') q
               WHERE q->>'name' = 'on_hand'),
              now()
       FROM stage l
       JOIN variants v ON v.store_id = :sid AND v.external_id = split_part(l.line->>'__parentId', '/', 5)
       JOIN locations loc ON loc.store_id = :sid AND loc.external_id = split_part(l.line->'location'->>'id', '/', 5)
       WHERE l.line->>'id' LIKE 'gid://shopify/InventoryLevel/%'
       ON CONFLICT (variant_id, location_id) DO UPDATE SET
         available = EXCLUDED.available, on_hand = EXCLUDED.on_hand, updated_at = EXCLUDED.updated_at""",
    """UPDATE variants v SET sellable_quantity = s.q
       FROM (SELECT variant_id, SUM(COALESCE(available, 0)) AS q FROM inventory_levels WHERE store_id = :sid
             GROUP BY variant_id) s
       WHERE v.id = s.variant_id AND v.sellable_quantity <> s.q""",
)
COPY_SQL = "COPY stage (line) FROM STDIN (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"

CHECK_SQL = {
    "products": "SELECT count(*) FROM products WHERE store_id = :sid",
    "variants": "SELECT count(*) FROM variants WHERE store_id = :sid",
    "levels": "SELECT count(*) FROM inventory_levels WHERE store_id = :sid",
    "catalog_md5": """SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (
        SELECT concat_ws(':', p.external_id, p.title, p.handle, p.kind, p.status, v.external_id,
                         v.inventory_item_external_id, v.sku, v.title, v.price, v.tracked, v.inventory_policy,
                         v.sellable_quantity, v.external_updated_at, v.deleted_at IS NULL) AS x
        FROM variants v JOIN products p ON p.id = v.product_id WHERE v.store_id = :sid) t""",
    "levels_md5": """SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (
        SELECT concat_ws(':', v.external_id, loc.external_id, l.available, l.on_hand) AS x
        FROM inventory_levels l JOIN variants v ON v.id = l.variant_id JOIN locations loc ON loc.id = l.location_id
        WHERE l.store_id = :sid) t""",
}


# --- the file ------------------------------------------------------------------------------------------------


def _stamp(n: int) -> str:
    return f"2026-10-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:{(n * 7) % 60:02d}Z"


def generate(path: Path, variants: int) -> dict[str, int]:
    """Write the grouped bulk JSONL (product, its variants, then their levels) and return what it holds."""
    dumps = functools.partial(json.dumps, separators=(",", ":"))
    products = levels = 0
    v = 0
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        while v < variants:
            pid = PRODUCT_BASE + products * 65_537
            pgid = f"gid://shopify/Product/{pid}"
            out.write(
                dumps(
                    {
                        "id": pgid,
                        "title": f"Bench Product {products}",
                        "handle": f"bench-product-{products}",
                        "status": "DRAFT" if products % 17 == 0 else "ACTIVE",
                        "updatedAt": _stamp(products),
                    }
                )
                + "\n"
            )
            children: list[tuple[str, int, int]] = []
            for size in SIZES[: min(len(SIZES), variants - v)]:
                vid, item = VARIANT_BASE + v * 32_768, ITEM_BASE + v * 32_768
                vgid = f"gid://shopify/ProductVariant/{vid}"
                out.write(
                    dumps(
                        {
                            "id": vgid,
                            "title": size,
                            "sku": f"BP-{products}-{size}",
                            "price": f"{10 + v % 90}.{(v * 7) % 100:02d}",
                            "inventoryPolicy": "CONTINUE" if v % 5 == 0 else "DENY",
                            "inventoryQuantity": v % 23,
                            "updatedAt": _stamp(v),
                            "inventoryItem": {"id": f"gid://shopify/InventoryItem/{item}", "tracked": True},
                            "__parentId": pgid,
                        }
                    )
                    + "\n"
                )
                children.append((vgid, item, v))
                v += 1
            for vgid, item, n in children:
                for k, loc in enumerate(LOCATIONS[: 1 + n % 2]):
                    available = (n * 37 + k * 11) % 23 - 2
                    committed = n % 3
                    out.write(
                        dumps(
                            {
                                "id": f"gid://shopify/InventoryLevel/{loc}?inventory_item_id={item}",
                                "location": {"id": f"gid://shopify/Location/{loc}"},
                                "quantities": [
                                    {"name": "available", "quantity": available},
                                    {"name": "on_hand", "quantity": max(available, 0) + committed},
                                    {"name": "committed", "quantity": committed},
                                    {"name": "incoming", "quantity": (n * 5) % 13},
                                ],
                                "__parentId": vgid,
                            }
                        )
                        + "\n"
                    )
                    levels += 1
            products += 1
    return {"products": products, "variants": v, "levels": levels, "bytes": path.stat().st_size}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep stderr for the benchmark's own lines."""


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve the directory on 127.0.0.1 from a daemon thread; return the server and the file's URL."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/{FILE_NAME}"


# --- database ------------------------------------------------------------------------------------------------


def _store(url: str) -> int:
    from sqlalchemy import select

    from app.db import Database
    from app.models import Store

    db = Database(url)
    with db.session() as s:
        store = s.execute(select(Store).where(Store.platform == "shopify", Store.domain == SHOP)).scalar_one_or_none()
        if store is None:
            store = Store(platform="shopify", domain=SHOP, name="BackSoon bulk sync benchmark")
            s.add(store)
        store.status = "active"
        s.flush()
        sid = int(store.id)
    db.dispose()
    return sid


def _reset(url: str) -> None:
    from sqlalchemy import text

    from app.db import Database

    db = Database(url)
    with db.session() as s:
        s.execute(text(RESET_SQL))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE products, variants, inventory_levels, locations"))
    db.dispose()


def _check(url: str, sid: int) -> dict[str, Any]:
    from sqlalchemy import text

    from app.db import Database

    db = Database(url)
    with db.session() as s:
        out = {k: s.execute(text(sql), {"sid": sid}).scalar() for k, sql in CHECK_SQL.items()}
    db.dispose()
    return out


# --- children ------------------------------------------------------------------------------------------------


class NoJobs:
    """A JobQueue that drops every job: the benchmark measures the write path, not Redis."""

    def __init__(self) -> None:
        self.enqueued = 0

    def enqueue(self, spec: Any) -> bool:
        """Count and drop."""
        self.enqueued += 1
        return True

    def clear_gate(self, gate: str) -> None:
        """Nothing to reopen."""


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_app(url: str, sid: int, file_url: str, size: int, out: Any) -> None:
    from app.db import Database
    from app.models import SyncRun
    from app.platforms.shopify import sync as shopify_sync
    from integrations.http import make_session
    from integrations.shopify.bulk import download_lines, iter_bulk_records

    db = Database(url)
    jobs = NoJobs()
    with db.session() as s:
        run = shopify_sync.start_sync(s, jobs, sid)
        run.phase = "products"
        run_id = int(run.id)
    http = make_session()
    rss_before = _rss_mb()
    started = time.perf_counter()
    records = iter_bulk_records(download_lines(http, file_url, expected_size=size))
    shopify_sync._apply_catalog_stream(db, jobs, run_id, sid, records, 0, "products")
    took = time.perf_counter() - started
    with db.session() as s:
        done = s.get(SyncRun, run_id)
        assert done is not None
        counts = dict(done.counts or {})
    db.dispose()
    out.send(
        {"seconds": took, "rss_mb": _rss_mb(), "rss_before_mb": rss_before, "counts": counts, "jobs": jobs.enqueued}
    )


def _child_floor(url: str, sid: int, file_url: str, size: int, out: Any) -> None:
    from sqlalchemy import text

    from app.db import Database
    from integrations.http import make_session

    db = Database(url)
    http = make_session()
    with db.session() as s:
        s.execute(text("SELECT 1"))
    rss_before = _rss_mb()
    started = time.perf_counter()
    steps: list[float] = []
    with db.session() as s:
        for sql in FLOOR_SQL:
            t0 = time.perf_counter()
            if sql is None:
                raw = s.connection().connection.driver_connection
                assert raw is not None
                received = 0
                with raw.cursor() as cur, cur.copy(COPY_SQL) as copy, http.get(file_url, stream=True) as response:
                    response.raise_for_status()
                    for chunk in response.iter_content(chunk_size=1 << 16):
                        received += len(chunk)
                        copy.write(chunk)
                if received != size:
                    raise RuntimeError(f"floor download got {received} bytes, expected {size}")
            else:
                s.execute(text(sql), {"sid": sid})
            steps.append(round(time.perf_counter() - t0, 3))
    took = time.perf_counter() - started
    db.dispose()
    out.send({"seconds": took, "rss_mb": _rss_mb(), "rss_before_mb": rss_before, "steps": steps})


def _run(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(*args, child))
    proc.start()
    child.close()
    try:
        result: dict[str, Any] = parent.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(f"{target.__name__} died (exit code {proc.exitcode})") from None
    proc.join()
    return result


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> None:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    url = os.environ.get("BENCH_SYNC_DATABASE_URL", DEFAULT_URL)

    from benchmarks.recompute import _ensure_db

    _ensure_db(url)
    sid = _store(url)
    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as tmp:
        path = Path(tmp) / FILE_NAME
        t0 = time.perf_counter()
        shape = generate(path, args.variants)
        _say(
            f"generated {shape['products']} products, {shape['variants']} variants, {shape['levels']} levels "
            f"({shape['bytes'] / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f}s"
        )
        server, file_url = serve(Path(tmp))
        try:
            apps, floors = [], []
            checks: dict[str, dict[str, Any]] = {}
            for _ in range(args.repeat):
                _reset(url)
                floors.append(_run(_child_floor, url, sid, file_url, shape["bytes"]))
                checks["floor"] = _check(url, sid)
                _say(f"floor: {floors[-1]['seconds']:.2f}s (steps {floors[-1]['steps']}), {checks['floor']}")
                _reset(url)
                apps.append(_run(_child_app, url, sid, file_url, shape["bytes"]))
                checks["app"] = _check(url, sid)
                _say(
                    f"app: {apps[-1]['seconds']:.2f}s, peak RSS {apps[-1]['rss_mb']:.0f} MB "
                    f"(before {apps[-1]['rss_before_mb']:.0f} MB), counts {apps[-1]['counts']}, {checks['app']}"
                )
        finally:
            server.shutdown()
            server.server_close()
    same = checks["app"] == checks["floor"]
    expected = (shape["products"], shape["variants"], shape["levels"])
    complete = (checks["app"]["products"], checks["app"]["variants"], checks["app"]["levels"]) == expected
    _say(f"end states identical: {same}; every record stored: {complete}")
    if not (same and complete):
        raise SystemExit("app and floor end states differ: the comparison is void")
    value = min(a["seconds"] for a in apps)
    floor = min(f["seconds"] for f in floors)
    peak = max(a["rss_mb"] for a in apps)
    floor_rss = max(f["rss_mb"] for f in floors)
    _say(f"peak RSS of the app child: {peak:.0f} MB (goal < 250 MB); floor child {floor_rss:.0f} MB")
    print(
        json.dumps(
            {
                "benchmark": "bulk_sync",
                "metric": f"bulk_file_to_db_{shape['variants'] // 1000}k_variants",
                "value": round(value, 3),
                "floor": round(floor, 3),
                "ratio": round(value / floor, 2),
                "unit": "s",
            }
        )
    )


if __name__ == "__main__":
    main()
