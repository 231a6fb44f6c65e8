"""The RTO model: the real scale-up code in virtual time, with AWS's documented durations.

Why a simulation: a real regional failover cannot be run on every commit, and moto answers every
call at once. This module attaches botocore event handlers to every client the run builds (through
`ClientFactory(on_client=...)`), so the *real* runner, steps, probes, actions and botocore
waiters run unchanged against any AWS endpoint (moto in the tests and the benchmark) while:

* every API call costs `api_call_seconds` of virtual time;
* an action starts a modelled operation that completes `duration` later (promotion, Global
  Datastore failover, node launch + image pull + readiness + one ALB health check, Multi-AZ);
* until then, describe calls are answered as AWS would answer them mid-operation (the replica
  still a replica, the node group UPDATING, no healthy target, the cache primary unchanged);
* a botocore waiter polling for that operation sleeps on the `SimClock` until it completes
  (the real waiter would poll every Delay seconds; the model ignores that quantisation);
* a traffic switch published with `PutMetricData` shows in its alarm's state one evaluation period
  later (`DescribeAlarms` answers INSUFFICIENT_DATA until then); the DNS answer then follows at once
  in the local world, so the client-visible RTO adds Route 53's propagation and the alias TTL.

Durations: `hastack/timings.py` (each figure once, with its AWS source; the same figures reach the
DR command's DNS step and the availability model).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hastack import timings as aws
from hastack.dr import waiters
from hastack.dr.clock import SimClock


@dataclass(frozen=True)
class Durations:
    """Modelled AWS durations in seconds (defaults and sources: `hastack.timings`); tests vary them."""

    api_call_seconds: float = aws.API_CALL.seconds
    promote_replica_seconds: float = aws.REPLICA_PROMOTION.seconds
    #: Off the RTO path: the Multi-AZ conversion finishes after the switch.
    multi_az_seconds: float = aws.MULTI_AZ_CONVERSION.seconds
    cache_failover_seconds: float = aws.GLOBAL_DATASTORE_PROMOTION.seconds
    node_launch_seconds: float = aws.NODE_LAUNCH.seconds
    image_pull_seconds: float = aws.IMAGE_PULL.seconds
    #: Pod readiness: one probe period (successThreshold 1).
    readiness_seconds: float = aws.POD_PROBE_PERIOD.seconds
    #: A newly registered target must pass one ALB health check.
    alb_check_seconds: float = aws.ALB_HEALTH_CHECK_INTERVAL.seconds
    #: A switch published with PutMetricData shows in its alarm's state within one period.
    alarm_evaluation_seconds: float = aws.ALARM_EVALUATION.seconds
    #: After the record's answer changed: Route 53 propagation + the alias TTL.
    dns_settle_seconds: float = aws.DNS_SETTLE_SECONDS

    @property
    def compute_ready_seconds(self) -> float:
        return self.node_launch_seconds + self.image_pull_seconds + self.readiness_seconds + self.alb_check_seconds

    def branches(self) -> dict[str, float]:
        """The parallel branches' modelled durations (what is on the critical path)."""
        return {"database": self.promote_replica_seconds, "cache": self.cache_failover_seconds,
                "compute": self.compute_ready_seconds}

    def critical_path(self, fence_seconds: float = 0.0) -> float:
        """Fence + longest parallel branch + the two switches' alarm evaluations + DNS (propagation and
        TTL): the client-visible RTO floor of this model."""
        return fence_seconds + max(self.branches().values()) + 2 * self.alarm_evaluation_seconds + \
            self.dns_settle_seconds

    def sequential(self, fence_seconds: float = 0.0) -> float:
        """What the same steps would cost one after the other."""
        return fence_seconds + sum(self.branches().values()) + 2 * self.alarm_evaluation_seconds + \
            self.dns_settle_seconds


@dataclass
class _Op:
    ready_at: float
    on_ready: list[Callable[[], None]] = field(default_factory=list)
    fired: bool = False


