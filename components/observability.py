"""Observability: the alarms that page the on-call engineer, per region, and the topic they page through.

Why per region: when the primary region fails, its CloudWatch and SNS may fail with it, so the DR
region keeps its own paging topic (same subscriptions) and its own alarms.

What pages (every alarm's description names the runbook to open, `runbooks/<file>.md`):

* **SLO error-budget burn**, multi-window and multi-burn-rate (Google SRE workbook, ch. 5): the
  error budget is `1 - availability/100`; a *fast burn* is an error rate above 14.4x the budget over
  1 h AND over 5 min (2 % of a 30-day budget spent in an hour: pages within minutes, and stops paging
  minutes after the burn stops); a *slow burn* is 6x over 6 h AND over 30 min (5 % of the budget in
  6 h). Each window is a metric alarm; only the composite alarm (long AND short) has actions, so a
  5-minute spike alone never pages.
* Route 53 health-check status, target-group healthy hosts below the replica count, RDS replica lag
  above the RPO budget, ElastiCache Global Datastore replication lag above the RPO budget, node
  groups below their minimum, and RDS / ElastiCache failover and failure events.

The SLI (share of requests answered 2xx AND faster than `slo.latencyThresholdMs`) from ALB metrics
— an approximation, because CloudWatch has no per-request joint count of status and latency:

    requests  = RequestCount (Sum)                         every request the ALB received
    ok        = HTTPCode_Target_2XX_Count (Sum)            2xx answers from targets
    answered  = TargetResponseTime (SampleCount)           requests a target answered
    fastPct   = TargetResponseTime PR(:threshold-seconds)  % of those answered within the threshold
    slow      = answered * (100 - fastPct) / 100
    good      = ok - slow                                   (assumes every slow answer was a 2xx)
    errorPct  = 100 * (requests - good) / requests

`PR(:t)` (percentile rank) is used rather than the trimmed count `TC(:t)` because PutMetricAlarm
accepts `PR(n:m)` with absolute metric values but `TC` only with percentage bounds. `good` is a lower
bound (a slow 5xx is counted twice), so the error rate errs towards paging: a real burn is never
hidden, a burn made only of slow errors looks up to twice as fast. 4xx answers count as bad (the
SLI is "answered 2xx"). Each window is one alarm period (CloudWatch aggregates a period as one
bucket), so the 1 h / 6 h windows are the alarm's period, not a sliding sum of 1-minute points.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from components.arguments import ArgProblem, require_valid
from hastack.config import SloConfig, StackConfig, Subscription
from hastack.topology import Topology

if TYPE_CHECKING:
    from components.cache import CacheTier
    from components.database import DatabaseTier
    from components.dns import FailoverDns
    from components.region import Region

#: CloudWatch metrics of Route 53 health checks exist only in us-east-1.
ROUTE53_METRICS_REGION = "us-east-1"

#: RDS event categories (source type db-instance) that page: Multi-AZ failover, failure, lost
#: availability, recovery, replica problems, storage running out.
RDS_EVENT_CATEGORIES = ("availability", "failover", "failure", "low storage", "read replica", "recovery")

#: ElastiCache API calls that move the primary (drills, DR, operators): worth a note on the topic.
CACHE_FAILOVER_API_CALLS = ("TestFailover", "FailoverGlobalReplicationGroup", "DisassociateGlobalReplicationGroup")
#: Events ElastiCache sends to EventBridge itself that need an operator.
CACHE_SERVICE_EVENTS = ("Cache Update Failed", "Cache Limit Approaching", "Snapshot Creation Failed")

RUNBOOK_ERROR_BUDGET = "runbooks/error-budget-burn.md"
RUNBOOK_REGIONAL_FAILOVER = "runbooks/regional-failover.md"
RUNBOOK_DATABASE_FAILOVER = "runbooks/database-failover.md"
RUNBOOK_CACHE_FAILOVER = "runbooks/cache-failover.md"
RUNBOOK_AZ_LOSS = "runbooks/az-loss.md"
RUNBOOK_NODE_REPLACEMENT = "runbooks/node-replacement.md"


# ---------------------------------------------------------------------------------------------
# Pure helpers (tested without the engine)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BurnWindow:
    """One window of a multi-window burn-rate alert."""

    severity: str  # "fast" or "slow"
    label: str  # "1h", "5m", ...
    seconds: int
    burn_rate: float
    #: Error rate (percent of requests) that burns the budget `burn_rate` times too fast.
    threshold_percent: float


#: (severity, burn rate, long window, short window) — the SRE workbook's page-worthy pairs.
BURN_RATE_POLICY = (
    ("fast", 14.4, ("1h", 3600), ("5m", 300)),
    ("slow", 6.0, ("6h", 21600), ("30m", 1800)),
)


def error_budget(slo: SloConfig) -> float:
    """Allowed failure ratio (0.001 for 99.9 %)."""
    return 1.0 - slo.availability / 100.0


def burn_windows(slo: SloConfig) -> list[tuple[BurnWindow, BurnWindow]]:
    """(long, short) window pairs with thresholds derived from the SLO's error budget."""
    budget = error_budget(slo)
    pairs: list[tuple[BurnWindow, BurnWindow]] = []
    for severity, rate, (long_label, long_s), (short_label, short_s) in BURN_RATE_POLICY:
        # Rounded so that 14.4 x 0.1 % reads 1.44 and not 1.4399999999999977.
        percent = round(100.0 * rate * budget, 6)
        pairs.append((BurnWindow(severity, long_label, long_s, rate, percent),
                      BurnWindow(severity, short_label, short_s, rate, percent)))
    return pairs


