"""Request-scoped access to the runtime, a database session, and JSON errors."""

from __future__ import annotations

from typing import Any, NoReturn

from flask import current_app, g, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from app.models import Store
from app.platforms import registry
from app.runtime import Runtime
from app.services.merchant.api_keys import hash_api_key


class ApiError(HTTPException):
    """An HTTP error rendered as `{"error": {"code", "message", "details"}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description=message)
        self.code = status
        self.error_code = code
        self.details = details or {}
        self.headers = headers or {}


def abort_json(
    status: int, code: str, message: str, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> NoReturn:
    """Stop the request with a JSON error (and the response headers it needs, e.g. WWW-Authenticate on a 401)."""
    raise ApiError(status, code, message, details, headers)


NO_KEY = "Send the store's admin API key as 'Authorization: Bearer <key>'."
# RFC 9110 §11.6.1: a 401 names the scheme that would work; RFC 6750 §3.1 adds the error for a key that was sent.
ASK_FOR_KEY = {"WWW-Authenticate": 'Bearer realm="BackSoon"'}
BAD_KEY = {"WWW-Authenticate": 'Bearer realm="BackSoon", error="invalid_token"'}


def bearer_token() -> str:
    """The request's bearer token, or "" when it sent none."""
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def runtime() -> Runtime:
    """The runtime this app was built with."""
    rt: Runtime = current_app.extensions["backsoon"]
    return rt


def db_session() -> Session:
    """One session per request, closed at teardown (committed only by the handler)."""
    if "db_session" not in g:
        g.db_session = runtime().db.sessions()
    session: Session = g.db_session
    return session


def close_session(_exc: BaseException | None = None) -> None:
    """Teardown: roll back anything uncommitted and close the request's session."""
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()


def store_for_request(store_id: int) -> Store:
    """The store named in the URL, if the caller may see it.

    401 without a key or with a key of no store (whether or not the store exists, so it tells nothing); a key of
    another store, or an unknown store, is a 404.
    """
    if not 0 < store_id <= 2**63 - 1:
        # Ids beyond BIGINT would make PostgreSQL raise; they can name no store.
        abort_json(404, "not_found", "No such store.")
    session = db_session()
    store = session.get(Store, store_id)
    token = bearer_token()
    if token.count(".") == 2:
        # An App Bridge session token (a JWT; admin API keys have no dots): 401 + retry header if invalid.
        from app.web.shopify import require_session_token  # deferred: app.web.shopify imports this module

        if store is not None and require_session_token().id == store.id:
            return store
        abort_json(404, "not_found", "No such store.")
    if token:
        owner = session.execute(select(Store.id).where(Store.api_key_hash == hash_api_key(token))).scalar_one_or_none()
        if owner is None:
            abort_json(401, "unauthorized", "This admin API key is not valid.", headers=BAD_KEY)
        if store is not None and owner == store.id:
            return store
        abort_json(404, "not_found", "No such store.")
    if store is not None and registry.of(store).public_in_demo_mode and runtime().settings.demo:
        # The seeded demo store is public while the app runs in demo mode, so `make demo` needs no key.
        return store
    abort_json(401, "unauthorized", NO_KEY, headers=ASK_FOR_KEY)
