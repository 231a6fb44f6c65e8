"""A pilot-light world seeded straight from stack outputs, in seconds (no Pulumi program run).

`seed_world(outputs, client)` creates in the world what the outputs name — RDS primary and
cross-region replica, the coordination table (an MRSC global table when the outputs place it so:
replica and witness, see `global_tables`) with the writers' lease granted to the primary, the
traffic switches (two alarms in the DR region) and the Route 53 zone, checks, gates and failover
records, ALBs
and target groups, EKS clusters with node groups backed by Auto Scaling groups attached to the
region's target groups, cache replication groups joined in a Global Datastore, a `ReplicaLag`
datapoint — keeping the outputs' names and returning them with moto's real ids. The DR tests use
it in-process (`mock_aws`); against a server it builds the same world (`client` decides where).

It is the fast twin of `hastack local up`, which deploys the real program instead.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from hastack.local.world.accounts import ACCOUNT_ID
from hastack.local.world.nodegroups import auto_scaling_group_params

Client = Callable[[str, str], Any]

#: An AMI id moto accepts without loading its AMI catalogue.
_AMI = "ami-12c6146b"


def _name_from_arn(arn: str, kind: str) -> str:
    # ...:loadbalancer/app/<name>/<hash>  or  ...:targetgroup/<name>/<hash>
    parts = arn.split(":", 5)[5].split("/")
    return parts[2] if kind == "loadbalancer" else parts[1]


def _network(client: Client, region: str) -> tuple[str, list[str]]:
    ec2 = client("ec2", region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{az}")
               ["Subnet"]["SubnetId"] for i, az in enumerate("abc")]
    return vpc, subnets


def seed_world(plan: dict[str, Any], client: Client, replica_lag_seconds: float | None = 2.0,
               cache_via_api: bool = True) -> dict[str, Any]:
    """Create the pilot-light world the plan's outputs describe; return the outputs with moto's ids."""
    out = copy.deepcopy(plan)
    primary, dr = plan["primaryRegion"], plan["drRegion"]
    nets = {r: _network(client, r) for r in (primary, dr)}

    # Database: Multi-AZ primary, single-AZ cross-region replica.
    db = plan["database"]
    p_rds, d_rds = client("rds", primary), client("rds", dr)
    # The stack's own parameter group (as components/database.py makes one per region): failback's
    # re-protect must carry it over, or the home writer comes back on the engine's defaults.
    params = f"{db['primary']['identifier']}-params"
    p_rds.create_db_parameter_group(DBParameterGroupName=params, DBParameterGroupFamily="postgres16",
                                    Description="hastack primary parameters")
    p = p_rds.create_db_instance(DBInstanceIdentifier=db["primary"]["identifier"], Engine="postgres",
                                 DBInstanceClass=db["prodInstanceClass"], AllocatedStorage=100,
                                 MasterUsername="hastack", ManageMasterUserPassword=True, MultiAZ=True,
                                 DBParameterGroupName=params)["DBInstance"]
    r = d_rds.create_db_instance_read_replica(DBInstanceIdentifier=db["replica"]["identifier"],
                                              SourceDBInstanceIdentifier=p["DBInstanceArn"],
                                              DBInstanceClass=db["prodInstanceClass"], MultiAZ=False)["DBInstance"]
    out["database"]["primary"]["arn"] = p["DBInstanceArn"]
    out["database"]["replica"]["arn"] = r["DBInstanceArn"]
    if replica_lag_seconds is not None:
        put_replica_lag(client, dr, db["replica"]["identifier"], replica_lag_seconds)

    _coordination(client, plan)

    # Load balancers and target groups, names from the plan's ARNs.
    for region, ing in plan["ingress"].items():
        elb = client("elbv2", region)
        vpc, subnets = nets[region]
        lb = elb.create_load_balancer(Name=_name_from_arn(ing["albArn"], "loadbalancer"), Subnets=subnets,
                                      Scheme="internet-facing", Type="application")["LoadBalancers"][0]
        tgs = {}
        for svc, arn in ing["targetGroupArns"].items():
            port = next((s.get("nodePort", s["port"]) for s in plan["services"] if s["name"] == svc), 30000)
            tg = elb.create_target_group(Name=_name_from_arn(arn, "targetgroup"), Protocol="HTTP", Port=port,
                                         VpcId=vpc, TargetType="instance")["TargetGroups"][0]
            tgs[svc] = tg["TargetGroupArn"]
        # The load balancer forwards to its target groups (what makes it answer when a target is healthy).
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
            {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": a} for a in tgs.values()]}}])
        out["ingress"][region] = {**ing, "albArn": lb["LoadBalancerArn"], "albDnsName": lb["DNSName"],
                                  "albZoneId": lb["CanonicalHostedZoneId"], "targetGroupArns": tgs}

    # Route 53: zone, per-region ALB checks, switch, gate, failover alias records.
    r53 = client("route53", "us-east-1")
    record = plan["dns"]["recordName"]
    zone_name = record.split(".", 1)[1] + "."
    zone = r53.create_hosted_zone(Name=zone_name, CallerReference=f"zone-{time.time()}")["HostedZone"]["Id"]
    zone_id = zone.split("/")[-1]
    checks = {}
    for region in (primary, dr):
        checks[region] = r53.create_health_check(CallerReference=f"alb-{region}-{time.time()}", HealthCheckConfig={
            "Type": "HTTPS", "FullyQualifiedDomainName": out["ingress"][region]["albDnsName"], "Port": 443,
            "ResourcePath": "/health/ready", "RequestInterval": 10, "FailureThreshold": 3})["HealthCheck"]["Id"]
    # The traffic switches in the DR region, the checks reading them, and the two gates (docs/traffic-control.md).
    switches = _traffic_switches(client, r53, plan["trafficControl"])
    # As components/dns.py builds them: every child of a gate must be healthy.
    children = {"primaryGate": [checks[primary], switches["primarySwitch"]],
                "secondaryGate": [checks[dr], switches["drReady"]]}
    gates = {gate: r53.create_health_check(CallerReference=f"{gate}-{time.time()}", HealthCheckConfig={
        "Type": "CALCULATED", "ChildHealthChecks": kids, "HealthThreshold": len(kids)})["HealthCheck"]["Id"]
        for gate, kids in children.items()}
    out["trafficControl"] = {**plan["trafficControl"], "healthCheckIds": {**switches, **gates}}
    changes = []
    for failover, region, check in (("PRIMARY", primary, gates["primaryGate"]),
                                    ("SECONDARY", dr, gates["secondaryGate"])):
        ing = out["ingress"][region]
        changes.append({"Action": "CREATE", "ResourceRecordSet": {
            "Name": record, "Type": "A", "SetIdentifier": f"{failover.lower()}-{region}", "Failover": failover,
            "HealthCheckId": check, "AliasTarget": {"HostedZoneId": ing["albZoneId"], "DNSName": ing["albDnsName"],
                                                    "EvaluateTargetHealth": True}}})
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    out["dns"] = {**plan["dns"], "hostedZoneId": zone_id, "healthCheckIds": checks}

    # EKS clusters; node groups at their deployed sizes, each run by an Auto Scaling group attached
    # to the region's target groups (as `local up` builds them).
    for region, cluster in plan["clusters"].items():
        eks, autoscaling = client("eks", region), client("autoscaling", region)
        role = f"arn:aws:iam::{ACCOUNT_ID}:role/{cluster['name']}"
        c = eks.create_cluster(name=cluster["name"], roleArn=role,
                               resourcesVpcConfig={"subnetIds": nets[region][1]})["cluster"]
        out["clusters"][region] = {"name": c["name"], "arn": c["arn"]}
        template = client("ec2", region).create_launch_template(
            LaunchTemplateName=f"{cluster['name']}-nodes",
            LaunchTemplateData={"ImageId": _AMI, "InstanceType": "m6i.xlarge"})["LaunchTemplate"]
        target_groups = list(out["ingress"][region]["targetGroupArns"].values())
        for g in plan["nodeGroups"][region]:
            ng = eks.create_nodegroup(clusterName=cluster["name"], nodegroupName=g["name"], nodeRole=role,
                                      subnets=nets[region][1], scalingConfig={
                                          "minSize": g["minSize"], "desiredSize": g["desiredSize"],
                                          "maxSize": g["maxSize"]})["nodegroup"]
            for asg in ng["resources"]["autoScalingGroups"]:
                autoscaling.create_auto_scaling_group(**auto_scaling_group_params(
                    asg["name"], cluster["name"], g["name"], nets[region][1], g["minSize"], g["maxSize"],
                    g["desiredSize"], {"id": template["LaunchTemplateId"], "version": "$Latest"}, target_groups))

    # Cache: one replication group per region joined in a Global Datastore (primary in the primary).
    cache = plan["cache"]
    _replication_group(client, cache["primary"])
    if cache_via_api:
        g = client("elasticache", cache["primary"]["region"]).create_global_replication_group(
            GlobalReplicationGroupIdSuffix=cache["globalDatastoreId"].split("-", 1)[1],
            PrimaryReplicationGroupId=cache["primary"]["replicationGroupId"])["GlobalReplicationGroup"]
        out["cache"]["globalDatastoreId"] = g["GlobalReplicationGroupId"]
        _replication_group(client, cache["secondary"], g["GlobalReplicationGroupId"])
    else:
        _replication_group(client, cache["secondary"])
    return out


def _coordination(client: Client, plan: dict[str, Any]) -> None:
    """The coordination table (lease, DR lock, journals), keyed as the outputs say; an MRSC global table
    (replica + witness, one quorum) when the outputs place it so, as the stack deploys it; with the
    writers' lease granted to the primary region (epoch 1), as a deployed stack starts."""
    table = plan["coordination"]
    key = table["keyAttribute"]
    home = client("dynamodb", table["homeRegion"])
    home.create_table(
        TableName=table["tableName"], KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    if table.get("replicaRegions"):
        home.update_table(TableName=table["tableName"],
                          ReplicaUpdates=[{"Create": {"RegionName": r}} for r in table["replicaRegions"]],
                          **({"GlobalTableWitnessUpdates": [{"Create": {"RegionName": table["witnessRegion"]}}]}
                             if table.get("witnessRegion") else {}),
                          MultiRegionConsistency=table.get("consistency") or "EVENTUAL")
    home.put_item(TableName=table["tableName"], Item={
        key: {"S": table["leaseKey"]}, "holder": {"S": plan["primaryRegion"]}, "epoch": {"N": "1"},
        "leaseSeconds": {"N": str(table["leaseSeconds"])}, "changedAt": {"N": f"{time.time():.3f}"},
        "changedBy": {"S": "seed"}, "reason": {"S": "the primary region writes"}})


def _traffic_switches(client: Client, r53: Any, traffic: dict[str, Any]) -> dict[str, str]:
    """The cloudwatch-alarm switches: two alarms in the DR region that keep their state when nobody
    publishes (TreatMissingData ignore), and the Route 53 checks reading them; returns the checks' ids."""
    switches = traffic.get("cloudwatchAlarm")
    if switches is None:
        raise ValueError("the world seeds trafficControl.mode cloudwatch-alarm only (nothing emulates ARC)")
    region = traffic["region"]
    cw = client("cloudwatch", region)
    common = {"Namespace": switches["namespace"], "Period": switches["periodSeconds"], "EvaluationPeriods": 1,
              "DatapointsToAlarm": 1, "TreatMissingData": "ignore", "Threshold": 1.0, "ActionsEnabled": False,
              "Dimensions": [{"Name": k, "Value": v} for k, v in switches["dimensions"].items()]}
    fenced, ready = switches["primaryFenced"], switches["drReady"]
    cw.put_metric_alarm(AlarmName=fenced["alarmName"], MetricName=fenced["metricName"], Statistic="Maximum",
                        ComparisonOperator="GreaterThanOrEqualToThreshold", **common)
    cw.put_metric_alarm(AlarmName=ready["alarmName"], MetricName=ready["metricName"], Statistic="Minimum",
                        ComparisonOperator="LessThanThreshold", **common)

    def check(alarm: str, insufficient: str) -> str:
        return str(r53.create_health_check(CallerReference=f"{alarm}-{time.time()}", HealthCheckConfig={
            "Type": "CLOUDWATCH_METRIC", "AlarmIdentifier": {"Region": region, "Name": alarm},
            "InsufficientDataHealthStatus": insufficient})["HealthCheck"]["Id"])

    # A never-published primary-fenced alarm: the primary serves; a never-published dr-not-ready: DR is not ready.
    return {"primarySwitch": check(fenced["alarmName"], "Healthy"), "drReady": check(ready["alarmName"], "Unhealthy")}


def _replication_group(client: Client, side: dict[str, Any], global_id: str | None = None) -> None:
    extra = {"GlobalReplicationGroupId": global_id} if global_id else {}
    client("elasticache", side["region"]).create_replication_group(
        ReplicationGroupId=side["replicationGroupId"], ReplicationGroupDescription="hastack cache",
        Engine="valkey", CacheNodeType="cache.r7g.large", NumCacheClusters=2, **extra)


def put_replica_lag(client: Client, region: str, identifier: str, seconds: float) -> None:
    client("cloudwatch", region).put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "ReplicaLag", "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": identifier}],
        "Timestamp": dt.datetime.now(dt.UTC), "Value": float(seconds), "Unit": "Seconds"}])
