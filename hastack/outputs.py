"""The stack outputs contract: what `__main__.py` exports, and all that `hastack dr` reads.

One set of pydantic models is the contract's only copy: `__main__.py` builds `StackOutputs` from
the program's values and exports its dump (`export_stack_outputs`); the DR command validates an
outputs file against the same model (`hastack.dr.outputs`); the README's "Stack outputs" table is
generated from the models' fields (`python -m hastack.outputs --write`; tests/test_outputs_doc.py
keeps it equal).

Why the DR command reads only outputs: during a regional outage the operator may have no working
state backend, no checkout, no access to the primary region. A JSON file saved from
`pulumi stack output --json --show-secrets` (or `build/outputs-<stack>.json` from `make plan`)
names every resource the command touches.

Choices, and why:
- camelCase keys on the wire (the Pulumi convention), snake_case attributes in Python.
- `strict`: every value has its JSON type; `"2"` is not a number, `true` is not 1.
- `extra="forbid"`: a key the model does not know is an error. The outputs are written by this
  repository's program and read by the same version's DR command; an unknown key means the file is
  hand-edited or comes from another version of the contract, for instance one whose extra output
  (a lease to revoke) this command would silently ignore at the worst moment.
- frozen: the DR command never changes what the stack exported.
- no output is secret: the outputs file is copied to on-call laptops for the 3 a.m. case.

To add an output: add a field to `StackOutputs` (or to a nested model) with `output(...)`'s
description and "used by", pass its value to `export_stack_outputs` in `__main__.py`, add any
cross-field rule to `StackOutputs._problems`, then run `python -m hastack.outputs --write` (the
README table) and `python -m tests.golden_plans --write` (the plan changes). Consumers read it as
an attribute (`outputs.coordination.table_name`).

Importable without the Pulumi SDK: only `export_stack_outputs` imports it, when called.
"""

from __future__ import annotations

import argparse
import json
import operator
import re
import sys
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from hastack import coordination
from hastack.errors import UserError
from hastack.paths import REPO_ROOT
from hastack.validation import Kind, Problem, fields_of, json_type, problem_lines, raise_problems, shape

# ---------------------------------------------------------------------------------------------
# Constrained types
# ---------------------------------------------------------------------------------------------

AwsRegion = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$"),
                      Kind("region", "an AWS region such as us-east-1")]
AvailabilityZone = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$"),
                             Kind("az", "an Availability Zone name such as us-east-1a")]
Arn = Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{0,12}:\S+$"),
                Kind("arn", "an ARN (arn:aws:<service>:<region>:<account>:<resource>)")]
ResourceId = Annotated[str, StringConstraints(pattern=r"^\S+$"),
                       Kind("id", "a non-empty identifier without spaces")]
HostName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?$"),
                     Kind("host", "a DNS host name")]
ServiceName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
                        Kind("service", "a service name (a DNS label: lowercase letters, digits, '-')")]
DbInstanceClass = Annotated[str, StringConstraints(pattern=r"^db\.[a-z0-9-]+\.[a-z0-9]+$"),
                            Kind("class", "an RDS instance class such as db.r6g.large")]
MetricName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/#:-]*$", max_length=255),
                      Kind("name", "a CloudWatch name (letters, digits, ' ._/#:-')")]
AlarmName = Annotated[str, StringConstraints(pattern=r"^\S+$", max_length=255),
                      Kind("alarm", "a CloudWatch alarm name without spaces")]
HttpsUrl = Annotated[str, StringConstraints(pattern=r"^https://[A-Za-z0-9.-]+(:\d+)?(/\S*)?$"),
                     Kind("url", "an https:// URL")]
SqlName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$"),
                    Kind("table", "a PostgreSQL table name such as hastack_heartbeat")]
Resolver = Annotated[str, StringConstraints(
    pattern=r"^(\[[0-9A-Fa-f:.]+\](:\d+)?|[0-9.]+(:\d+)?|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*)$"),
                     Kind("resolver", "a resolver address ip[:port] ([ipv6]:port)")]
Seconds = Annotated[int | float, Field(gt=0)]
Size = Annotated[int, Field(ge=0)]


def output(description: str, used_by: str, **kwargs: Any) -> Any:
    """A top-level stack output: what it means and who reads it (both go to the README table)."""
    return Field(description=description, json_schema_extra={"usedBy": used_by}, **kwargs)


