"""Merchant admin — the dashboard: sync state, headline figures, the at-risk and waitlist-demand tables."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from app.web.admin_auth import admin, admin_required

bp = Blueprint("admin_dashboard", __name__, url_prefix="/admin")


@bp.get("/")
@admin_required
def index() -> ResponseReturnValue:
    """The dashboard of the signed-in store."""
    return render_template("admin/dashboard.html", store=admin().store)
