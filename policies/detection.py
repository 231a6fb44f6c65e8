"""Detection and paging: a failure someone finds out about, fast enough, with the evidence kept.

* each Route 53 health check detects a failure within a bound (endpoint checks: request interval x
  failure threshold; alarm-driven CLOUDWATCH_METRIC checks: the alarm's period x evaluation periods
  plus Route 53's polling of the alarm state; CALCULATED checks: as fast as enough of their children
  turn unhealthy). The check guarding each PRIMARY failover record must detect a failure by itself —
  an alarm on custom metrics (a switch the DR command flips) does not — and that automatic detection
  enters the availability budget (availability.py): a regional outage costs detection + RTO;
* every paging alarm notifies someone: actions enabled, and each SNS topic it notifies (when the
  topic is part of the stack) has a subscription. Alarms with actions disabled are allowed only as
  inputs of something that pages: a composite alarm's rule (the burn-rate windows) or a Route 53
  health check of type CLOUDWATCH_METRIC;
* the EKS control plane ships its logs (who changed what in the cluster during the incident);
* VPC flow logs and ALB access logs, as advisories (they cost money; without them an outage's
  network story can't be reconstructed).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from _util import (
    COMPOSITE_ALARM,
    EKS_CLUSTER,
    FLOW_LOG,
    LOAD_BALANCERS,
    METRIC_ALARM,
    R53_HEALTH_CHECK,
    R53_RECORD,
    SNS_SUBSCRIPTION,
    SNS_TOPIC,
    VPC,
    Graph,
    Node,
    Resource,
    as_int,
    as_list,
    display,
    get,
    resource_rule,
    setting_schema,
    stack_rule,
    truthy,
)
from pulumi_policy import EnforcementLevel, Severity

_ALARM_REF = re.compile(r"""(?:ALARM|OK|INSUFFICIENT_DATA)\(\s*["']?([^"')]+?)["']?\s*\)""")


def alarm_name(alarm: Node) -> str:
    key = "alarmName" if alarm.type == COMPOSITE_ALARM else "name"
    return str(alarm.props.get(key) or alarm.name)


def alarms_feeding_others(graph: Graph) -> set[str]:
    """Names (and ARNs) of alarms another alarm or a health check watches: they need no actions of their own."""
    fed: set[str] = set()
    for composite in graph.of_type(COMPOSITE_ALARM):
        fed.update(m.strip() for m in _ALARM_REF.findall(str(composite.props.get("alarmRule") or "")))
    for check in graph.of_type(R53_HEALTH_CHECK):
        if str(check.props.get("type")) == "CLOUDWATCH_METRIC" and check.props.get("cloudwatchAlarmName"):
            fed.add(str(check.props["cloudwatchAlarmName"]))
    return fed


def _subscribed_topics(graph: Graph) -> set[str]:
    return {str(s.props.get("topic")) for s in graph.of_type(SNS_SUBSCRIPTION) if s.props.get("topic")}


def _stack_topics(graph: Graph) -> dict[str, Node]:
    out: dict[str, Node] = {}
    for topic in graph.of_type(SNS_TOPIC):
        for ref in (topic.props.get("arn"), topic.id):
            if isinstance(ref, str) and ref:
                out[ref] = topic
    return out


def check_paging(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    fed = alarms_feeding_others(graph)
    topics = _stack_topics(graph)
    subscribed = _subscribed_topics(graph)
    for alarm in graph.of_type(METRIC_ALARM, COMPOSITE_ALARM):
        name = alarm_name(alarm)
        where = f"{display(alarm)} ({name})"
        feeds = name in fed or str(alarm.props.get("arn")) in fed
        enabled = alarm.props.get("actionsEnabled")
        actions = [str(a) for a in as_list(alarm.props.get("alarmActions")) if a]
        if enabled is not None and not truthy(enabled):
            if not feeds:
                yield (f"{where} has actionsEnabled=False and feeds no composite alarm or health check: when it "
                       "fires nobody is paged. Set actionsEnabled=True (or make it an input of an alarm that "
                       "pages).", alarm.urn)
            continue
        if not actions:
            if not feeds:
                yield (f"{where} has no alarmActions: when it fires nobody is paged. Add the region's paging SNS "
                       "topic to alarmActions (and okActions).", alarm.urn)
            continue
        for action in actions:
            topic = topics.get(action)
            if topic is not None and action not in subscribed and str(topic.props.get("arn")) not in subscribed:
                yield (f"{where} notifies {display(topic)}, which has no subscription: the page reaches nobody. "
                       "Subscribe the on-call (hastack:alerting.subscriptions) to the topic.", alarm.urn)


# ---------------------------------------------------------------------------------------------
# Route 53 health checks: how long until a failure is seen
# ---------------------------------------------------------------------------------------------

ENDPOINT_CHECKS = ("HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP")
#: Route 53's defaults (dns-failover-determining-health-of-endpoints).
DEFAULT_REQUEST_INTERVAL = 30
DEFAULT_FAILURE_THRESHOLD = 3
DETECTION_SETTINGS: dict[str, dict[str, Any]] = {
    "maxEndpointDetectionSeconds": {
        "type": "integer", "minimum": 10, "default": 90,
        "description": "Longest detection allowed for an endpoint health check (request interval x failure "
                       "threshold; Route 53's defaults give 30 s x 3 = 90 s)."},
    "maxAlarmDetectionSeconds": {
        "type": "integer", "minimum": 60, "default": 300,
        "description": "Longest detection allowed for a CLOUDWATCH_METRIC health check (alarm period x "
                       "evaluation periods + alarmPollingSeconds)."},
    "alarmPollingSeconds": {
        "type": "integer", "minimum": 0, "default": 60,
        "description": "How long Route 53 may take to see an alarm's state change (AWS publishes no figure: "
                       "an assumption)."},
}


@dataclass(frozen=True)
class Detection:
    """How long a health check takes to turn unhealthy once what it watches fails.

    `seconds` is None when the check never turns unhealthy on its own (a disabled check, a switch,
    a CALCULATED check without enough detecting children) or when its source is outside the stack.
    """

    seconds: float | None
    how: str
    kind: str  # "endpoint", "alarm", "calculated", "switch", "unknown"


def _alarm_period(alarm: Node) -> int:
    """The alarm's period: `period`, else the period of the metric queries it evaluates."""
    period = as_int(alarm.props.get("period"))
    if period:
        return period
    periods = [as_int(get(q, "metric", "period"), 0) or 0 for q in as_list(alarm.props.get("metricQueries"))
               if isinstance(q, dict)]
    periods += [as_int(q.get("period"), 0) or 0 for q in as_list(alarm.props.get("metricQueries"))
                if isinstance(q, dict)]
    return max(periods, default=60) or 60