class _Contract(BaseModel):
    """The common model config of the contract (see the module docstring for each choice)."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True, extra="forbid", strict=True, frozen=True)


# ---------------------------------------------------------------------------------------------
# Nested models
# ---------------------------------------------------------------------------------------------


class Service(_Contract):
    """A model-serving service."""

    name: ServiceName = Field(description="Kubernetes Service / Deployment name.")
    port: int = Field(ge=1, le=65535, description="Container port.")
    node_port: int = Field(ge=30000, le=32767, description="Fixed NodePort the ALB's target group targets.")
    replicas: int = Field(ge=1, description="Production replica count (healthy targets needed per service).")


class Cluster(_Contract):
    """An EKS cluster."""

    name: ResourceId = Field(description="EKS cluster name.")
    arn: Arn = Field(description="EKS cluster ARN.")


def _sizes_problems(low: tuple[str, int], mid: tuple[str, int], high: tuple[str, int]) -> list[Problem]:
    """min <= desired <= max, reported at the field that breaks it."""
    out = []
    if mid[1] < low[1]:
        out.append(Problem((mid[0],), mid[1], f"should be >= {low[0]} ({low[1]})"))
    if mid[1] > high[1]:
        out.append(Problem((mid[0],), mid[1], f"should be <= {high[0]} ({high[1]})"))
    return out


class NodeGroup(_Contract):
    """A managed node group as deployed now."""

    name: ResourceId = Field(description="EKS managed node group name.")
    az: AvailabilityZone = Field(description="The one AZ the node group's subnets are in.")
    cluster_name: ResourceId = Field(description="The EKS cluster it belongs to.")
    min_size: Size = Field(description="Deployed minimum size.")
    desired_size: Size = Field(description="Deployed desired size.")
    max_size: Size = Field(description="Deployed maximum size.")

    @model_validator(mode="after")
    def _ordered(self) -> NodeGroup:
        raise_problems("NodeGroup", _sizes_problems(("minSize", self.min_size), ("desiredSize", self.desired_size),
                                                    ("maxSize", self.max_size)))
        return self


class DrNodeGroup(_Contract):
    """A DR node group and the production size `hastack dr scale-up` brings it to."""

    cluster_name: ResourceId = Field(description="The DR region's EKS cluster.")
    name: ResourceId = Field(description="EKS managed node group name.")
    az: AvailabilityZone = Field(description="The one AZ the node group's subnets are in.")
    prod_min_size: Size = Field(description="Minimum size in production (the primary's per-AZ minimum).")
    prod_desired_size: Size = Field(description="Desired size in production.")
    prod_max_size: Size = Field(description="Maximum size in production.")

    @model_validator(mode="after")
    def _ordered(self) -> DrNodeGroup:
        raise_problems("DrNodeGroup", _sizes_problems(
            ("prodMinSize", self.prod_min_size), ("prodDesiredSize", self.prod_desired_size),
            ("prodMaxSize", self.prod_max_size)))
        return self


class DbInstance(_Contract):
    """An RDS PostgreSQL instance, named by the region it was built in."""

    region: AwsRegion = Field(description="Region the instance was built in.")
    identifier: ResourceId = Field(description="DB instance identifier.")
    arn: Arn = Field(description="DB instance ARN.")
    endpoint: HostName = Field(description="Instance endpoint host name (port 5432).")


class DbPrimary(DbInstance):
    """The primary region's Multi-AZ instance and its RDS Proxy."""

    proxy_endpoint: HostName = Field(description="RDS Proxy endpoint host name (what the services connect to).")


class Database(_Contract):
    """RDS PostgreSQL across the two regions."""

    primary: DbPrimary = Field(description="The primary region's Multi-AZ instance.")
    replica: DbInstance = Field(description="The DR region's cross-region read replica (what a failover promotes).")
    prod_instance_class: DbInstanceClass = Field(description="The class the promoted replica is resized to.")


class CacheMember(_Contract):
    """A member replication group of the Global Datastore."""

    region: AwsRegion = Field(description="Region the replication group was built in.")
    replication_group_id: ResourceId = Field(description="ElastiCache replication group id.")


