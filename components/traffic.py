"""Traffic control: the pre-built switches the DR command flips through the DR region's data plane.

Static stability (REL11-BP04): moving traffic during a regional outage must need nothing from the
failed region and no control-plane call (Route 53's API is homed in us-east-1, our default primary).
So the switches are built here, ahead of time, and the DR command only flips them through a regional
data plane in the region that is up. Two switches, each read by a Route 53 health check:

* **primary-switch** — healthy while the primary may serve; the DR command turns it unhealthy to make
  traffic leave the primary (the *fence* of DNS: the PRIMARY record's gate needs it);
* **dr-ready** — unhealthy until the DR command declares the DR region able to serve (the SECONDARY
  record's gate needs it, so Route 53's own failover never sends clients to a pilot-light region).

`hastack:dr.trafficControl` picks what the switches are:

`cloudwatch-alarm` (default): two metrics in the DR region, namespace `hastack/TrafficControl`,
dimension `Deployment=<project>/<stack>`, published by the DR command with `PutMetricData`, each
watched by an alarm there (standard resolution, period 60 s, one evaluation period: Route 53 accepts
no high-resolution alarm) and a Route 53 CLOUDWATCH_METRIC check on the alarm:

    PrimaryFenced  Maximum >= 1 -> hastack-<stack>-<dr region>-primary-fenced ALARM -> primary-switch unhealthy
    DrReady        Minimum <  1 -> hastack-<stack>-<dr region>-dr-not-ready   ALARM -> dr-ready unhealthy

The alarms have no actions: they are switches, not pages (the Route 53 alarm on the primary gate
pages when traffic leaves the primary, components/observability.py).

Missing data must never move traffic: `TreatMissingData = ignore` keeps an alarm's state when nobody
publishes (one publication flips a switch for good, the DR command need not keep publishing), and a
never-published alarm (INSUFFICIENT_DATA) counts as *Healthy* for primary-switch (the primary serves)
and *Unhealthy* for dr-ready (the DR region is not ready).

`arc`: a Route 53 ARC cluster (five regional data-plane endpoints; about $2.5 an hour), a control
panel and two routing controls, `primary-fenced` and `dr-ready`, read by RECOVERY_CONTROL checks.
Routing controls start Off: `primary-switch` is inverted (Off -> healthy), `dr-ready` is not (Off ->
unhealthy), so no initialisation step is needed. ARC's configuration API lives in us-west-2 (a
control plane: used here, at deploy time, never by the DR command).

Route 53 health checks are global: they go through the Route 53 provider passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.arguments import ArgProblem, require_valid

MODES = ("cloudwatch-alarm", "arc")
NAMESPACE = "hastack/TrafficControl"
PRIMARY_FENCED_METRIC = "PrimaryFenced"
DR_READY_METRIC = "DrReady"
DIMENSION = "Deployment"
#: Standard resolution: Route 53 does not accept alarms on high-resolution metrics or periods < 60 s.
PERIOD_SECONDS = 60
EVALUATION_PERIODS = 1
DEPLOYMENT = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
#: Region of ARC's configuration API (route53-recovery-control-config).
ARC_CONTROL_PLANE_REGION = "us-west-2"


@dataclass
class TrafficControlArgs:
    """Inputs of `TrafficControl`."""

    #: `cloudwatch-alarm` or `arc` (hastack:dr.trafficControl).
    mode: str
    #: `<project>/<stack>`: the metrics' dimension and part of every name.
    deployment: str
    #: Prefix of physical names, e.g. "hastack-prod".
    name_prefix: str
    #: The failover record (for the checks' Name tags).
    record_name: str
    primary_region: str
    #: The region that is up when the primary is not: the switches are flipped there.
    dr_region: str
    #: The DR region's provider (alarms live there).
    dr_provider: aws.Provider
    #: The provider Route 53 goes through (global service).
    route53_provider: aws.Provider

    def __post_init__(self) -> None:
        require_valid("TrafficControlArgs", self.problems())

    def problems(self) -> Iterator[ArgProblem]:
        if self.mode not in MODES:
            yield ArgProblem("mode", self.mode, f"one of {', '.join(MODES)}")
        if self.dr_region == self.primary_region:
            yield ArgProblem("dr_region", self.dr_region, f"a region other than the primary ({self.primary_region})")
        if not DEPLOYMENT.match(self.deployment):
            yield ArgProblem("deployment", self.deployment, "<project>/<stack> (a CloudWatch dimension value)")


class TrafficControl(pulumi.ComponentResource):
    """The two switches and the Route 53 checks that read them (see the module docstring)."""

    primary_switch: aws.route53.HealthCheck
    dr_ready: aws.route53.HealthCheck

    def __init__(self, name: str, args: TrafficControlArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:traffic:TrafficControl", name, None, opts)
        self._name, self._args = name, args
        self._r53 = pulumi.ResourceOptions(parent=self, provider=args.route53_provider)
        if args.mode == "arc":
            self.switches: dict[str, Any] = {"cloudwatchAlarm": None, "arc": self._arc()}
        else:
            self.switches = {"cloudwatchAlarm": self._alarms(), "arc": None}
        self.register_outputs({"mode": args.mode, "region": args.dr_region, **self.switches,
                               "primarySwitchHealthCheckId": self.primary_switch.id,
                               "drReadyHealthCheckId": self.dr_ready.id})

    def outputs(self, primary_gate: pulumi.Input[str], secondary_gate: pulumi.Input[str]) -> dict[str, Any]:
        """The `trafficControl` stack output, given the record gates built on these switches."""
        return {"mode": self._args.mode, "region": self._args.dr_region,
                "healthCheckIds": {"primarySwitch": self.primary_switch.id, "drReady": self.dr_ready.id,
                                   "primaryGate": primary_gate, "secondaryGate": secondary_gate},
                **self.switches}

    # -- cloudwatch-alarm ------------------------------------------------------------------------

    def _alarms(self) -> dict[str, Any]:
        args = self._args
        dr = pulumi.ResourceOptions(parent=self, provider=args.dr_provider)
        dimensions = {DIMENSION: args.deployment}
        fenced = aws.cloudwatch.MetricAlarm(
            f"{self._name}-primary-fenced",
            name=f"{args.name_prefix}-{args.dr_region}-primary-fenced",
            alarm_description=(f"Traffic switch of {args.deployment}: ALARM = traffic must leave the primary "
                               f"{args.primary_region} (PrimaryFenced = 1, published by `hastack dr`). Read by the "
                               "Route 53 check primary-switch; no actions: it is a switch, not a page."),
            namespace=NAMESPACE, metric_name=PRIMARY_FENCED_METRIC, dimensions=dimensions,
            statistic="Maximum", comparison_operator="GreaterThanOrEqualToThreshold", threshold=1,
            **self._switch_alarm_settings(), opts=dr)
        not_ready = aws.cloudwatch.MetricAlarm(
            f"{self._name}-dr-not-ready",
            name=f"{args.name_prefix}-{args.dr_region}-dr-not-ready",
            alarm_description=(f"Traffic switch of {args.deployment}: OK = the DR region {args.dr_region} can serve "
                               "(DrReady = 1, published by `hastack dr`). Read by the Route 53 check dr-ready; no "
                               "actions: it is a switch, not a page."),
            namespace=NAMESPACE, metric_name=DR_READY_METRIC, dimensions=dimensions,
            statistic="Minimum", comparison_operator="LessThanThreshold", threshold=1,
            **self._switch_alarm_settings(), opts=dr)
        self.primary_switch = self._alarm_check("primary-switch", fenced, "Healthy",
                                                "healthy while the primary is not fenced")
        self.dr_ready = self._alarm_check("dr-ready", not_ready, "Unhealthy", "healthy once the DR region is ready")
        return {"namespace": NAMESPACE, "dimensions": dimensions, "periodSeconds": PERIOD_SECONDS,
                "primaryFenced": {"metricName": PRIMARY_FENCED_METRIC, "alarmName": fenced.name},
                "drReady": {"metricName": DR_READY_METRIC, "alarmName": not_ready.name}}

    @staticmethod
    def _switch_alarm_settings() -> dict[str, Any]:
        """What both switch alarms share: standard resolution, one period, missing data keeps the state."""
        return {"period": PERIOD_SECONDS, "evaluation_periods": EVALUATION_PERIODS,
                "datapoints_to_alarm": EVALUATION_PERIODS, "treat_missing_data": "ignore",
                "actions_enabled": False}

    def _alarm_check(self, role: str, alarm: aws.cloudwatch.MetricAlarm, insufficient: str,
                     meaning: str) -> aws.route53.HealthCheck:
        args = self._args
        return aws.route53.HealthCheck(
            f"{self._name}-{role}",
            type="CLOUDWATCH_METRIC",
            cloudwatch_alarm_name=alarm.name,
            cloudwatch_alarm_region=args.dr_region,
            # What a never-published (INSUFFICIENT_DATA) alarm means: see the module docstring.
            insufficient_data_health_status=insufficient,
            tags={"Name": f"{args.record_name} {role} ({meaning})"},
            opts=self._r53,
        )

    # -- arc -------------------------------------------------------------------------------------

    def _arc(self) -> dict[str, Any]:
        args = self._args
        provider = aws.Provider(f"{self._name}-arc-aws", region=ARC_CONTROL_PLANE_REGION,
                                opts=pulumi.ResourceOptions(parent=self))
        arc = pulumi.ResourceOptions(parent=self, provider=provider)
        cluster = aws.route53recoverycontrol.Cluster(
            f"{self._name}-arc-cluster", name=f"{args.name_prefix}-traffic",
            tags={"hastack:deployment": args.deployment}, opts=arc)
        panel = aws.route53recoverycontrol.ControlPanel(
            f"{self._name}-arc-panel", name=f"{args.name_prefix}-traffic", cluster_arn=cluster.arn, opts=arc)
        controls = {
            role: aws.route53recoverycontrol.RoutingControl(
                f"{self._name}-arc-{role}", name=f"{args.name_prefix}-{role}", cluster_arn=cluster.arn,
                control_panel_arn=panel.arn, opts=arc)
            for role in ("primary-fenced", "dr-ready")}
        # Off -> inverted -> healthy: the primary serves until the DR command turns primary-fenced On.
        self.primary_switch = self._control_check("primary-switch", controls["primary-fenced"], invert=True,
                                                  meaning="healthy while routing control primary-fenced is Off")
        self.dr_ready = self._control_check("dr-ready", controls["dr-ready"], invert=False,
                                            meaning="healthy once routing control dr-ready is On")
        return {"clusterArn": cluster.arn, "controlPanelArn": panel.arn,
                "endpoints": cluster.cluster_endpoints.apply(
                    lambda eps: endpoints_in_order(eps or [], args.dr_region, args.primary_region)),
                "routingControlArns": {"primaryFenced": controls["primary-fenced"].arn,
                                       "drReady": controls["dr-ready"].arn}}

    def _control_check(self, role: str, control: aws.route53recoverycontrol.RoutingControl, invert: bool,
                       meaning: str) -> aws.route53.HealthCheck:
        return aws.route53.HealthCheck(
            f"{self._name}-{role}",
            type="RECOVERY_CONTROL",
            routing_control_arn=control.arn,
            invert_healthcheck=invert,
            tags={"Name": f"{self._args.record_name} {role} ({meaning})"},
            opts=self._r53,
        )


def endpoints_in_order(endpoints: list[Any], dr_region: str, primary_region: str) -> list[dict[str, str]]:
    """The ARC cluster's endpoints as the DR command tries them: the DR region's first, the primary's last."""
    pairs = [(_get(e, "region"), _get(e, "endpoint")) for e in endpoints]
    rank = {dr_region: 0, primary_region: 2}
    ordered = sorted(pairs, key=lambda p: (rank.get(p[0], 1), p[0]))
    return [{"region": region, "url": url} for region, url in ordered]


def _get(endpoint: Any, key: str) -> str:
    return str(endpoint.get(key) if isinstance(endpoint, dict) else getattr(endpoint, key))