def alarm_name(stack: str, region: str, what: str) -> str:
    """Deterministic alarm name `hastack-<stack>-<region>-<what>` (runbooks quote these)."""
    return f"hastack-{stack}-{region}-{what}"


def runbook_description(runbook: str, what: str) -> str:
    """Every alarm description starts with the runbook to open, then says what the alarm means."""
    return f"Runbook: {runbook} — {what}"


def sli_metric_queries(load_balancer: pulumi.Input[str], latency_threshold_ms: int,
                       period: int) -> list[dict[str, Any]]:
    """Metric-math queries whose returned series is the error rate in percent (see module docstring)."""
    threshold_s = f"{latency_threshold_ms / 1000:g}"

    def stat(qid: str, metric: str, statistic: str) -> dict[str, Any]:
        return {
            "id": qid,
            "return_data": False,
            "metric": {
                "namespace": "AWS/ApplicationELB",
                "metric_name": metric,
                "dimensions": {"LoadBalancer": load_balancer},
                "period": period,
                "stat": statistic,
            },
        }

    expression = ("IF(requests > 0, 100 * (requests - (FILL(ok, 0) - FILL(answered, 0) * "
                  "(100 - FILL(fastpct, 100)) / 100)) / requests, 0)")
    return [
        stat("requests", "RequestCount", "Sum"),
        stat("ok", "HTTPCode_Target_2XX_Count", "Sum"),
        stat("answered", "TargetResponseTime", "SampleCount"),
        stat("fastpct", "TargetResponseTime", f"PR(:{threshold_s})"),
        {"id": "errorpct", "expression": expression, "return_data": True,
         "label": f"% requests not (2xx and <= {latency_threshold_ms} ms)"},
    ]


# ---------------------------------------------------------------------------------------------
# Args
# ---------------------------------------------------------------------------------------------


@dataclass
class ServiceWatch:
    """A service behind the ALB: its target group must keep `min_healthy_hosts` healthy targets."""

    name: str
    min_healthy_hosts: int
    target_group_arn_suffix: pulumi.Input[str]


@dataclass
class NodeGroupWatch:
    """One per-AZ node group: its Auto Scaling group must keep `min_size` instances in service."""

    cluster_name: str
    az: str
    min_size: int
    autoscaling_group_name: pulumi.Input[str]


@dataclass
class HealthCheckWatch:
    """A Route 53 health check that must stay healthy (`label` goes into the alarm name)."""

    label: str
    health_check_id: pulumi.Input[str]
    runbook: str = RUNBOOK_REGIONAL_FAILOVER


@dataclass
class CacheWatch:
    """The region's ElastiCache replication group and, when it is a Global Datastore secondary, its lag."""

    replication_group_id: pulumi.Input[str]
    #: Member clusters are `<replication group id>-001` ... (ElastiCache's naming); the lag metric is
    #: reported per member, the alarm takes the maximum over them.
    member_count: int = 0
    #: True where GlobalDatastoreReplicationLag is reported (the secondary region).
    watch_replication_lag: bool = False


