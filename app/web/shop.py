"""The demo storefront (/demo/shop) and the hosted back-soon landing pages (/p/<store>/<product>)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("shop", __name__)
