"""Mechanisms with no business words: bulk SQL helpers, group commit, mail transport, crypto, signed links."""
