"""The pack's detection and paging rules through the real pack process: every paging alarm notifies
someone, EKS control-plane logs, VPC flow logs and ALB access logs (advisory).

Rows: one setting of the rendered prod plan changed (inputs and outputs together) and the exact
messages the rule reports on the named resource; rows without messages must pass.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.policy_helpers import (
    DELETE,
    Scenario,
    ScenarioRunner,
    adds,
    assert_scenario,
    drops,
    scenario,
    sets,
)

ROUTE53_ALARM = "primary-obs-route53-alb-us-east-1"
FLOW_LOG = {"vpcId": "vpc-1043e2eca78aa0ef0", "trafficType": "ALL", "logDestinationType": "cloud-watch-logs",
            "logDestination": "arn:aws:logs:us-east-1:123456789012:log-group:/hastack/prod/vpc-flow"}

SWITCH_ID = "4157fb7d-bb3c-f1ff-d7b6-77795204c00b"


def alarm_check(name: str, alarm: str) -> dict[str, Any]:
    """A CLOUDWATCH_METRIC health check on `alarm` (what issue #12 adds in the DR region)."""
    return {"type": "CLOUDWATCH_METRIC", "cloudwatchAlarmName": alarm, "cloudwatchAlarmRegion": "us-east-1",
            "insufficientDataHealthStatus": "Unhealthy", "tags": {"Name": name}}


SCENARIOS: list[Scenario] = [
    # health-check-detection
    scenario("endpoint-check-threshold-10", "health-check-detection",
             sets("dns-primary-alb-check", "failureThreshold", 10), on="dns-primary-alb-check",
             expect=["HealthCheck 'dns-primary-alb-check' (HTTPS) detects a failure after 10 s x 10 = 100 s, above the"
              " 90 s allowed (maxEndpointDetectionSeconds): every second of it is downtime the availability "
              "budget pays before failover can start. Set requestInterval=10 and failureThreshold <= 9."]),
    scenario("endpoint-check-slowed-to-300s", "health-check-detection",
             sets("dns-dr-alb-check", "requestInterval", 30), sets("dns-dr-alb-check", "failureThreshold", 10),
             on="dns-dr-alb-check",
             expect=["HealthCheck 'dns-dr-alb-check' (HTTPS) detects a failure after 30 s x 10 = 300 s, above the 90 s"
              " allowed (maxEndpointDetectionSeconds): every second of it is downtime the availability budget "
              "pays before failover can start. Set requestInterval=10 and failureThreshold <= 9."]),
    scenario("endpoint-check-route53-defaults", "health-check-detection",
             sets("dns-dr-alb-check", "requestInterval", DELETE), sets("dns-dr-alb-check", "failureThreshold", DELETE),
             on="dns-dr-alb-check"),
    scenario("gate-watches-only-the-switch", "health-check-detection",
             sets("dns-primary-gate", "childHealthchecks", [SWITCH_ID]), sets("dns-primary-gate",
                                                                              "childHealthThreshold", 1),
             on="dns-primary-gate",
             expect=["HealthCheck 'dns-primary-gate' guards the PRIMARY record 'api.example.com' but detects no "
              "failure on its own (it turns unhealthy once 1 of its 1 children fail, and 0 of them detect a "
              "failure on their own): Route 53 never fails over unless someone flips it. Give it a child "
              "endpoint or alarm check that detects the primary's failure."]),
    scenario("gate-needs-one-healthy-child", "health-check-detection",
             sets("dns-primary-gate", "childHealthThreshold", 1), on="dns-primary-gate",
             expect=["HealthCheck 'dns-primary-gate' guards the PRIMARY record 'api.example.com' but detects no "
              "failure on its own (it turns unhealthy once 2 of its 2 children fail, and 1 of them detect a "
              "failure on their own): Route 53 never fails over unless someone flips it. Give it a child "
              "endpoint or alarm check that detects the primary's failure."]),
    scenario("alarm-check-too-slow", "health-check-detection",
             adds("dns-primary-alb-check", "aws:route53/healthCheck:HealthCheck", "dns-nodes-alarm-check",
                  alarm_check("nodes", "hastack-prod-us-east-1-nodes-below-min-us-east-1a")),
             on="dns-nodes-alarm-check",
             expect=["HealthCheck 'dns-nodes-alarm-check' (CLOUDWATCH_METRIC) detects a failure after alarm "
              "'hastack-prod-us-east-1-nodes-below-min-us-east-1a': 60 s x 10 + 60 s of Route 53 polling = 660 "
              "s, above the 300 s allowed (maxAlarmDetectionSeconds): every second of it is downtime the "
              "availability budget pays. Shorten the alarm's period or evaluationPeriods."]),
    scenario("alarm-check-outside-the-stack", "health-check-detection",
             adds("dns-primary-alb-check", "aws:route53/healthCheck:HealthCheck", "dns-foreign-alarm-check",
                  alarm_check("foreign", "someone-elses-alarm")), on="dns-foreign-alarm-check",
             expect=["HealthCheck 'dns-foreign-alarm-check' (CLOUDWATCH_METRIC) can't be timed: alarm "
              "'someone-elses-alarm' (us-east-1) is not part of this stack. Its detection can't enter the "
              "availability budget; manage the alarm (or the checked endpoint) in the stack."]),
    scenario("alarm-check-within-bound", "health-check-detection",
             adds("dns-primary-alb-check", "aws:route53/healthCheck:HealthCheck", "dns-route53-alarm-check",
                  alarm_check("route53", "hastack-prod-us-east-1-route53-alb-us-east-1")),
             on="dns-route53-alarm-check"),
    scenario("slowest-allowed-detection-within-budget", "availability-budget",
             sets("dns-primary-alb-check", "failureThreshold", 9)),
    scenario("undetected-primary-gets-no-dr-credit", "availability-budget",
             sets("dns-primary-gate", "childHealthThreshold", 1),
             expect=["The serving path in us-east-1 reaches 99.8585% availability, below the SLO of 99.95%: about 12.4"
              " h of downtime per year against 4.4 h allowed. Weakest tier: EKS control plane "
              "(primary-cluster-eks) at 99.9500%: EKS multi-AZ control plane; DR cluster. No DR credit: the "
              "health check of PRIMARY record api.example.com detects no failure on its own (it turns unhealthy"
              " once 2 of its 2 children fail, and 1 of them detect a failure on their own)."]),
    # paging-alarms-notify
    scenario("paging-alarm-silenced", "paging-alarms-notify", sets(ROUTE53_ALARM, "actionsEnabled", False),
             on=ROUTE53_ALARM,
             expect=["MetricAlarm 'primary-obs-route53-alb-us-east-1' (hastack-prod-us-east-1-route53-alb-us-east-1) "
              "has actionsEnabled=False and feeds no composite alarm or health check: when it fires nobody is "
              "paged. Set actionsEnabled=True (or make it an input of an alarm that pages)."]),
    scenario("paging-alarm-without-actions", "paging-alarms-notify",
             sets("primary-obs-predictor-healthy-hosts", "alarmActions", []),
             on="primary-obs-predictor-healthy-hosts", expect=["MetricAlarm 'primary-obs-predictor-healthy-hosts' "
              "(hastack-prod-us-east-1-predictor-healthy-hosts) has no alarmActions: when it fires nobody is "
              "paged. Add the region's paging SNS topic to alarmActions (and okActions)."]),
    scenario("paging-topic-unsubscribed", "paging-alarms-notify", drops("dr-obs-paging-sub-0"),
             on="dr-obs-db-replica-lag",
             expect=["MetricAlarm 'dr-obs-db-replica-lag' (hastack-prod-us-west-2-db-replica-lag) notifies Topic "
              "'dr-obs-paging-topic', which has no subscription: the page reaches nobody. Subscribe the on-call"
              " (hastack:alerting.subscriptions) to the topic."]),
    scenario("composite-without-actions", "paging-alarms-notify",
             sets("primary-obs-slo-burn-slow", "alarmActions", DELETE), on="primary-obs-slo-burn-slow",
             expect=["CompositeAlarm 'primary-obs-slo-burn-slow' (hastack-prod-us-east-1-slo-burn-slow) has no "
              "alarmActions: when it fires nobody is paged. Add the region's paging SNS topic to alarmActions "
              "(and okActions)."]),
    scenario("burn-window-feeds-composite", "paging-alarms-notify",
             sets("primary-obs-slo-burn-fast-5m", "alarmActions", []), on="primary-obs-slo-burn-fast-5m"),
    scenario("pages-a-topic-outside-the-stack", "paging-alarms-notify",
             sets(ROUTE53_ALARM, "alarmActions", ["arn:aws:sns:us-east-1:999999999999:central-paging"]),
             on=ROUTE53_ALARM),
    # eks-control-plane-logs
    scenario("control-plane-logs-off", "eks-control-plane-logs", sets("primary-cluster-eks",
                                                                     "enabledClusterLogTypes", []),
             on="primary-cluster-eks",
             expect=["Cluster 'primary-cluster-eks' does not ship the control-plane log types api, audit, "
              "authenticator, controllerManager, scheduler: who changed what in the cluster during an incident "
              "(API calls, audit, authentication) is lost. Add them to enabledClusterLogTypes."]),
    scenario("control-plane-audit-only", "eks-control-plane-logs",
             sets("dr-cluster-eks", "enabledClusterLogTypes", ["api", "audit"]), on="dr-cluster-eks",
             expect=["Cluster 'dr-cluster-eks' does not ship the control-plane log types authenticator, "
              "controllerManager, scheduler: who changed what in the cluster during an incident (API calls, "
              "audit, authentication) is lost. Add them to enabledClusterLogTypes."]),
    scenario("control-plane-security-logs-configured", "eks-control-plane-logs",
             sets("dr-cluster-eks", "enabledClusterLogTypes", ["api", "audit", "authenticator"]), on="dr-cluster-eks",
             config={"eks-control-plane-logs": {"requiredLogTypes": ["api", "audit", "authenticator"]}}),
    # vpc-flow-logs (advisory): the shipped stack has none
    scenario("no-flow-log", "vpc-flow-logs", on="primary-net-vpc",
             expect=["Vpc 'primary-net-vpc' (us-east-1) has no flow log: after an outage nobody can tell which "
              "connections were refused or never arrived. Add an aws.ec2.FlowLog (trafficType ALL) to "
              "CloudWatch Logs or S3."]),
    scenario("flow-log-added", "vpc-flow-logs",
             adds("primary-net-vpc", "aws:ec2/flowLog:FlowLog", "primary-net-flow-log", FLOW_LOG,
                  depends_on=("primary-net-vpc",)), on="primary-net-vpc"),
    # alb-access-logs (advisory): the shipped stacks configure no bucket
    scenario("no-access-logs", "alb-access-logs", on="primary-ingress-alb",
             expect=["LoadBalancer 'primary-ingress-alb' (us-east-1) writes no access logs: the requests of an "
              "incident (status, latency, target) can't be looked at afterwards. Set accessLogs={bucket, "
              "enabled: True} (hastack:ingress.accessLogBuckets)."]),
    scenario("access-logs-on", "alb-access-logs",
             sets("dr-ingress-alb", "accessLogs", {"bucket": "hastack-prod-alb-logs-us-west-2", "enabled": True,
                                                   "prefix": "hastack-prod-dr"}), on="dr-ingress-alb"),
]


@pytest.mark.parametrize("case", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_detection_rule(scenario_runner: ScenarioRunner, case: Scenario) -> None:
    assert_scenario(scenario_runner, case)


def test_an_unsubscribed_topic_flags_every_alarm_paging_through_it(scenario_runner: ScenarioRunner,
                                                                  prod_plan_json: dict[str, Any]) -> None:
    report, _ = scenario_runner.report("paging-topic-unsubscribed")
    flagged = {v.urn.rsplit("::", 1)[-1] for v in report.violations}
    paging = {r["name"] for r in prod_plan_json["resources"]
              if r["type"] in ("aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/compositeAlarm:CompositeAlarm")
              and r["name"].startswith("dr-obs-") and r["inputs"].get("actionsEnabled", True)}
    assert paging and flagged == paging
