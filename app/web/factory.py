"""The Flask application factory."""

from __future__ import annotations

import logging
import uuid

from flask import Flask, Request, Response, g, jsonify, render_template, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.config import Settings, get_settings
from app.infra import smtp_caps
from app.infra.openapi import ApiDocument
from app.logs import configure_logging, log_context
from app.platforms import registry
from app.runtime import Runtime, build_runtime, set_runtime
from app.web import security
from app.web.admin.auth import IDLE_LIFETIME
from app.web.deps import ApiError, close_session
from app.web.webhooks import MAX_WEBHOOK_BYTES

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# Where machines call: every error here, an unknown path included, is the JSON error whatever the Accept header.
# (The shopper pages, the admin and the install pages keep their HTML error pages.)
JSON_PREFIXES = ("/api/", "/webhooks/", "/storefront/", "/feeds/")
JSON_PATHS = frozenset({"/healthz", "/openapi.json", "/woocommerce/callback"})
# Response headers an HTTP error must keep when it is rendered as JSON (RFC 9110: Allow on a 405, the scheme on a
# 401, when to come back on a 429 or 503).
_KEPT_ERROR_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")
# The HTML paths' own pages for the errors a person can meet there (others keep werkzeug's short page).
HTML_ERROR_PAGES = {
    404: ("Page not found", "There is no page at this address. It may have moved, or the link may be mistyped."),
    405: (
        "This page cannot do that",
        "This address does not accept that kind of request. Go back and use the page's own links and buttons.",
    ),
    413: (
        "That was too large",
        "What you sent is larger than BackSoon accepts (1 MB). Send a smaller file, or split it into parts.",
    ),
}


def build_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Create the app: settings, logging, runtime, blueprints and JSON errors."""
    settings = settings or (runtime.settings if runtime else get_settings())
    configure_logging(settings.log_level, json_lines=settings.log_json)
    runtime = runtime or build_runtime(settings)
    set_runtime(runtime)

    # No Flask static view: app.web.assets serves /static/ with hashed names, long caching and gzip.
    app = Flask(__name__, template_folder="../templates", static_folder=None)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_WEBHOOK_BYTES,
        SESSION_COOKIE_SECURE=settings.production,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # The cookie, re-sent on each request, lives as long as an unused admin session (auth.py checks both limits).
        PERMANENT_SESSION_LIFETIME=IDLE_LIFETIME,
    )
    security.install(app, settings)
    app.session_interface = _StatelessPathsSessionInterface()
    app.extensions["backsoon"] = runtime
    # Signups read whether the SMTP server takes non-ASCII local parts from a cache; it is filled from here.
    smtp_caps.cache_for(settings.smtp_url).start()
    app.teardown_appcontext(close_session)

    from app.web import (
        admin,
        api,
        assets,
        attribution,
        demo_mail,
        feeds,
        health,
        limits,
        openapi,
        pages,
        privacy,
        read_cache,
        shop,
        shopify,
        shopper_pages,
        storefront,
        webhooks,
        woocommerce,
    )

    assets.install(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(webhooks.blueprint(registry.PLATFORMS.values()))
    app.register_blueprint(shopify.bp)
    app.register_blueprint(woocommerce.bp)
    app.register_blueprint(storefront.bp)
    app.register_blueprint(shopper_pages.bp)
    app.register_blueprint(attribution.bp)
    app.register_blueprint(shop.bp)
    app.register_blueprint(demo_mail.bp)
    app.register_blueprint(feeds.bp)
    app.register_blueprint(privacy.bp)
    limits.init_app(app, settings)
    read_cache.install_read_cache(app)
    webhooks.install_front(app, registry.PLATFORMS.values())
    admin.register(app)
    app.extensions[openapi.EXTENSION] = api_document()

    @app.before_request
    def _request_context() -> None:
        limit = MAX_WEBHOOK_BYTES if request.path.startswith("/webhooks/") else MAX_BODY_BYTES
        request.max_content_length = limit
        if (request.content_length or 0) > limit:
            # Refuse before any handler runs, whether or not it would read the body.
            raise RequestEntityTooLarge()
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
        g.log_ctx = log_context(request_id=g.request_id)
        g.log_ctx.__enter__()

    @app.teardown_request
    def _end_request_context(_exc: BaseException | None) -> None:
        ctx = g.pop("log_ctx", None)
        if ctx is not None:
            ctx.__exit__(None, None, None)

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[Response, int]:
        body = {
            "error": {
                "code": exc.error_code,
                "message": exc.description,
                **({"details": exc.details} if exc.details else {}),
            }
        }
        resp = jsonify(body)
        resp.headers.update(exc.headers)
        return resp, exc.code or 400

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int] | HTTPException:
        if wants_json_errors():
            return json_error(exc), exc.code or 500
        if exc.code in HTML_ERROR_PAGES:
            return html_error(exc), exc.code
        return exc

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError) -> tuple[Response, int]:
        # 503 quickly so Shopify retries later, instead of a slow 500.
        log.error("database unavailable on %s %s: %s", request.method, request.path, exc.__class__.__name__)
        resp = jsonify({"error": {"code": "unavailable", "message": "The database is unavailable; retry later."}})
        resp.headers["Retry-After"] = "30"
        return resp, 503

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify({"error": {"code": "internal_error", "message": "Something went wrong on our side."}}), 500

    return app


def wants_json_errors() -> bool:
    """Whether this request's errors are the JSON error rather than an HTML page."""
    path = request.path
    return (
        path.startswith(JSON_PREFIXES)
        or path in JSON_PATHS
        or request.accept_mimetypes.best == "application/json"
        # A JSON body (the wc-auth callback's, say) gets its errors in JSON wherever it was posted.
        or request.is_json
    )


