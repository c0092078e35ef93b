"""Setup left to the merchant after connecting that BackSoon cannot do itself (next steps: Platform.next_step)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Store

__all__ = ["revoke_notice", "storefront_seen"]


def storefront_seen(session: Session, store: Store) -> None:
    """Record the store's first storefront call: the plugin or the app embed is live, so the next step is done."""
    if store.storefront_seen_at is not None:
        return
    # Only the first call writes: concurrent first calls race to one row update, the earliest time wins.
    first = update(Store).where(Store.id == store.id, Store.storefront_seen_at.is_(None))
    session.execute(first.values(storefront_seen_at=utcnow()))
    session.commit()


def revoke_notice(store: Store) -> str | None:
    """The plain instruction to revoke the WooCommerce key that new keys replaced, until the merchant dismisses it.

    WooCommerce's REST API cannot revoke a key, and only WooCommerce connects set ``replaced_key_suffix``.
    """
    if not store.replaced_key_suffix:
        return None
    return (
        f"BackSoon now uses a new API key. Revoke the old key ending in …{store.replaced_key_suffix} in WooCommerce → "
        "Settings → Advanced → REST API: WooCommerce does not let BackSoon revoke it for you."
    )
