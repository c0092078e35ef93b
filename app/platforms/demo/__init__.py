"""The demo store: seeded in-process by `make demo`, with its shop pages served by BackSoon itself."""