class Cache(_Contract):
    """ElastiCache (Valkey) Global Datastore."""

    global_datastore_id: ResourceId = Field(description="Global Datastore (global replication group) id.")
    primary: CacheMember = Field(description="The primary region's member.")
    secondary: CacheMember = Field(description="The DR region's member (what a failover promotes).")


class Ingress(_Contract):
    """A region's internet-facing ALB."""

    alb_arn: Arn = Field(description="ALB ARN.")
    alb_dns_name: HostName = Field(description="ALB DNS name (what the failover records alias).")
    alb_zone_id: ResourceId = Field(description="ALB canonical hosted zone id (for alias records).")
    target_group_arns: dict[ServiceName, Arn] = Field(
        description="Per-service target group (instance targets on the service's NodePort).")


class Dns(_Contract):
    """Route 53 failover routing."""

    hosted_zone_id: ResourceId = Field(description="Hosted zone of the record.")
    record_name: HostName = Field(description="The failover record clients resolve.")
    health_check_ids: dict[AwsRegion, ResourceId] = Field(
        description="HTTPS health check on each region's ALB.")
    resolvers: list[Resolver] = Field(
        description="Resolvers (ip[:port]) the DR command resolves `recordName` through to verify a cutover "
                    "(`dr.dnsResolvers`); empty: the system resolver.")


class Deployment(_Contract):
    """The deployment's identity: one lock, one lease and one set of metrics per (project, stack)."""

    project: ResourceId = Field(description="Pulumi project name.")
    stack: ResourceId = Field(description="Pulumi stack name.")

    @property
    def id(self) -> str:
        """`<project>/<stack>`, as in the coordination keys and the traffic metrics' dimension."""
        return coordination.deployment_id(self.project, self.stack)


class AlarmSwitch(_Contract):
    """One switch of the cloudwatch-alarm mode: a metric the DR command publishes and the alarm on it."""

    metric_name: MetricName = Field(description="Metric the DR command publishes (PutMetricData, DR region).")
    alarm_name: AlarmName = Field(description="Alarm on it (DescribeAlarms in the DR region reads its state).")


class CloudWatchAlarmSwitches(_Contract):
    """`trafficControl.mode: cloudwatch-alarm`: two metrics in the DR region, each watched by an alarm.

    `PrimaryFenced` 1 = traffic must leave the primary (its alarm in ALARM), 0 = the primary may serve.
    `DrReady` 1 = the DR region can serve (its `dr-not-ready` alarm OK), 0 = it cannot (ALARM).
    Alarms keep their state when nobody publishes (TreatMissingData ignore): one publication flips a switch.
    """

    namespace: MetricName = Field(description="CloudWatch namespace of both metrics.")
    dimensions: dict[MetricName, MetricName] = Field(description="Dimensions to publish with (the deployment).")
    period_seconds: Literal[60] = Field(description="Alarm period: standard resolution (Route 53 refuses "
                                                    "high-resolution alarms).")
    primary_fenced: AlarmSwitch = Field(description="`PrimaryFenced`: ALARM = traffic must leave the primary.")
    dr_ready: AlarmSwitch = Field(description="`DrReady`: OK = the DR region can serve (alarm `dr-not-ready`).")


class ArcEndpoint(_Contract):
    """One regional endpoint of the ARC cluster's data plane."""

    region: AwsRegion = Field(description="Region of the endpoint.")
    url: HttpsUrl = Field(description="Endpoint URL for `route53-recovery-cluster` calls.")


class RoutingControls(_Contract):
    """The two ARC routing controls (On/Off)."""

    primary_fenced: Arn = Field(description="On = traffic must leave the primary.")
    dr_ready: Arn = Field(description="On = the DR region can serve.")


class ArcSwitches(_Contract):
    """`trafficControl.mode: arc`: Route 53 ARC routing controls, flipped through the cluster's endpoints."""

    cluster_arn: Arn = Field(description="ARC cluster (five regional data-plane endpoints; about $2.5 an hour).")
    control_panel_arn: Arn = Field(description="Control panel holding the routing controls.")
    endpoints: list[ArcEndpoint] = Field(
        description="Cluster endpoints; try them in turn (never one in the primary region first), each bounded.",
        min_length=1)
    routing_control_arns: RoutingControls = Field(description="The routing controls.")


