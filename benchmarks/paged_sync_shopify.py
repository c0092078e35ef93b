"""Benchmark: GraphQLClient.paginate over a cost-metered simulated Admin API, against the bucket's own minimum time.

A child process serves a simulated Shopify GraphQL Admin API on 127.0.0.1 (http.server, HTTP/1.1 keep-alive):
--products products in the PRODUCTS_PAGE shape of tests/fixtures/shopify/graphql/products_page.json (3 variants
each, 1–2 inventory levels per variant), --page-size per page, behind a leaky cost bucket like Shopify's: it starts
full at --maximum points, refills at --restore points/s, and each page costs --cost points (requestedQueryCost =
actualQueryCost). A request the bucket cannot pay for is refused as Shopify does (HTTP 200, errors[0].extensions.code
"THROTTLED", like throttled.json) and costs nothing; every answer reports extensions.cost.throttleStatus as the
bucket stands after it (currentlyAvailable rounded down to an integer, as Shopify sends it).
The app side is the real GraphQLClient (real time.sleep and clock) reading every page with paginate and mapping each
node with map_product_node, its session's https://<shop> prefix mounted on a transport adapter that sends to the
local server (the client is not modified).
  value — wall time from the first request to the last node;
  floor — the least time the bucket allows for the queries answered: max(0, (total cost − initial bucket) / restore
          rate).
Also reported: THROTTLED answers (0 when the client paces itself). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import base64
import http.server
import json
import math
import multiprocessing as mp
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHOP = "backsoon-bench-paged.myshopify.com"
TOKEN = "shpat_bench"  # noqa: S105 - a dummy token for a loopback server
PRODUCT_BASE = 9_587_413_000_000
VARIANT_BASE = 49_712_345_000_000
ITEM_BASE = 51_823_456_000_000
LOCATIONS = (79_432_187_993, 79_432_220_761)
SIZES = ("S", "M", "L")


# --- the simulated API -----------------------------------------------------------------------------------------


def _stamp(n: int) -> str:
    return f"2026-10-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:{(n * 7) % 60:02d}Z"


def _cursor(n: int) -> str:
    return base64.b64encode(json.dumps({"last_id": n, "last_value": str(n)}).encode()).decode()


def _product(n: int) -> dict[str, Any]:
    pid = PRODUCT_BASE + n * 65_537
    variants = []
    for k, size in enumerate(SIZES):
        v = n * len(SIZES) + k
        item = ITEM_BASE + v * 32_768
        levels = []
        for j, loc in enumerate(LOCATIONS[: 1 + v % 2]):
            available = (v * 37 + j * 11) % 23 - 2
            levels.append(
                {
                    "id": f"gid://shopify/InventoryLevel/{loc}?inventory_item_id={item}",
                    "location": {"id": f"gid://shopify/Location/{loc}"},
                    "quantities": [
                        {"name": "available", "quantity": available},
                        {"name": "on_hand", "quantity": max(available, 0) + v % 3},
                        {"name": "committed", "quantity": v % 3},
                        {"name": "incoming", "quantity": (v * 5) % 13},
                    ],
                }
            )
        variants.append(
            {
                "id": f"gid://shopify/ProductVariant/{VARIANT_BASE + v * 32_768}",
                "title": size,
                "sku": f"BP-{n}-{size}",
                "price": f"{10 + v % 90}.{(v * 7) % 100:02d}",
                "inventoryPolicy": "CONTINUE" if v % 5 == 0 else "DENY",
                "inventoryQuantity": v % 23,
                "updatedAt": _stamp(v),
                "inventoryItem": {
                    "id": f"gid://shopify/InventoryItem/{item}",
                    "tracked": True,
                    "inventoryLevels": {"nodes": levels, "pageInfo": {"hasNextPage": False, "endCursor": None}},
                },
            }
        )
    return {
        "id": f"gid://shopify/Product/{pid}",
        "legacyResourceId": str(pid),
        "title": f"Bench Product {n}",
        "handle": f"bench-product-{n}",
        "status": "ACTIVE",
        "updatedAt": _stamp(n),
        "variants": {"nodes": variants, "pageInfo": {"hasNextPage": False, "endCursor": _cursor(v)}},
    }


class Bucket:
    """Shopify's leaky cost bucket: starts full, refills continuously at restore points/s up to maximum."""

    def __init__(self, maximum: float, restore: float) -> None:
        self.maximum, self.restore = maximum, restore
        self.available, self.at = maximum, time.monotonic()
        self.lock = threading.Lock()
        self.served = self.throttled = 0
        self.total_cost = 0.0

    def take(self, cost: float) -> tuple[bool, float]:
        """Charge cost if the bucket holds it; (charged, points left)."""
        with self.lock:
            now = time.monotonic()
            self.available = min(self.maximum, self.available + (now - self.at) * self.restore)
            self.at = now
            if self.available < cost:
                self.throttled += 1
                return False, self.available
            self.available -= cost
            self.served += 1
            self.total_cost += cost
            return True, self.available


