"""Each store platform behind one protocol (base.Platform); registry.py is the only place that lists them."""
