"""Every background job by name: the one module that names a function of jobs/, with its queue and collapse id.

jobs/ imports the services, so a service that queues follow-up work cannot import the job function: it builds
the job's spec here instead. Nothing else in app/ or jobs/ writes a job's dotted name; a test checks that each
name below resolves to a function of jobs/, and the periodic jobs' one table (SCHEDULE) is what `backsoon cron`
(jobs/cron.py), the in-process scheduler of the demo and the tests read.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.queue import JobSpec

DRAIN_INBOX = "jobs.webhooks.drain_inbox"
SHOPIFY_SYNC = "jobs.shopify.run_sync"
SHOPIFY_REFRESH_PRODUCT = "jobs.shopify.refresh_product"
SHOPIFY_REFRESH_ORDER = "jobs.shopify.refresh_order"
SHOPIFY_PUBLISH = "jobs.shopify.publish_storefront"
SHOPIFY_RECONCILE_ALL = "jobs.shopify.reconcile_all"
SHOPIFY_READ_IDENTITY = "jobs.shopify.read_identity"
WOO_SYNC = "jobs.woocommerce.run_sync"
WOO_PUBLISH = "jobs.woocommerce.publish_storefront"
WOO_REPLACE_WEBHOOKS = "jobs.woocommerce.replace_webhooks"
WOO_RECONCILE_ALL = "jobs.woocommerce.reconcile_all"
WOO_REFRESH_IDENTITY = "jobs.woocommerce.refresh_identity"
WOO_READ_REFUNDS = "jobs.woocommerce.read_refunds"
WOO_FRESHNESS = "jobs.woocommerce.fresh_pass"
SHOPIFY_FRESHNESS = "jobs.shopify.fresh_pass"
FRESHNESS_DUE = "jobs.freshness.pass_due"
RECOMPUTE_DIRTY = "jobs.stock.recompute_dirty"
RECOMPUTE_STORE = "jobs.stock.recompute_store"
RECOMPUTE_ALL = "jobs.stock.recompute_all"
RECOMPUTE_STORES = "jobs.stock.recompute_stores"
SEND_CONFIRMATION = "jobs.notify.send_confirmation"
FANOUT_EVENT = "jobs.notify.fanout_event"
RUN_DUE_WAVES = "jobs.notify.run_due_waves"
ATTRIBUTE_STORE = "jobs.attribution.attribute_store"
ATTRIBUTE_ALL = "jobs.attribution.attribute_all"
ATTRIBUTE_STORES = "jobs.attribution.attribute_stores"
DELIVER_WEBHOOKS = "jobs.admin.deliver_webhooks"
DELIVER_ALL_WEBHOOKS = "jobs.admin.deliver_all_webhooks"
SEND_DIGEST = "jobs.admin.send_digest"
SEND_DATA_REQUEST = "jobs.admin.send_data_request"
DATA_REQUESTS_ALL = "jobs.admin.data_requests_all"
DIGEST_ALL = "jobs.admin.digest_all"
SEND_INSTANT_ALERTS = "jobs.admin.send_instant_alerts"
INSTANT_ALERTS_ALL = "jobs.admin.instant_alerts_all"
SEND_ADMIN_LOGIN = "jobs.admin.send_login_links"
SWEEP = "jobs.maintenance.sweep"
SWEEP_AFTER_OUTAGE = "jobs.maintenance.sweep_after_outage"
PURGE_INBOX = "jobs.maintenance.purge_inbox"
PURGE_ALERT_LOG = "jobs.maintenance.purge_alert_log"

# One job runs a whole WooCommerce sync (REST has no bulk export to wait on), so it gets more than the default 10 min.
WOO_SYNC_TIMEOUT = 60 * 60
# A freshness pass reads a few minutes of changes; one that takes longer is stuck on a slow store.
FRESHNESS_TIMEOUT = 5 * 60


def _id(base: str, suffix: str) -> str:
    # A sweeper re-drive adds a suffix so it is not refused as a duplicate of the stalled job it replaces.
    return base + (f"-{suffix}" if suffix else "")


def drain_gate(store_id: int) -> str:
    """The Redis key that keeps one drain job pending per store."""
    return f"backsoon:inbox-gate:{store_id}"


def drain_inbox(store_id: int, *, gated: bool = True, suffix: str = "") -> JobSpec:
    """Process a store's received deliveries in arrival order, one job per burst."""
    gate = drain_gate(store_id) if gated else None
    return JobSpec(DRAIN_INBOX, (store_id,), job_id=_id(f"inbox-{store_id}", suffix), queue="high", gate=gate)


