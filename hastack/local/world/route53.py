"""Route 53's data plane, which moto lacks: health-check state and DNS answers.

moto stores health checks and records but never evaluates them (every check reports "Success";
alarm checks lose their alarm). The world computes what Route 53's checkers and name servers
would:

- **endpoint checks** (HTTP/HTTPS/TCP): healthy when the endpoint answers. A check of one of the
  world's load balancers (by DNS name) is healthy when its region is up and it has a healthy
  target to answer `/health/...` with; any other endpoint is assumed to answer;
- **CLOUDWATCH_METRIC checks**: from their alarm (kept from the create request,
  `AlarmIdentifier`), evaluated from metric data (`alarms`): OK healthy, ALARM unhealthy,
  INSUFFICIENT_DATA as `InsufficientDataHealthStatus` says (Healthy, Unhealthy, or
  LastKnownStatus; by default LastKnownStatus). An alarm in a dark region has no data;
- **CALCULATED checks**: healthy when at least `HealthThreshold` children are;
- a **disabled** check counts as healthy; **Inverted** flips the result; a check marked red in the
  world fails whatever it watches (a manual override).

DNS answers follow failover routing: PRIMARY when its check (and, with EvaluateTargetHealth, its
alias target) is healthy, else SECONDARY when healthy, else — every endpoint unhealthy — Route 53
answers as if all were healthy (the PRIMARY). An alias to a load balancer answers with the load
balancer's address: each load balancer of the world has one stable loopback address
(`load_balancer_address`), which its own DNS name resolves to as well, so a client can tell which
region a record sends it to by resolving both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from hastack.local.world import alarms
from hastack.local.world.accounts import ACCOUNT_ID

ENDPOINT_TYPES = frozenset({"HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP"})
#: Route 53 answers an alias to a load balancer with this TTL (the target's, fixed by AWS).
ALIAS_TTL = 60


@dataclass(frozen=True)
class CheckHealth:
    healthy: bool
    reason: str


@dataclass(frozen=True)
class Answer:
    """A DNS answer: rcode, records (name, type, ttl, value), and why it is this one."""

    rcode: str
    records: list[tuple[str, str, int, str]] = field(default_factory=list)
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"rcode": self.rcode, "why": self.why,
                "records": [{"name": n, "type": t, "ttl": ttl, "value": v} for n, t, ttl, v in self.records]}


def load_balancer_address(dns_name: str) -> str:
    """The world's stable loopback address of a load balancer (127.x.y.z, never 127.0.0.1)."""
    digest = hashlib.sha256(dns_name.rstrip(".").lower().encode()).digest()
    return f"127.{1 + digest[0] % 254}.{digest[1]}.{1 + digest[2] % 254}"


def _norm(name: str) -> str:
    return name.rstrip(".").lower() + "."


def region_of_elb_dns(dns_name: str) -> str | None:
    parts = dns_name.rstrip(".").split(".")
    return parts[-4] if len(parts) >= 4 and parts[-3] == "elb" else None


