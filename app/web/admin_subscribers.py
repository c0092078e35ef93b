"""Merchant admin — Subscribers per variant, resend and removal, and the notification log."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_subscribers", __name__, url_prefix="/admin")
