"""Read an iterator ahead on one background thread, with a finer GIL switch interval while it runs.

It earns its place in the WooCommerce sync benchmark (benchmarks/woo_sync.py): the next page's request and parsing
overlap the current page's writes, and the reading thread gets the GIL back promptly for every chunk of a page."""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Iterator
from typing import Any

_PIPELINE_SWITCH_INTERVAL = 0.0005
_DONE = object()


def prefetched(source: Iterator[Any], limit: int) -> Iterator[Any]:
    """Items of source read ahead by one background thread, at most limit of them waiting.

    The thread reads the next page (one request at a time, as before) while the caller applies the current one, so
    the store's latency and our writes overlap; memory stays bounded by limit. Errors are re-raised in the caller, and
    closing the generator stops the thread.
    """
    buffer: queue.Queue[Any] = queue.Queue(maxsize=limit)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put((item, None)):
                    return
        except BaseException as exc:  # handed to the caller, which decides
            put((_DONE, exc))
            return
        finally:
            close = getattr(source, "close", None)
            if close is not None and stop.is_set():
                close()
        put((_DONE, None))

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    # The reading threads wait on the network and then need the GIL back for every chunk of a page, while this one
    # keeps it busy applying batches: at the default 5 ms switch interval each wake-up could wait that long, which
    # put ~3 ms per page on the chain of page requests. A finer interval while the pipeline runs.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, _PIPELINE_SWITCH_INTERVAL))
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=60)
        sys.setswitchinterval(previous)
