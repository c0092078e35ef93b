"""Buy-link clicks (/r/<token>) and the restock attribution figures of the admin API."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("attribution", __name__)
