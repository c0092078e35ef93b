"""The floor for benchmarks/webhook_ingest.py: a bare Flask app whose one POST endpoint reads the body and says 200."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request


def create_app() -> Flask:
    """Build the bare app; gunicorn serves it as `benchmarks.bare_app:create_app()`."""
    app = Flask(__name__)

    @app.post("/webhooks/shopify")
    def receive() -> tuple[Response, int]:
        """Read the whole body, store nothing, answer 200."""
        request.get_data(cache=False)
        return jsonify({"received": True}), 200

    return app
