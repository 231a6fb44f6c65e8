"""The embedded AWS: moto's server on 127.0.0.1, behind a thin layer that can break a region.

Why not plain `moto_server`: a regional-failover drill needs the primary region's APIs to stop
answering while the DR region's keep working, and the primary's Route 53 health checks to report
failure — moto has neither. `WorldControl` wraps moto's WSGI app and, for requests signed for a
"down" region (the SigV4 credential scope names region and service), drops the connection
without a response, as an unreachable regional endpoint does; global services (Route 53, IAM,
STS) keep answering. Health checks marked red answer `GetHealthCheckStatus` with failures.

The world is steered through `/_hastack/world` (GET shows it, POST changes it), so a detached
server (`hastack local up --detach`, a child process with a pid file under build/) can be steered
exactly like an in-process one. It only ever binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
CONTROL_PATH = "/_hastack/world"
#: Services AWS runs from one global endpoint: a regional outage does not take them away.
GLOBAL_SERVICES = frozenset({"route53", "iam", "sts", "cloudfront", "organizations"})

_SCOPE_RE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
_HEALTH_STATUS_RE = re.compile(r"^/2013-04-01/healthcheck/([^/]+)/status$")


class LocalAwsError(Exception):
    """The local AWS could not be started, reached or stopped for a reason the user can act on."""


@dataclass
class WorldState:
    """What is broken in the local world right now."""

    down_regions: set[str] = field(default_factory=set)
    red_health_checks: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {"downRegions": sorted(self.down_regions), "redHealthChecks": sorted(self.red_health_checks)}

    def update(self, change: dict[str, Any]) -> None:
        with self.lock:
            if "downRegions" in change:
                self.down_regions = set(change["downRegions"])
            if "redHealthChecks" in change:
                self.red_health_checks = set(change["redHealthChecks"])


def signing_scope(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(region, service) of a SigV4-signed request, from its Authorization header."""
    match = _SCOPE_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return (match.group(1), match.group(2)) if match else None


def _failed_health_status_xml(region: str) -> bytes:
    checked = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    observations = "".join(
        f"<HealthCheckObservation><Region>{r}</Region><IPAddress>{ip}</IPAddress><StatusReport>"
        f"<Status>Failure: Connection timed out. The endpoint or the internet connection is down, or requests are"
        f" being blocked by your firewall.</Status><CheckedTime>{checked}</CheckedTime></StatusReport>"
        f"</HealthCheckObservation>"
        for r, ip in ((region, "15.177.2.10"), ("us-west-1", "15.177.10.10"), ("eu-west-1", "15.177.62.10"))
    )
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<GetHealthCheckStatusResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
            f"<HealthCheckObservations>{observations}</HealthCheckObservations>"
            "</GetHealthCheckStatusResponse>").encode()