@dataclass
class ObservabilityArgs:
    """Inputs of `Observability`; everything but region, SLO and the paging topic is optional, so the
    component can watch whatever the region has."""

    region: str
    slo: SloConfig
    #: The region's paging topic (`paging_topics`): created before the data tiers, which notify it too.
    paging: PagingTopic
    #: Subscriptions of the extra us-east-1 topic for Route 53 alarms (when `region` is another).
    subscriptions: Sequence[Subscription] = ()
    #: ALB `arnSuffix` (`app/<name>/<id>`), the `LoadBalancer` dimension of ALB metrics.
    load_balancer_arn_suffix: pulumi.Input[str] | None = None
    services: Sequence[ServiceWatch] = ()
    node_groups: Sequence[NodeGroupWatch] = ()
    #: Alarms on these are created in us-east-1 (with a paging topic there if `region` is another).
    health_checks: Sequence[HealthCheckWatch] = ()
    #: RDS instances in this region whose failover / failure events page.
    db_instance_identifiers: Sequence[pulumi.Input[str]] = ()
    #: The cross-region read replica in this region (ReplicaLag must stay under the RPO budget).
    db_replica_identifier: pulumi.Input[str] | None = None
    cache: CacheWatch | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_valid("ObservabilityArgs", self.problems())

    def problems(self) -> Iterator[ArgProblem]:
        """Alarm names derive from service names, AZs and check labels: each must be unique, each floor >= 0."""
        for key, labels in (("services", [s.name for s in self.services]),
                            ("node_groups", [n.az for n in self.node_groups]),
                            ("health_checks", [c.label for c in self.health_checks])):
            for i, label in enumerate(labels):
                if label in labels[:i]:
                    yield ArgProblem(f"{key}[{i}]", label, "one entry each (it names an alarm)")
        for i, svc in enumerate(self.services):
            if svc.min_healthy_hosts < 0:
                yield ArgProblem(f"services[{i}].min_healthy_hosts", svc.min_healthy_hosts, "0 (no alarm) or more")
        for i, ng in enumerate(self.node_groups):
            if ng.min_size < 0:
                yield ArgProblem(f"node_groups[{i}].min_size", ng.min_size, "0 (no alarm) or more")


# ---------------------------------------------------------------------------------------------
# Component
# ---------------------------------------------------------------------------------------------


class PagingTopic(pulumi.ComponentResource):
    """A KMS-encrypted SNS topic that CloudWatch, EventBridge, RDS and ElastiCache may publish to.

    Why a customer-managed key: CloudWatch alarms cannot publish to a topic encrypted with the
    AWS-managed `alias/aws/sns` key (its policy cannot grant the service principals).
    """

    def __init__(self, name: str, topic_name: str, subscriptions: Sequence[Subscription],
                 tags: dict[str, str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:observability:PagingTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        publishers = ["cloudwatch.amazonaws.com", "events.amazonaws.com", "events.rds.amazonaws.com",
                      "elasticache.amazonaws.com"]
        key_policy = pulumi.Output.json_dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "AccountAdministers", "Effect": "Allow",
                 "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account, ":root")},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "AlertPublishersEncrypt", "Effect": "Allow",
                 "Principal": {"Service": publishers},
                 "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
                 "Condition": {"StringEquals": {"aws:SourceAccount": account}}},
            ],
        })
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the {topic_name} paging topic",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=key_policy,
            tags=tags,
            opts=child,
        )
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=topic_name,
            display_name=topic_name,
            kms_master_key_id=self.key.arn,
            tags=tags,
            opts=child,
        )
        self.arn = self.topic.arn
        self.policy = aws.sns.TopicPolicy(
            f"{name}-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.json_dumps({
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "AccountManages", "Effect": "Allow",
                     "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account, ":root")},
                     "Action": ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes",
                                "sns:SetTopicAttributes", "sns:ListSubscriptionsByTopic"],
                     "Resource": self.topic.arn},
                    {"Sid": "AlertPublishers", "Effect": "Allow", "Principal": {"Service": publishers},
                     "Action": "sns:Publish", "Resource": self.topic.arn,
                     "Condition": {"StringEquals": {"aws:SourceAccount": account}}},
                ],
            }),
            opts=child,
        )
        self.subscriptions = []
        for i, sub in enumerate(subscriptions):
            # An https endpoint (an incident tool's webhook) usually embeds its integration key.
            endpoint: pulumi.Input[str] = (pulumi.Output.secret(sub.endpoint) if sub.protocol == "https"
                                           else sub.endpoint)
            self.subscriptions.append(aws.sns.TopicSubscription(
                f"{name}-sub-{i}",
                topic=self.topic.arn,
                protocol=sub.protocol,
                endpoint=endpoint,
                opts=child,
            ))
        self.register_outputs({"arn": self.topic.arn, "keyArn": self.key.arn})


