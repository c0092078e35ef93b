"""Merchant admin — Exports (streamed CSV), the marketing-signal feed and the outbound webhook."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_data", __name__, url_prefix="/admin")
