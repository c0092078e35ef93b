"""Merchant admin — Incoming stock (purchase orders, CSV import) and the campaign calendar."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_planning", __name__, url_prefix="/admin")
