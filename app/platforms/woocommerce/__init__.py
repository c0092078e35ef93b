"""WooCommerce: connect (wc-auth or keys), REST sync, webhook topics, product meta write-back."""