def html_error(exc: HTTPException) -> Response:
    """A styled page for a 404, 405 or 413 on an HTML path: the admin layout under /admin/, a neutral one elsewhere."""
    title, message = HTML_ERROR_PAGES[exc.code or 404]
    admin = request.path == "/admin" or request.path.startswith("/admin/")
    template = "admin/http_error.html" if admin else "http_error.html"
    resp = Response(render_template(template, title=title, message=message, code=exc.code), mimetype="text/html")
    for name, value in exc.get_headers():
        if name in _KEPT_ERROR_HEADERS:
            resp.headers[name] = value
    return resp


def json_error(exc: HTTPException) -> Response:
    """werkzeug's HTTP error as the JSON error, keeping the headers the status needs (Allow on a 405, ...)."""
    code = (exc.name or "error").lower().replace(" ", "_")
    resp = jsonify({"error": {"code": code, "message": exc.description}})
    for name, value in exc.get_headers():
        if name in _KEPT_ERROR_HEADERS:
            resp.headers[name] = value
    return resp


def api_document() -> ApiDocument:
    """The OpenAPI document of every JSON endpoint the app serves (what /openapi.json answers)."""
    from app.web import api, attribution, feeds, openapi, privacy, storefront, webhooks, woocommerce

    document = ApiDocument()
    for described in (openapi, api, storefront, woocommerce, attribution, feeds, privacy):
        document.add(described.OPENAPI)
    document.add(webhooks.openapi(registry.PLATFORMS.values()))
    return document


class _StatelessPathsSessionInterface(SecureCookieSessionInterface):
    """Cookie sessions everywhere except the machine-facing paths, which never use one.

    Opening a signed-cookie session builds its serializer on every request; storefront reads and webhook
    deliveries are the hot paths and carry no cookie we would read, so they get Flask's null session.
    """

    STATELESS_PREFIXES = ("/storefront/v1/", "/storefront/proxy/", "/webhooks/", "/healthz", "/static/")

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """A null session for the stateless paths, the signed cookie session elsewhere."""
        if request.path.startswith(self.STATELESS_PREFIXES):
            return self.make_null_session(app)
        return super().open_session(app, request)