def shopify_sync(run_id: int, suffix: str = "") -> JobSpec:
    """Advance one Shopify sync run."""
    return JobSpec(SHOPIFY_SYNC, (run_id,), job_id=_id(f"sync-{run_id}", suffix))


def shopify_refresh_product(store_id: int, gid: str) -> JobSpec:
    """Re-read one Shopify product in full; a burst for the same product collapses into one pending job."""
    numeric = gid.rsplit("/", 1)[-1]
    return JobSpec(SHOPIFY_REFRESH_PRODUCT, (store_id, gid), job_id=f"shopify-product-{store_id}-{numeric}")


def shopify_refresh_order(store_id: int, gid: str) -> JobSpec:
    """Re-read one Shopify order in full (the freshness pass found it changed); collapses per order."""
    numeric = gid.rsplit("/", 1)[-1]
    return JobSpec(SHOPIFY_REFRESH_ORDER, (store_id, gid), job_id=f"shopify-order-{store_id}-{numeric}")


def shopify_publish(store_id: int) -> JobSpec:
    """Write a Shopify store's changed stock states to its metafields."""
    return JobSpec(SHOPIFY_PUBLISH, (store_id,), job_id=f"publish-{store_id}")


def shopify_read_identity(store_id: int) -> JobSpec:
    """Read a Shopify store's own settings (name, email, timezone, currency, country, language) and record them."""
    return JobSpec(SHOPIFY_READ_IDENTITY, (store_id,), job_id=f"shopify-identity-{store_id}")


def woo_sync(run_id: int, suffix: str = "") -> JobSpec:
    """Advance one WooCommerce sync run."""
    return JobSpec(WOO_SYNC, (run_id,), job_id=_id(f"woo-sync-{run_id}", suffix), timeout=WOO_SYNC_TIMEOUT)


def woo_publish(store_id: int) -> JobSpec:
    """Write a WooCommerce store's changed stock states to its product and variation meta."""
    return JobSpec(WOO_PUBLISH, (store_id,), job_id=f"publish-{store_id}")


def woo_replace_webhooks(store_id: int, replaced_at: str) -> JobSpec:
    """After new keys replaced old ones: delete the webhooks created before ``replaced_at`` and create fresh ones."""
    return JobSpec(WOO_REPLACE_WEBHOOKS, (store_id, replaced_at), job_id=f"woo-replace-hooks-{store_id}")


def woo_refresh_identity(store_id: int) -> JobSpec:
    """Read a WooCommerce store's name, timezone, currency, country, language and admin email from its settings."""
    return JobSpec(WOO_REFRESH_IDENTITY, (store_id,), job_id=f"woo-identity-{store_id}")


def woo_read_refunds(store_id: int, order_external_id: str) -> JobSpec:
    """Read a WooCommerce order's refunds after an order.updated listing new ones; collapses per order."""
    return JobSpec(
        WOO_READ_REFUNDS, (store_id, order_external_id), job_id=f"woo-refunds-{store_id}-{order_external_id}"
    )


def woo_fresh_pass(store_id: int) -> JobSpec:
    """Read a WooCommerce store's products and orders modified (or products deleted) since its last freshness pass and
    repair our webhooks."""
    return JobSpec(WOO_FRESHNESS, (store_id,), job_id=f"fresh-{store_id}", timeout=FRESHNESS_TIMEOUT)


def shopify_fresh_pass(store_id: int) -> JobSpec:
    """Find a Shopify store's products, inventory levels and orders changed (or products deleted) since its last
    freshness pass, and re-read (or delete) them."""
    return JobSpec(SHOPIFY_FRESHNESS, (store_id,), job_id=f"fresh-{store_id}", timeout=FRESHNESS_TIMEOUT)


def recompute_gate(store_id: int) -> str:
    """The Redis key that keeps one dirty recompute pending per store."""
    return f"backsoon:recompute-gate:{store_id}"


