"""Demo-only: the local SMTP sink's inbox (/demo/mail) and the simulated restock button."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("demo_mail", __name__)
