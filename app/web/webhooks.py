"""Webhook intake: each platform's endpoint under /webhooks, served in front of Flask.

Verify on the raw body, record in the inbox, enqueue after commit, answer fast: the platforms do the verifying and
recording (their ``webhook_intake``); this module reads the body within its limit, keeps the request id and the log
context, and turns failures into JSON errors.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Flask, Response, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wsgi import get_input_stream

from app.infra.http import Answer, error_answer, status_line
from app.infra.openapi import ApiDoc
from app.logs import log_context
from app.platforms.base import Platform, WebhookIntake
from app.runtime import Runtime
from app.services.ingest import inbox
from app.web.deps import runtime

log = logging.getLogger(__name__)

PREFIX = "/webhooks"
# A product with 2,000 variants is a multi-megabyte products/update delivery.
MAX_WEBHOOK_BYTES = 16 * 1024 * 1024


def _intakes(platforms: Iterable[Platform]) -> dict[str, WebhookIntake]:
    return {p.name: p.webhook_intake for p in platforms if p.webhook_intake is not None}


def blueprint(platforms: Iterable[Platform]) -> Blueprint:
    """The platforms' webhook routes, for the URL map and url_for (the front in front of Flask serves them)."""
    bp = Blueprint("webhooks", __name__, url_prefix=PREFIX)
    for name, intake in _intakes(platforms).items():

        def view(_intake: WebhookIntake = intake, **values: Any) -> Response:
            status, headers, body = serve(runtime(), _intake, request.environ, values)
            return Response(body, status=status, headers=headers)

        bp.add_url_rule(intake.rule, endpoint=name, view_func=view, methods=["POST"])
    return bp


def install_front(app: Flask, platforms: Iterable[Platform]) -> None:
    """Answer POST /webhooks/<platform>… before Flask, with the platform's intake (one front per app).

    Shopify sends every topic of every shop to one URL, so this is the app's busiest write. Flask's routing, request
    context, hooks and session machinery cost more than the delivery's own work, and nothing they provide is used
    here: the request id, the log context, the body limit and the JSON errors are done in ``serve``.
    """
    rt: Runtime = app.extensions["backsoon"]
    inner = app.wsgi_app
    intakes = _intakes(platforms)
    # Rules without arguments (Shopify's single URL) by a dict lookup; the rest through werkzeug's matcher.
    exact = {PREFIX + i.rule: i for i in intakes.values() if "<" not in i.rule}
    routes = Map([Rule(PREFIX + i.rule, endpoint=name, methods=["POST"]) for name, i in intakes.items()])

    def front(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "POST" and path.startswith(PREFIX):
            intake = exact.get(path)
            values: dict[str, Any] = {}
            if intake is None:
                try:
                    name, matched = routes.bind("backsoon").match(path, method="POST")
                    values = dict(matched)
                    intake = intakes[name]
                except HTTPException:
                    intake = None  # Flask answers the 404 or 405
            if intake is not None:
                status, headers, body = serve(rt, intake, environ, values)
                start_response(status_line(status), headers)
                return [body]
        return inner(environ, start_response)

    app.wsgi_app = front  # type: ignore[method-assign]


def serve(rt: Runtime, intake: WebhookIntake, environ: dict[str, Any], values: dict[str, Any]) -> Answer:
    """Read one delivery within the size limit and hand it to its platform; failures become JSON errors."""
    request_id = environ.get("HTTP_X_REQUEST_ID") or uuid.uuid4().hex[:16]
    with log_context(request_id=request_id):
        try:
            # Refused on Content-Length before anything is read; a chunked body is cut off past the limit.
            raw = get_input_stream(environ, max_content_length=MAX_WEBHOOK_BYTES).read()
            return intake.receive(rt, environ, raw, values)
        except HTTPException as exc:
            # What werkzeug raises while reading the body: too large, or the client went away.
            return error_answer(exc.code or 400, (exc.name or "error").lower().replace(" ", "_"), exc.description or "")
        except (inbox.DatabaseUnavailable, OperationalError) as exc:
            # 503 quickly so the platform retries later, instead of a slow 500.
            cause = exc.__cause__ if isinstance(exc, inbox.DatabaseUnavailable) else exc
            log.error("database unavailable on POST %s: %s", environ.get("PATH_INFO"), cause.__class__.__name__)
            status, headers, body = error_answer(503, "unavailable", "The database is unavailable; retry later.")
            return status, [*headers, ("Retry-After", "30")], body
        except Exception:
            log.exception("unhandled error on POST %s", environ.get("PATH_INFO"))
            return error_answer(500, "internal_error", "Something went wrong on our side.")


def openapi(platforms: Iterable[Platform]) -> ApiDoc:
    """The OpenAPI path items of the platforms' webhook endpoints."""
    return ApiDoc(
        {
            PREFIX + re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", intake.rule): intake.openapi
            for intake in _intakes(platforms).values()
        }
    )
