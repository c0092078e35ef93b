"""merchant."""
