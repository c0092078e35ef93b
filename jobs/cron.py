"""rq cron configuration: run exactly one `rq cron jobs.cron` process (it holds no lock)."""

from __future__ import annotations

from rq import cron

from jobs import woocommerce as woo
from jobs.admin import deliver_all_webhooks, digest_all, instant_alerts_all
from jobs.attribution import attribute_all
from jobs.maintenance import purge_inbox, sweep
from jobs.notify import run_due_waves
from jobs.shopify import reconcile_all
from jobs.stock import recompute_all

SWEEP_SECONDS = 30
# Restock waves are scheduled on the event rows; due ones are picked up within 30 s.
DUE_WAVES_SECONDS = 30
RECOMPUTE_SECONDS = 15 * 60
PURGE_SECONDS = 60 * 60
# Shopify does not guarantee delivery: a missed webhook heals within this interval.
RECONCILE_SECONDS = 30 * 60
# WooCommerce never retries a failed delivery and disables a webhook after repeated failures.
WOO_RECONCILE_SECONDS = 30 * 60
WOO_WEBHOOK_CHECK_SECONDS = 6 * 60 * 60
# Orders arriving outside a recompute are attributed to restock emails within this interval.
ATTRIBUTION_SECONDS = 15 * 60
# Retries of the merchant's signal webhook are due by the minute (exponential backoff from 1 min).
OUTBOUND_WEBHOOK_SECONDS = 60
DIGEST_CHECK_SECONDS = 15 * 60
INSTANT_ALERT_CHECK_SECONDS = 60

# Sweeping twice a minute re-drives stalled work within a minute of the 60 s threshold.
cron.register(sweep, queue_name="high", interval=SWEEP_SECONDS, job_timeout=120)
cron.register(run_due_waves, queue_name="default", interval=DUE_WAVES_SECONDS, job_timeout=120)
cron.register(recompute_all, queue_name="low", interval=RECOMPUTE_SECONDS, job_timeout=300)
cron.register(purge_inbox, queue_name="low", interval=PURGE_SECONDS, job_timeout=300)
cron.register(reconcile_all, queue_name="low", interval=RECONCILE_SECONDS, job_timeout=300)
cron.register(woo.reconcile_all, queue_name="low", interval=WOO_RECONCILE_SECONDS, job_timeout=300)
cron.register(woo.check_all_webhooks, queue_name="low", interval=WOO_WEBHOOK_CHECK_SECONDS, job_timeout=300)
cron.register(attribute_all, queue_name="low", interval=ATTRIBUTION_SECONDS, job_timeout=300)
cron.register(deliver_all_webhooks, queue_name="low", interval=OUTBOUND_WEBHOOK_SECONDS, job_timeout=300)
# Each store's digest goes out once a day from 07:00 its time; checking every 15 min finds it soon after.
cron.register(digest_all, queue_name="low", interval=DIGEST_CHECK_SECONDS, job_timeout=300)
# An instant alert held back by its 15-minute spacing goes out on the next check.
cron.register(instant_alerts_all, queue_name="low", interval=INSTANT_ALERT_CHECK_SECONDS, job_timeout=300)