def find_alarm(graph: Graph, name: str, region: str | None) -> Node | None:
    for alarm in graph.of_type(METRIC_ALARM):
        if alarm_name(alarm) == name and (not region or graph.region(alarm) in (None, region)):
            return alarm
    return None


def _alarm_namespaces(alarm: Node) -> set[str]:
    spaces = {str(alarm.props.get("namespace"))} if alarm.props.get("namespace") else set()
    spaces |= {str(get(q, "metric", "namespace")) for q in as_list(alarm.props.get("metricQueries"))
               if isinstance(q, dict) and get(q, "metric", "namespace")}
    return spaces


def is_switch_alarm(alarm: Node) -> bool:
    """An alarm on custom metrics only: a switch flipped by whoever publishes them (e.g. the DR command),
    not a detector of an AWS failure (AWS services publish under `AWS/...`)."""
    spaces = _alarm_namespaces(alarm)
    return bool(spaces) and not any(s.startswith("AWS/") for s in spaces)


def health_check_detection(graph: Graph, check: Node, polling: float, automatic: bool = False,
                           _seen: frozenset[str] = frozenset()) -> Detection:
    """How long `check` takes to turn unhealthy. With `automatic`, only what fails by itself counts:
    an alarm-driven check on a switch alarm (`is_switch_alarm`) then detects nothing."""
    kind = str(check.props.get("type") or "")
    if truthy(check.props.get("disabled")):
        return Detection(None, "disabled (Route 53 counts it healthy)", "switch")
    if kind in ENDPOINT_CHECKS:
        interval = as_int(check.props.get("requestInterval"), DEFAULT_REQUEST_INTERVAL) or DEFAULT_REQUEST_INTERVAL
        threshold = as_int(check.props.get("failureThreshold"), DEFAULT_FAILURE_THRESHOLD) or \
            DEFAULT_FAILURE_THRESHOLD
        return Detection(float(interval * threshold), f"{interval} s x {threshold}", "endpoint")
    if kind == "CLOUDWATCH_METRIC":
        name = str(check.props.get("cloudwatchAlarmName") or "")
        region = check.props.get("cloudwatchAlarmRegion")
        alarm = find_alarm(graph, name, region if isinstance(region, str) else None)
        if alarm is None:
            return Detection(None, f"alarm '{name}' ({region or 'unknown region'}) is not part of this stack",
                             "unknown")
        if automatic and is_switch_alarm(alarm):
            return Detection(None, f"alarm '{name}' is a switch on custom metrics "
                                   f"({', '.join(sorted(_alarm_namespaces(alarm)))})", "switch")
        period = _alarm_period(alarm)
        periods = as_int(alarm.props.get("evaluationPeriods"), 1) or 1
        return Detection(float(period * periods) + polling,
                         f"alarm '{name}': {period} s x {periods} + {polling:g} s of Route 53 polling", "alarm")
    if kind == "CALCULATED":
        children = [str(c) for c in as_list(check.props.get("childHealthchecks")) if c]
        if not children:
            return Detection(None, "no children (a switch)", "switch")
        needed = as_int(check.props.get("childHealthThreshold"), len(children))
        needed = len(children) if needed is None else needed
        # Unhealthy once fewer than `needed` children are healthy, i.e. once len - needed + 1 have failed.
        failures_needed = len(children) - needed + 1
        times: list[tuple[float, str]] = []
        for cid in children:
            child = graph.by_id(cid)
            if child is None or child.urn in _seen:
                times.append((math.inf, cid))
                continue
            found = health_check_detection(graph, child, polling, automatic, _seen | {check.urn})
            times.append((found.seconds if found.seconds is not None else math.inf, f"{child.name}: {found.how}"))
        times.sort()
        if failures_needed <= 0 or failures_needed > len(times) or math.isinf(times[failures_needed - 1][0]):
            detecting = sum(1 for t, _ in times if not math.isinf(t))
            return Detection(None, f"it turns unhealthy once {max(failures_needed, 0)} of its {len(children)} "
                                   f"children fail, and {detecting} of them detect a failure on their own",
                             "calculated")
        seconds, slowest = times[failures_needed - 1]
        return Detection(seconds, f"{failures_needed} of {len(children)} children failed ({slowest})", "calculated")
    return Detection(None, f"type {kind or 'unknown'}", "switch" if kind == "RECOVERY_CONTROL" else "unknown")


