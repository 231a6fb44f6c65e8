"""What is broken in the local world right now, and the verdict on each AWS request.

One `World` per process (`WORLD`), as moto's backends are one per process: the in-process path
(`mock_aws`, through `hastack.local.world.inprocess`) and the server path (the WSGI layer of
`hastack.local.world.wsgi`) ask the same object what to do with a request, and log it.

The hostile parts of a regional outage:
- **outage modes**: the dark region's endpoints `refuse` (the connection closes unanswered) or
  `hang` (the connection is accepted and held, unanswered, until the outage ends or the server
  stops; in-process, a hung call raises botocore's `ReadTimeoutError` after `hangTimeoutSeconds`,
  since botocore's socket timeouts do not apply there);
- **Route 53's API is homed in us-east-1**: with `route53Api` "auto" (the default) it goes dark,
  in the outage's mode, whenever us-east-1 does ("up" keeps it answering, "down" darkens it alone);
  Route 53's data plane (health checks, DNS answers) keeps working;
- **throttling bursts**: for a window, matching calls are answered with a throttling error
  (`ThrottlingException`/`Throttling`/`RequestLimitExceeded` with HTTP 400, or 503);
- **the Global Datastore refuses the planned failover** while its primary member's region is dark
  (`globalDatastorePlannedFailover` "refuseWhilePrimaryDark", the default; "allow" lifts it);
- **partitions**: a region in `partitionedRegions` answers its own endpoints (the operator reaches
  it) but reaches no other region; it is felt by a data plane's cross-region links (they hang:
  `data_plane`) and by DynamoDB global tables with multi-Region
  strong consistency (`global_tables`): a replica that reaches no majority of its table's members
  (replicas and witness; dark or partitioned members count as lost) fails writes and strongly
  consistent reads with `InternalServerError` (HTTP 500, outcome `no-quorum` in the call log) and
  serves eventually consistent reads from what it had when it was cut off. A witness region (not
  one of the stack's regions) can be darkened or partitioned like any other.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hastack.local.world.calls import CallLog
from hastack.local.world.global_datastore import GlobalDatastores
from hastack.local.world.global_tables import NO_QUORUM_CODE, NO_QUORUM_STATUS, GlobalTables

if TYPE_CHECKING:
    from hastack.local.world.data_plane import WorldDataPlane

#: Services AWS runs from one global endpoint: a regional outage does not take them away
#: (Route 53's API is the exception the world models: its control plane lives in us-east-1).
GLOBAL_SERVICES = frozenset({"route53", "iam", "sts", "cloudfront", "organizations"})
ROUTE53_HOME = "us-east-1"

ANSWER, REFUSE, HANG, THROTTLE, NO_QUORUM = "answered", "refused", "hung", "throttled", "no-quorum"
OUTAGE_MODES = ("refuse", "hang")
ROUTE53_API_MODES = ("auto", "up", "down")
GD_FAILOVER_MODES = ("refuseWhilePrimaryDark", "allow")
THROTTLE_STATUSES = (400, 429, 503)
#: A held connection is dropped after this long whatever happens (no thread is held forever).
DEFAULT_MAX_HOLD_SECONDS = 600.0
DEFAULT_HANG_TIMEOUT_SECONDS = 1.0
#: How often the data plane's replica lag reaches CloudWatch locally (RDS publishes once a minute:
#: a drill lasting seconds needs fresher evidence), and the heartbeat's interval on the real primary.
DEFAULT_REPLICA_LAG_PUBLISH_SECONDS = 1.0
DEFAULT_HEARTBEAT_SECONDS = 1.0

_SCOPE_RE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


class WorldChangeError(ValueError):
    """A change to the world names a bad key or value (the message says which, and what is allowed)."""


def signing_scope(authorization: str) -> tuple[str, str] | None:
    """(region, signing name) of a SigV4-signed request, from its Authorization header."""
    match = _SCOPE_RE.search(authorization or "")
    return (match.group(1), match.group(2)) if match else None


@dataclass(frozen=True)
class Throttle:
    """Matching calls are answered with a throttling error until `until` (epoch seconds)."""

    service: str
    until: float
    region: str | None = None
    operations: frozenset[str] = frozenset()
    status: int = 400
    code: str | None = None

    def matches(self, service: str, region: str | None, operation: str, now: float) -> bool:
        return (now < self.until and service == self.service and (self.region is None or region == self.region)
                and (not self.operations or operation in self.operations))

    def to_json(self, now: float) -> dict[str, Any]:
        return {"service": self.service, "region": self.region, "operations": sorted(self.operations),
                "status": self.status, "code": self.code, "remainingSeconds": round(max(0.0, self.until - now), 3)}


@dataclass(frozen=True)
class Verdict:
    """What the world does with one request: answer it, refuse it, hold it, throttle it, or fail it
    for want of a quorum (`error`: the (status, code, message) the world answers for a throttle or
    a lost quorum)."""

    outcome: str
    throttle: Throttle | None = None
    error: tuple[int, str | None, str] | None = None


@dataclass(eq=False)
class World:
    """The world's state (thread-safe; one per process)."""

    down_regions: set[str] = field(default_factory=set)
    partitioned_regions: set[str] = field(default_factory=set)
    outage_mode: str = "refuse"
    outage_since: float | None = None
    route53_api: str = "auto"
    red_health_checks: set[str] = field(default_factory=set)
    throttles: list[Throttle] = field(default_factory=list)
    hang_timeout_seconds: float = DEFAULT_HANG_TIMEOUT_SECONDS
    max_hold_seconds: float = DEFAULT_MAX_HOLD_SECONDS
    gd_planned_failover: str = "refuseWhilePrimaryDark"
    replica_lag_publish_seconds: float = DEFAULT_REPLICA_LAG_PUBLISH_SECONDS
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    #: The real servers this world's RDS instances and cache groups are bound to (None: no data plane;
    #: set by the server that owns them, `hastack.local.server.InProcessServer(dataplane=...)`).
    data_plane: WorldDataPlane | None = None
    calls: CallLog = field(default_factory=CallLog)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __post_init__(self) -> None:
        self.datastores = GlobalDatastores(self._primary_dark_refuses_failover)
        self.global_tables = GlobalTables(self.link, self.lock)
        self._changed = threading.Condition(self.lock)
        self._generation = 0
        self._held = 0
        self._listeners: list[Callable[[World], None]] = []

    # --- reading ------------------------------------------------------------------------------

    def region_is_dark(self, region: str) -> bool:
        with self.lock:
            return region in self.down_regions

    def link(self, source: str, target: str) -> tuple[bool, str]:
        """Whether region `source` reaches region `target` (and why not): a region reaches itself;
        a dark or partitioned region reaches no other, and no other reaches it."""
        with self.lock:
            if source == target:
                return True, ""
            for region in (target, source):
                if region in self.down_regions:
                    return False, f"{region} is dark"
                if region in self.partitioned_regions:
                    return False, f"{region} is partitioned"
            return True, ""

    def route53_api_dark(self) -> bool:
        with self.lock:
            if self.route53_api == "auto":
                return ROUTE53_HOME in self.down_regions
            return self.route53_api == "down"

    def _primary_dark_refuses_failover(self, region: str) -> bool:
        with self.lock:
            return self.gd_planned_failover == "refuseWhilePrimaryDark" and region in self.down_regions

    def is_red(self, health_check_id: str) -> bool:
        with self.lock:
            return health_check_id in self.red_health_checks

    def _dark_for(self, service: str, region: str | None) -> bool:
        if service == "route53":
            return self.route53_api_dark()
        return service not in GLOBAL_SERVICES and region in self.down_regions

    def verdict(self, service: str, region: str | None, operation: str = "", body: bytes | str | None = None
                ) -> Verdict:
        """What happens to one request for `service` (a boto3 client name) signed for `region`
        (`body`: the request's body, read for DynamoDB's quorum)."""
        with self.lock:
            if self._dark_for(service, region):
                return Verdict(HANG if self.outage_mode == "hang" else REFUSE)
            now = time.time()
            self.throttles = [t for t in self.throttles if t.until > now]
            throttle = next((t for t in self.throttles if t.matches(service, region, operation, now)), None)
            if throttle is not None:
                return Verdict(THROTTLE, throttle, (throttle.status, throttle.code, "Rate exceeded"))
            if service == "dynamodb" and region:
                lost = self.global_tables.no_quorum(region, operation, body)
                if lost is not None:
                    return Verdict(NO_QUORUM, error=(NO_QUORUM_STATUS, NO_QUORUM_CODE, lost))
            return Verdict(ANSWER)

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            now = time.time()
            since = (datetime.fromtimestamp(self.outage_since, UTC).isoformat(timespec="milliseconds")
                     if self.outage_since is not None else None)
            return {
                "downRegions": sorted(self.down_regions), "partitionedRegions": sorted(self.partitioned_regions),
                "outageMode": self.outage_mode, "outageSince": since,
                "route53Api": self.route53_api, "route53ApiDark": self.route53_api_dark(),
                "redHealthChecks": sorted(self.red_health_checks),
                "throttles": [t.to_json(now) for t in self.throttles if t.until > now],
                "hangTimeoutSeconds": self.hang_timeout_seconds, "maxHoldSeconds": self.max_hold_seconds,
                "heldConnections": self._held, "globalDatastorePlannedFailover": self.gd_planned_failover,
                "globalTables": self.global_tables.to_json(), "lastCall": self.calls.last_seq(),
                "replicaLagPublishSeconds": self.replica_lag_publish_seconds,
                "heartbeatSeconds": self.heartbeat_seconds,
                "dataPlane": self.data_plane.to_json() if self.data_plane is not None else None,
            }

    # --- changing -----------------------------------------------------------------------------

    def update(self, change: dict[str, Any]) -> None:
        """Apply a change (the control endpoint's POST body); a bad key or value changes nothing."""
        parsed = _parse_change(change)
        with self.lock:
            if "downRegions" in parsed:
                regions = parsed["downRegions"]
                if regions and not self.down_regions:
                    self.outage_since = time.time()
                elif not regions:
                    self.outage_since = None
                self.down_regions = regions
            for key, attr in (("outageMode", "outage_mode"), ("route53Api", "route53_api"),
                              ("partitionedRegions", "partitioned_regions"),
                              ("redHealthChecks", "red_health_checks"), ("hangTimeoutSeconds", "hang_timeout_seconds"),
                              ("maxHoldSeconds", "max_hold_seconds"),
                              ("globalDatastorePlannedFailover", "gd_planned_failover"),
                              ("replicaLagPublishSeconds", "replica_lag_publish_seconds"),
                              ("heartbeatSeconds", "heartbeat_seconds")):
                if key in parsed:
                    setattr(self, attr, parsed[key])
            if "throttles" in parsed:
                self.throttles = parsed["throttles"]
            if "addThrottles" in parsed:
                self.throttles = [t for t in self.throttles if t.until > time.time()] + parsed["addThrottles"]
            if parsed.get("clearCalls"):
                self.calls.clear()
            if parsed.get("resetEmulation"):
                self.datastores.reset()
                self.global_tables.forget_stale()  # membership lives as long as moto's tables
            self.global_tables.refresh()  # replicas that lost (or regained) their quorum
            self._changed.notify_all()
        for listener in list(self._listeners):
            listener(self)

    def heal(self) -> None:
        """No outage or partition, no red check, no throttle, default modes, no emulated state (moto's
        reset is separate; global tables' membership stays with moto's tables)."""
        self.update({"downRegions": [], "partitionedRegions": [], "outageMode": "refuse", "route53Api": "auto",
                     "redHealthChecks": [], "throttles": [], "hangTimeoutSeconds": DEFAULT_HANG_TIMEOUT_SECONDS,
                     "maxHoldSeconds": DEFAULT_MAX_HOLD_SECONDS,
                     "globalDatastorePlannedFailover": "refuseWhilePrimaryDark", "resetEmulation": True,
                     "replicaLagPublishSeconds": DEFAULT_REPLICA_LAG_PUBLISH_SECONDS,
                     "heartbeatSeconds": DEFAULT_HEARTBEAT_SECONDS})

    def subscribe(self, listener: Callable[[World], None]) -> None:
        """Call `listener(world)` after every change (a data plane follows outages this way)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[World], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # --- holding connections ------------------------------------------------------------------

    def hold(self, service: str, region: str | None, limit: float | None = None) -> bool:
        """Block while `service` in `region` stays dark in hang mode (at most `limit`, else
        `maxHoldSeconds`) or until `release_held`; True when released by the outage ending."""
        with self.lock:
            generation = self._generation
            deadline = time.monotonic() + (self.max_hold_seconds if limit is None else limit)
            self._held += 1
            try:
                while True:
                    if generation != self._generation:
                        return False
                    if not (self._dark_for(service, region) and self.outage_mode == "hang"):
                        return True
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._changed.wait(min(remaining, 0.5))
            finally:
                self._held -= 1
                self._changed.notify_all()

    def held(self) -> int:
        with self.lock:
            return self._held

    def release_held(self, wait_seconds: float = 5.0) -> int:
        """Let every held connection go (the server is stopping); returns how many were still held."""
        with self.lock:
            self._generation += 1
            self._changed.notify_all()
            deadline = time.monotonic() + wait_seconds
            while self._held and time.monotonic() < deadline:
                self._changed.wait(0.05)
            return self._held


def _parse_change(change: Any) -> dict[str, Any]:
    """Validate a change; every problem is reported at once (key, bad value, what is allowed)."""
    if not isinstance(change, dict):
        raise WorldChangeError(f"a world change is a JSON object, got {type(change).__name__}")
    out: dict[str, Any] = {}
    problems: list[str] = []

    def strings(key: str) -> None:
        value = change[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            problems.append(f"{key} = {value!r}: a list of non-empty strings")
        else:
            out[key] = set(value)

    def choice(key: str, allowed: tuple[Any, ...]) -> None:
        if change[key] not in allowed:
            problems.append(f"{key} = {change[key]!r}: one of {', '.join(map(str, allowed))}")
        else:
            out[key] = change[key]

    def seconds(key: str) -> None:
        value = change[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problems.append(f"{key} = {value!r}: a number of seconds >= 0")
        else:
            out[key] = float(value)

    def positive_seconds(key: str) -> None:
        value = change[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            problems.append(f"{key} = {value!r}: a number of seconds > 0")
        else:
            out[key] = float(value)

    parsers: dict[str, Callable[[str], None]] = {
        "downRegions": strings, "partitionedRegions": strings, "redHealthChecks": strings,
        "outageMode": lambda k: choice(k, OUTAGE_MODES), "route53Api": lambda k: choice(k, ROUTE53_API_MODES),
        "globalDatastorePlannedFailover": lambda k: choice(k, GD_FAILOVER_MODES),
        "hangTimeoutSeconds": seconds, "maxHoldSeconds": seconds,
        "replicaLagPublishSeconds": positive_seconds, "heartbeatSeconds": seconds,
        "clearCalls": lambda k: out.__setitem__(k, bool(change[k])),
        "resetEmulation": lambda k: out.__setitem__(k, bool(change[k])),
        "throttles": lambda k: _parse_throttles(k, change[k], out, problems),
        "addThrottles": lambda k: _parse_throttles(k, change[k], out, problems),
        # handled by the control endpoint itself
        "warm": lambda k: None, "certificates": lambda k: None, "domain": lambda k: None,
    }
    for key in change:
        if key not in parsers:
            problems.append(f"{key}: unknown key (allowed: {', '.join(sorted(parsers))})")
        else:
            parsers[key](key)
    if problems:
        raise WorldChangeError("; ".join(problems))
    return out


def _parse_throttles(key: str, value: Any, out: dict[str, Any], problems: list[str]) -> None:
    if not isinstance(value, list):
        problems.append(f"{key} = {value!r}: a list of {{service, seconds, region?, operations?, status?, code?}}")
        return
    now, parsed = time.time(), []
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("service"), str) or not item.get("service"):
            problems.append(f"{where} = {item!r}: needs service (a boto3 client name, e.g. rds)")
            continue
        unknown = set(item) - {"service", "seconds", "region", "operations", "status", "code"}
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        secs = item.get("seconds")
        if isinstance(secs, bool) or not isinstance(secs, int | float) or secs <= 0:
            problems.append(f"{where}.seconds = {secs!r}: a number of seconds > 0")
            continue
        status = item.get("status", 400)
        if status not in THROTTLE_STATUSES:
            problems.append(f"{where}.status = {status!r}: one of {', '.join(map(str, THROTTLE_STATUSES))}")
            continue
        ops = item.get("operations") or []
        if not isinstance(ops, list) or not all(isinstance(o, str) for o in ops):
            problems.append(f"{where}.operations = {ops!r}: a list of operation names (e.g. DescribeDBInstances)")
            continue
        parsed.append(Throttle(item["service"], now + float(secs), item.get("region"), frozenset(ops), int(status),
                               item.get("code")))
    out[key] = parsed


#: The world of this process.
WORLD = World()
