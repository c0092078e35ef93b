"""Child processes that die with their parent: a killed worker takes its work horse and its senders with it."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """SIGKILL this (forked) process when ``parent`` dies; exits at once if it already has (Linux only)."""
    if not sys.platform.startswith("linux"):  # pragma: no cover - production and CI run Linux
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def children_die_with_this_process() -> None:
    """Every process this one forks from now on (not their own children) dies with it.

    For the RQ worker: its work horse and its scheduler process are forked by RQ's own code, so the hook sits on
    fork itself. The check of the forking pid keeps the hook (inherited by the children) from applying to what a
    work horse forks: its senders set their own, to the horse.
    """
    owner = os.getpid()
    forking = [0]

    def before() -> None:
        forking[0] = os.getpid()

    def after_in_child() -> None:
        if forking[0] == owner:
            die_with_parent(owner)

    os.register_at_fork(before=before, after_in_child=after_in_child)