class TrafficHealthChecks(_Contract):
    """The Route 53 health checks that turn the switches into routing."""

    primary_switch: ResourceId = Field(description="Healthy while the primary is not fenced.")
    dr_ready: ResourceId = Field(description="Healthy once the DR region is declared ready.")
    primary_gate: ResourceId = Field(description="CALCULATED [primary ALB check, primary-switch]: guards PRIMARY.")
    secondary_gate: ResourceId = Field(description="CALCULATED [DR ALB check, dr-ready]: guards SECONDARY.")


class TrafficControl(_Contract):
    """How the DR command moves traffic: pre-built switches flipped through the DR region's data plane."""

    mode: Literal["cloudwatch-alarm", "arc"] = Field(description="`cloudwatch-alarm` or `arc`.")
    region: AwsRegion = Field(description="Where the switches are flipped (the DR region).")
    health_check_ids: TrafficHealthChecks = Field(description="The switch checks and the gates of both records.")
    cloudwatch_alarm: CloudWatchAlarmSwitches | None = Field(description="The alarm switches (mode "
                                                                         "cloudwatch-alarm), else null.")
    arc: ArcSwitches | None = Field(description="The routing controls (mode arc), else null.")


class Coordination(_Contract):
    """The DynamoDB table holding the writers' lease, the DR lock and the run journals."""

    table_name: ResourceId = Field(description="Table name.")
    home_region: AwsRegion = Field(description="Region the table is created in (the DR region).")
    replica_regions: list[AwsRegion] = Field(description="Other replicas (the primary region for MRSC).")
    witness_region: AwsRegion | None = Field(description="The MRSC witness region, or null (single-region table).")
    consistency: Literal["STRONG", "single-region"] = Field(
        description="`STRONG` (MRSC: majority of primary, DR, witness) or `single-region` (trade-off in "
                    "docs/lease-contract.md).")
    key_attribute: ResourceId = Field(description="The partition key attribute (string).")
    lease_key: ResourceId = Field(description="Key of the writers' lease item.")
    lock_key: ResourceId = Field(description="Key of the DR command's lock item.")
    journal_key_prefix: ResourceId = Field(description="Key prefix of a run's journal item (the run id follows).")
    lease_seconds: Seconds = Field(description="How long a lease lasts after the read that renewed it.")
    lease_renew_seconds: Seconds = Field(description="How often writers renew (<= leaseSeconds / 3).")


class Heartbeat(_Contract):
    """What keeps `ReplicaLag` a measure of data on an idle primary (components/heartbeat.py)."""

    writer: Literal["kubernetes-deployment"] = Field(description="What writes it: a Deployment in each region.")
    namespace: ServiceName = Field(description="Kubernetes namespace of the Deployment.")
    deployment_name: ServiceName = Field(description="The Deployment (one pod per AZ) in each region's cluster.")
    regions: list[AwsRegion] = Field(description="Regions running it; only where the database is not in recovery "
                                                 "does it write.")
    table: SqlName = Field(description="Table written: one row (id 1), seq +1 and beat_at = now() per beat.")
    interval_seconds: Seconds = Field(description="Each pod writes this often.")


class DrTimeouts(_Contract):
    """Bounds of the DR command's calls and waits (from `hastack:dr`)."""

    fence_timeout_seconds: Seconds = Field(description="How long best-effort fence extras may take.")
    wait_timeout_seconds: Seconds = Field(description="How long to wait for each AWS change.")
    call_timeout_seconds: Seconds = Field(description="Connect + read timeout of every AWS call.")
    status_timeout_seconds: Seconds = Field(description="`hastack dr status` answers within this.")
    lease_seconds: Seconds = Field(description="Lease length: the fence waits it out after revoking.")
    lease_renew_seconds: Seconds = Field(description="Writers renew the lease this often.")
    lock_ttl_seconds: Seconds = Field(description="The DR lock expires this long after its last renewal.")
    lag_evidence_max_age_seconds: Seconds = Field(description="An older `ReplicaLag` datapoint is no evidence.")
    dns_ttl_seconds: Seconds = Field(description="How long resolvers may cache the record's answer.")
    dns_propagation_seconds: Seconds = Field(description="Route 53's propagation of a health change.")
    heartbeat_seconds: Seconds = Field(description="Heartbeat interval of the active region's writer.")


