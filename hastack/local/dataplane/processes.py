"""Server processes owned by pid: start detached, wait until they listen, stop them and prove they are gone.

Every server is started in its own session (`start_new_session`), so a terminal's Ctrl-C never reaches
it and the whole process group (PostgreSQL's backends included) can be signalled at once. A pid is
identified by its start time as well (`/proc/<pid>/stat`, field 22), so a stop from another process
(`hastack local down`) never signals a recycled pid.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hastack.local.dataplane.errors import DataPlaneError

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Endpoint:
    """A TCP endpoint on loopback, with the server behind it (a proxy's endpoint names the server it reaches)."""

    host: str
    port: int
    server: str

    def __str__(self) -> str:
        return f"{self.server} at {self.host}:{self.port}"


def free_port() -> int:
    """A port that was free a moment ago (a server that loses the race fails to bind and is retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_is_bound(port: int) -> bool:
    """Whether something holds `port` on loopback (a bind fails; connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (None when it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def alive(pid: int, ticks: int | None = None) -> bool:
    """Whether `pid` runs (a zombie does not; a pid reused by another process does not when `ticks` is given)."""
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap it when it is our child
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(") ", 1)[1].split()[0] == "Z":
        return False
    return ticks is None or start_ticks(pid) == ticks


def spawn(argv: list[str], *, log_path: Path, env: dict[str, str], cwd: Path,
          run_as: dict[str, Any] | None = None) -> subprocess.Popen[bytes]:
    """Start a server in its own session, its output appended to `log_path`."""
    with open(log_path, "ab") as log:
        try:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    cwd=cwd, start_new_session=True, **(run_as or {}))
        except OSError as exc:
            raise DataPlaneError(f"could not start {argv[0]}: {exc}") from exc


def log_tail(log_path: Path, lines: int = 5) -> str:
    try:
        text = log_path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def stop_pid(pid: int, ticks: int | None, first_signal: signal.Signals, timeout: float) -> bool:
    """Signal `pid`, wait up to `timeout`, then kill its whole process group; True when it was running."""
    if not alive(pid, ticks):
        return False
    try:
        os.kill(pid, first_signal)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid, ticks):
            return True
        time.sleep(0.02)
    try:
        os.killpg(pid, signal.SIGKILL)  # started with start_new_session: the pid leads its group
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while alive(pid, ticks) and time.monotonic() < deadline:
        time.sleep(0.02)
    return True


BIND_ATTEMPTS = 3


class ServerProcess:
    """A server on a free loopback port, a child of this process, stopped by pid.

    A subclass says how to run it (`command`, `spawn_options`), when it is ready (`ready`), how to stop
    it (`stop_signal`) and what it logs when another process took its port first (`bind_error`).
    """

    label = "server"
    stop_signal = signal.SIGTERM
    bind_error = "Address already in use"

    def __init__(self, name: str, region: str, log_path: Path) -> None:
        self.name = name
        self.region = region
        self.log_path = log_path
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.ticks: int | None = None

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def spawn_options(self) -> dict[str, Any]:
        """`env`, `cwd` and `run_as` for `spawn`."""
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    @property
    def endpoint(self) -> Endpoint:
        """The server's own port (around any link)."""
        if not self.port:
            raise DataPlaneError(f"{self.label} {self.name} is not started")
        return Endpoint(LOOPBACK, self.port, self.name)

    @property
    def pid(self) -> int:
        if self.process is None:
            raise DataPlaneError(f"{self.label} {self.name} is not started")
        return self.process.pid

    def launch(self, timeout: float) -> None:
        """Start on a free port and wait until `ready()`; a lost race for the port is retried."""
        for attempt in range(BIND_ATTEMPTS):
            self.port = free_port()
            process = self.process = spawn(self.command(self.port), log_path=self.log_path, **self.spawn_options())
            if not wait_until(lambda p=process: p.poll() is not None or self.ready(), timeout):
                self.stop()
                raise DataPlaneError(f"{self.label} {self.name} was not ready within {timeout:.0f} s; "
                                     f"log: {log_tail(self.log_path)}")
            if process.poll() is None:
                self.ticks = start_ticks(process.pid)
                return
            if self.bind_error not in log_tail(self.log_path, 20) or attempt == BIND_ATTEMPTS - 1:
                raise DataPlaneError(f"{self.label} {self.name} exited at start (code {process.returncode}); "
                                     f"log: {log_tail(self.log_path)}")

    def running(self) -> bool:
        return self.process is not None and alive(self.process.pid, self.ticks)

    def stop(self, timeout: float = 10.0) -> None:
        """`stop_signal`, then SIGKILL to the process group after `timeout`; the child is reaped."""
        if self.process is None:
            return
        stop_pid(self.process.pid, self.ticks, self.stop_signal, timeout)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise DataPlaneError(f"{self.label} {self.name} (pid {self.process.pid}) did not stop") from exc


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.02) -> bool:
    """Poll `condition()` until it is true (True) or `timeout` seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True