def recompute_dirty(store_id: int, suffix: str = "", *, gated: bool = True) -> JobSpec:
    """Recompute a store's dirty variants; one pending job per store.

    Gated like the inbox drain: a job id alone would refuse the enqueue while that job is still running, and the
    variants marked after its last read would then wait for the sweeper (a minute or more during a sale).
    """
    gate = recompute_gate(store_id) if gated else None
    job_id = _id(f"recompute-dirty-{store_id}", suffix)
    return JobSpec(RECOMPUTE_DIRTY, (store_id,), job_id=job_id, queue="high", gate=gate)


def recompute_store(store_id: int) -> JobSpec:
    """Recompute every variant of a store; a recompute already waiting absorbs this one."""
    return JobSpec(RECOMPUTE_STORE, (store_id,), job_id=f"recompute-store-{store_id}", queue="low")


def _batch_id(base: str, store_ids: tuple[int, ...]) -> str:
    # The same batch still waiting absorbs the next cycle's; a batch of other stores gets an id of its own.
    return f"{base}-{store_ids[0]}-{store_ids[-1]}-{len(store_ids)}"


def recompute_stores(store_ids: tuple[int, ...]) -> JobSpec:
    """The periodic recompute of a batch of stores, one after another in one job."""
    return JobSpec(RECOMPUTE_STORES, (store_ids,), job_id=_batch_id("recompute-stores", store_ids), queue="low")


def send_confirmation(subscription_id: int, suffix: str = "") -> JobSpec:
    """Send a subscription's double-opt-in email."""
    return JobSpec(SEND_CONFIRMATION, (subscription_id,), job_id=_id(f"confirm-{subscription_id}", suffix))


def fanout_event(event_id: int, suffix: str = "") -> JobSpec:
    """Run (or resume) a restock event's fan-out; one id per event so duplicates collapse."""
    return JobSpec(FANOUT_EVENT, (event_id,), job_id=_id(f"fanout-{event_id}", suffix))


def attribute_store(store_id: int) -> JobSpec:
    """Attribute a store's new orders to restock emails."""
    return JobSpec(ATTRIBUTE_STORE, (store_id,), job_id=f"attribute-{store_id}", queue="low")


def attribute_stores(store_ids: tuple[int, ...]) -> JobSpec:
    """Attribute the new orders of a batch of stores, one after another in one job."""
    return JobSpec(ATTRIBUTE_STORES, (store_ids,), job_id=_batch_id("attribute-stores", store_ids), queue="low")


def deliver_webhooks(store_id: int) -> JobSpec:
    """Deliver a store's pending outbound signal webhooks."""
    return JobSpec(DELIVER_WEBHOOKS, (store_id,), job_id=f"outbound-webhooks-{store_id}", queue="low")


def send_digest(store_id: int) -> JobSpec:
    """Send a store's daily digest when it is due."""
    return JobSpec(SEND_DIGEST, (store_id,), job_id=f"digest-{store_id}", queue="low")


def send_data_request(request_id: int, suffix: str = "") -> JobSpec:
    """Email a store's admin the signed link to one shopper's data request document."""
    return JobSpec(SEND_DATA_REQUEST, (request_id,), job_id=_id(f"data-request-{request_id}", suffix), queue="low")


def send_instant_alerts(store_id: int) -> JobSpec:
    """Send a store's instant alerts that are due."""
    return JobSpec(SEND_INSTANT_ALERTS, (store_id,), job_id=f"instant-alerts-{store_id}", queue="low")


def send_admin_login(request_id: int) -> JobSpec:
    """Mail the sign-in links an admin sign-in request asked for (none for an address no store has)."""
    return JobSpec(SEND_ADMIN_LOGIN, (request_id,), job_id=f"admin-login-{request_id}", queue="high")


def sweep_after_outage(ended_at: int) -> JobSpec:
    """The sweep `backsoon cron` enqueues when Redis answers again after an outage (ended_at: epoch seconds)."""
    return JobSpec(SWEEP_AFTER_OUTAGE, (), job_id=f"sweep-after-outage-{ended_at}", queue="high", timeout=120)


