"""The soak's processes (benchmarks/soak.py) and the supervisor that kills and restarts them.

Each service runs as its production process would (the Procfile's lines, BACKSOON_ENV=production), in a session of
its own so that a kill reaches the process and, when the supervisor cleans up, whatever it left behind. The
supervisor restarts them the way a process manager would: the RQ worker and cron whenever they exit, Redis and
the SMTP server after a few seconds down; gunicorn's master restarts its own killed web workers.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass
class Service:
    """One supervised process: how to start it, its log, how often it was killed and how often it exited alone."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: IO[bytes]
    proc: subprocess.Popen[bytes] | None = None
    kills: int = 0
    # Exits the supervisor did not cause (found dead and restarted): for cron and the worker, a finding.
    exits: int = 0
    exit_codes: list[int] = field(default_factory=list)
    # While True the supervisor leaves it down (a kill's outage in progress).
    held: bool = False

    def start(self) -> None:
        """Start the process in a new session."""
        self.proc = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """kill -9 the process itself (its children die by their own PR_SET_PDEATHSIG, or are reaped on restart)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.kills += 1

    def reap_group(self) -> None:
        """SIGKILL whatever is left in the process's session, as a process manager cleans a unit before restarting."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM the session, then SIGKILL it."""
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            if sig == signal.SIGTERM:
                self.reap_group()
                return


def gunicorn_workers(master: int) -> list[int]:
    """The gunicorn master's worker pids (Linux /proc)."""
    try:
        text = Path(f"/proc/{master}/task/{master}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def http_ready(port: int) -> bool:
    """True when the app answers /healthz on the port."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        ok = conn.getresponse().status < 500
        conn.close()
        return ok
    except OSError:
        return False


class Supervisor:
    """Restarts what died; the soak's fault thread kills through it so outages and kills are counted in one place."""

    def __init__(self, services: dict[str, Service]) -> None:
        self.services = services
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self.web_worker_kills = 0
        # Kills made while a restock wave was being sent, by kind.
        self.kills_in_waves: dict[str, int] = {}
        self.last_fault_end = time.monotonic()
        self.events: list[str] = []

    def start(self) -> None:
        """Start every service and the watch loop."""
        for svc in self.services.values():
            svc.start()
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(0.25):
            with self.lock:
                for svc in self.services.values():
                    if svc.held or svc.alive():
                        continue
                    code = svc.proc.returncode if svc.proc is not None else -1
                    svc.exits += 1
                    svc.exit_codes.append(int(code if code is not None else -1))
                    self.events.append(f"{svc.name} exited by itself ({code}): restarted")
                    svc.reap_group()
                    svc.start()

    def kill(self, name: str, down_for: float) -> None:
        """kill -9 a service; it stays down ``down_for`` seconds before it is started again."""
        with self.lock:
            svc = self.services[name]
            svc.held = True
            svc.kill9()
        time.sleep(down_for)
        with self.lock:
            svc.reap_group()
            svc.start()
            svc.held = False
        self.last_fault_end = time.monotonic()

    def kill_web_worker(self, rnd_index: int) -> bool:
        """kill -9 one gunicorn worker (its master forks a new one); False when none was found."""
        web = self.services["web"]
        pids = gunicorn_workers(web.proc.pid) if web.proc is not None else []
        if not pids:
            return False
        try:
            os.kill(pids[rnd_index % len(pids)], signal.SIGKILL)
        except ProcessLookupError:
            return False
        self.web_worker_kills += 1
        self.last_fault_end = time.monotonic()
        return True

    def stop(self) -> None:
        """Stop watching and stop every service."""
        self.stopping.set()
        self.thread.join(5)
        for svc in self.services.values():
            svc.held = True
            svc.stop()


def redis_argv(port: int, workdir: Path) -> list[str]:
    """redis-server on 127.0.0.1:port with no persistence: a killed Redis comes back empty, as a cache would."""
    return [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(workdir), "--protected-mode", "yes",
    ]  # fmt: skip


def smtp_argv(port: int, log: Path, delay_ms: int) -> list[str]:
    """tests/smtpd_proc.py: writes each accepted message down (O_APPEND) before its 250 reply, sent after delay_ms."""
    return [sys.executable, "-m", "tests.smtpd_proc", str(port), str(log), "--delay-ms", str(delay_ms)]


def web_argv(port: int) -> list[str]:
    """The Procfile's web line: gunicorn, two workers of four threads."""
    return [
        str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
        "--log-level", "warning", "app:create_app()",
    ]  # fmt: skip


def worker_argv() -> list[str]:
    """The Procfile's worker line."""
    return [str(BIN / "backsoon"), "worker"]


def cron_argv() -> list[str]:
    """The Procfile's cron line (REDIS_URL comes from the environment)."""
    return [str(BIN / "backsoon"), "cron"]