def primary_record_checks(graph: Graph) -> list[tuple[Node, Node | None]]:
    """(PRIMARY failover record, the health check guarding it or None)."""
    out = []
    for record in graph.of_type(R53_RECORD):
        policies = [p for p in as_list(record.props.get("failoverRoutingPolicies")) if isinstance(p, dict)]
        if any(str(p.get("type", "")).upper() == "PRIMARY" for p in policies):
            out.append((record, graph.by_id(record.props.get("healthCheckId"))))
    return out


def check_health_check_detection(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    polling = float(cfg["alarmPollingSeconds"])
    endpoint_bound = float(cfg["maxEndpointDetectionSeconds"])
    alarm_bound = float(cfg["maxAlarmDetectionSeconds"])
    for check in graph.of_type(R53_HEALTH_CHECK):
        found = health_check_detection(graph, check, polling)
        where = f"{display(check)} ({check.props.get('type')})"
        if found.kind == "endpoint" and found.seconds is not None and found.seconds > endpoint_bound:
            yield (f"{where} detects a failure after {found.how} = {found.seconds:g} s, above the "
                   f"{endpoint_bound:g} s allowed (maxEndpointDetectionSeconds): every second of it is downtime "
                   "the availability budget pays before failover can start. Set requestInterval=10 and "
                   f"failureThreshold <= {int(endpoint_bound // 10)}.", check.urn)
        elif found.kind == "alarm" and found.seconds is not None and found.seconds > alarm_bound:
            yield (f"{where} detects a failure after {found.how} = {found.seconds:g} s, above the {alarm_bound:g} s "
                   "allowed (maxAlarmDetectionSeconds): every second of it is downtime the availability budget "
                   "pays. Shorten the alarm's period or evaluationPeriods.", check.urn)
        elif found.kind == "unknown":
            yield (f"{where} can't be timed: {found.how}. Its detection can't enter the availability budget; "
                   "manage the alarm (or the checked endpoint) in the stack.", check.urn)
    for record, check in primary_record_checks(graph):
        if check is None:
            continue  # dns-failover-pair reports a PRIMARY record without its check
        found = health_check_detection(graph, check, polling, automatic=True)
        if found.seconds is None and found.kind != "unknown":
            yield (f"{display(check)} guards the PRIMARY record '{record.props.get('name')}' but detects no failure "
                   f"on its own ({found.how}): Route 53 never fails over unless someone flips it. Give it a "
                   "child endpoint or alarm check that detects the primary's failure.", check.urn)


def check_control_plane_logs(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    enabled = {str(t) for t in as_list(get(r.props, "enabledClusterLogTypes"))}
    missing = [t for t in cfg["requiredLogTypes"] if t not in enabled]
    if missing:
        yield (f"{display(r)} does not ship the control-plane log types {', '.join(missing)}: who changed what in "
               "the cluster during an incident (API calls, audit, authentication) is lost. Add them to "
               "enabledClusterLogTypes.")


def check_flow_logs(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    logged = {str(f.props.get("vpcId")) for f in graph.of_type(FLOW_LOG) if f.props.get("vpcId")}
    for vpc in graph.of_type(VPC):
        if vpc.id not in logged:
            yield (f"{display(vpc)} ({graph.region(vpc)}) has no flow log: after an outage nobody can tell which "
                   "connections were refused or never arrived. Add an aws.ec2.FlowLog (trafficType ALL) to "
                   "CloudWatch Logs or S3.", vpc.urn)


def check_access_logs(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if get(r.props, "loadBalancerType", default="application") != "application":
        return
    logs = get(r.props, "accessLogs")
    if not isinstance(logs, dict) or not truthy(logs.get("enabled")) or not logs.get("bucket"):
        yield (f"{display(r)} ({r.region}) writes no access logs: the requests of an incident (status, latency, "
               "target) can't be looked at afterwards. Set accessLogs={bucket, enabled: True} (hastack:"
               "ingress.accessLogBuckets).")


POLICIES = [
    stack_rule(
        "health-check-detection",
        "Each Route 53 health check detects a failure within the configured bound, and the check guarding a "
        "PRIMARY failover record detects failures on its own.",
        "Endpoint checks: requestInterval=10 and failureThreshold small enough for maxEndpointDetectionSeconds "
        "(90 s by default). CLOUDWATCH_METRIC checks: alarm period x evaluationPeriods + alarmPollingSeconds "
        "within maxAlarmDetectionSeconds (300 s). A PRIMARY record's CALCULATED check needs a detecting child.",
        check_health_check_detection, setting_schema(**DETECTION_SETTINGS), Severity.HIGH),
    stack_rule(
        "paging-alarms-notify",
        "Every alarm that pages notifies someone: actions enabled, and every SNS topic of the stack it notifies "
        "has a subscription.",
        "Set actionsEnabled=True and alarmActions to the region's paging topic, subscribe the on-call to that "
        "topic; an alarm with actions off must feed a composite alarm or a Route 53 health check.",
        check_paging, severity=Severity.HIGH),
    resource_rule(
        "eks-control-plane-logs",
        "EKS clusters ship their control-plane logs to CloudWatch.",
        "Set enabledClusterLogTypes to every type in requiredLogTypes (api, audit, authenticator, "
        "controllerManager, scheduler by default).",
        [EKS_CLUSTER], check_control_plane_logs,
        setting_schema(requiredLogTypes={
            "type": "array", "items": {"type": "string", "enum": ["api", "audit", "authenticator",
                                                                  "controllerManager", "scheduler"]},
            "default": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
            "description": "Control-plane log types every cluster must ship."}),
        Severity.MEDIUM),
    stack_rule(
        "vpc-flow-logs",
        "Every VPC has a flow log (advisory).",
        "Add an aws.ec2.FlowLog per VPC (trafficType ALL) to CloudWatch Logs or S3.",
        check_flow_logs, severity=Severity.LOW, enforcement=EnforcementLevel.ADVISORY),
    resource_rule(
        "alb-access-logs",
        "Application load balancers write access logs (advisory).",
        "Set hastack:ingress.accessLogBuckets (an S3 bucket per region that the region's ELB account may write "
        "to); the ALB then sets accessLogs={bucket, enabled: True}.",
        list(LOAD_BALANCERS), check_access_logs, severity=Severity.LOW, enforcement=EnforcementLevel.ADVISORY),
]
