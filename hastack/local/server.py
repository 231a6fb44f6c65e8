"""The embedded AWS: the local world (`hastack.local.world`) served on 127.0.0.1.

This module runs the server — in a thread of this process (`InProcessServer`) or as a child
process (`ProcessServer`; detached by `hastack local up --detach`, with a pid file under build/) —
and steers it over HTTP (`WorldClient`, through the world's control endpoint `/_hastack/world`).
What the world does (outages, what moto lacks) lives in `hastack.local.world`. It only ever binds
127.0.0.1.
"""

from __future__ import annotations

import argparse
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
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hastack.local.world.resolver import DnsResolver
from hastack.local.world.state import WORLD
from hastack.local.world.wsgi import CONTROL_PATH, build_app

if TYPE_CHECKING:
    from hastack.local.dataplane import DataPlane, DataPlaneConfig
    from hastack.local.world.data_plane import WorldDataPlane

LOOPBACK = "127.0.0.1"
#: How long a starting server may take to answer: a data plane adds its servers' start (about a
#: second; the first start on a machine also runs initdb once for the template cluster).
START_TIMEOUT_SECONDS = 30.0
DATA_PLANE_START_TIMEOUT_SECONDS = 90.0


class LocalAwsError(Exception):
    """The local AWS could not be started, reached or stopped for a reason the user can act on."""


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
    """The world served from threads of this process (what `local up` and drills use): moto with the
    world's control endpoint on a TCP port, and the world's DNS resolver on a UDP port, both 127.0.0.1.

    With `dataplane` (a `DataPlaneConfig`), this server also owns a real data plane: PostgreSQL and
    Valkey in the two regions, started before the world answers and stopped with it, bound to the
    world's RDS instances and cache groups (`hastack.local.world.data_plane`). Whether it runs is
    the caller's explicit choice (`hastack local up --data-plane/--no-data-plane`); without it the
    world is moto alone, as fast as before.
    """

    def __init__(self, port: int = 0, resolver_port: int = 0, dataplane: DataPlaneConfig | None = None) -> None:
        self.requested_port = port
        self.requested_resolver_port = resolver_port
        self.dataplane_config = dataplane
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._resolver: DnsResolver | None = None
        self._plane: DataPlane | None = None
        self._world_plane: WorldDataPlane | None = None

    @property
    def dataplane(self) -> DataPlane | None:
        """The real servers this world drives (None when started without a data plane)."""
        return self._plane

    @property
    def resolver_address(self) -> tuple[str, int]:
        """(host, port) of the world's DNS resolver (UDP)."""
        if self._resolver is None:
            raise LocalAwsError("the local AWS is not started")
        return self._resolver.address

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
        if self.dataplane_config is not None and WORLD.data_plane is not None:
            raise LocalAwsError("this process already serves a world with a data plane (the world is one per "
                                "process): stop that server first")
        app = build_app()
        if self.dataplane_config is not None:
            self._start_data_plane(self.dataplane_config)
        try:
            self._resolver = DnsResolver(WORLD, self.requested_resolver_port).start()
        except OSError as exc:
            self.stop()
            raise LocalAwsError(f"the DNS resolver could not bind udp {LOOPBACK}:{self.requested_resolver_port}: "
                                f"{exc.strerror or exc}") from None
        app.resolver = self._resolver.address  # known before the first request is answered
        try:
            self._server = make_server(LOOPBACK, self.requested_port, app, threaded=True,
                                       request_handler=_quiet_handler())
        except OSError:
            self.stop()
            raise
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-aws", daemon=True)
        self._thread.start()
        # moto's backends are process-wide: a new server starts from an empty world, never from
        # what an earlier server of this process left behind.
        WorldClient(self.endpoint).reset()
        return self

    def _start_data_plane(self, config: DataPlaneConfig) -> None:
        from hastack.local.dataplane import DataPlane, DataPlaneError
        from hastack.local.world.data_plane import WorldDataPlane

        try:
            self._plane = DataPlane(config).start()
            self._world_plane = WorldDataPlane(self._plane, WORLD).start()
        except DataPlaneError as exc:
            self.stop()
            raise LocalAwsError(f"the data plane {config.name!r} did not start: {exc}") from None
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        # Held connections first: a hanging outage must not hang the server's own stop.
        WORLD.release_held()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._resolver is not None:
            self._resolver.stop()
        # Nothing answers any more: the world lets go of the servers, then they stop (by pid, ports freed).
        if self._world_plane is not None:
            self._world_plane.stop()
        if self._plane is not None:
            self._plane.stop()
        self._server = None
        self._thread = None
        self._resolver = None
        self._world_plane = None
        self._plane = None
        # The world is one per process, like moto's backends: an outage must not outlive its server
        # (a later in-process `mock_aws` in this process would see it).
        WORLD.heal()

    def __enter__(self) -> InProcessServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
# Steering a server (in-process or detached) over HTTP
# ---------------------------------------------------------------------------------------------