# ---------------------------------------------------------------------------------------------
# The stack outputs
# ---------------------------------------------------------------------------------------------

_DR = "`hastack dr`"


class StackOutputs(_Contract):
    """Every stack output, in the order of the README table."""

    deployment: Deployment = output(
        "The deployment's identity: the DR lock, the lease and the traffic metrics are keyed by it.",
        f"{_DR} (refuses a `--stack` that disagrees)")
    primary_region: AwsRegion = output(
        "Region built as primary (3 AZs, serves traffic until a failover).", f"{_DR}, policy pack")
    dr_region: AwsRegion = output(
        "Pilot-light DR region (same shape, scaled down, replicas of the data tiers).", f"{_DR}, policy pack")
    active_region: AwsRegion = output(
        "Region that takes writes and serves traffic per config (`drRegion` once failed over).",
        f"{_DR}, policy pack")
    dr_mode: Literal["pilot-light"] = output("DR strategy; `pilot-light`.", f"{_DR}, policy pack")
    rpo_budget_seconds: Seconds = output(
        "Data loss budget (`slo.rpoSeconds`): the most replication lag a failover may pay.",
        f"{_DR} (promotion gate, report)")
    rto_budget_seconds: Seconds = output(
        "Recovery time budget (`slo.rtoMinutes` × 60): what the DR run is timed against.", f"{_DR} (report)")
    dr_timeouts: DrTimeouts = output(
        "Every bound of `hastack dr`'s calls and waits (`hastack:dr`): no run hangs.",
        f"{_DR}, `hastack drill`")
    services: list[Service] = output(
        "The model-serving services: container port, fixed NodePort the ALB targets, prod replica count.",
        f"{_DR} (healthy targets needed per service)", min_length=1)
    clusters: dict[AwsRegion, Cluster] = output("The EKS cluster of each region.", _DR)
    node_groups: dict[AwsRegion, list[NodeGroup]] = output(
        "The per-AZ managed node groups as deployed now (DR sizes while pilot-light).", "`hastack dr status`")
    dr_node_groups: list[DrNodeGroup] = output(
        "The DR region's node groups with the production sizes `hastack dr scale-up` sets.",
        "`hastack dr scale-up`", min_length=1)
    database: Database = output(
        "RDS PostgreSQL: the primary region's Multi-AZ instance and its RDS Proxy endpoint; the DR region's "
        "cross-region read replica (what a failover promotes); the class the promoted replica is resized to. "
        "`endpoint` is a host name (port 5432).",
        f"{_DR} (promote, resize, failback), `hastack drill db-failover`")
    cache: Cache = output(
        "ElastiCache Global Datastore id and its member replication groups in each region (the secondary is "
        "what a failover promotes).", f"{_DR} (cache failover), `hastack drill cache-failover`")
    ingress: dict[AwsRegion, Ingress] = output(
        "Each region's internet-facing ALB and its per-service target groups (instance targets on the "
        "NodePorts).", f"{_DR} (checks the DR target groups, waits for healthy targets)")
    dns: Dns = output(
        "Route 53: the zone and failover record, the HTTPS health check on each region's ALB, the resolvers the "
        "DR command verifies a cutover through (`trafficControl` holds the switches).",
        f"{_DR} (verify by resolving)")
    traffic_control: TrafficControl = output(
        "How traffic moves (docs/traffic-control.md): the pre-built switches in the DR region (two CloudWatch "
        "metrics and their alarms, or two ARC routing controls), the Route 53 checks on them and the gates "
        "guarding the PRIMARY and SECONDARY records.", f"{_DR} (cutover, failback, status)")
    coordination: Coordination = output(
        "The DynamoDB table holding the writers' lease (the fence), the DR lock and the run journals: where it "
        "lives, its consistency and the keys of its items (docs/lease-contract.md).",
        f"{_DR} (fence, lock, journal), every writer (lease)")
    heartbeat: Heartbeat = output(
        "The heartbeat writer that keeps `ReplicaLag` meaningful on an idle primary: where it runs, what it "
        "writes, how often.", f"{_DR} (lag evidence), the local world (runs the same program)")
    alarm_topic_arns: dict[AwsRegion, Arn] = output(
        "SNS topic per region that paging alarms publish to (subscribe the on-call here).",
        "operators (subscriptions)")
    vpc_ids: dict[AwsRegion, ResourceId] = output("The VPC of each region.", "operators (peering, debugging)")

    def replicas_of(self, service: str) -> int:
        """The production replica count of `service`."""
        return next(s.replicas for s in self.services if s.name == service)

    @model_validator(mode="after")
    def _cross_checks(self) -> StackOutputs:
        raise_problems("StackOutputs", list(self._problems()))
        return self

    def _problems(self) -> Any:
        """Rules between outputs: each problem at the key path a user would fix."""
        primary, dr = self.primary_region, self.dr_region
        if dr == primary:  # every rule below is relative to the two regions: stop at this one
            yield Problem(("drRegion",), dr, f"should differ from primaryRegion ({primary}): DR needs two regions")
            return
        if self.active_region not in (primary, dr):
            yield Problem(("activeRegion",), self.active_region, f"should be primaryRegion ({primary}) or "
                                                                  f"drRegion ({dr})")
        both = sorted({primary, dr})
        per_region: list[tuple[tuple[str, ...], dict[str, Any], bool]] = [
            (("vpcIds",), self.vpc_ids, True), (("clusters",), self.clusters, True),
            (("nodeGroups",), self.node_groups, True), (("ingress",), self.ingress, True),
            (("dns", "healthCheckIds"), self.dns.health_check_ids, True),
            # Paging topics may live in a third region too (Route 53 alarms are in us-east-1).
            (("alarmTopicArns",), self.alarm_topic_arns, False)]
        for loc, mapping, exact in per_region:
            for region in both:
                if region not in mapping:
                    role = "primary" if region == primary else "DR"
                    yield Problem(loc, sorted(mapping), f"has no entry for the {role} region {region}")
            for region in sorted(set(mapping) - set(both)) if exact else ():
                yield Problem((*loc, region), mapping[region],
                              f"is not a region of this stack (only {', '.join(both)})")
        for loc, region, want, role in ((("database", "primary", "region"), self.database.primary.region, primary,
                                         "primaryRegion"),
                                        (("database", "replica", "region"), self.database.replica.region, dr,
                                         "drRegion"),
                                        (("cache", "primary", "region"), self.cache.primary.region, primary,
                                         "primaryRegion"),
                                        (("cache", "secondary", "region"), self.cache.secondary.region, dr,
                                         "drRegion")):
            if region != want:
                yield Problem(loc, region, f"should be the {role} {want} (members are named by the region they "
                                           f"were built in)")
        yield from self._coordination_problems()
        yield from self._traffic_control_problems()
        if self.heartbeat.interval_seconds != self.dr_timeouts.heartbeat_seconds:
            yield Problem(("heartbeat", "intervalSeconds"), self.heartbeat.interval_seconds,
                          f"should equal drTimeouts.heartbeatSeconds ({self.dr_timeouts.heartbeat_seconds})")
        if sorted(self.heartbeat.regions) != both:
            yield Problem(("heartbeat", "regions"), self.heartbeat.regions, f"should be the two regions {both}")
        yield from self._node_group_problems()
        names = [s.name for s in self.services]
        for i, name in enumerate(names):
            if name in names[:i]:
                yield Problem(("services", i, "name"), name, "is listed twice (service names are unique)")
        for region, ing in sorted(self.ingress.items()):
            for name in sorted(set(names) - set(ing.target_group_arns)):
                yield Problem(("ingress", region, "targetGroupArns"), sorted(ing.target_group_arns),
                              f"has no target group for the service {name!r}")

    def _coordination_problems(self) -> Any:
        c, primary, dr, d = self.coordination, self.primary_region, self.dr_region, self.deployment
        if c.home_region != dr:
            yield Problem(("coordination", "homeRegion"), c.home_region,
                          f"should be the DR region {dr}: the DR command writes there while the primary is down")
        if c.consistency == "STRONG":
            if c.replica_regions != [primary]:
                yield Problem(("coordination", "replicaRegions"), c.replica_regions,
                              f"should be [{primary}]: the primary's writers renew through their own region")
            if coordination.region_set(primary, dr) is None:
                yield Problem(("coordination", "consistency"), c.consistency,
                              f"should be single-region: {primary} and {dr} are in no common DynamoDB MRSC region set")
            elif c.witness_region is None:
                yield Problem(("coordination", "witnessRegion"), None,
                              "should be a third region of the MRSC set: STRONG needs a witness")
            elif problem := coordination.witness_problem(primary, dr, c.witness_region):
                yield Problem(("coordination", "witnessRegion"), c.witness_region, f"should be {problem}")
        else:
            if c.replica_regions:
                yield Problem(("coordination", "replicaRegions"), c.replica_regions,
                              "should be empty for a single-region table")
            if c.witness_region is not None:
                yield Problem(("coordination", "witnessRegion"), c.witness_region,
                              "should be null for a single-region table")
        for field, want in (("leaseKey", coordination.lease_key(d.project, d.stack)),
                            ("lockKey", coordination.lock_key(d.project, d.stack)),
                            ("journalKeyPrefix", coordination.journal_key_prefix(d.project, d.stack))):
            have = getattr(c, {"leaseKey": "lease_key", "lockKey": "lock_key",
                               "journalKeyPrefix": "journal_key_prefix"}[field])
            if have != want:
                yield Problem(("coordination", field), have, f"should be {want!r} (from deployment)")
        for field, have, want in (("leaseSeconds", c.lease_seconds, self.dr_timeouts.lease_seconds),
                                  ("leaseRenewSeconds", c.lease_renew_seconds, self.dr_timeouts.lease_renew_seconds)):
            if have != want:
                yield Problem(("coordination", field), have, f"should equal drTimeouts.{field} ({want})")
        if c.lease_renew_seconds * 3 > c.lease_seconds:
            yield Problem(("coordination", "leaseRenewSeconds"), c.lease_renew_seconds,
                          f"should be <= leaseSeconds / 3 ({c.lease_seconds / 3:g})")

    def _traffic_control_problems(self) -> Any:
        t, loc = self.traffic_control, ("trafficControl",)
        if t.region != self.dr_region:
            yield Problem((*loc, "region"), t.region, f"should be the DR region {self.dr_region}: the switches are "
                                                      "flipped in the region that is up")
        present = {"cloudwatch-alarm": t.cloudwatch_alarm, "arc": t.arc}
        for mode, value in present.items():
            key = "cloudwatchAlarm" if mode == "cloudwatch-alarm" else "arc"
            if mode == t.mode and value is None:
                yield Problem((*loc, key), None, f"should be set: mode is {t.mode}")
            elif mode != t.mode and value is not None:
                yield Problem((*loc, key), value.model_dump(mode="json", by_alias=True),
                              f"should be null: mode is {t.mode}")
        if t.cloudwatch_alarm is not None and t.cloudwatch_alarm.dimensions != {"Deployment": self.deployment.id}:
            yield Problem((*loc, "cloudwatchAlarm", "dimensions"), t.cloudwatch_alarm.dimensions,
                          f"should be {{Deployment: {self.deployment.id}}}")
        if t.arc is not None and t.arc.endpoints[0].region == self.primary_region:
            yield Problem((*loc, "arc", "endpoints", 0, "region"), self.primary_region,
                          "should not be the primary region: the first endpoint tried must not be in the region "
                          "that failed")

    def _node_group_problems(self) -> Any:
        for region, groups in sorted(self.node_groups.items()):
            cluster = self.clusters.get(region)
            for i, g in enumerate(groups):
                if cluster is not None and g.cluster_name != cluster.name:
                    yield Problem(("nodeGroups", region, i, "clusterName"), g.cluster_name,
                                  f"should be the {region} cluster {cluster.name!r}")
                if not _in_region(g.az, region):
                    yield Problem(("nodeGroups", region, i, "az"), g.az, f"should be an AZ of {region}")
        dr = self.dr_region
        deployed = {g.name for g in self.node_groups.get(dr, [])}
        cluster = self.clusters.get(dr)
        for i, g in enumerate(self.dr_node_groups):
            if cluster is not None and g.cluster_name != cluster.name:
                yield Problem(("drNodeGroups", i, "clusterName"), g.cluster_name,
                              f"should be the DR cluster {cluster.name!r}")
            if not _in_region(g.az, dr):
                yield Problem(("drNodeGroups", i, "az"), g.az, f"should be an AZ of the DR region {dr}")
            if dr in self.node_groups and g.name not in deployed:
                yield Problem(("drNodeGroups", i, "name"), g.name, f"is not one of nodeGroups.{dr}")


