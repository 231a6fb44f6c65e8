"""What the DR command derives from the stack outputs: identity, bounds, coordination, traffic control.

Why one place: every run needs the same few derived facts — which deployment this is (the lock's
and the lease's identity), how long each call and wait may take, where the coordination table is
and how its items are keyed, how traffic is switched — and each must come from the outputs, never
from a command-line spelling (`--stack prod` and `--stack production` with the same outputs are the
same deployment and take the same lock).

The outputs contract (`hastack/outputs.py`) is owned by the stack; this module reads it. Where an
older outputs file lacks a newer key (`deployment`, `coordination`, `trafficControl`, the newer
`drTimeouts` bounds) the documented default applies, so an outputs file saved before an upgrade
still drives a failover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hastack import timings
from hastack.dr.outputs import DrOutputs

#: Defaults of the `hastack:dr` bounds (the stack config documents each; `drTimeouts` exports them).
DEFAULT_BOUNDS: dict[str, float] = {
    "fence_timeout_seconds": 20.0, "wait_timeout_seconds": 2700.0, "call_timeout_seconds": 10.0,
    "status_timeout_seconds": 30.0, "lease_seconds": 15.0, "lease_renew_seconds": 5.0, "lock_ttl_seconds": 60.0,
    "lag_evidence_max_age_seconds": 180.0, "dns_ttl_seconds": timings.ALIAS_TTL.seconds,
    "dns_propagation_seconds": timings.ROUTE53_PROPAGATION.seconds, "heartbeat_seconds": 5.0,
}

#: The CloudWatch namespace and metrics of the traffic-control switch (docs/traffic-control.md).
SWITCH_NAMESPACE = "hastack/TrafficControl"
PRIMARY_FENCED = "PrimaryFenced"
DR_READY = "DrReady"


def _get(obj: Any, *names: str) -> Any:
    """The first attribute of `obj` (a pydantic model or None) that exists and is not None."""
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


@dataclass(frozen=True)
class Bounds:
    """Every limit a DR run keeps (seconds), from `drTimeouts`."""

    fence_timeout_seconds: float
    wait_timeout_seconds: float
    call_timeout_seconds: float
    status_timeout_seconds: float
    lease_seconds: float
    lease_renew_seconds: float
    lock_ttl_seconds: float
    lag_evidence_max_age_seconds: float
    dns_ttl_seconds: float
    dns_propagation_seconds: float
    heartbeat_seconds: float

    @classmethod
    def of(cls, o: DrOutputs) -> Bounds:
        timeouts = o.dr_timeouts
        return cls(**{name: float(_get(timeouts, name) or default) for name, default in DEFAULT_BOUNDS.items()})

    @property
    def lease_margin_seconds(self) -> float:
        """Added to `leaseSeconds` before a revoked lease counts as expired everywhere (clock rate, a renewal
        in flight): one renewal interval, at least one second."""
        return max(1.0, self.lease_renew_seconds)

    @property
    def dns_settle_seconds(self) -> float:
        """How long after the record changed a client may still use the old answer (propagation + TTL)."""
        return self.dns_ttl_seconds + self.dns_propagation_seconds

    def with_overrides(self, **values: float) -> Bounds:
        data = {k: getattr(self, k) for k in DEFAULT_BOUNDS}
        data.update(values)
        return Bounds(**data)


@dataclass(frozen=True)
class Coordination:
    """The coordination table: the lease, the DR lock and the run journals of one deployment."""

    table: str
    region: str
    key: str
    deployment: str
    #: The third region of the MRSC quorum (None: a single-region table in the DR region).
    witness_region: str | None
    lock_id: str
    lease_id: str
    journal_prefix: str

    @property
    def quorum(self) -> bool:
        return self.witness_region is not None

    def journal_id(self, run_id: str) -> str:
        return f"{self.journal_prefix}{run_id}"

    @property
    def last_run_id(self) -> str:
        return f"last-run#{self.deployment}"

    @property
    def isolation_id(self) -> str:
        return f"isolation#{self.deployment}"

    def trade_off(self, primary: str) -> str:
        """One sentence on what the lease store survives (for status and the report)."""
        if self.quorum:
            return (f"lease kept with a quorum across {self.region}, {primary} and the witness {self.witness_region} "
                    "(MRSC): a writer keeps it while it reaches a majority")
        return (f"lease kept in {self.region} only (no MRSC region set holds {primary} and {self.region}): an outage "
                f"of {self.region} also stops {primary}'s writers (they cannot renew)")


@dataclass(frozen=True)
class TrafficControl:
    """How the DR command moves traffic: CloudWatch-alarm switches (default) or ARC routing controls."""

    mode: str
    region: str
    namespace: str
    dimensions: tuple[tuple[str, str], ...]
    primary_fenced_metric: str
    primary_fenced_alarm: str
    dr_ready_metric: str
    dr_ready_alarm: str
    arc_endpoints: tuple[tuple[str, str], ...] = ()
    arc_primary_fenced: str = ""
    arc_dr_ready: str = ""


@dataclass(frozen=True)
class Deployment:
    """Everything a run derives from the outputs (see the module docstring)."""

    project: str
    stack: str
    bounds: Bounds
    coordination: Coordination
    traffic: TrafficControl
    resolvers: tuple[str, ...]

    @property
    def identity(self) -> str:
        return f"{self.project}/{self.stack}"

    @classmethod
    def of(cls, o: DrOutputs, resolvers: tuple[str, ...] | None = None) -> Deployment:
        dep = getattr(o, "deployment", None)
        legacy = getattr(o, "lock_table", None)
        # Before outputs carried `deployment`, the lock table's name was the deployment's only identity.
        project = str(_get(dep, "project") or "hastack")
        stack = str(_get(dep, "stack") or str(_get(legacy, "name")).removeprefix("hastack-").removesuffix("-dr-lock"))
        identity = f"{project}/{stack}"
        c = getattr(o, "coordination", None)
        coordination = Coordination(
            table=str(_get(c, "table_name") or _get(legacy, "name")),
            region=str(_get(c, "home_region") or _get(legacy, "region")),
            key=str(_get(c, "key_attribute") or "lockId"), deployment=identity,
            witness_region=_get(c, "witness_region"),
            lock_id=str(_get(c, "lock_key") or f"dr-lock#{identity}"),
            lease_id=str(_get(c, "lease_key") or f"lease#{identity}"),
            journal_prefix=str(_get(c, "journal_key_prefix") or f"journal#{identity}#"))
        tc = getattr(o, "traffic_control", None)
        cw, arc = _get(tc, "cloudwatch_alarm"), _get(tc, "arc")
        prefix = f"{project}-{stack}"
        traffic = TrafficControl(
            mode=str(_get(tc, "mode") or "cloudwatch-alarm"), region=str(_get(tc, "region") or o.dr_region),
            namespace=str(_get(cw, "namespace") or SWITCH_NAMESPACE),
            dimensions=tuple(sorted((_get(cw, "dimensions") or {"Deployment": identity}).items())),
            primary_fenced_metric=str(_get(_get(cw, "primary_fenced"), "metric_name") or PRIMARY_FENCED),
            primary_fenced_alarm=str(_get(_get(cw, "primary_fenced"), "alarm_name") or f"{prefix}-primary-fenced"),
            dr_ready_metric=str(_get(_get(cw, "dr_ready"), "metric_name") or DR_READY),
            dr_ready_alarm=str(_get(_get(cw, "dr_ready"), "alarm_name") or f"{prefix}-dr-not-ready"),
            arc_endpoints=tuple((str(_get(e, "region")), str(_get(e, "url"))) for e in (_get(arc, "endpoints") or ())),
            arc_primary_fenced=str(_get(_get(arc, "routing_control_arns"), "primary_fenced") or ""),
            arc_dr_ready=str(_get(_get(arc, "routing_control_arns"), "dr_ready") or ""))
        if resolvers is None:
            resolvers = tuple(_get(o.dns, "resolvers") or ())
        return cls(project, stack, Bounds.of(o), coordination, traffic, tuple(resolvers))