@dataclass(frozen=True, slots=True)
class Periodic:
    """A job run every `every` seconds, with no arguments."""

    func: str
    every: int
    queue: str = "low"
    timeout: int = 300

    def spec(self) -> JobSpec:
        """The spec the in-process scheduler enqueues; its id collapses a run still waiting."""
        return JobSpec(self.func, (), job_id=self.func.replace(".", "_"), queue=self.queue, timeout=self.timeout)


# Run exactly one `backsoon cron` process over this table: it holds no lock.
SCHEDULE: tuple[Periodic, ...] = (
    # Sweeping twice a minute re-drives stalled work within a minute of the sweeper's 60 s threshold.
    Periodic(SWEEP, 30, queue="high", timeout=120),
    # Restock waves are scheduled on the event rows; due ones are picked up within 30 s.
    Periodic(RUN_DUE_WAVES, 30, queue="default", timeout=120),
    Periodic(RECOMPUTE_ALL, 15 * 60),
    Periodic(PURGE_INBOX, 60 * 60),
    Periodic(PURGE_ALERT_LOG, 24 * 60 * 60),
    # Neither platform guarantees delivery (WooCommerce never retries and disables a webhook after repeated
    # failures): each store's freshness pass, due every FRESH_PASS_SECONDS at its own offset, reads what changed
    # since its last one and puts our webhooks back. Checking every minute starts each within a minute of its slot.
    Periodic(FRESHNESS_DUE, 60, timeout=120),
    # The full reconciliation also re-reads orders (order webhooks lost: attribution and velocity heal here). The
    # WooCommerce one re-reads each store's settings once a day: no webhook tells of a new name, timezone or currency.
    Periodic(SHOPIFY_RECONCILE_ALL, 30 * 60),
    Periodic(WOO_RECONCILE_ALL, 30 * 60),
    # Orders arriving outside a recompute are attributed to restock emails within this interval.
    Periodic(ATTRIBUTE_ALL, 15 * 60),
    # Retries of the merchant's signal webhook are due by the minute (exponential backoff from 1 min).
    Periodic(DELIVER_ALL_WEBHOOKS, 60),
    # Each store's digest goes out once a day from 07:00 its time; checking every 15 min finds it soon after.
    Periodic(DIGEST_ALL, 15 * 60),
    # A data request notice whose send failed (SMTP down, refused) is sent again on the next check.
    Periodic(DATA_REQUESTS_ALL, 15 * 60),
    # An instant alert held back by its 15-minute spacing goes out on the next check.
    Periodic(INSTANT_ALERTS_ALL, 60),
)

ALL_JOBS: tuple[str, ...] = (
    DRAIN_INBOX,
    SHOPIFY_SYNC,
    SHOPIFY_REFRESH_PRODUCT,
    SHOPIFY_REFRESH_ORDER,
    SHOPIFY_PUBLISH,
    SHOPIFY_RECONCILE_ALL,
    SHOPIFY_READ_IDENTITY,
    WOO_SYNC,
    WOO_PUBLISH,
    WOO_REPLACE_WEBHOOKS,
    WOO_RECONCILE_ALL,
    WOO_REFRESH_IDENTITY,
    WOO_READ_REFUNDS,
    WOO_FRESHNESS,
    SHOPIFY_FRESHNESS,
    FRESHNESS_DUE,
    RECOMPUTE_DIRTY,
    RECOMPUTE_STORE,
    RECOMPUTE_ALL,
    RECOMPUTE_STORES,
    SEND_CONFIRMATION,
    FANOUT_EVENT,
    RUN_DUE_WAVES,
    ATTRIBUTE_STORE,
    ATTRIBUTE_ALL,
    ATTRIBUTE_STORES,
    DELIVER_WEBHOOKS,
    DELIVER_ALL_WEBHOOKS,
    SEND_DIGEST,
    SEND_DATA_REQUEST,
    DATA_REQUESTS_ALL,
    DIGEST_ALL,
    SEND_INSTANT_ALERTS,
    INSTANT_ALERTS_ALL,
    SEND_ADMIN_LOGIN,
    SWEEP,
    SWEEP_AFTER_OUTAGE,
    PURGE_INBOX,
    PURGE_ALERT_LOG,
)


def job_modules() -> tuple[str, ...]:
    """The modules of jobs/ that hold a named job (the worker imports them before it forks)."""
    return tuple(sorted({name.rpartition(".")[0] for name in ALL_JOBS}))
