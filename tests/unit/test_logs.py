"""Log lines carry store, job and delivery ids from context, as JSON in production."""

from __future__ import annotations

import io
import json
import logging

from app.logs import ContextFilter, JsonFormatter, TextFormatter, log_context


def _capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test-logs-{id(stream)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_json_lines_carry_nested_context_and_drop_it_after() -> None:
    logger, stream = _capture(JsonFormatter())
    with log_context(store_id=7, job_id="recompute-dirty-7"):
        with log_context(delivery_id=99):
            logger.info("sent %d", 1)
        logger.info("done")
    logger.info("outside")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(d["msg"], d.get("store_id"), d.get("job_id"), d.get("delivery_id")) for d in lines] == [
        ("sent 1", 7, "recompute-dirty-7", 99),
        ("done", 7, "recompute-dirty-7", None),
        ("outside", None, None, None),
    ]
    assert {d["level"] for d in lines} == {"INFO"}


def test_text_lines_append_context() -> None:
    logger, stream = _capture(TextFormatter("%(levelname)s %(message)s"))
    with log_context(store_id=3, webhook_id=12):
        logger.warning("late")
    assert stream.getvalue() == "WARNING late [store_id=3 webhook_id=12]\n"
