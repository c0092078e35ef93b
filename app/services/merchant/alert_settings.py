"""The merchant's alert settings (daily digest on or off, instant alerts on or off) and the log of alerts sent.

Both switches live in the store-scope settings row, next to the keys the Settings page manages; saving here
changes only these two keys. The recipient is the store's admin email (changed, with a confirmation link, in
Settings). The log is ``alert_log``: every digest and instant alert email tried, sent or failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.models import AlertLog, StoreSetting
from app.services.notify.alerts import DIGEST_SETTING, INSTANT_SETTING

__all__ = ["AlertSettings", "SaveResult", "current", "log", "purge_log", "save"]

LOG_SHOWN = 100
LOG_RETENTION = timedelta(days=90)
"""How long an alert email tried stays in the log: long enough to answer "did last quarter's digests go out?"."""


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """What the Alerts page form shows."""

    digest: bool
    instant: bool


@dataclass(frozen=True, slots=True)
class SaveResult:
    """Field errors (nothing saved) or whether anything changed."""

    errors: dict[str, str] = field(default_factory=dict)
    changed: bool = False


def _row(session: Session, store_id: int) -> StoreSetting | None:
    return session.scalar(select(StoreSetting).where(StoreSetting.store_id == store_id, StoreSetting.scope == "store"))


def current(session: Session, store_id: int) -> AlertSettings:
    """The store's alert switches: the digest on unless turned off, instant alerts off unless turned on."""
    row = _row(session, store_id)
    values = dict(row.values or {}) if row is not None else {}
    return AlertSettings(digest=values.get(DIGEST_SETTING) is not False, instant=values.get(INSTANT_SETTING) is True)


def _choice(form: Mapping[str, str], name: str) -> bool | None:
    value = (form.get(name) or "").strip()
    return {"true": True, "false": False}.get(value)


def save(session: Session, store_id: int, form: Mapping[str, str]) -> SaveResult:
    """Validate and save both switches; nothing is saved when either is not Yes or No."""
    digest, instant = _choice(form, "daily_digest"), _choice(form, "instant_alerts")
    errors = {
        name: "Choose Yes or No." for name, v in (("daily_digest", digest), ("instant_alerts", instant)) if v is None
    }
    if errors:
        return SaveResult(errors=errors)
    row = _row(session, store_id)
    old = dict(row.values or {}) if row is not None else {}
    new = {k: v for k, v in old.items() if k not in (DIGEST_SETTING, INSTANT_SETTING)}
    # Like every setting, only a choice that differs from the default is stored.
    if digest is False:
        new[DIGEST_SETTING] = False
    if instant is True:
        new[INSTANT_SETTING] = True
    if new == old:
        return SaveResult()
    if row is None:
        session.add(StoreSetting(store_id=store_id, scope="store", values=new))
    else:
        row.values = new
    session.flush()
    return SaveResult(changed=True)


def log(session: Session, store_id: int, limit: int = LOG_SHOWN) -> list[AlertLog]:
    """The store's latest alert emails tried, newest first."""
    return list(
        session.scalars(select(AlertLog).where(AlertLog.store_id == store_id).order_by(AlertLog.id.desc()).limit(limit))
    )


def purge_log(session: Session, now: datetime, retention: timedelta = LOG_RETENTION) -> int:
    """Delete every store's alert log rows older than the retention; returns how many went."""
    result = session.execute(delete(AlertLog).where(AlertLog.created_at < now - retention))
    return int(getattr(result, "rowcount", 0) or 0)