class WorldClient:
    """Talks to a running local world (in-process or detached) through its control endpoint.

    Every method is one HTTP request to `/_hastack/world[/...]` on 127.0.0.1 (see
    `hastack.local.world.wsgi` for the endpoint and `hastack.local.world.state` for the fields).
    """

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
        """The world's state: downRegions, partitionedRegions, outageMode, route53Api(Dark), throttles,
        heldConnections, globalTables, resolver, lastCall, ..."""
        return self._request(CONTROL_PATH)

    def set_world(self, **change: Any) -> dict[str, Any]:
        """Change the world (keys as in the control endpoint); a bad key or value raises HTTPError 400."""
        return self._request(CONTROL_PATH, change)

    def outage(self, regions: list[str], mode: str = "refuse") -> dict[str, Any]:
        """Darken `regions` (`refuse`: connections close unanswered; `hang`: held unanswered)."""
        return self.set_world(downRegions=list(regions), outageMode=mode)

    def partition(self, regions: list[str]) -> dict[str, Any]:
        """Cut `regions` off from every other region while their endpoints keep answering: an MRSC
        replica there loses its quorum (writes and strongly consistent reads fail), the rest answer."""
        return self.set_world(partitionedRegions=list(regions))

    def heal(self) -> dict[str, Any]:
        """End the outage, partitions, throttles and red checks; default modes (resources, global
        tables' membership and the call log stay)."""
        return self.set_world(downRegions=[], partitionedRegions=[], outageMode="refuse", route53Api="auto",
                              redHealthChecks=[], throttles=[],
                              globalDatastorePlannedFailover="refuseWhilePrimaryDark")

    def throttle(self, service: str, seconds: float, region: str | None = None, operations: list[str] | None = None,
                 status: int = 400, code: str | None = None) -> dict[str, Any]:
        """Answer matching calls with the service's throttling error for `seconds` (added to the others)."""
        burst: dict[str, Any] = {"service": service, "seconds": seconds, "status": status}
        burst.update({k: v for k, v in (("region", region), ("operations", operations), ("code", code)) if v})
        return self.set_world(addThrottles=[burst])

    def calls(self, since: int = 0, service: str | None = None) -> list[dict[str, Any]]:
        """The call log after sequence number `since` (each: seq, time, epoch, service, region,
        operation, outcome answered|refused|hung|throttled|no-quorum, status, via server|in-process|dns)."""
        query = f"?since={int(since)}" + (f"&service={urllib.parse.quote(service)}" if service else "")
        return list(self._request(f"{CONTROL_PATH}/calls{query}")["calls"])

    def clear_calls(self) -> None:
        self.set_world(clearCalls=True)

    def health(self) -> dict[str, dict[str, Any]]:
        """Every Route 53 health check's computed health: {id: {type, healthy, reason}}."""
        return dict(self._request(f"{CONTROL_PATH}/health")["healthChecks"])

    def dns(self, name: str, rtype: str = "A") -> dict[str, Any]:
        """What the world's resolver answers for `name`: {rcode, records: [{name, type, ttl, value}], why}."""
        query = urllib.parse.urlencode({"name": name, "type": rtype})
        return self._request(f"{CONTROL_PATH}/dns?{query}")

    def data_plane(self) -> dict[str, Any] | None:
        """The world's data plane (None without one): servers {name: {service, region, role, direct, pid}},
        links {name: {port, mode, delayMs}}, bindings, replicaLag, heartbeat, events."""
        found = self.world().get("dataPlane")
        return dict(found) if found else None

    def global_tables(self) -> list[dict[str, Any]]:
        """DynamoDB global tables: [{tableName, consistency STRONG|EVENTUAL, replicas, witness,
        quorum {replica region: reaches a majority (None for EVENTUAL)}, isolatedReplicas}]."""
        return list(self._request(f"{CONTROL_PATH}/globalTables")["globalTables"])

    def resolver(self) -> tuple[str, int]:
        """(host, port) of the world's DNS resolver (UDP, 127.0.0.1)."""
        found = self.world().get("resolver")
        if not found:
            raise LocalAwsError(f"the local AWS on {self.endpoint} runs no DNS resolver")
        return str(found["host"]), int(found["port"])

    def ensure_certificates(self, arns: list[str], domain: str) -> None:
        """Issued ACM certificates with these exact ARNs (certificates the stack config names)."""
        if arns:
            self.set_world(certificates=arns, domain=domain)

    def reset(self) -> None:
        """Forget every resource (moto's reset), heal the world, forget emulated state and the call log."""
        self._request("/moto-api/reset", {}, timeout=120.0)  # dropping a whole deployed world takes a while
        self.heal()
        self.set_world(resetEmulation=True, clearCalls=True)

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
        record = json.loads(path.read_text(errors="replace"))
    except json.JSONDecodeError:
        return None
    # Anything but what `start_detached` writes is not a record of a running server.
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int) or not isinstance(
            record.get("endpoint"), str):
        return None
    return record


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class ProcessServer:
    """moto + world control in a child process (`python -m hastack.local.server`).

    Its own interpreter, so moto works on the other core while this process runs the Pulumi
    program or the DR command — and a detached one outlives the command that started it.
    """

    def __init__(self, port: int = 0, log_path: Path | None = None, detach: bool = False,
                 dataplane: DataPlaneConfig | None = None) -> None:
        self.port = port
        self.log_path = log_path
        self.detach = detach
        self.dataplane = dataplane
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> ProcessServer:
        if self.port and not port_is_free(self.port):
            raise LocalAwsError(f"port {self.port} on {LOOPBACK} is already in use (pick another with --port)")
        self.port = self.port or free_port()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        command = [sys.executable, "-m", "hastack.local.server", "--port", str(self.port)]
        if self.dataplane is not None:
            command += ["--data-plane", self.dataplane.model_dump_json()]
        try:
            self.process = subprocess.Popen(
                command,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=self.detach,
                cwd=str(Path(__file__).resolve().parents[2]),
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        timeout = START_TIMEOUT_SECONDS if self.dataplane is None else DATA_PLANE_START_TIMEOUT_SECONDS
        try:
            WorldClient(self.endpoint).wait_until_up(timeout=timeout, process=self.process)
        except LocalAwsError as exc:
            self.stop()
            said = self._last_log_line()
            raise LocalAwsError(f"{exc}: {said}" if said else str(exc)) from None
        return self

    def _last_log_line(self) -> str:
        """What the server said last (its own `error:` line when it refused to start), for the user."""
        if self.log_path is None:
            return ""
        try:
            lines = [line.strip() for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1] if lines else ""

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


def data_plane_name(stack: str) -> str:
    """The name of a stack's local data plane (its pid record is build/dataplane-<name>.json)."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", stack.lower()).strip("-")[:41] or "local"
    return cleaned if cleaned[0].isalnum() else f"s{cleaned}"[:41]


def start_detached(build_dir: Path, stack: str, port: int, dataplane: DataPlaneConfig | None = None
                   ) -> dict[str, Any]:
    """Start `python -m hastack.local.server` in its own session; write build/local-<stack>.json.

    With `dataplane`, the server owns the data plane's servers (their pids in
    build/dataplane-<name>.json, which the record names so `stop_detached` can stop them by pid
    even if the server died)."""
    running = read_detached(build_dir, stack)
    if running and _is_our_server(int(running["pid"])):
        raise LocalAwsError(f"a local AWS for stack {stack!r} already runs (pid {running['pid']}, "
                            f"{running['endpoint']}); stop it first: hastack local down --stack {stack}")
    build_dir.mkdir(parents=True, exist_ok=True)
    log_path = build_dir / f"local-{stack}.log"
    server = ProcessServer(port, log_path=log_path, detach=True, dataplane=dataplane).start()
    assert server.process is not None
    try:
        host, resolver_port = WorldClient(server.endpoint).resolver()
    except (LocalAwsError, urllib.error.URLError, OSError, KeyError, ValueError):
        server.stop()  # never leave a server running that no pid file names
        raise
    record = {"pid": server.process.pid, "port": server.port, "endpoint": server.endpoint, "stack": stack,
              "resolver": f"{host}:{resolver_port}", "log": str(log_path),
              "dataPlane": dataplane.name if dataplane is not None else None,
              "startedAt": datetime.now(UTC).isoformat(timespec="seconds")}
    pid_file(build_dir, stack).write_text(json.dumps(record, indent=2) + "\n")
    return record


def stop_detached(build_dir: Path, stack: str, timeout: float = 10.0) -> str:
    """Stop the detached server of `stack` and its data plane; remove the pid files. The sentence says
    what happened. The data plane's servers are stopped by their pid record even when the AWS server
    died without stopping them (a crash, a SIGKILL)."""
    record = read_detached(build_dir, stack) or {}
    server = _stop_server(build_dir, stack, timeout)
    from hastack.local.dataplane import DataPlaneError, stop_recorded
    from hastack.local.dataplane.plane import record_path

    name = str(record.get("dataPlane") or "")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,40}", name):
        name = data_plane_name(stack)
    if not record_path(build_dir, name).is_file():
        return server
    try:
        return f"{server}; {stop_recorded(build_dir, name, timeout)}"
    except DataPlaneError as exc:
        raise LocalAwsError(f"{server}; but {exc}") from None


def _stop_server(build_dir: Path, stack: str, timeout: float) -> str:
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
    parser.add_argument("--data-plane", default=None, metavar="JSON",
                        help="Own a data plane: its DataPlaneConfig as JSON (what ProcessServer passes).")
    args = parser.parse_args(argv)
    config = None
    if args.data_plane is not None:
        from hastack.local.dataplane import DataPlaneConfig

        config = DataPlaneConfig.model_validate_json(args.data_plane)
    server = InProcessServer(args.port, dataplane=config)
    try:
        server.start()
    except LocalAwsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    host, resolver_port = server.resolver_address
    print(f"local AWS serving on {server.endpoint}, DNS resolver on udp {host}:{resolver_port}", flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
