"""Thin RQ entry points: open a session, call a service, commit, enqueue follow-ups."""
