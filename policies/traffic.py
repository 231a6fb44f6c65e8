"""Traffic control that works while the primary region (and Route 53's API) is down.

A failover moves clients by changing what Route 53 answers. If that change needs Route 53's
control plane (`UpdateHealthCheck`, `ChangeResourceRecordSets`: homed in us-east-1), or a switch in
the region that failed, the failover depends on what it recovers from (REL11-BP04, static
stability). And if nothing but the DR ALB's own health guards the SECONDARY record, Route 53 fails
over by itself to a pilot-light region as soon as its load balancer answers — before the database
is promoted. So, for each PRIMARY failover record and its SECONDARY partner:

* each record's health check (walking CALCULATED children) includes a **switch**: a health check
  whose state the DR command sets through a data plane — CLOUDWATCH_METRIC (an alarm on a metric it
  publishes) or RECOVERY_CONTROL (a Route 53 ARC routing control);
* no CLOUDWATCH_METRIC switch reads an alarm in the PRIMARY record's region;
* missing data never moves traffic: a switch alarm of the stack keeps its state without data
  (`treatMissingData: ignore`), and a never-published switch leaves traffic where it is
  (`insufficientDataHealthStatus` Healthy under the PRIMARY record, Unhealthy under the SECONDARY).

docs/traffic-control.md says how the stack builds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from _util import METRIC_ALARM, R53_HEALTH_CHECK, R53_RECORD, Graph, Node, as_list, display, get, stack_rule
from pulumi_policy import Severity
from spof import failover_type, record_target_region

SWITCH_TYPES = ("CLOUDWATCH_METRIC", "RECOVERY_CONTROL")
#: What a never-published switch must count as, per record it guards: traffic stays where it is.
WANTED_INSUFFICIENT = {"PRIMARY": "Healthy", "SECONDARY": "Unhealthy"}


def _checks_under(graph: Graph, check_id: Any, seen: set[str] | None = None) -> Iterator[Node]:
    """The health check `check_id` and every check below it (CALCULATED children), each once."""
    seen = set() if seen is None else seen
    node = graph.by_id(check_id)
    if node is None or node.id in seen:
        return
    seen.add(str(node.id))
    yield node
    if str(node.props.get("type")) == "CALCULATED":
        for child in as_list(node.props.get("childHealthchecks")):
            yield from _checks_under(graph, child, seen)


def _alarm(graph: Graph, check: Node) -> Node | None:
    name, region = check.props.get("cloudwatchAlarmName"), check.props.get("cloudwatchAlarmRegion")
    for alarm in graph.of_type(METRIC_ALARM):
        if (alarm.props.get("name") or alarm.name) == name and (region is None or graph.region(alarm) == region):
            return alarm
    return None


def _record_problems(graph: Graph, record: Node, kind: str, primary_region: str | None) -> Iterator[str]:
    name = record.props.get("name")
    checks = list(_checks_under(graph, get(record.props, "healthCheckId")))
    switches = [c for c in checks if str(c.props.get("type")) in SWITCH_TYPES]
    if not switches:
        if kind == "PRIMARY":
            yield (f"{display(record)} ({name}) is a PRIMARY failover record whose health check has no switch "
                   "(CLOUDWATCH_METRIC or RECOVERY_CONTROL): moving traffic off the primary then takes a Route 53 "
                   "API call (its control plane is homed in us-east-1) or the primary's own failure. Gate it with "
                   "a CALCULATED check over its ALB check and a switch the DR command sets in the DR region.")
        else:
            yield (f"{display(record)} ({name}) is a SECONDARY failover record whose health check has no switch: "
                   "Route 53 sends clients to the DR region as soon as its load balancer answers, before the DR "
                   "command has promoted the database (a pilot-light region can't serve). Gate it with a CALCULATED "
                   "check over the DR ALB check and a 'DR ready' switch (CLOUDWATCH_METRIC or RECOVERY_CONTROL).")
    for check in switches:
        if str(check.props.get("type")) != "CLOUDWATCH_METRIC":
            continue
        where = f"{display(check)} (a switch under the {kind} record {name})"
        alarm_region = check.props.get("cloudwatchAlarmRegion")
        if primary_region and alarm_region == primary_region:
            yield (f"{where} reads an alarm in {alarm_region}, the region the PRIMARY record sends traffic to: "
                   "when that region fails, nobody can publish to the switch. Put the alarm (and the metric the DR "
                   "command publishes) in the DR region.")
        insufficient = check.props.get("insufficientDataHealthStatus")
        wanted = WANTED_INSUFFICIENT[kind]
        if insufficient != wanted:
            yield (f"{where} has insufficientDataHealthStatus={insufficient!r}: a switch nobody has published to "
                   f"yet must leave traffic where it is. Set insufficientDataHealthStatus={wanted!r}.")
        alarm = _alarm(graph, check)
        if alarm is not None and alarm.props.get("treatMissingData") != "ignore":
            yield (f"{where} reads alarm {display(alarm)} with treatMissingData="
                   f"{alarm.props.get('treatMissingData')!r}: when publishing stops, the alarm changes state and "
                   "traffic moves by itself. Set treatMissingData='ignore' (the alarm keeps its last state).")


def check_static_stable_traffic(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    records = graph.of_type(R53_RECORD)
    if not graph.of_type(R53_HEALTH_CHECK):
        return
    for primary in (r for r in records if failover_type(r) == "PRIMARY"):
        primary_region = record_target_region(graph, primary)
        partners = [r for r in records if failover_type(r) == "SECONDARY"
                    and r.props.get("name") == primary.props.get("name")
                    and r.props.get("zoneId") == primary.props.get("zoneId")]
        for record, kind in ((primary, "PRIMARY"), *((p, "SECONDARY") for p in partners)):
            for message in _record_problems(graph, record, kind, primary_region):
                yield message, record.urn


POLICIES = [
    stack_rule(
        "static-stable-traffic-control",
        "Failover records move on switches the DR command sets through a data plane outside the primary region, "
        "and missing data never moves traffic.",
        "Gate PRIMARY with [its ALB check, a primary switch] and SECONDARY with [the DR ALB check, a DR-ready "
        "switch]; switches are CLOUDWATCH_METRIC checks on alarms in the DR region (treatMissingData ignore) or "
        "ARC routing controls (docs/traffic-control.md).",
        check_static_stable_traffic, severity=Severity.CRITICAL),
]
