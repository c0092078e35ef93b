"""Use cases: sync, stock recompute, waitlist, notifications. They call app.domain for every decision."""
