"""Structured logging that carries store id, job id and delivery id from context."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("backsoon_log", default=None)
CONTEXT_KEYS = ("store_id", "job_id", "delivery_id", "webhook_id", "request_id")


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Attach values (store_id, job_id, delivery_id, …) to every log record inside the block."""
    merged = {**(_CONTEXT.get() or {}), **{k: v for k, v in values.items() if v is not None}}
    token = _CONTEXT.set(merged)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current log context onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add context fields; never drops a record."""
        ctx = _CONTEXT.get() or {}
        for key in CONTEXT_KEYS:
            setattr(record, key, ctx.get(key))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as JSON."""
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                doc[key] = value
        extra = getattr(record, "data", None)
        if isinstance(extra, dict):
            doc.update(extra)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal, with the context appended as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as text."""
        base = super().format(record)
        ctx = " ".join(f"{k}={getattr(record, k)}" for k in CONTEXT_KEYS if getattr(record, k, None) is not None)
        return f"{base} [{ctx}]" if ctx else base


def configure_logging(level: str = "INFO", *, json_lines: bool = False) -> None:
    """Install one handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_backsoon", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._backsoon = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter())
    handler.setFormatter(
        JsonFormatter() if json_lines else TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)
