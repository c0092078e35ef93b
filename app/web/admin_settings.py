"""Merchant admin — settings, store-wide with per-product and per-variant overrides; a change recomputes."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_settings", __name__, url_prefix="/admin")