class Route53View:
    """One consistent read of Route 53's data plane (health memoised for one answer)."""

    def __init__(self, world: Any) -> None:
        from moto.route53.models import route53_backends

        self.world = world
        self.backend = route53_backends[ACCOUNT_ID]["aws"]
        self._health: dict[str, CheckHealth] = {}

    # --- load balancers ------------------------------------------------------------------------

    def load_balancer(self, dns_name: str) -> tuple[str, Any] | None:
        """(region, moto load balancer) of a DNS name, when it is one of the world's."""
        from moto.elbv2.models import elbv2_backends

        region = region_of_elb_dns(dns_name)
        if region is None:
            return None
        backend = elbv2_backends[ACCOUNT_ID][region]
        wanted = dns_name.rstrip(".").lower()
        for lb in list(backend.load_balancers.values()):
            if str(lb.dns_name).rstrip(".").lower() == wanted:
                return region, lb
        return None

    def load_balancer_health(self, dns_name: str) -> CheckHealth:
        """A load balancer answers when its region is up and a target behind it is healthy."""
        from moto.elbv2.models import elbv2_backends

        found = self.load_balancer(dns_name)
        if found is None:
            return CheckHealth(True, f"{dns_name} is not a load balancer of this world: assumed to answer")
        region, lb = found
        if self.world.region_is_dark(region):
            return CheckHealth(False, f"{region} is dark: {lb.name} does not answer")
        backend = elbv2_backends[ACCOUNT_ID][region]
        for tg in list(backend.target_groups.values()):
            if lb.arn not in tg.load_balancer_arns:
                continue
            for target in list(tg.targets.values()):
                if tg.health_for(target, backend.ec2_backend).status == "healthy":
                    return CheckHealth(True, f"{lb.name} in {region} has a healthy target in {tg.name}")
        return CheckHealth(False, f"{lb.name} in {region} has no healthy target")

    # --- health checks -------------------------------------------------------------------------

    def health(self, check_id: str, _depth: int = 0) -> CheckHealth:
        if check_id not in self._health:
            self._health[check_id] = self._evaluate(check_id, _depth)
        return self._health[check_id]

    def _evaluate(self, check_id: str, depth: int) -> CheckHealth:
        check = self.backend.health_checks.get(check_id)
        if check is None:
            return CheckHealth(False, f"health check {check_id} does not exist")
        if check.disabled:
            result = CheckHealth(True, "disabled: Route 53 considers it healthy")
        elif self.world.is_red(check_id):
            result = CheckHealth(False, "marked red in the world")
        elif check.type_ == "CALCULATED":
            children = list(check.children or [])
            healthy = sum(1 for c in children if depth < 8 and self.health(c, depth + 1).healthy)
            threshold = int(check.health_threshold or 0)
            result = CheckHealth(healthy >= threshold, f"{healthy} of {len(children)} children healthy "
                                                       f"(threshold {threshold})")
        elif check.type_ == "CLOUDWATCH_METRIC":
            result = self._alarm_health(check)
        elif check.type_ in ENDPOINT_TYPES:
            target = check.fqdn or check.ip_address or ""
            result = self.load_balancer_health(target)
        else:
            result = CheckHealth(True, f"{check.type_} checks are not evaluated here: assumed healthy")
        if check.inverted:
            result = CheckHealth(not result.healthy, f"inverted ({result.reason})")
        return result

    def _alarm_health(self, check: Any) -> CheckHealth:
        from moto.cloudwatch.models import cloudwatch_backends

        ident = getattr(check, "hastack_alarm", None) or {}
        region, name = ident.get("Region", ""), ident.get("Name", "")
        state, why = alarms.INSUFFICIENT, f"alarm {name} in {region}"
        if not region or not name:
            why = "no AlarmIdentifier"
        elif self.world.region_is_dark(region):
            why = f"alarm {name}: {region} is dark, no data reaches Route 53"
        else:
            backend = cloudwatch_backends[ACCOUNT_ID][region]
            alarms.refresh(backend, [name])
            alarm = backend.alarms.get(name)
            if alarm is None:
                why = f"alarm {name} does not exist in {region}"
            else:
                state, why = alarm.state_value, f"alarm {name} in {region} is {alarm.state_value}"
        if state == alarms.OK:
            return self._remember(check, CheckHealth(True, why))
        if state == alarms.ALARM:
            return self._remember(check, CheckHealth(False, why))
        status = getattr(check, "hastack_insufficient_data_status", None) or "LastKnownStatus"
        if status == "Healthy":
            return CheckHealth(True, f"{why}; INSUFFICIENT_DATA counts as Healthy")
        if status == "Unhealthy":
            return CheckHealth(False, f"{why}; INSUFFICIENT_DATA counts as Unhealthy")
        last = getattr(check, "hastack_last_known", None)
        healthy = True if last is None else last
        known = ("healthy" if healthy else "unhealthy") if last is not None else "none yet: healthy"
        return CheckHealth(healthy, f"{why}; INSUFFICIENT_DATA keeps the last known status ({known})")

    @staticmethod
    def _remember(check: Any, result: CheckHealth) -> CheckHealth:
        check.hastack_last_known = result.healthy
        return result

    # --- DNS -----------------------------------------------------------------------------------

    def zone_for(self, qname: str) -> Any:
        """The public hosted zone with the longest name that `qname` is in (or None)."""
        best = None
        for zone in list(self.backend.zones.values()):
            if getattr(zone, "private_zone", False):
                continue
            zname = _norm(zone.name)
            if (qname == zname or qname.endswith("." + zname)) and (best is None or len(zname) > len(_norm(best.name))):
                best = zone
        return best

    def answer(self, qname: str, qtype: str = "A", _depth: int = 0) -> Answer:
        qname, qtype = _norm(qname), qtype.upper()
        lb = self.load_balancer(qname)
        if lb is not None:
            records = [(qname, "A", ALIAS_TTL, load_balancer_address(qname))] if qtype == "A" else []
            return Answer("NOERROR", records, f"load balancer {lb[1].name} in {lb[0]}")
        zone = self.zone_for(qname)
        if zone is None:
            return Answer("REFUSED", [], f"{qname} is in no hosted zone of this world")
        sets = [r for r in list(zone.rrsets) if _norm(r.name) == qname]
        if not sets:
            return Answer("NXDOMAIN", [], f"no record named {qname} in {zone.name}")
        typed = [r for r in sets if r.type == qtype] or [r for r in sets if r.type == "CNAME"]
        if not typed:
            return Answer("NOERROR", [], f"no {qtype} record for {qname}")
        failover = [r for r in typed if r.failover]
        if failover:
            chosen, why = self._failover(failover)
        else:
            chosen, why = typed[0], "simple record"
        return self._records(qname, chosen, why, qtype, _depth)

    def _record_healthy(self, record: Any) -> CheckHealth:
        if record.health_check_id:
            check = self.health(record.health_check_id)
            if not check.healthy:
                return CheckHealth(False, f"health check {record.health_check_id[:8]} unhealthy: {check.reason}")
        alias = record.alias_target or {}
        if alias and str(alias.get("EvaluateTargetHealth", "false")).lower() == "true":
            target = self.load_balancer_health(str(alias.get("DNSName", "")))
            if not target.healthy:
                return CheckHealth(False, f"alias target unhealthy: {target.reason}")
        return CheckHealth(True, "healthy")

    def _failover(self, records: list[Any]) -> tuple[Any, str]:
        primary = next((r for r in records if r.failover == "PRIMARY"), None)
        secondary = next((r for r in records if r.failover == "SECONDARY"), None)
        p_health = self._record_healthy(primary) if primary is not None else None
        if primary is not None and p_health is not None and p_health.healthy:
            return primary, f"PRIMARY {primary.set_identifier} healthy"
        s_health = self._record_healthy(secondary) if secondary is not None else None
        if secondary is not None and s_health is not None and s_health.healthy:
            return secondary, (f"PRIMARY unhealthy ({p_health.reason if p_health else 'absent'}); "
                               f"SECONDARY {secondary.set_identifier} healthy")
        chosen = primary if primary is not None else secondary
        return chosen, ("every failover record unhealthy: answering as if all were healthy (PRIMARY); "
                        f"PRIMARY: {p_health.reason if p_health else 'absent'}; "
                        f"SECONDARY: {s_health.reason if s_health else 'absent'}")

    def _records(self, qname: str, record: Any, why: str, qtype: str, depth: int) -> Answer:
        alias = record.alias_target or {}
        if alias:
            target = str(alias.get("DNSName", ""))
            if self.load_balancer(target) is not None or region_of_elb_dns(target):
                value = load_balancer_address(target)
                return Answer("NOERROR", [(qname, "A", ALIAS_TTL, value)] if qtype == "A" else [],
                              f"{why}; alias to {target.rstrip('.')}")
            if depth < 8:
                inner = self.answer(target, qtype, depth + 1)
                return Answer(inner.rcode, [(qname, t, ttl, v) for _, t, ttl, v in inner.records],
                              f"{why}; alias to {target.rstrip('.')} ({inner.why})")
            return Answer("SERVFAIL", [], f"{why}; alias chain too long")
        ttl = int(record.ttl or 300)
        values = [str(r) if not isinstance(r, dict) else str(r.get("Value", "")) for r in record.records or []]
        return Answer("NOERROR", [(qname, record.type, ttl, v) for v in values], why)

    # --- what the control endpoint shows -------------------------------------------------------

    def all_health(self) -> dict[str, dict[str, Any]]:
        out = {}
        for check_id, check in list(self.backend.health_checks.items()):
            h = self.health(check_id)
            out[check_id] = {"type": check.type_, "healthy": h.healthy, "reason": h.reason}
        return out
