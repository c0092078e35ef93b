"""BackSoon: the open restock engine for Shopify and WooCommerce stores."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from app.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask application; the only place an app is created."""
    from app.web.factory import build_app

    return build_app(settings)
