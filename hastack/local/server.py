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
import io
import json
import logging
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
from urllib.parse import parse_qs

from hastack.local import emulation

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
    """WSGI middleware in front of moto: outages, red health checks, emulated APIs, the control endpoint."""

    def __init__(self, app: Callable[..., Iterable[bytes]], state: WorldState) -> None:
        self.app = app
        self.state = state
        self.datastores = emulation.GlobalDatastores()

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
            if service == "iam" and environ.get("REQUEST_METHOD") == "POST":
                params = {k: v[0] for k, v in parse_qs(_buffer_body(environ).decode()).items()}
                if params.get("Action") == "AttachRolePolicy":
                    emulation.ensure_aws_managed_policy(params.get("PolicyArn", ""))
            if service == "rds" and environ.get("REQUEST_METHOD") == "POST":
                params = {k: v[0] for k, v in parse_qs(_buffer_body(environ).decode()).items()}
                action = params.get("Action", "")
                if action in emulation.RDS_FIXED_ACTIONS:
                    return self._then(environ, start_response,
                                      lambda: emulation.fix_rds_after(action, params, region))
            if service == "elasticache":
                return self._elasticache(environ, start_response, region)
            if service == "eks" and environ.get("REQUEST_METHOD") == "POST":
                target = emulation.nodegroup_update_target(path)
                if target is not None:
                    body = _buffer_body(environ)
                    return self._then(environ, start_response, lambda: emulation.resize_nodegroup_asg(
                        region, target[0], target[1], body))
        return self.app(environ, start_response)

    def _elasticache(self, environ: dict[str, Any], start_response: Callable[..., Any],
                     region: str) -> Iterable[bytes]:
        params = {k: v[0] for k, v in parse_qs(_buffer_body(environ).decode()).items()}
        action = params.get("Action", "")
        if action in emulation.GLOBAL_DATASTORE_ACTIONS:
            status, xml = self.datastores.handle(action, params, region)
            start_response(f"{status} {'OK' if status == 200 else 'Error'}", [("Content-Type", "text/xml")])
            return [xml.encode()]
        gid = params.get("GlobalReplicationGroupId")
        if action == "CreateReplicationGroup" and gid:
            return self._then(environ, start_response, lambda: self.datastores.join(
                gid, params.get("ReplicationGroupId", ""), region))
        return self.app(environ, start_response)

    def _then(self, environ: dict[str, Any], start_response: Callable[..., Any],
              after: Callable[[], None]) -> Iterable[bytes]:
        """Pass the call to moto; when moto accepted it (2xx), run `after` (what AWS would do next)."""
        status: list[str] = []

        def capture(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status.append(code)
            return start_response(code, headers, exc_info) if exc_info else start_response(code, headers)

        body = list(self.app(environ, capture))
        if status and status[0].startswith("2"):
            after()
        return body

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
            if change.get("resetEmulation"):
                self.datastores.reset()
            if change.get("warm"):
                threading.Thread(target=emulation.warm_backends, args=(list(change["warm"]),), name="local-aws-warm",
                                 daemon=True).start()
            if change.get("certificates"):
                emulation.ensure_certificates(list(change["certificates"]), str(change.get("domain", "example.com")))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(self.state.to_json()).encode()]


def _buffer_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so both this layer and moto can read it."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


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

        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # moto's errors reach the client anyway
        if self.requested_port and not port_is_free(self.requested_port):
            raise LocalAwsError(f"port {self.requested_port} on {LOOPBACK} is already in use "
                                "(pick another with --port, or stop what holds it: hastack local down)")
        self._server = make_server(LOOPBACK, self.requested_port, build_app(self.state), threaded=True,
                                   request_handler=_quiet_handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-aws", daemon=True)
        self._thread.start()
        # moto's backends are process-wide: a new server starts from an empty world, never from
        # what an earlier server of this process left behind.
        WorldClient(self.endpoint).reset()
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

    def ensure_certificates(self, arns: list[str], domain: str) -> None:
        """Issued ACM certificates with these exact ARNs (certificates the stack config names)."""
        if arns:
            self.set_world(certificates=arns, domain=domain)

    def reset(self) -> None:
        """Forget every resource (moto's reset) and heal the world."""
        self._request("/moto-api/reset", {}, timeout=120.0)  # dropping a whole deployed world takes a while
        self.set_world(downRegions=[], redHealthChecks=[], resetEmulation=True)

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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class ProcessServer:
    """moto + world control in a child process (`python -m hastack.local.server`).

    Its own interpreter, so moto works on the other core while this process runs the Pulumi
    program or the DR command — and a detached one outlives the command that started it.
    """

    def __init__(self, port: int = 0, log_path: Path | None = None, detach: bool = False) -> None:
        self.port = port
        self.log_path = log_path
        self.detach = detach
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> ProcessServer:
        if self.port and not port_is_free(self.port):
            raise LocalAwsError(f"port {self.port} on {LOOPBACK} is already in use (pick another with --port)")
        self.port = self.port or free_port()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hastack.local.server", "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=self.detach,
                cwd=str(Path(__file__).resolve().parents[2]),
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        try:
            WorldClient(self.endpoint).wait_until_up(process=self.process)
        except LocalAwsError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> ProcessServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_detached(build_dir: Path, stack: str, port: int) -> dict[str, Any]:
    """Start `python -m hastack.local.server` in its own session; write build/local-<stack>.json."""
    running = read_detached(build_dir, stack)
    if running and _is_our_server(int(running["pid"])):
        raise LocalAwsError(f"a local AWS for stack {stack!r} already runs (pid {running['pid']}, "
                            f"{running['endpoint']}); stop it first: hastack local down --stack {stack}")
    build_dir.mkdir(parents=True, exist_ok=True)
    log_path = build_dir / f"local-{stack}.log"
    server = ProcessServer(port, log_path=log_path, detach=True).start()
    assert server.process is not None
    record = {"pid": server.process.pid, "port": server.port, "endpoint": server.endpoint, "stack": stack,
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