class Observability(pulumi.ComponentResource):
    """Every alarm of one region, paging through that region's topic (see the module docstring)."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:observability:Observability", name, None, opts)
        self.args = args
        self.stack = pulumi.get_stack()
        self.region = args.region
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm | aws.cloudwatch.CompositeAlarm] = {}
        self.event_resources: list[pulumi.Resource] = []

        self.paging = args.paging
        self.topic_arn = self.paging.arn
        #: region -> paging topic ARN (the extra us-east-1 topic appears only when needed).
        self.topic_arns: dict[str, pulumi.Output[str]] = {args.region: self.paging.arn}

        if args.load_balancer_arn_suffix is not None:
            self._burn_rate_alarms(name, args.load_balancer_arn_suffix)
        for svc in args.services:
            self._healthy_hosts_alarm(name, svc)
        for ng in args.node_groups:
            self._node_group_alarm(name, ng)
        if args.health_checks:
            self._health_check_alarms(name, args.health_checks)
        if args.db_instance_identifiers:
            self._db_events(name, args.db_instance_identifiers)
        if args.db_replica_identifier is not None:
            self._replica_lag_alarm(name, args.db_replica_identifier)
        if args.cache is not None:
            self._cache_alarms(name, args.cache)

        self.alarm_names = sorted(self.alarms)
        self.register_outputs({
            "topicArn": self.paging.arn,
            "topicArns": self.topic_arns,
            "alarmNames": self.alarm_names,
        })

    # -- helpers ------------------------------------------------------------------------------

    def _alarm_name(self, what: str, region: str | None = None) -> str:
        return alarm_name(self.stack, region or self.region, what)

    def _child(self, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **extra)

    def _metric_alarm(self, name: str, what: str, runbook: str, meaning: str, *,
                      topic_arn: pulumi.Input[str] | None = None, paging: bool = True,
                      opts: pulumi.ResourceOptions | None = None, **kwargs: Any) -> aws.cloudwatch.MetricAlarm:
        alarm_region = kwargs.pop("alarm_region", None)
        full = self._alarm_name(what, alarm_region)
        topic = topic_arn if topic_arn is not None else self.paging.arn
        alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-{what}",
            name=full,
            alarm_description=runbook_description(runbook, meaning),
            # Window alarms of a burn-rate pair keep the topic as their action but with actions
            # disabled: they exist to feed the composite alarm, which alone pages.
            actions_enabled=paging,
            alarm_actions=[topic],
            ok_actions=[topic],
            tags=self.args.tags,
            opts=opts or self._child(),
            **kwargs,
        )
        self.alarms[full] = alarm
        return alarm

    # -- SLO burn rate ------------------------------------------------------------------------

    def _burn_rate_alarms(self, name: str, load_balancer: pulumi.Input[str]) -> None:
        slo = self.args.slo
        for long, short in burn_windows(slo):
            windows = []
            for w in (long, short):
                windows.append(self._metric_alarm(
                    name, f"slo-burn-{w.severity}-{w.label}", RUNBOOK_ERROR_BUDGET,
                    f"{w.label} window of the {w.severity}-burn page (actions disabled: the composite alarm "
                    f"{self._alarm_name('slo-burn-' + w.severity)} pages when both windows breach). "
                    f"Error rate above {w.threshold_percent:g} % = {w.burn_rate:g}x the error budget of "
                    f"SLO {slo.availability:g} % (2xx within {slo.latency_threshold_ms} ms).",
                    paging=False,
                    comparison_operator="GreaterThanThreshold",
                    threshold=w.threshold_percent,
                    evaluation_periods=1,
                    datapoints_to_alarm=1,
                    treat_missing_data="notBreaching",
                    metric_queries=sli_metric_queries(load_balancer, slo.latency_threshold_ms, w.seconds),
                ))
            composite = self._alarm_name(f"slo-burn-{long.severity}")
            rule = " AND ".join(f'ALARM("{self._alarm_name(f"slo-burn-{w.severity}-{w.label}")}")'
                                for w in (long, short))
            budget_share = "2 %" if long.severity == "fast" else "5 %"
            self.alarms[composite] = aws.cloudwatch.CompositeAlarm(
                f"{name}-slo-burn-{long.severity}",
                alarm_name=composite,
                alarm_description=runbook_description(
                    RUNBOOK_ERROR_BUDGET,
                    f"{long.severity} error-budget burn: error rate above {long.threshold_percent:g} % "
                    f"({long.burn_rate:g}x the budget of SLO {slo.availability:g} %) over {long.label} AND "
                    f"{short.label} — {budget_share} of the 30-day budget gone in {long.label}."),
                alarm_rule=rule,
                alarm_actions=[self.paging.arn],
                ok_actions=[self.paging.arn],
                tags=self.args.tags,
                opts=self._child(depends_on=windows),
            )

    # -- capacity -----------------------------------------------------------------------------

    def _healthy_hosts_alarm(self, name: str, svc: ServiceWatch) -> None:
        if svc.min_healthy_hosts <= 0 or self.args.load_balancer_arn_suffix is None:
            return
        self._metric_alarm(
            name, f"{svc.name}-healthy-hosts", RUNBOOK_AZ_LOSS,
            f"target group of service {svc.name} has fewer than {svc.min_healthy_hosts} healthy targets "
            "(its replica count) for 5 minutes: pods lost with a node or an AZ, or failing readiness.",
            namespace="AWS/ApplicationELB",
            metric_name="HealthyHostCount",
            dimensions={"TargetGroup": svc.target_group_arn_suffix,
                        "LoadBalancer": self.args.load_balancer_arn_suffix},
            statistic="Minimum",
            period=60,
            evaluation_periods=5,
            datapoints_to_alarm=5,
            comparison_operator="LessThanThreshold",
            threshold=svc.min_healthy_hosts,
            treat_missing_data="breaching",
        )

    def _node_group_alarm(self, name: str, ng: NodeGroupWatch) -> None:
        """Fewer instances in service than the group's minimum, from the ASG's group metrics.

        EKS creates a managed node group's Auto Scaling group without group metrics, and neither the
        EKS API nor a launch template can turn them on (no Pulumi/Terraform resource enables them on
        an ASG it doesn't own). Missing data is therefore *missing*: the alarm stays
        INSUFFICIENT_DATA until the runbook's one-time `enable-metrics-collection`, instead of
        paging for every new node group. Once enabled, an empty group still reports 0 and pages.
        """
        if ng.min_size <= 0:
            return  # a pilot-light group at 0 has no floor to fall below
        self._metric_alarm(
            name, f"nodes-below-min-{ng.az}", RUNBOOK_NODE_REPLACEMENT,
            f"the {ng.az} node group of cluster {ng.cluster_name} has fewer than {ng.min_size} instances in "
            "service for 10 minutes "
            "(instances failing to launch or be replaced in that AZ; if the whole AZ is impaired see "
            f"{RUNBOOK_AZ_LOSS}). Reads the ASG's group metrics, which EKS leaves off: INSUFFICIENT_DATA "
            "means they are not enabled yet (one-time step in the runbook's pre-checks), not that nodes are "
            "missing.",
            namespace="AWS/AutoScaling",
            metric_name="GroupInServiceInstances",
            dimensions={"AutoScalingGroupName": ng.autoscaling_group_name},
            statistic="Minimum",
            period=60,
            evaluation_periods=10,
            datapoints_to_alarm=10,
            comparison_operator="LessThanThreshold",
            threshold=ng.min_size,
            treat_missing_data="missing",
        )

    # -- Route 53 -----------------------------------------------------------------------------

    def _health_check_alarms(self, name: str, checks: Sequence[HealthCheckWatch]) -> None:
        topic: pulumi.Input[str] = self.paging.arn
        opts = self._child()
        if self.region != ROUTE53_METRICS_REGION:
            # Route 53 publishes health-check metrics only in us-east-1, and an alarm can only notify a
            # topic in its own region: both live there, through a provider for that region.
            provider = aws.Provider(f"{name}-route53-metrics-aws", region=ROUTE53_METRICS_REGION,
                                    opts=self._child())
            opts = self._child(providers={"aws": provider})
            extra = PagingTopic(f"{name}-route53-paging", self._alarm_name("alerts", ROUTE53_METRICS_REGION),
                                self.args.subscriptions, self.args.tags, opts=opts)
            topic = extra.arn
            self.topic_arns[ROUTE53_METRICS_REGION] = extra.arn
        for check in checks:
            self._metric_alarm(
                name, f"route53-{check.label}", check.runbook,
                f"Route 53 health check {check.label} has been unhealthy for 2 minutes.",
                topic_arn=topic,
                opts=opts,
                alarm_region=ROUTE53_METRICS_REGION,
                namespace="AWS/Route53",
                metric_name="HealthCheckStatus",
                dimensions={"HealthCheckId": check.health_check_id},
                statistic="Minimum",
                period=60,
                evaluation_periods=2,
                datapoints_to_alarm=2,
                comparison_operator="LessThanThreshold",
                threshold=1,
                treat_missing_data="breaching",
            )

    # -- data tiers ---------------------------------------------------------------------------

    def _db_events(self, name: str, identifiers: Sequence[pulumi.Input[str]]) -> None:
        self.db_events = aws.rds.EventSubscription(
            f"{name}-db-events",
            name=self._alarm_name("db-events"),
            sns_topic=self.paging.arn,
            source_type="db-instance",
            source_ids=list(identifiers),
            event_categories=list(RDS_EVENT_CATEGORIES),
            enabled=True,
            tags=self.args.tags,
            opts=self._child(),
        )
        self.event_resources.append(self.db_events)

    def _replica_lag_alarm(self, name: str, replica: pulumi.Input[str]) -> None:
        rpo = self.args.slo.rpo_seconds
        self._metric_alarm(
            name, "db-replica-lag", RUNBOOK_DATABASE_FAILOVER,
            f"the cross-region RDS replica is more than {rpo:g} s (the RPO budget) behind the primary for "
            "3 minutes: a regional failover now would lose more data than allowed. Missing data counts as "
            "breaching (a replica that reports no lag is not replicating).",
            namespace="AWS/RDS",
            metric_name="ReplicaLag",
            dimensions={"DBInstanceIdentifier": replica},
            statistic="Maximum",
            period=60,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            comparison_operator="GreaterThanThreshold",
            threshold=rpo,
            treat_missing_data="breaching",
        )

    def _cache_alarms(self, name: str, cache: CacheWatch) -> None:
        if cache.watch_replication_lag and cache.member_count > 0:
            rpo = self.args.slo.rpo_seconds
            members = [pulumi.Output.concat(cache.replication_group_id, f"-{i:03d}")
                       for i in range(1, cache.member_count + 1)]
            queries: list[dict[str, Any]] = [
                {"id": f"m{i}", "return_data": False, "metric": {
                    "namespace": "AWS/ElastiCache", "metric_name": "GlobalDatastoreReplicationLag",
                    "dimensions": {"CacheClusterId": member}, "period": 60, "stat": "Maximum"}}
                for i, member in enumerate(members, start=1)
            ]
            ids = ", ".join(q["id"] for q in queries)
            queries.append({"id": "lag", "expression": f"MAX([{ids}])", "return_data": True,
                            "label": "Global Datastore replication lag (s), worst member"})
            self._metric_alarm(
                name, "cache-replication-lag", RUNBOOK_CACHE_FAILOVER,
                f"the Global Datastore secondary is more than {rpo:g} s (the RPO budget) behind the primary "
                "for 3 minutes.",
                comparison_operator="GreaterThanThreshold",
                threshold=rpo,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                treat_missing_data="missing",
                metric_queries=queries,
            )
        # Failovers started through the API (drills, DR, operators) and service-side failures, from
        # EventBridge; automatic failovers reach the topic as the replication group's notifications.
        pattern = {
            "source": ["aws.elasticache"],
            "$or": [
                {"detail-type": list(CACHE_SERVICE_EVENTS)},
                {"detail-type": ["AWS API Call via CloudTrail"],
                 "detail": {"eventSource": ["elasticache.amazonaws.com"],
                            "eventName": list(CACHE_FAILOVER_API_CALLS)}},
            ],
        }
        self.cache_rule = aws.cloudwatch.EventRule(
            f"{name}-cache-events",
            name=self._alarm_name("cache-events"),
            description=runbook_description(RUNBOOK_CACHE_FAILOVER,
                                            "ElastiCache failover API calls and failures in this region."),
            event_pattern=json.dumps(pattern),
            tags=self.args.tags,
            opts=self._child(),
        )
        self.cache_target = aws.cloudwatch.EventTarget(
            f"{name}-cache-events-page",
            rule=self.cache_rule.name,
            arn=self.paging.arn,
            opts=self._child(),
        )
        self.event_resources += [self.cache_rule, self.cache_target]


# ---------------------------------------------------------------------------------------------
# Wiring: what each region's Observability watches, from the components of the stack
# ---------------------------------------------------------------------------------------------


def paging_topics(subscriptions: Sequence[Subscription], regions: Sequence[Region]) -> dict[str, PagingTopic]:
    """Region -> its paging topic `hastack-<stack>-<region>-alerts`, created before the data tiers.

    Why before: ElastiCache sends its automatic-failover events to a topic named on the replication
    group itself, so the topic must exist when the cache tier is declared; the alarms that page
    through it come last (`stack_observability`). The topic used to be a child of the region's
    Observability: the alias keeps its URN's history, so an existing topic is adopted, not replaced.
    """
    out: dict[str, PagingTopic] = {}
    for region in regions:
        watcher = f"{region.role}-obs"
        former_parent = pulumi.create_urn(watcher, "hastack:observability:Observability", parent=region)
        out[region.region] = PagingTopic(
            f"{watcher}-paging", alarm_name(pulumi.get_stack(), region.region, "alerts"), subscriptions, {},
            opts=pulumi.ResourceOptions(parent=region, providers={"aws": region.provider},
                                        aliases=[pulumi.Alias(parent=former_parent)]))
    return out


def stack_observability(config: StackConfig, topology: Topology, regions: Sequence[Region], database: DatabaseTier,
                        cache: CacheTier, dns: FailoverDns, paging: dict[str, PagingTopic]) -> dict[str, Observability]:
    """One `Observability` per region, watching what that region runs.

    * SLO burn rate on each region's ALB (an idle pilot-light ALB reports no requests: no alarm);
    * healthy hosts per service and nodes per AZ only where a floor exists: the active region's
      services at their replica count, node groups with a minimum above 0;
    * Route 53: the active region's ALB check, and (until a failover) the primary gate — both in
      us-east-1, hosted by the Observability of that region or, if neither region is us-east-1, the
      primary's (which then adds a paging topic there);
    * RDS events for each region's instance, replica lag where the replica lives (until a failover
      promotes it); Global Datastore lag where the secondary lives; ElastiCache events everywhere.
    """
    route53_host = next((r for r in regions if r.region == ROUTE53_METRICS_REGION),
                        next(r for r in regions if r.role == "primary"))
    active_region = topology.active_region
    checks = [HealthCheckWatch(f"alb-{active_region}", dns.health_checks[active_region].id)]
    if not topology.failed_over:
        checks.append(HealthCheckWatch("primary-gate", dns.gate.id))
    db_instance = {"primary": database.primary_instance, "dr": database.dr_instance}
    cache_group = {"primary": cache.primary_group, "dr": cache.dr_group}
    cache_reader_region = cache.reader_site.region
    out: dict[str, Observability] = {}
    for region in regions:
        active = topology.serves(region.role)
        services = [ServiceWatch(svc.name, svc.replicas if active else 0,
                                 region.ingress.target_groups[svc.name].arn_suffix)
                    for svc in config.services]
        node_groups = [NodeGroupWatch(region.cluster_name, ng.az, ng.size.min_size, ng.asg_name)
                       for ng in region.node_groups]
        replica = (database.replica.identifier
                   if not topology.failed_over and database.replica_site.region == region.region else None)
        args = ObservabilityArgs(
            region=region.region,
            slo=config.slo,
            paging=paging[region.region],
            subscriptions=config.alerting.subscriptions,
            load_balancer_arn_suffix=region.ingress.load_balancer.arn_suffix,
            services=services,
            node_groups=node_groups,
            health_checks=checks if region is route53_host else (),
            db_instance_identifiers=[db_instance[region.role].identifier],
            db_replica_identifier=replica,
            cache=CacheWatch(cache_group[region.role].replication_group_id, member_count=config.az_count,
                             watch_replication_lag=region.region == cache_reader_region),
        )
        out[region.region] = Observability(
            f"{region.role}-obs", args,
            opts=pulumi.ResourceOptions(parent=region, providers={"aws": region.provider}))
    return out


def alarm_topic_arns(observability: dict[str, Observability]) -> dict[str, pulumi.Output[str]]:
    """The `alarmTopicArns` stack output: region -> paging topic ARN (us-east-1 too when it hosts one)."""
    return {region: arn for o in observability.values() for region, arn in o.topic_arns.items()}
