"""Group commit: callers that arrive while a write is in flight wait for it, then the first of them writes all of
them at once (one statement, one round trip, one commit) while the rest wait again. A lone caller writes at once, so
nothing waits on a timer.

It earns its place in the webhook ingest benchmark (benchmarks/webhook_ingest.py): under load the statement, its
commit and the Redis round trip of the drain gate are paid once per group instead of once per delivery, which is
what keeps the Shopify webhook endpoint at half a bare endpoint's throughput or better. Every caller still returns
only after its own item was written, and a failed write fails every item of its group (nothing was committed for any).
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar


@dataclass(slots=True, kw_only=True)
class Pending:
    """One item waiting for its group's write: its size in bytes, and whether (and how) its write ended."""

    size: int
    error: BaseException | None = None
    done: bool = False
    wake: threading.Event = field(default_factory=threading.Event)


P = TypeVar("P", bound=Pending)


class GroupCommit(Generic[P]):
    """Group commit for one database in one process (see the module's docstring)."""

    MAX_ROWS = 64
    # Bodies are up to 16 MiB; a group never holds more than this much beyond its first item.
    MAX_BYTES = 8 * 1024 * 1024

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._busy = False
        self._waiting: deque[P] = deque()

    def submit(self, item: P, write: Callable[[list[P]], None]) -> None:
        """Queue the item and return once a group containing it has been written (or has failed)."""
        with self._mutex:
            self._waiting.append(item)
            lead = not self._busy
            self._busy = True
        if not lead:
            # Woken once: when its group is written, or when it is next in line and must write the next group.
            item.wake.wait()
            if item.done:
                return
        with self._mutex:
            batch = self._take()
        try:
            write(batch)
        except BaseException as exc:  # handed to every item of the group; each caller re-raises its own
            for each in batch:
                if not each.done:
                    each.error, each.done = exc, True
        for each in batch:
            if not each.done:
                each.error, each.done = RuntimeError("delivery left unwritten by its group"), True
            each.wake.set()
        with self._mutex:
            # Hand the next group to the oldest waiting item, or let the next arrival write at once.
            if self._waiting:
                self._waiting[0].wake.set()
            else:
                self._busy = False

    def _take(self) -> list[P]:
        # Called with the mutex held; the first waiting item is always the writer's own.
        batch = [self._waiting.popleft()]
        size = batch[0].size
        while self._waiting and len(batch) < self.MAX_ROWS and size + self._waiting[0].size <= self.MAX_BYTES:
            item = self._waiting.popleft()
            size += item.size
            batch.append(item)
        return batch


_GROUPS: weakref.WeakKeyDictionary[object, GroupCommit[Pending]] = weakref.WeakKeyDictionary()
_GROUPS_LOCK = threading.Lock()


def group_for(owner: object) -> GroupCommit[Pending]:
    """The one group commit of this process for an owner (a Database): created on first use, gone with the owner."""
    with _GROUPS_LOCK:
        group = _GROUPS.get(owner)
        if group is None:
            group = _GROUPS[owner] = GroupCommit()
        return group
