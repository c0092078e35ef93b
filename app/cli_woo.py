"""`backsoon connect-woocommerce`: connect a WooCommerce store with a pasted REST API key."""

from __future__ import annotations

import click


@click.command("connect-woocommerce")
@click.option("--url", "store_url", required=True, help="The store's address, e.g. https://myshop.com.")
@click.option("--key", required=True, help="The consumer key (ck_…), Read/Write.")
@click.option("--secret", help="The consumer secret (cs_…); asked for with hidden input when omitted.")
@click.option("--sync/--no-sync", default=True, show_default=True, help="Start the initial sync once connected.")
def connect_woocommerce_cmd(store_url: str, key: str, secret: str | None, sync: bool) -> None:
    """Check a WooCommerce REST API key against the store, store it encrypted, and print the store id."""
    from app.platforms.woocommerce import connect as woo_connect
    from app.platforms.woocommerce import sync as woo_sync
    from app.runtime import get_runtime

    if not secret:
        secret = click.prompt("Consumer secret (cs_…)", hide_input=True)
    assert secret is not None
    rt = get_runtime()
    try:
        with rt.db.session() as session:
            store = woo_connect.connect_with_keys(session, rt.settings, store_url, key, secret, jobs=rt.jobs)
            store_id, domain = store.id, store.domain
            if sync:
                woo_sync.start_sync(session, rt.jobs, store_id)
    except woo_connect.ConnectError as exc:
        raise click.ClickException(f"{exc.message} [{exc.code}]") from None
    warning = woo_connect.http_warning(domain)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"connected WooCommerce store {store_id}: {domain}" + (" (sync started)" if sync else ""), err=True)
    click.echo(store_id)
