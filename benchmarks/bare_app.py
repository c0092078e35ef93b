"""Floors for the HTTP benchmarks: bare Flask endpoints that do only what any endpoint must.

- ``POST /webhooks/shopify`` (benchmarks/webhook_ingest.py): reads the body and says 200.
- ``GET /storefront/v1/stores/<id>/products/<ref>`` (benchmarks/storefront_read.py): answers a constant JSON
  document as large as the app's real answer (``BENCH_BARE_BODY_BYTES``), with no database and no rate limiter.
"""

from __future__ import annotations

import json
import os

from flask import Flask, Response, jsonify, request


def create_app() -> Flask:
    """Build the bare app; gunicorn serves it as `benchmarks.bare_app:create_app()`."""
    app = Flask(__name__)
    size = int(os.environ.get("BENCH_BARE_BODY_BYTES", "2000"))
    body = json.dumps({"variants": {}, "pad": "x" * max(0, size - 30)}, separators=(",", ":"))

    @app.post("/webhooks/shopify")
    def receive() -> tuple[Response, int]:
        """Read the whole body, store nothing, answer 200."""
        request.get_data(cache=False)
        return jsonify({"received": True}), 200

    @app.get("/storefront/v1/stores/<int:store_id>/products/<ref>")
    def product_state(store_id: int, ref: str) -> Response:
        """A constant JSON document of the app's answer size."""
        return Response(body, mimetype="application/json")

    return app
