"""Confirmation and undo for the admin's destructive actions (issue #17).

Every destructive POST refuses to act without ``confirm=yes``: a merchant's first click (or a form without the
field) gets a server-rendered page saying exactly what will happen, with a button that posts the confirmation and
a way back. It works without JavaScript; admin.js shows the same page's content in a native <dialog>.

Cancels that erase no personal data (a purchase order, a campaign) can be undone for ``UNDO_SECONDS``: the redirect
after the cancel carries a signed undo ticket naming the row, its store and the row's ``updated_at`` right after
the cancel. Undo works only while that ticket is fresh and the row is exactly as the cancel left it, so a change
made since (received, edited, cancelled again) is never overwritten. A GDPR erase has no undo: it is final.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app, render_template, request
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.db import as_utc

CONFIRM_FIELD = "confirm"
CONFIRM_VALUE = "yes"
UNDO_FIELD = "undo"
UNDO_SECONDS = 15 * 60  # long enough to notice a wrong click, short enough that nobody builds on the cancel
_SALT = "backsoon-admin-undo"


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What a confirm page says and where its button posts."""

    title: str  # the page's heading: a question naming the thing
    consequences: tuple[str, ...]  # exactly what will happen, one sentence each
    action_url: str
    button: str  # names the action: "Cancel purchase order PO-7"
    back_url: str
    final: bool  # True: "This cannot be undone."; False: it can be undone for a while
    fields: Mapping[str, str] = field(default_factory=dict)  # extra hidden fields the action needs
    back_label: str = "Go back without changing anything"


def confirmed() -> bool:
    """Whether this POST carries the explicit confirmation a destructive action needs."""
    return request.form.get(CONFIRM_FIELD) == CONFIRM_VALUE


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def confirm_page(confirmation: Confirmation, status: int = 200) -> ResponseReturnValue:
    """The confirm step; a POST that lacked the confirmation gets it again with a 400 and nothing changed."""
    if status >= 400 and _wants_json():
        return {
            "error": {
                "code": "confirmation_required",
                "message": f"Nothing was changed. {confirmation.title} Post again with {CONFIRM_FIELD}=yes.",
            }
        }, status
    return render_template(
        "admin/confirm.html",
        c=confirmation,
        confirm_field=CONFIRM_FIELD,
        confirm_value=CONFIRM_VALUE,
        undo_minutes=undo_window_minutes(),
    ), status


def refuse(status: int, code: str, title: str, message: str, back_url: str) -> ResponseReturnValue:
    """A refused action (nothing changed): JSON for API callers, a page with a way back for the merchant."""
    if _wants_json():
        return {"error": {"code": code, "message": message}}, status
    return render_template("admin/error.html", title=title, message=message, back_url=back_url), status


def undo_window_minutes() -> int:
    """How long an undo stays possible, in whole minutes (for the pages' wording)."""
    return UNDO_SECONDS // 60


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(current_app.secret_key), salt=_SALT)


def version(updated_at: datetime) -> str:
    """A row's version as an undo ticket records it: its updated_at as stored."""
    return as_utc(updated_at).isoformat()


def undo_ticket(kind: str, store_id: int, row_id: int, updated_at: datetime) -> str:
    """A signed ticket that lets this store undo this cancel while the row stays as the cancel left it."""
    return str(_serializer().dumps({"k": kind, "s": store_id, "id": row_id, "v": version(updated_at)}))


class UndoRefused(Exception):
    """The undo cannot happen; ``status`` and ``code`` say why for the response (nothing was changed)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def check_ticket(raw: str, kind: str, store_id: int, row_id: int, updated_at: datetime) -> None:
    """Accept a ticket for exactly this row in its cancelled version, or raise UndoRefused."""
    data: Any
    try:
        data = _serializer().loads(raw[:1000], max_age=UNDO_SECONDS)
    except SignatureExpired:
        raise UndoRefused(
            409, "undo_expired", f"Undo is possible for {undo_window_minutes()} minutes after cancelling."
        ) from None
    except BadSignature:
        raise UndoRefused(400, "undo_invalid", "This undo request is not valid.") from None
    if not isinstance(data, dict) or (data.get("k"), data.get("s"), data.get("id")) != (kind, store_id, row_id):
        raise UndoRefused(400, "undo_invalid", "This undo request is not valid.")
    if data.get("v") != version(updated_at):
        raise UndoRefused(409, "changed_since", "It was changed after the cancel, so undoing could lose that change.")


def live_ticket(raw: str, kind: str, store_id: int, row_id: int, updated_at: datetime) -> bool:
    """Whether a page should still offer this undo."""
    try:
        check_ticket(raw, kind, store_id, row_id, updated_at)
    except UndoRefused:
        return False
    return True


def ticket_row_id(raw: str, kind: str) -> int | None:
    """The row a ticket names (unverified beyond its signature), to find the row a page's undo banner is about."""
    try:
        data = _serializer().loads(raw[:1000], max_age=UNDO_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("id"), int):
        return None
    return int(data["id"])
