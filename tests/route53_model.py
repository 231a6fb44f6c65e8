"""Route 53's failover rules applied to a plan: which ALB the record answers, given what the world shows.

Used by the DNS and traffic-control tests to check the wiring record -> gate -> check -> switch from
the plan alone (the local world evaluates the same rules against moto, with real metric data):

* an HTTPS check is healthy as `alb_healthy` says for its ALB; a disabled check is healthy;
* a CLOUDWATCH_METRIC check reads its alarm (found by name and region in the plan): the alarm is
  INSUFFICIENT_DATA when its metric was never published (the check then takes
  `insufficientDataHealthStatus`), else ALARM or OK from its statistic, comparison and threshold on
  the last published value; ALARM is unhealthy;
* a RECOVERY_CONTROL check is healthy while its routing control is On;
* `invertHealthcheck` flips a status; a CALCULATED check is healthy when at least
  `childHealthThreshold` of its children are;
* PRIMARY is answered when its check is healthy, else SECONDARY when its check is healthy, else
  PRIMARY (Route 53's last resort when every record is unhealthy).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

from hastack.plan.render import Plan

CHECK = "aws:route53/healthCheck:HealthCheck"
RECORD = "aws:route53/record:Record"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ROUTING_CONTROL = "aws:route53recoverycontrol/routingControl:RoutingControl"

_COMPARE = {"GreaterThanOrEqualToThreshold": operator.ge, "GreaterThanThreshold": operator.gt,
            "LessThanThreshold": operator.lt, "LessThanOrEqualToThreshold": operator.le}


def alarm_state(alarm: dict[str, Any], published: Mapping[str, float | None]) -> str:
    """ALARM, OK or INSUFFICIENT_DATA of a switch alarm, given the last value published per metric name."""
    i = alarm["inputs"]
    value = published.get(i["metricName"])
    if value is None:
        return "INSUFFICIENT_DATA"
    return "ALARM" if _COMPARE[i["comparisonOperator"]](value, i["threshold"]) else "OK"


def route53_answer(plan: Plan, alb_healthy: Mapping[str, bool], published: Mapping[str, float | None] | None = None,
                   controls_on: Mapping[str, bool] | None = None) -> str:
    """The region whose ALB the failover record answers (see the module docstring).

    `published`: metric name -> last value (cloudwatch-alarm mode; missing = never published).
    `controls_on`: routing control name -> On (arc mode; missing = Off, as ARC creates them).
    """
    published, controls_on = published or {}, controls_on or {}
    checks = {c["id"]: c for c in plan.of_type(CHECK)}
    albs = {o["albDnsName"]: region for region, o in plan.outputs["ingress"].items()}
    alarms = {(a["outputs"]["name"], a["region"]): a for a in plan.of_type(ALARM)}
    controls = {c["outputs"]["arn"]: c["inputs"]["name"] for c in plan.of_type(ROUTING_CONTROL)}

    def healthy(check_id: str) -> bool:
        i = checks[check_id]["inputs"]
        inverted = bool(i.get("invertHealthcheck"))
        if i.get("disabled"):
            status = True
        elif i["type"] == "CALCULATED":
            status = sum(healthy(c) for c in i.get("childHealthchecks", [])) >= i["childHealthThreshold"]
        elif i["type"] == "CLOUDWATCH_METRIC":
            state = alarm_state(alarms[(i["cloudwatchAlarmName"], i["cloudwatchAlarmRegion"])], published)
            status = i["insufficientDataHealthStatus"] == "Healthy" if state == "INSUFFICIENT_DATA" else state == "OK"
        elif i["type"] == "RECOVERY_CONTROL":
            status = controls_on.get(controls[i["routingControlArn"]], False)
        else:
            status = alb_healthy[albs[i["fqdn"]]]
        return status != inverted

    records = {r["inputs"]["failoverRoutingPolicies"][0]["type"]: r["inputs"] for r in plan.of_type(RECORD)}
    for kind in ("PRIMARY", "SECONDARY"):
        if healthy(records[kind]["healthCheckId"]):
            return albs[records[kind]["aliases"][0]["name"]]
    return albs[records["PRIMARY"]["aliases"][0]["name"]]
