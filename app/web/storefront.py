"""Public storefront API under /storefront/v1 (state, signup), the Shopify App Proxy, confirm and unsubscribe pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("storefront", __name__)
