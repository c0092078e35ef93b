"""An aiosmtpd server in a process of its own, for tests that kill it (-9): ``python -m tests.smtpd_proc PORT LOG``.

Each accepted message appends one line per recipient to LOG (O_APPEND, written before the 250 reply, so a kill
never loses an accepted message from the count). ``--delay-ms N`` holds every reply to the final dot N ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import threading
from typing import Any

from aiosmtpd.controller import Controller


class _Appender:
    def __init__(self, path: str, delay: float) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        os.write(self.fd, "".join(f"{r}\n" for r in envelope.rcpt_tos).encode("utf-8"))
        return "250 OK"


def main() -> None:
    """Serve until SIGTERM/SIGKILL."""
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("log")
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args()
    controller = Controller(_Appender(args.log, args.delay_ms / 1000), hostname="127.0.0.1", port=args.port)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


def received(path: str) -> dict[str, int]:
    """Messages per recipient in a LOG."""
    counts: dict[str, int] = {}
    if not os.path.exists(path):
        return counts
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                counts[line[:-1]] = counts.get(line[:-1], 0) + 1
    return counts


if __name__ == "__main__":
    main()
