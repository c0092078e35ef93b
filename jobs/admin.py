"""Merchant-admin jobs: outbound signal webhooks, the daily digest, the instant alert, sign-in links and data
request notices."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app import job_specs
from app.platforms import registry
from app.services.merchant import data_requests, login
from app.services.notify import alerts, outbound_webhooks
from jobs._base import job_context


def deliver_webhooks(store_id: int) -> dict[str, Any]:
    """Record the store's signal changes, then POST its due webhook deliveries."""
    with job_context(store_id=store_id) as rt:
        with rt.db.session() as session:
            recorded = outbound_webhooks.record_signal_changes(session, store_id, registry.feed_id_scheme)
        run = outbound_webhooks.deliver_due(rt.db, rt.settings, store_id)
    return {"recorded": recorded, "sent": run.sent, "retrying": run.retrying, "failed": run.failed}


def deliver_all_webhooks() -> int:
    """Enqueue a delivery run for every store with deliveries due (periodic: retries follow their backoff)."""
    with job_context() as rt, rt.db.session() as session:
        store_ids = outbound_webhooks.due_store_ids(session)
    for sid in store_ids:
        rt.jobs.enqueue(job_specs.deliver_webhooks(sid))
    return len(store_ids)


def send_digest(store_id: int) -> str:
    """Send the store's daily digest (at most once per store-local day)."""
    with job_context(store_id=store_id) as rt:
        return alerts.send_digest(rt.db, rt.settings, store_id)


def send_data_request(request_id: int) -> str:
    """Email the store's admin the signed link to a shopper's data request document (once)."""
    with job_context() as rt:
        return data_requests.send_notice(rt.db, rt.settings, request_id)


def data_requests_all() -> int:
    """Enqueue the notice of every recent data request not yet sent (periodic: a failed send is tried again)."""
    now = datetime.now(UTC)
    with job_context() as rt, rt.db.session() as session:
        request_ids = data_requests.unsent_ids(session, now)
    # The failed job keeps its id: a new one per check, or the enqueue would be refused as its duplicate.
    suffix = f"r{int(now.timestamp()) // 60}"
    for request_id in request_ids:
        rt.jobs.enqueue(job_specs.send_data_request(request_id, suffix=suffix))
    return len(request_ids)


def digest_all() -> int:
    """Enqueue today's digest for every store whose morning has come (periodic)."""
    with job_context() as rt, rt.db.session() as session:
        store_ids = alerts.due_store_ids(session)
    for sid in store_ids:
        rt.jobs.enqueue(job_specs.send_digest(sid))
    return len(store_ids)


def send_instant_alerts(store_id: int) -> str:
    """Email the store's admin what just happened, if the instant alert is on (at most every 15 minutes)."""
    with job_context(store_id=store_id) as rt:
        return alerts.send_instant_alert(rt.db, rt.settings, store_id)


def instant_alerts_all() -> int:
    """Enqueue the instant alert of every store whose batch waited out the spacing (periodic)."""
    with job_context() as rt, rt.db.session() as session:
        store_ids = alerts.instant_due_store_ids(session)
    for sid in store_ids:
        rt.jobs.enqueue(job_specs.send_instant_alerts(sid))
    return len(store_ids)


def send_login_links(request_id: int) -> int:
    """Mail the sign-in links of one admin sign-in request; a request already handled sends nothing."""
    with job_context() as rt:
        return login.send_requested(rt.db, rt.settings, request_id, datetime.now(UTC))