def _in_region(az: str, region: str) -> bool:
    return re.fullmatch(re.escape(region) + r"[a-z]", az) is not None


# ---------------------------------------------------------------------------------------------
# Reading and exporting
# ---------------------------------------------------------------------------------------------


_Outputs = TypeVar("_Outputs", bound=StackOutputs)


class OutputsError(UserError):
    """The outputs could not be read or do not follow the contract (exit 2, one line per problem)."""


def validate_outputs(raw: Any, source: str, model: type[_Outputs] = StackOutputs) -> _Outputs:  # type: ignore[assignment]
    """`raw` (the JSON of `pulumi stack output --json`) as `model`; `OutputsError` naming every problem.

    `source` says where the outputs come from, for the first line of the error ("stack 'prod'").
    """
    if not isinstance(raw, dict):
        raise OutputsError(f"{source}: the outputs should be a JSON object of output name -> value, "
                           f"got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = problem_lines(model, exc)
        head = (f"{source}: the outputs do not follow the contract ({len(lines)} problem"
                f"{'s' if len(lines) != 1 else ''}; see the README's \"Stack outputs\"):")
        raise OutputsError("\n".join([head, *(f"  - {line}" for line in lines)])) from None


def export_stack_outputs(**values: Any) -> None:
    """Export every stack output from one validated `StackOutputs` (call once, from `__main__.py`).

    `values` are the fields by name and may hold Pulumi Outputs (ids the engine knows only once
    resources exist). They are resolved together and the model is built inside one `apply`, so the
    contract is checked on the real values and each export is exactly the model's dump by alias.
    Trade-off: in `pulumi preview` every output shows as unknown while any value is unknown (and a
    secret value would make every output secret: the contract has none, see the module docstring).
    """
    import pulumi

    dumped = pulumi.Output.from_input(values).apply(
        lambda resolved: StackOutputs.model_validate(resolved).model_dump(mode="json", by_alias=True))
    for alias in output_names():
        pulumi.export(alias, dumped.apply(operator.itemgetter(alias)))


def output_names() -> list[str]:
    """The stack output names (camelCase), in table order."""
    return [alias for alias, _, _ in fields_of(StackOutputs)]


# ---------------------------------------------------------------------------------------------
# The README table
# ---------------------------------------------------------------------------------------------

TABLE_HEADER = "| output | type | meaning | used by |"


def markdown_table() -> str:
    """The README's "Stack outputs" table, generated from `StackOutputs`' fields."""
    rows = [TABLE_HEADER, "| --- | --- | --- | --- |"]
    for name, info in StackOutputs.model_fields.items():
        alias = info.alias or name
        kind = json_type(info.annotation, info.metadata)
        if kind == "list":
            kind = f"list of `{shape(get_args(info.annotation)[0])}`"
        elif kind == "object":
            kind = f"object `{shape(info.annotation, info.metadata)}`"
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        rows.append(f"| `{alias}` | {kind} | {info.description} | {extra.get('usedBy', '')} |")
    return "\n".join(rows) + "\n"


def replace_table(document: str, table: str) -> str:
    """`document` with its stack outputs table (from `TABLE_HEADER` to the first non-table line) replaced."""
    lines = document.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == TABLE_HEADER), None)
    if start is None:
        raise ValueError(f"no line {TABLE_HEADER!r} to replace")
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "".join([*lines[:start], table, *lines[end:]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hastack.outputs", description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--markdown", action="store_true", help="print the README's stack outputs table (default)")
    what.add_argument("--schema", action="store_true", help="print the JSON schema of the outputs")
    what.add_argument("--write", action="store_true", help="replace the table in README.md with the generated one")
    args = parser.parse_args(argv)
    if args.schema:
        print(json.dumps(StackOutputs.model_json_schema(by_alias=True), indent=2))
    elif args.write:
        readme = REPO_ROOT / "README.md"
        readme.write_text(replace_table(readme.read_text(), markdown_table()))
        print(f"wrote the stack outputs table of {readme}")
    else:
        sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
