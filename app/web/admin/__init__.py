"""The merchant admin under /admin: one blueprint per area, registered together by ``register``.

- ``shell``: sign-in by emailed link, sign-out, navigation, the helpers every page shares.
- ``auth``: who is signed in (cookie session, Shopify session token, or the demo store) and ``@admin_required``.
- ``dashboard``: sync state, headline figures, the at-risk and waitlist-demand tables, a variant's page.
- ``results``: the restock funnel per product and per restock, and the demo controls in demo mode.
- ``settings``: store thresholds and per-product/variant overrides.
- ``plan``: the buyer's at-risk table (sort, search, supplier filter), overstock and dead stock, draft purchase
  orders and a supplier's suggestion CSV.
- ``planning``: incoming stock (purchase orders, CSV import) and the campaign calendar.
- ``data``: CSV exports, the marketing-signal feed and the outbound webhook.
- ``subscribers``: subscribers per variant, resend and removal, and the notification log.
- ``privacy``: shoppers' data requests with their documents, and the signed download emailed to the merchant.
- ``dead_letters``: store updates and restock alerts given up on after every retry, replayable.
- ``emails``: a preview of every email the store sends, and the Alerts page (digest and instant alert settings,
  the log of alerts sent).
- ``confirm``: the confirm step every destructive action needs, and the undo of a cancel (no blueprint of its own).
"""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register every admin blueprint and the admin template globals."""
    from app.web.admin import (
        dashboard,
        data,
        dead_letters,
        emails,
        plan,
        planning,
        privacy,
        results,
        settings,
        shell,
        subscribers,
    )

    for module in (
        shell,
        dashboard,
        results,
        settings,
        planning,
        plan,
        data,
        subscribers,
        privacy,
        dead_letters,
        emails,
    ):
        app.register_blueprint(module.bp)
    shell.init_app(app)