def _make_handler(pages: list[str], cursors: dict[str, int], bucket: Bucket, cost: float, query: str) -> type:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            """Counters for the benchmark."""
            stats = {"served": bucket.served, "throttled": bucket.throttled, "total_cost": bucket.total_cost}
            self._send(200, json.dumps(stats).encode())

        def do_POST(self) -> None:
            """One GraphQL request: the products page asked for, or THROTTLED."""
            payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if self.headers.get("X-Shopify-Access-Token") != TOKEN or payload.get("query") != query:
                self._send(400, b'{"errors":[{"message":"unexpected request"}]}')
                return
            after = (payload.get("variables") or {}).get("after")
            page = cursors.get(after, -1) if after is not None else 0
            if page < 0:
                self._send(400, b'{"errors":[{"message":"bad cursor"}]}')
                return
            ok, left = bucket.take(cost)
            status = {
                "maximumAvailable": bucket.maximum,
                "currentlyAvailable": math.floor(left),
                "restoreRate": bucket.restore,
            }
            if not ok:
                body = {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {
                                "code": "THROTTLED",
                                "documentation": "https://shopify.dev/api/usage/rate-limits",
                            },
                        }
                    ],
                    "extensions": {
                        "cost": {"requestedQueryCost": cost, "actualQueryCost": None, "throttleStatus": status}
                    },
                }
                self._send(200, json.dumps(body).encode())
                return
            ext = {"cost": {"requestedQueryCost": cost, "actualQueryCost": cost, "throttleStatus": status}}
            self._send(200, pages[page].replace('"@EXT@"', json.dumps(ext)).encode())

    return Handler


def _server(products: int, page_size: int, maximum: float, restore: float, cost: float, out: Any) -> None:
    from integrations.shopify.queries import PRODUCTS_PAGE

    n_pages = math.ceil(products / page_size)
    pages: list[str] = []
    cursors: dict[str, int] = {}
    for p in range(n_pages):
        nodes = [_product(n) for n in range(p * page_size, min(products, (p + 1) * page_size))]
        last = p == n_pages - 1
        cursor = _cursor(PRODUCT_BASE + (p + 1) * page_size)
        if not last:
            cursors[cursor] = p + 1
        info = {"hasNextPage": not last, "endCursor": cursor}
        body = {"data": {"products": {"nodes": nodes, "pageInfo": info}}, "extensions": "@EXT@"}
        pages.append(json.dumps(body))
    bucket = Bucket(maximum, restore)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), _make_handler(pages, cursors, bucket, cost, PRODUCTS_PAGE)
    )
    out.send({"port": server.server_address[1], "pages": n_pages, "bytes": sum(len(p) for p in pages)})
    server.serve_forever()


# --- the client side -------------------------------------------------------------------------------------------


class LoopbackAdapter(HTTPAdapter):
    """Send requests for https://<shop>/… to http://127.0.0.1:<port>/… instead."""

    def __init__(self, origin: str, target: str) -> None:
        super().__init__(max_retries=0)
        self.origin, self.target = origin, target

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        """Rewrite the URL's origin, then send as usual."""
        assert request.url is not None and request.url.startswith(self.origin)
        request.url = self.target + request.url[len(self.origin) :]
        return super().send(request, *args, **kwargs)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> None:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=3000)
    # The products page size the reconcile sends (PRODUCTS_PAGE requests 826 of Shopify's 1,000-point ceiling at 4),
    # at 3 points a product as actually charged for these 3-variant products.
    parser.add_argument("--page-size", type=int, default=4)
    parser.add_argument("--maximum", type=float, default=1000.0)
    parser.add_argument("--restore", type=float, default=100.0)
    parser.add_argument("--cost", type=float, default=12.0)
    args = parser.parse_args()

    from integrations.http import make_session
    from integrations.shopify.bulk import map_product_node
    from integrations.shopify.graphql import GraphQLClient
    from integrations.shopify.queries import PRODUCTS_PAGE

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(
        target=_server, args=(args.products, args.page_size, args.maximum, args.restore, args.cost, child), daemon=True
    )
    proc.start()
    try:
        if not parent.poll(60):
            raise SystemExit("simulated API did not start")
        info = parent.recv()
        local = f"http://127.0.0.1:{info['port']}"
        _say(f"simulated API on {local}: {info['pages']} pages, {info['bytes'] / 1e6:.1f} MB of JSON")
        session = make_session(retries=0)
        session.mount(f"https://{SHOP}/", LoopbackAdapter(f"https://{SHOP}", local))
        client = GraphQLClient(SHOP, lambda: TOKEN, session=session)

        nodes = variants = levels = 0
        started = time.perf_counter()
        for node in client.paginate(PRODUCTS_PAGE, {"first": args.page_size}, ("products",)):
            product, product_levels = map_product_node(node)
            nodes += 1
            variants += len(product.variants)
            levels += len(product_levels)
        value = time.perf_counter() - started

        stats = requests.get(f"{local}/stats", timeout=10).json()
    finally:
        proc.terminate()
        proc.join(10)
    if nodes != args.products:
        raise SystemExit(f"read {nodes} products, expected {args.products}")
    floor = max(0.0, (stats["total_cost"] - args.maximum) / args.restore)
    _say(
        f"read {nodes} products / {variants} variants / {levels} levels in {stats['served']} pages; "
        f"total cost {stats['total_cost']:.0f} points (bucket {args.maximum:.0f}, restore {args.restore:.0f}/s); "
        f"THROTTLED answers: {stats['throttled']}; wall {value:.2f}s, floor {floor:.2f}s, "
        f"overhead {value - floor:.2f}s ({(value - floor) / max(stats['served'], 1) * 1000:.1f} ms/page)"
    )
    print(
        json.dumps(
            {
                "benchmark": "paged_sync_shopify",
                "metric": f"paginate_{nodes}_products",
                "value": round(value, 3),
                "floor": round(floor, 3),
                "ratio": round(value / floor, 3) if floor > 0 else None,
                "unit": "s",
            }
        )
    )


if __name__ == "__main__":
    main()
