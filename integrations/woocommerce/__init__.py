"""WooCommerce: REST v3 client, webhook verification and payload mapping (see tests/fixtures/woocommerce)."""
