"""Detection and paging: a failure someone finds out about, fast enough, with the evidence kept.

* every paging alarm notifies someone: actions enabled, and each SNS topic it notifies (when the
  topic is part of the stack) has a subscription. Alarms with actions disabled are allowed only as
  inputs of something that pages: a composite alarm's rule (the burn-rate windows) or a Route 53
  health check of type CLOUDWATCH_METRIC;
* the EKS control plane ships its logs (who changed what in the cluster during the incident);
* VPC flow logs and ALB access logs, as advisories (they cost money; without them an outage's
  network story can't be reconstructed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from _util import (
    COMPOSITE_ALARM,
    EKS_CLUSTER,
    FLOW_LOG,
    LOAD_BALANCERS,
    METRIC_ALARM,
    R53_HEALTH_CHECK,
    SNS_SUBSCRIPTION,
    SNS_TOPIC,
    VPC,
    Graph,
    Node,
    Resource,
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
