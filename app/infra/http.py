"""Plain WSGI answers for the paths served in front of Flask: a status, its headers and a JSON body."""

from __future__ import annotations

import json
from functools import cache
from http import HTTPStatus
from typing import Any

Answer = tuple[int, list[tuple[str, str]], bytes]


@cache
def status_line(status: int) -> str:
    """The WSGI status line for a code, e.g. ``"401 Unauthorized"``."""
    return f"{status} {HTTPStatus(status).phrase}"


def json_answer(status: int, doc: dict[str, Any]) -> Answer:
    """A JSON answer written as Flask's jsonify writes it (compact, trailing newline), so clients see one format."""
    body = (json.dumps(doc, separators=(",", ":")) + "\n").encode()
    return status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body


def error_answer(status: int, code: str, message: str) -> Answer:
    """The shape of the app's JSON errors: ``{"error": {"code", "message"}}``."""
    return json_answer(status, {"error": {"code": code, "message": message}})
