"""Setup left to the merchant after connecting that BackSoon cannot do itself (next steps: Platform.next_step)."""

from __future__ import annotations

from app.models import Store

__all__ = ["revoke_notice"]


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
