"""Moving traffic: the pre-built switches, flipped through the DR region's data plane, and DNS as clients see it.

Static stability (docs/traffic-control.md): the Route 53 records and health checks are built
ahead of time; a failover only flips two switches, through a data plane in a region that is up,
and never calls Route 53's control plane (homed in us-east-1, which may be the region that died):

- `cloudwatch-alarm` (default): `PutMetricData` of `DrReady` / `PrimaryFenced` in the DR region;
  the alarms on them (TreatMissingData ignore: missing data never moves traffic) drive Route 53
  health checks of type CLOUDWATCH_METRIC, which guard the SECONDARY and PRIMARY records. The
  command reads the alarms back with `DescribeAlarms` in the same region.
- `arc`: Route 53 ARC routing controls, set with `UpdateRoutingControlStates` through the
  cluster's regional endpoints, tried in order (never one in the primary region first), each call
  bounded.

Verification resolves the record through the configured resolvers (dnspython): what clients are
answered, not what the switch or the Route 53 API says. The answer counts as a region's when its
addresses are that region's ALB's (resolved through the same resolvers) or its CNAME chain names
that ALB.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.resolver
from botocore.exceptions import BotoCoreError, ClientError

from hastack.dr.actions import ActionError
from hastack.dr.aws import ClientFactory
from hastack.dr.deployment import TrafficControl
from hastack.dr.probes import ProbeError, wrap

ALARM, OK, INSUFFICIENT = "ALARM", "OK", "INSUFFICIENT_DATA"


# --- the switches -----------------------------------------------------------------------------


class Switches:
    """`DrReady` and `PrimaryFenced`, whichever mode the stack built."""

    def __init__(self, aws: ClientFactory, traffic: TrafficControl, primary_region: str) -> None:
        self.aws, self.t, self.primary = aws, traffic, primary_region

    # which plane/region each operation needs (for the plan and the report)
    @property
    def flip_service(self) -> str:
        return "cloudwatch" if self.t.mode == "cloudwatch-alarm" else "route53-recovery-cluster"

    @property
    def flip_region(self) -> str:
        return self.t.region if self.t.mode == "cloudwatch-alarm" else self.arc_endpoints()[0][0]

    def arc_endpoints(self) -> list[tuple[str, str]]:
        """The cluster endpoints in the order to try them: the primary region's last."""
        eps = list(self.t.arc_endpoints)
        return [e for e in eps if e[0] != self.primary] + [e for e in eps if e[0] == self.primary]

    def describe(self, name: str) -> str:
        if self.t.mode == "arc":
            return f"routing control {name}"
        metric = self.t.dr_ready_metric if name == "dr-ready" else self.t.primary_fenced_metric
        return f"{metric} in {self.t.region}"

    # --- reading ----------------------------------------------------------------------------------

    def states(self) -> dict[str, bool | None]:
        """{"dr-ready": on?, "primary-fenced": on?} as the switches read now (None: not known yet)."""
        if self.t.mode == "arc":
            return {"dr-ready": self._arc_state(self.t.arc_dr_ready),
                    "primary-fenced": self._arc_state(self.t.arc_primary_fenced)}
        alarms = self.alarm_states()
        dr_ready = alarms.get(self.t.dr_ready_alarm)
        fenced = alarms.get(self.t.primary_fenced_alarm)
        # dr-not-ready: OK = ready; primary-fenced: ALARM = fenced. INSUFFICIENT_DATA: never published.
        return {"dr-ready": None if dr_ready is None else dr_ready == OK,
                "primary-fenced": None if fenced is None else fenced == ALARM}

    def alarm_states(self) -> dict[str, str]:
        names = [self.t.dr_ready_alarm, self.t.primary_fenced_alarm]
        try:
            found = self.aws.client("cloudwatch", self.t.region).describe_alarms(AlarmNames=names)["MetricAlarms"]
        except (ClientError, BotoCoreError) as exc:
            raise wrap(f"alarms {', '.join(names)} in {self.t.region}", exc) from exc
        return {a["AlarmName"]: a["StateValue"] for a in found}

    def _arc_client(self, region: str, url: str) -> Any:
        return self.aws.client("route53-recovery-cluster", region, endpoint_url=url)

    def _arc_state(self, arn: str) -> bool | None:
        errors = []
        for region, url in self.arc_endpoints():
            try:
                got = self._arc_client(region, url).get_routing_control_state(RoutingControlArn=arn)
                return got["RoutingControlState"] == "On"
            except (ClientError, BotoCoreError) as exc:
                errors.append(f"{region}: {exc}")
        raise ProbeError(f"no ARC cluster endpoint answered for {arn}: {'; '.join(errors)}")

    # --- flipping ---------------------------------------------------------------------------------

    def set(self, name: str, on: bool) -> str:
        """Flip switch `name` ("dr-ready" | "primary-fenced"); returns what was sent, where."""
        if self.t.mode == "arc":
            arn = self.t.arc_dr_ready if name == "dr-ready" else self.t.arc_primary_fenced
            return self._arc_set(arn, on)
        metric = self.t.dr_ready_metric if name == "dr-ready" else self.t.primary_fenced_metric
        value = 1.0 if on else 0.0
        try:
            self.aws.client("cloudwatch", self.t.region).put_metric_data(Namespace=self.t.namespace, MetricData=[{
                "MetricName": metric, "Dimensions": [{"Name": k, "Value": v} for k, v in self.t.dimensions],
                "Timestamp": dt.datetime.now(dt.UTC), "Value": value, "Unit": "Count"}])
        except (ClientError, BotoCoreError) as exc:
            raise ActionError(f"failed publishing {metric}={value:g} in {self.t.region}: {exc}") from exc
        return f"published {metric}={value:g} in {self.t.region}"

    def _arc_set(self, arn: str, on: bool) -> str:
        state = "On" if on else "Off"
        errors = []
        for region, url in self.arc_endpoints():
            try:
                self._arc_client(region, url).update_routing_control_states(
                    UpdateRoutingControlStateEntries=[{"RoutingControlArn": arn, "RoutingControlState": state}])
                return f"set routing control {arn.rsplit('/', 1)[-1]} {state} through the {region} endpoint"
            except (ClientError, BotoCoreError) as exc:
                errors.append(f"{region}: {exc}")
        raise ActionError(f"no ARC cluster endpoint accepted {state} for {arn}: {'; '.join(errors)}")

    def reads(self, name: str, on: bool) -> bool:
        """True when switch `name` reads as `on` (for cloudwatch-alarm: its alarm has evaluated)."""
        return self.states().get(name) is on


