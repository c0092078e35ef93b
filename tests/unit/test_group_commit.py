"""The webhook inbox's group commit: who writes, what each caller gets back, and failures shared by a group."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from app.infra.group_commit import GroupCommit
from app.queue import InProcessJobQueue
from app.services.ingest.inbox import Recorded, _Delivery


def delivery(key: str, size: int = 100) -> _Delivery:
    return _Delivery(jobs=InProcessJobQueue(eager=True), values={"key": key}, size=size)


class Writer:
    """A write function that records each group, answers every delivery, and can hold the first group."""

    def __init__(self, hold_first: bool = False, fail_on: str | None = None) -> None:
        self.groups: list[list[str]] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        self.hold_first = hold_first
        self.fail_on = fail_on

    def __call__(self, batch: list[_Delivery]) -> None:
        keys = [d.values["key"] for d in batch]
        self.groups.append(keys)
        if self.hold_first and len(self.groups) == 1:
            self.entered.set()
            assert self.release.wait(10)
        if self.fail_on in keys:
            raise RuntimeError("database said no")
        for n, d in enumerate(batch):
            d.result = Recorded(len(self.groups) * 100 + n, created=True)
            d.done = True


def wait_for(group: GroupCommit, n: int) -> None:
    deadline = time.monotonic() + 10
    while len(group._waiting) < n and time.monotonic() < deadline:
        time.sleep(0.001)
    assert len(group._waiting) == n


def submit_in_threads(group: GroupCommit, write: Writer, items: list[_Delivery]) -> list[threading.Thread]:
    threads = [threading.Thread(target=group.submit, args=(d, write)) for d in items]
    for t in threads:
        t.start()
    return threads


def test_a_lone_delivery_is_written_at_once_by_its_own_caller() -> None:
    group, write, d = GroupCommit(), Writer(), delivery("a")
    group.submit(d, write)
    assert write.groups == [["a"]]
    assert d.result == Recorded(100, created=True)
    assert d.error is None
    assert len(group._waiting) == 0


def test_deliveries_arriving_during_a_write_share_the_next_one() -> None:
    group, write = GroupCommit(), Writer(hold_first=True)
    first = delivery("first")
    leader = threading.Thread(target=group.submit, args=(first, write))
    leader.start()
    assert write.entered.wait(10)
    later = [delivery(f"d{i}") for i in range(5)]
    threads = submit_in_threads(group, write, later)
    wait_for(group, 5)
    write.release.set()
    for t in [leader, *threads]:
        t.join(10)
    assert write.groups[0] == ["first"]
    assert len(write.groups) == 2
    assert sorted(write.groups[1]) == ["d0", "d1", "d2", "d3", "d4"]
    # Each caller got its own row's answer, in the order the group was written.
    assert first.result == Recorded(100, created=True)
    assert sorted(d.result.event_id for d in later if d.result) == [200, 201, 202, 203, 204]
    assert all(d.done and d.error is None for d in later)


def test_groups_are_capped_by_rows_and_by_bytes() -> None:
    group, write = GroupCommit(), Writer(hold_first=True)
    group.MAX_ROWS = 2
    group.MAX_BYTES = 1000
    leader = threading.Thread(target=group.submit, args=(delivery("first"), write))
    leader.start()
    assert write.entered.wait(10)
    # Queued one at a time so the arrival order is known.
    threads = []
    for i, size in enumerate([10, 10, 10, 900, 200]):
        threads += submit_in_threads(group, write, [delivery(f"d{i}", size)])
        wait_for(group, i + 1)
    write.release.set()
    for t in [leader, *threads]:
        t.join(10)
    # Two rows at most; 900 + 200 bytes would pass the byte cap, so d4 waits for a group of its own.
    assert write.groups == [["first"], ["d0", "d1"], ["d2", "d3"], ["d4"]]


def test_a_failed_write_fails_every_delivery_of_its_group_and_no_other() -> None:
    group, write = GroupCommit(), Writer(hold_first=True, fail_on="bad")
    ok_first = delivery("first")
    leader = threading.Thread(target=group.submit, args=(ok_first, write))
    leader.start()
    assert write.entered.wait(10)
    doomed = [delivery("bad"), delivery("other")]
    threads = submit_in_threads(group, write, doomed[:1])
    wait_for(group, 1)
    threads += submit_in_threads(group, write, doomed[1:])
    wait_for(group, 2)
    write.release.set()
    for t in [leader, *threads]:
        t.join(10)
    assert write.groups == [["first"], ["bad", "other"]]
    assert ok_first.error is None and ok_first.result == Recorded(100, created=True)
    for d in doomed:
        assert d.done
        assert d.result is None
        assert isinstance(d.error, RuntimeError) and str(d.error) == "database said no"
    # The next delivery is written normally.
    after = delivery("after")
    group.submit(after, write)
    assert after.result == Recorded(300, created=True)


def test_a_write_that_leaves_a_delivery_unanswered_fails_it_instead_of_returning_nothing() -> None:
    def forgetful(batch: list[_Delivery]) -> None:
        return None

    d = delivery("a")
    GroupCommit().submit(d, forgetful)
    assert d.done
    assert d.result is None
    assert isinstance(d.error, RuntimeError)
    assert str(d.error) == "delivery left unwritten by its group"


@pytest.mark.parametrize("n", [1, 3])
def test_every_caller_returns_only_when_done(n: int) -> None:
    group, write = GroupCommit(), Writer()
    items = [delivery(f"k{i}") for i in range(n)]
    results: list[Any] = []
    threads = [threading.Thread(target=lambda d=d: (group.submit(d, write), results.append(d.done))) for d in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [True] * n
    assert sorted(k for g in write.groups for k in g) == [f"k{i}" for i in range(n)]