class WorldControl:
    """WSGI middleware in front of moto: regional outages, red health checks, the control endpoint."""

    def __init__(self, app: Callable[..., Iterable[bytes]], state: WorldState) -> None:
        self.app = app
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == CONTROL_PATH:
            return self._control(environ, start_response)
        scope = signing_scope(environ)
        if scope is not None:
            region, service = scope
            if service not in GLOBAL_SERVICES and region in self.state.down_regions:
                return self._drop(environ, start_response)
            if service == "route53" and environ.get("REQUEST_METHOD") == "GET":
                match = _HEALTH_STATUS_RE.match(path)
                if match and match.group(1) in self.state.red_health_checks:
                    start_response("200 OK", [("Content-Type", "text/xml")])
                    return [_failed_health_status_xml(region)]
        return self.app(environ, start_response)

    def _drop(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Close the client's connection without an answer: what an unreachable endpoint looks like."""
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        # The status line can no longer reach the client; setting it only keeps the server quiet.
        start_response("503 Service Unavailable", [("Content-Length", "0")])
        return [b""]

    def _control(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                change = json.loads(environ["wsgi.input"].read(length) or b"{}")
            except json.JSONDecodeError:
                start_response("400 Bad Request", [("Content-Type", "application/json")])
                return [b'{"error": "body must be JSON"}']
            self.state.update(change)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(self.state.to_json()).encode()]


def build_app(state: WorldState) -> WorldControl:
    """moto's multi-service WSGI app behind the world control layer."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return WorldControl(DomainDispatcherApplication(create_backend_app), state)


def _quiet_handler() -> type:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietHandler(MotoRequestHandler):
        """No access log: a deploy makes hundreds of calls; dropped connections are intended."""

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

        def log_error(self, *args: Any) -> None:
            pass

        def log(self, *args: Any) -> None:
            pass

    return QuietHandler


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


class InProcessServer:
    """moto + world control served from a thread of this process (what `local up` and drills use)."""

    def __init__(self, port: int = 0) -> None:
        self.requested_port = port
        self.state = WorldState()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise LocalAwsError("the local AWS is not started")
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> InProcessServer:
        from werkzeug.serving import make_server

        if self.requested_port and not port_is_free(self.requested_port):
            raise LocalAwsError(f"port {self.requested_port} on {LOOPBACK} is already in use "
                                "(pick another with --port, or stop what holds it: hastack local down)")
        self._server = make_server(LOOPBACK, self.requested_port, build_app(self.state), threaded=True,
                                   request_handler=_quiet_handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-aws", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> InProcessServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
# Steering a server (in-process or detached) over HTTP
# ---------------------------------------------------------------------------------------------


class WorldClient:
    """Talks to a running local AWS: readiness, world changes, a full reset."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint.rstrip("/")

    def _request(self, path: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback only
            text = resp.read().decode() or "{}"
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return {}

    def world(self) -> dict[str, Any]:
        return self._request(CONTROL_PATH)

    def set_world(self, **change: Any) -> dict[str, Any]:
        return self._request(CONTROL_PATH, change)

    def reset(self) -> None:
        """Forget every resource (moto's reset) and heal the world."""
        self._request("/moto-api/reset", {})
        self.set_world(downRegions=[], redHealthChecks=[])

    def is_up(self) -> bool:
        try:
            self.world()
        except (urllib.error.URLError, OSError):
            return False
        return True

    def wait_until_up(self, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_up():
                return
            if process is not None and process.poll() is not None:
                raise LocalAwsError(f"the local AWS exited at start (code {process.returncode})")
            time.sleep(0.1)
        raise LocalAwsError(f"the local AWS did not answer on {self.endpoint} within {timeout:.0f} s")


# ---------------------------------------------------------------------------------------------
# Detached server: a child process with a pid file under build/
# ---------------------------------------------------------------------------------------------


def pid_file(build_dir: Path, stack: str) -> Path:
    return build_dir / f"local-{stack}.json"


def _is_our_server(pid: int) -> bool:
    """The pid is alive and is a hastack local AWS (not a recycled pid of something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return "hastack.local.server" in cmdline


def read_detached(build_dir: Path, stack: str) -> dict[str, Any] | None:
    path = pid_file(build_dir, stack)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def start_detached(build_dir: Path, stack: str, port: int) -> dict[str, Any]:
    """Start `python -m hastack.local.server` in its own session; write build/local-<stack>.json."""
    running = read_detached(build_dir, stack)
    if running and _is_our_server(int(running["pid"])):
        raise LocalAwsError(f"a local AWS for stack {stack!r} already runs (pid {running['pid']}, "
                            f"{running['endpoint']}); stop it first: hastack local down --stack {stack}")
    if not port_is_free(port):
        raise LocalAwsError(f"port {port} on {LOOPBACK} is already in use (pick another with --port)")
    build_dir.mkdir(parents=True, exist_ok=True)
    log_path = build_dir / f"local-{stack}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hastack.local.server", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            cwd=str(Path(__file__).resolve().parents[2]),
        )
    endpoint = f"http://{LOOPBACK}:{port}"
    try:
        WorldClient(endpoint).wait_until_up(process=process)
    except LocalAwsError:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
        raise
    record = {"pid": process.pid, "port": port, "endpoint": endpoint, "stack": stack,
              "log": str(log_path), "startedAt": datetime.now(UTC).isoformat(timespec="seconds")}
    pid_file(build_dir, stack).write_text(json.dumps(record, indent=2) + "\n")
    return record


def stop_detached(build_dir: Path, stack: str, timeout: float = 10.0) -> str:
    """Stop the detached server of `stack` and remove its pid file; the sentence says what happened."""
    record = read_detached(build_dir, stack)
    path = pid_file(build_dir, stack)
    if record is None:
        return f"no local AWS recorded for stack {stack!r} ({path} absent): nothing to stop"
    pid = int(record["pid"])
    if not _is_our_server(pid):
        path.unlink(missing_ok=True)
        return f"the local AWS of stack {stack!r} (pid {pid}) was already gone; removed {path.name}"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    path.unlink(missing_ok=True)
    return f"stopped the local AWS of stack {stack!r} (pid {pid}, {record['endpoint']})"


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].split()[0]
    except OSError:
        return True
    return state != "Z"


def main(argv: list[str] | None = None) -> None:
    """Entry point of the detached server: serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description="hastack local AWS (moto + world control) on 127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    server = InProcessServer(args.port)
    try:
        server.start()
    except LocalAwsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"local AWS serving on {server.endpoint}", flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