def wait_for(check: Callable[[], bool], deadline: float, poll: float, clock: Any, what: str) -> float:
    """Poll `check` until it is true or `deadline` (clock time) passes; returns the seconds it took."""
    from hastack.dr.waiters import WaitTimeoutError

    started = clock.now()
    last_error = ""
    while True:
        try:
            if check():
                return clock.now() - started
            last_error = ""
        except (ProbeError, dns.exception.DNSException) as exc:
            last_error = f" (last read: {exc})"
        if clock.now() + poll > deadline:
            raise WaitTimeoutError(f"gave up waiting for {what} after {clock.now() - started:.0f} s{last_error}")
        clock.sleep(poll)


# --- DNS, as clients see it ---------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the resolvers answered for a name: addresses and the CNAME chain (names, lowercase, no dot)."""

    addresses: frozenset[str]
    names: tuple[str, ...]
    resolver: str

    def describe(self) -> str:
        chain = f" via {' -> '.join(self.names)}" if len(self.names) > 1 else ""
        return f"{', '.join(sorted(self.addresses)) or 'no address'}{chain} (resolver {self.resolver})"


def _parse(resolver: str) -> tuple[str, int]:
    if resolver.startswith("["):
        host, _, port = resolver[1:].partition("]")
        return host, int(port.lstrip(":") or 53)
    if resolver.count(":") == 1:
        host, port = resolver.split(":")
        return host, int(port)
    return resolver, 53


def resolve(name: str, resolvers: Sequence[str], timeout: float) -> Answer:
    """The A records of `name` through the first resolver that answers (system resolver when none).

    Asked without a cache, each time: a verification must see what a fresh client is told.
    """
    qname = dns.name.from_text(name.rstrip(".") + ".")
    errors = []
    for resolver in resolvers or ("system",):
        try:
            if resolver == "system":
                res = dns.resolver.Resolver()
                res.lifetime = timeout
                answer = res.resolve(qname, "A", raise_on_no_answer=False)
                response = answer.response
            else:
                host, port = _parse(resolver)
                query = dns.message.make_query(qname, dns.rdatatype.A)
                response = dns.query.udp(query, host, port=port, timeout=timeout)
        except dns.exception.DNSException as exc:
            errors.append(f"{resolver}: {type(exc).__name__}: {exc}")
            continue
        addresses, names = set(), [str(qname).rstrip(".").lower()]
        for rrset in response.answer:
            for rdata in rrset:
                if rrset.rdtype == dns.rdatatype.A:
                    addresses.add(rdata.address)
                elif rrset.rdtype == dns.rdatatype.CNAME:
                    names.append(str(rdata.target).rstrip(".").lower())
        return Answer(frozenset(addresses), tuple(names), resolver)
    raise dns.exception.DNSException(f"no resolver answered for {name}: {'; '.join(errors)}")


def answered_region(record: str, albs: dict[str, str], resolvers: Sequence[str], timeout: float
                    ) -> tuple[str | None, Answer]:
    """(the region whose ALB the record answers — None when neither —, the answer)."""
    answer = resolve(record, resolvers, timeout)
    for region, alb in albs.items():
        alb_name = alb.rstrip(".").lower()
        if any(n == alb_name or n.endswith("." + alb_name) for n in answer.names[1:]):
            return region, answer
    for region, alb in albs.items():
        if answer.addresses and answer.addresses <= resolve(alb, resolvers, timeout).addresses:
            return region, answer
    return None, answer