class SimulatedAws:
    """Virtual AWS latency and in-progress states for every client of a `ClientFactory` (see module doc)."""

    def __init__(self, clock: SimClock, durations: Durations | None = None,
                 on_targets_ready: Callable[[str], None] | None = None) -> None:
        self.clock = clock
        self.d = durations or Durations()
        self.on_targets_ready = on_targets_ready
        self.ops: dict[tuple[str, str], _Op] = {}
        self._lock = threading.Lock()
        self.calls = 0

    # -- what the factory calls for each new client ------------------------------------------

    def attach(self, client: Any, service: str, region: str, fast: bool) -> None:
        client.meta.events.register("before-parameter-build", self._before)
        client.meta.events.register("after-call", self._after)

    # -- modelled operations -----------------------------------------------------------------

    def _pending(self, key: tuple[str, str]) -> bool:
        with self._lock:
            op = self.ops.get(key)
            return op is not None and self.clock.now() < op.ready_at

    def _start(self, key: tuple[str, str], duration: float, on_ready: Callable[[], None] | None = None) -> None:
        with self._lock:
            op = self.ops.get(key)
            if op is None or op.fired:
                self.ops[key] = _Op(self.clock.now() + duration, [on_ready] if on_ready else [])

    def _fire_due(self) -> None:
        due = []
        with self._lock:
            for op in self.ops.values():
                if not op.fired and self.clock.now() >= op.ready_at:
                    op.fired = True
                    due.extend(op.on_ready)
        for fn in due:
            fn()

    def _before(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        self.calls += 1
        self.clock.sleep(self.d.api_call_seconds)
        op = model.name
        region = kwargs.get("context", {}).get("client_region") or ""
        # Actions start modelled operations.
        if op == "PromoteReadReplica":
            self._start(("db-standalone", params["DBInstanceIdentifier"]), self.d.promote_replica_seconds)
        elif op == "ModifyDBInstance":
            self._start(("db-multi-az", params["DBInstanceIdentifier"]), self.d.multi_az_seconds)
        elif op == "FailoverGlobalReplicationGroup":
            self._start(("cache", params["GlobalReplicationGroupId"]), self.d.cache_failover_seconds)
        elif op == "PutMetricData" and str(params.get("Namespace", "")).startswith("hastack/"):
            for datum in params.get("MetricData", []):
                self._start(("alarm", datum.get("MetricName", "")), self.d.alarm_evaluation_seconds)
        elif op == "UpdateNodegroupConfig":
            self._start(("nodegroup", params["nodegroupName"]), self.d.node_launch_seconds)
            self._start(("targets", region or "dr"), self.d.compute_ready_seconds,
                        (lambda r=region: self.on_targets_ready(r)) if self.on_targets_ready else None)
        # A waiter's poll for a pending operation waits (in virtual time) until it completes.
        wait = waiters.current_wait()
        if wait is not None:
            key = self._key_of(wait, region)
            if key is not None:
                with self._lock:
                    op_ = self.ops.get(key)
                    remaining = (op_.ready_at - self.clock.now()) if op_ else 0.0
                if remaining > 0:
                    self.clock.sleep(remaining)
        self._fire_due()

    @staticmethod
    def _key_of(wait: tuple[str, dict[str, Any]], region: str) -> tuple[str, str] | None:
        name, params = wait
        return {
            "DbStandaloneServing": ("db-standalone", params.get("DBInstanceIdentifier", "")),
            "DbMultiAzAtClass": ("db-multi-az", params.get("DBInstanceIdentifier", "")),
            "GlobalPrimaryIn": ("cache", params.get("GlobalReplicationGroupId", "")),
            "NodegroupAtSize": ("nodegroup", params.get("nodegroupName", "")),
            "TargetsHealthy": ("targets", region or "dr"),
        }.get(name)

    # -- answers as AWS gives them mid-operation ---------------------------------------------

    def _after(self, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        op = model.name
        if op == "DescribeDBInstances":
            for inst in parsed.get("DBInstances", []):
                rid = inst.get("DBInstanceIdentifier", "")
                if self._pending(("db-standalone", rid)):
                    inst["ReadReplicaSourceDBInstanceIdentifier"] = inst.get(
                        "ReadReplicaSourceDBInstanceIdentifier") or "promotion-in-progress"
                    inst["DBInstanceStatus"] = "modifying"
                elif self._pending(("db-multi-az", rid)):
                    inst["DBInstanceStatus"] = "modifying"
                    inst["PendingModifiedValues"] = {"MultiAZ": True, "DBInstanceClass": inst.get("DBInstanceClass")}
                    inst["MultiAZ"] = False
        elif op == "DescribeNodegroup":
            ng = parsed.get("nodegroup", {})
            if self._pending(("nodegroup", ng.get("nodegroupName", ""))):
                ng["status"] = "UPDATING"
        elif op == "DescribeAlarms":
            for alarm in parsed.get("MetricAlarms", []):  # not evaluated yet: the alarm has no verdict
                if self._pending(("alarm", alarm.get("MetricName", ""))):
                    alarm["StateValue"] = "INSUFFICIENT_DATA"
        elif op == "DescribeGlobalReplicationGroups":
            for g in parsed.get("GlobalReplicationGroups", []):
                if self._pending(("cache", g.get("GlobalReplicationGroupId", ""))):
                    g["Status"] = "modifying"
                    for m in g.get("Members", []):  # the roles have not swapped yet
                        m["Role"] = "SECONDARY" if m.get("Role") == "PRIMARY" else "PRIMARY"


def simulate(run_factory: Callable[[Any, SimClock], Any], durations: Durations | None = None,
             on_targets_ready: Callable[[str], None] | None = None) -> tuple[Any, SimulatedAws]:
    """Run `run_factory(on_client, clock)` — which builds and runs a real ScaleUp — in virtual time.

    `run_factory` receives the `on_client` hook to give its `ClientFactory` and the `SimClock` to
    give the orchestrator; it returns the run's result.
    """
    clock = SimClock()
    sim = SimulatedAws(clock, durations, on_targets_ready)
    return run_factory(sim.attach, clock), sim
