"""The hostile local world, asked over sockets as the DR command asks AWS, and in-process.

Each test asserts what the world shows (answers, errors, DNS responses, the call log), never what
the world says it did: outages that refuse or hang (and release), Route 53's API dark with
us-east-1, throttling bursts, the Global Datastore refusing the planned failover while its primary
is dark and disassociating, alarms evaluated from metric data, health checks and DNS answers.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import boto3
import dns.message
import dns.query
import dns.rcode
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from hastack.local.server import InProcessServer, WorldClient
from hastack.local.world.route53 import load_balancer_address
from tests.world_helpers import client

EAST, WEST = "us-east-1", "us-west-2"
UNANSWERED = (ConnectionClosedError, EndpointConnectionError, ReadTimeoutError)


def calls(server: InProcessServer, **filters: Any) -> list[dict[str, Any]]:
    return [c for c in WorldClient(server.endpoint).calls() if all(c[k] == v for k, v in filters.items())]


# --- outages --------------------------------------------------------------------------------------


def test_hang_holds_the_connection_until_the_outage_ends(server: InProcessServer) -> None:
    world = WorldClient(server.endpoint)
    impatient, patient = client(server, "cloudwatch", WEST, read_timeout=0.5), client(server, "cloudwatch", WEST)
    assert patient.list_metrics()["Metrics"] == []
    world.outage([WEST], mode="hang")
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        impatient.list_metrics()
    assert 0.4 < time.monotonic() - started < 5, "the client's own read timeout ends the call, not the world"
    assert world.world()["heldConnections"] == 1, "the server still holds the connection, unanswered"
    assert client(server, "cloudwatch", EAST).list_metrics()["Metrics"] == [], "other regions answer"
    world.heal()
    deadline = time.monotonic() + 5
    while world.world()["heldConnections"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert world.world()["heldConnections"] == 0, "the end of the outage releases held connections"
    assert patient.list_metrics()["Metrics"] == []
    hung = calls(server, service="cloudwatch", region=WEST, operation="ListMetrics")
    assert [c["outcome"] for c in hung] == ["answered", "hung", "answered"]


def test_refuse_closes_unanswered_and_route53_goes_dark_with_us_east_1(server: InProcessServer) -> None:
    world = WorldClient(server.endpoint)
    r53, impatient = client(server, "route53", EAST), client(server, "route53", EAST, read_timeout=0.5)
    rds, iam = client(server, "rds", EAST), client(server, "iam", EAST)
    assert r53.list_health_checks()["HealthChecks"] == []
    world.outage([EAST], mode="refuse")
    assert world.world()["route53ApiDark"] is True
    with pytest.raises(UNANSWERED):
        r53.list_health_checks()
    with pytest.raises(UNANSWERED):
        rds.describe_db_instances()
    assert iam.list_roles()["Roles"] == [], "IAM keeps answering"
    world.set_world(route53Api="up")
    assert r53.list_health_checks()["HealthChecks"] == [], "route53Api=up keeps Route 53 answering"
    world.set_world(route53Api="auto", outageMode="hang")
    with pytest.raises(ReadTimeoutError):
        impatient.list_health_checks()
    world.outage([WEST])
    assert world.world()["route53ApiDark"] is False, "an outage elsewhere leaves Route 53 up"
    assert r53.list_health_checks()["HealthChecks"] == []
    outcomes = [c["outcome"] for c in calls(server, service="route53", operation="ListHealthChecks")]
    assert outcomes == ["answered", "refused", "answered", "hung", "answered"]


def test_stopping_the_server_releases_a_held_connection_and_leaves_no_thread() -> None:
    before = {t.ident for t in threading.enumerate()}
    server = InProcessServer().start()
    WorldClient(server.endpoint).outage([WEST], mode="hang")
    errors: list[BaseException] = []

    def hung_call() -> None:
        try:
            client(server, "ec2", WEST, read_timeout=30).describe_vpcs()
        except BaseException as exc:  # noqa: BLE001 - what the client saw is the assertion
            errors.append(exc)

    caller = threading.Thread(target=hung_call)
    caller.start()
    deadline = time.monotonic() + 5
    while WorldClient(server.endpoint).world()["heldConnections"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    server.stop()
    caller.join(timeout=10)
    assert not caller.is_alive() and time.monotonic() - started < 8, "stop must not wait for the held call"
    assert errors and isinstance(errors[0], UNANSWERED), errors
    time.sleep(0.2)
    assert not [t for t in threading.enumerate() if t.ident not in before and t.is_alive()], \
        "no server, resolver or handler thread outlives the server"


def test_throttling_burst_answers_each_protocol_with_its_throttling_error(server: InProcessServer) -> None:
    world = WorldClient(server.endpoint)
    rds, rds_east, ddb = client(server, "rds", WEST), client(server, "rds", EAST), client(server, "dynamodb", EAST)
    set_at = time.monotonic()  # a window long enough for the calls below on a loaded 2-core machine
    world.throttle("rds", seconds=6, region=WEST, operations=["DescribeDBInstances"])
    world.throttle("dynamodb", seconds=6, status=503)
    assert [t["service"] for t in world.world()["throttles"]] == ["rds", "dynamodb"]
    with pytest.raises(ClientError) as rds_error:
        rds.describe_db_instances()
    assert rds_error.value.response["Error"]["Code"] == "Throttling"
    assert rds_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert rds.describe_db_subnet_groups()["DBSubnetGroups"] == [], "other operations answer"
    assert rds_east.describe_db_instances()["DBInstances"] == [], "other regions answer"
    with pytest.raises(ClientError) as ddb_error:
        ddb.list_tables()
    assert ddb_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    time.sleep(max(0.0, 6.2 - (time.monotonic() - set_at)))
    assert rds.describe_db_instances()["DBInstances"] == [], "the burst ends with its window"
    assert world.world()["throttles"] == []
    outcomes = [c["outcome"] for c in calls(server, service="rds", region=WEST, operation="DescribeDBInstances")]
    assert outcomes == ["throttled", "answered"]


def test_a_bad_world_change_is_refused_whole(server: InProcessServer) -> None:
    import urllib.error

    world = WorldClient(server.endpoint)
    with pytest.raises(urllib.error.HTTPError) as refused:
        world.set_world(downRegions=[WEST], outageMode="sideways", throttles=[{"service": "rds", "seconds": -1}])
    body = refused.value.read().decode()
    assert refused.value.code == 400
    assert "outageMode = 'sideways': one of refuse, hang" in body and "throttles[0].seconds = -1" in body
    assert world.world()["downRegions"] == [], "nothing of a refused change applies"


def test_the_call_log_pages_by_sequence_number(server: InProcessServer) -> None:
    world = WorldClient(server.endpoint)
    world.clear_calls()
    client(server, "sts", EAST).get_caller_identity()
    mark = world.world()["lastCall"]
    client(server, "elbv2", WEST).describe_load_balancers()
    client(server, "cloudwatch", WEST).list_metrics()
    later = world.calls(since=mark)
    assert [(c["service"], c["region"], c["operation"], c["outcome"], c["status"]) for c in later] == [
        ("elbv2", WEST, "DescribeLoadBalancers", "answered", 200), ("cloudwatch", WEST, "ListMetrics", "answered", 200)]
    assert all(c["via"] == "server" and c["time"].endswith("Z") for c in later)
    assert [c["operation"] for c in world.calls(service="sts")] == ["GetCallerIdentity"]


# --- Global Datastore ---------------------------------------------------------------------------


def _global_datastore(server: InProcessServer) -> str:
    east, west = client(server, "elasticache", EAST), client(server, "elasticache", WEST)
    east.create_replication_group(ReplicationGroupId="cache-east", ReplicationGroupDescription="p", Engine="valkey",
                                  CacheNodeType="cache.r7g.large", NumCacheClusters=2)
    gid = east.create_global_replication_group(GlobalReplicationGroupIdSuffix="hastack",
                                               PrimaryReplicationGroupId="cache-east")["GlobalReplicationGroup"][
        "GlobalReplicationGroupId"]
    west.create_replication_group(ReplicationGroupId="cache-west", ReplicationGroupDescription="s",
                                  GlobalReplicationGroupId=gid, NumCacheClusters=2)
    return gid


def _roles(server: InProcessServer, gid: str) -> dict[str, str]:
    group = client(server, "elasticache", WEST).describe_global_replication_groups(
        GlobalReplicationGroupId=gid, ShowMemberInfo=True)["GlobalReplicationGroups"][0]
    return {m["ReplicationGroupRegion"]: m["Role"] for m in group["Members"]}


def test_planned_failover_is_refused_while_the_primary_is_dark_and_disassociate_works(
        server: InProcessServer) -> None:
    gid = _global_datastore(server)
    west = client(server, "elasticache", WEST)
    WorldClient(server.endpoint).outage([EAST])
    with pytest.raises(ClientError) as refused:
        west.failover_global_replication_group(GlobalReplicationGroupId=gid, PrimaryRegion=WEST,
                                               PrimaryReplicationGroupId="cache-west")
    assert refused.value.response["Error"]["Code"] == "InvalidGlobalReplicationGroupState"
    assert _roles(server, gid) == {EAST: "PRIMARY", WEST: "SECONDARY"}, "a refused failover changes nothing"

    west.disassociate_global_replication_group(GlobalReplicationGroupId=gid, ReplicationGroupId="cache-west",
                                               ReplicationGroupRegion=WEST)
    assert _roles(server, gid) == {EAST: "PRIMARY"}
    standalone = west.describe_replication_groups(ReplicationGroupId="cache-west")["ReplicationGroups"][0]
    assert not (standalone.get("GlobalReplicationGroupInfo") or {}).get("GlobalReplicationGroupId"), standalone

    # Re-protect once the primary region is back: a new datastore from the standalone primary.
    WorldClient(server.endpoint).heal()
    new = west.create_global_replication_group(GlobalReplicationGroupIdSuffix="hastack-2",
                                               PrimaryReplicationGroupId="cache-west")["GlobalReplicationGroup"]
    client(server, "elasticache", EAST).create_replication_group(
        ReplicationGroupId="cache-east-2", ReplicationGroupDescription="s", NumCacheClusters=2,
        GlobalReplicationGroupId=new["GlobalReplicationGroupId"])
    assert _roles(server, new["GlobalReplicationGroupId"]) == {WEST: "PRIMARY", EAST: "SECONDARY"}


def test_planned_failover_works_while_the_primary_answers(server: InProcessServer) -> None:
    gid = _global_datastore(server)
    client(server, "elasticache", WEST).failover_global_replication_group(
        GlobalReplicationGroupId=gid, PrimaryRegion=WEST, PrimaryReplicationGroupId="cache-west")
    assert _roles(server, gid) == {EAST: "SECONDARY", WEST: "PRIMARY"}


# --- alarms, health checks, DNS -----------------------------------------------------------------


def _lag(server: InProcessServer, region: str, value: float, age_seconds: float = 0.0) -> None:
    client(server, "cloudwatch", region).put_metric_data(Namespace="Hastack/Switch", MetricData=[{
        "MetricName": "PrimaryFenced", "Value": value,
        "Timestamp": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age_seconds)}])


def _alarm(server: InProcessServer, region: str, name: str, treat: str, period: int = 60) -> None:
    client(server, "cloudwatch", region).put_metric_alarm(
        AlarmName=name, Namespace="Hastack/Switch", MetricName="PrimaryFenced", Statistic="Maximum", Period=period,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData=treat)


def _state(server: InProcessServer, region: str, name: str) -> str:
    return client(server, "cloudwatch", region).describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]


def test_alarms_follow_metric_data_and_treat_missing_data(server: InProcessServer) -> None:
    _alarm(server, WEST, "switch", "notBreaching")
    _alarm(server, WEST, "strict", "missing")
    assert (_state(server, WEST, "switch"), _state(server, WEST, "strict")) == ("OK", "INSUFFICIENT_DATA")
    _lag(server, WEST, 1.0)
    assert (_state(server, WEST, "switch"), _state(server, WEST, "strict")) == ("ALARM", "ALARM")
    _lag(server, WEST, 0.0)
    assert _state(server, WEST, "switch") == "ALARM", "Maximum over the period still sees the 1"
    client(server, "cloudwatch", WEST).set_alarm_state(AlarmName="strict", StateValue="OK", StateReason="by hand")
    assert _state(server, WEST, "strict") == "OK", "SetAlarmState holds until the next datapoint"
    _lag(server, WEST, 0.0, age_seconds=30)
    assert _state(server, WEST, "strict") == "ALARM", "then the metric decides again"
    _alarm(server, EAST, "old", "missing")
    _lag(server, EAST, 1.0, age_seconds=120)
    assert _state(server, EAST, "old") == "INSUFFICIENT_DATA", "a datapoint older than the period is missing data"


def _load_balancer(server: InProcessServer, region: str, healthy: bool) -> dict[str, Any]:
    ec2, elb = client(server, "ec2", region), client(server, "elbv2", region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{az}")["Subnet"][
        "SubnetId"] for i, az in enumerate("ab")]
    lb = elb.create_load_balancer(Name=f"alb-{region}", Subnets=subnets, Type="application")["LoadBalancers"][0]
    tg = elb.create_target_group(Name=f"tg-{region}", Protocol="HTTP", Port=80, VpcId=vpc,
                                 TargetType="instance")["TargetGroups"][0]
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    if healthy:
        instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnets[0])[
            "Instances"][0]["InstanceId"]
        elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": instance}])
    return lb


def _resolve(server: InProcessServer, name: str) -> tuple[str, list[str]]:
    host, port = WorldClient(server.endpoint).resolver()
    response = dns.query.udp(dns.message.make_query(name, "A"), host, port=port, timeout=2)
    return dns.rcode.to_text(response.rcode()), [r.address for rrset in response.answer for r in rrset]


def test_failover_record_answers_through_the_resolver_from_alarm_driven_checks(server: InProcessServer) -> None:
    east_lb, west_lb = _load_balancer(server, EAST, healthy=True), _load_balancer(server, WEST, healthy=True)
    east_ip, west_ip = load_balancer_address(east_lb["DNSName"]), load_balancer_address(west_lb["DNSName"])
    _alarm(server, WEST, "fence", "notBreaching")
    r53 = client(server, "route53", EAST)
    zone = r53.create_hosted_zone(Name="example.com.", CallerReference="z")["HostedZone"]["Id"].split("/")[-1]
    fence = r53.create_health_check(CallerReference="fence", HealthCheckConfig={
        "Type": "CLOUDWATCH_METRIC", "AlarmIdentifier": {"Region": WEST, "Name": "fence"},
        "InsufficientDataHealthStatus": "Healthy", "Inverted": False})["HealthCheck"]["Id"]
    assert r53.get_health_check(HealthCheckId=fence)["HealthCheck"]["HealthCheckConfig"]["AlarmIdentifier"] == {
        "Region": WEST, "Name": "fence"}, "the check keeps its alarm (moto drops it)"
    changes = [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": "app.example.com", "Type": "A", "SetIdentifier": f"{role.lower()}", "Failover": role,
        **({"HealthCheckId": fence} if role == "PRIMARY" else {}),
        "AliasTarget": {"HostedZoneId": lb["CanonicalHostedZoneId"], "DNSName": lb["DNSName"],
                        "EvaluateTargetHealth": True}}} for role, lb in (("PRIMARY", east_lb), ("SECONDARY", west_lb))]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})

    assert _resolve(server, "app.example.com") == ("NOERROR", [east_ip])
    assert _resolve(server, east_lb["DNSName"]) == ("NOERROR", [east_ip]), "a load balancer's name resolves too"
    _lag(server, WEST, 1.0)  # the data-plane flip: one datapoint in the DR region
    assert _resolve(server, "app.example.com") == ("NOERROR", [west_ip])
    status = r53.get_health_check_status(HealthCheckId=fence)["HealthCheckObservations"]
    assert all(o["StatusReport"]["Status"].startswith("Failure") for o in status)

    WorldClient(server.endpoint).outage([WEST])  # the SECONDARY's region dark too: every record unhealthy
    assert _resolve(server, "app.example.com") == ("NOERROR", [east_ip]), "all unhealthy: answered as if healthy"
    assert _resolve(server, "nope.example.com")[0] == "NXDOMAIN"
    assert _resolve(server, "example.org")[0] == "REFUSED"
    assert {c["operation"] for c in calls(server, service="dns")} >= {"A app.example.com."}


def test_route53_refuses_what_aws_refuses_in_alarm_checks(server: InProcessServer) -> None:
    _alarm(server, WEST, "fast", "notBreaching", period=10)
    r53 = client(server, "route53", EAST)
    with pytest.raises(ClientError, match="high-resolution"):
        r53.create_health_check(CallerReference="hr", HealthCheckConfig={
            "Type": "CLOUDWATCH_METRIC", "AlarmIdentifier": {"Region": WEST, "Name": "fast"}})
    with pytest.raises(ClientError, match="AlarmIdentifier"):
        r53.create_health_check(CallerReference="none", HealthCheckConfig={"Type": "CLOUDWATCH_METRIC"})


def test_endpoint_checks_follow_the_load_balancer_and_its_region(server: InProcessServer) -> None:
    lb = _load_balancer(server, EAST, healthy=True)
    empty = _load_balancer(server, WEST, healthy=False)
    r53 = client(server, "route53", EAST)

    def check(dns_name: str) -> str:
        return r53.create_health_check(CallerReference=dns_name, HealthCheckConfig={
            "Type": "HTTPS", "FullyQualifiedDomainName": dns_name, "Port": 443,
            "ResourcePath": "/health/ready"})["HealthCheck"]["Id"]

    live, idle = check(lb["DNSName"]), check(empty["DNSName"])
    world = WorldClient(server.endpoint)
    assert {k: v["healthy"] for k, v in world.health().items()} == {live: True, idle: False}
    world.outage([EAST], mode="hang")
    world.set_world(route53Api="up")
    assert world.health()[live] == {"type": "HTTPS", "healthy": False,
                                    "reason": f"us-east-1 is dark: {lb['LoadBalancerName']} does not answer"}


# --- in-process (mock_aws): the same verdicts without sockets ------------------------------------


def test_in_process_outages_refuse_hang_and_are_logged() -> None:
    from moto import mock_aws

    from hastack.local.world import install
    from hastack.local.world.state import WORLD

    install()
    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    with mock_aws():
        try:
            WORLD.heal()
            ec2 = boto3.client("ec2", region_name=WEST, aws_access_key_id="testing", aws_secret_access_key="testing",
                               config=config)
            mark = WORLD.calls.last_seq()
            assert ec2.describe_vpcs()["Vpcs"] is not None
            WORLD.update({"downRegions": [WEST], "outageMode": "hang", "hangTimeoutSeconds": 0.2})
            started = time.monotonic()
            with pytest.raises(ReadTimeoutError):
                ec2.describe_vpcs()
            assert 0.15 < time.monotonic() - started < 3, "a hung call times out after hangTimeoutSeconds"
            WORLD.update({"outageMode": "refuse"})
            with pytest.raises(EndpointConnectionError):
                ec2.describe_vpcs()
            logged = [(c.operation, c.outcome, c.via) for c in WORLD.calls.since(mark, "ec2")]
            assert logged == [("DescribeVpcs", "answered", "in-process"), ("DescribeVpcs", "hung", "in-process"),
                              ("DescribeVpcs", "refused", "in-process")]
        finally:
            WORLD.heal()


def test_the_seeded_world_resolves_its_failover_record_as_route53_would(prod_plan: Any) -> None:
    """In-process, as the DR tests run: the record answers the primary ALB; once the traffic switches
    are set in the DR region (DrReady, PrimaryFenced: what the DR command publishes) and the DR region
    has healthy targets, the DR ALB — and Route 53's API was never asked."""
    from hastack.plan.render import stack_output_json
    from tests.dr_world import make_world

    with make_world(stack_output_json(prod_plan.outputs)) as world:
        o = world.outputs
        host, port = world.resolver()

        def resolve(name: str) -> list[str]:
            response = dns.query.udp(dns.message.make_query(name, "A"), host, port=port, timeout=2)
            return [r.address for rrset in response.answer for r in rrset]

        primary, dr = (load_balancer_address(o.ingress[r].alb_dns_name) for r in (o.primary_region, o.dr_region))
        assert resolve(o.dns.record_name) == [primary]
        seeded = world.state.calls.last_seq()
        switches = o.traffic_control.cloudwatch_alarm
        assert switches is not None
        for metric in (switches.dr_ready.metric_name, switches.primary_fenced.metric_name):
            world.client("cloudwatch", o.traffic_control.region).put_metric_data(
                Namespace=switches.namespace, MetricData=[{
                    "MetricName": metric, "Value": 1.0, "Unit": "Count",
                    "Dimensions": [{"Name": k, "Value": v} for k, v in switches.dimensions.items()]}])
        assert resolve(o.dns.record_name) == [primary], "DR has no healthy target yet: every record unhealthy"
        for g in o.dr_node_groups:
            world.client("eks", o.dr_region).update_nodegroup_config(
                clusterName=g.cluster_name, nodegroupName=g.name, scalingConfig={"minSize": 1, "desiredSize": 1,
                                                                                 "maxSize": 6})
        assert resolve(o.dns.record_name) == [dr]
        ops = [c.operation for c in world.state.calls.since(seeded) if c.service in ("route53", "dns")]
        assert f"A {o.dns.record_name}." in ops and not [op for op in ops if not op.startswith("A ")], ops


def test_a_cross_region_replica_lives_in_its_own_region_with_its_own_subnet_group(server: InProcessServer) -> None:
    """Failback's re-protect: a replica in the home region of the DR writer, in the home region's subnet
    group (moto looked the group up in the source's region and refused it)."""
    west, east, ec2 = client(server, "rds", WEST), client(server, "rds", EAST), client(server, "ec2", EAST)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{EAST}{z}")["Subnet"]
               ["SubnetId"] for i, z in enumerate("ab")]
    east.create_db_subnet_group(DBSubnetGroupName="home-subnets", DBSubnetGroupDescription="home",
                                SubnetIds=subnets)
    source = west.create_db_instance(DBInstanceIdentifier="writer-west", DBInstanceClass="db.r6g.large",
                                     Engine="postgres", MasterUsername="app", MasterUserPassword="not-a-secret-1",
                                     AllocatedStorage=20)["DBInstance"]["DBInstanceArn"]
    replica = east.create_db_instance_read_replica(DBInstanceIdentifier="home", SourceDBInstanceIdentifier=source,
                                                   DBSubnetGroupName="home-subnets")["DBInstance"]
    assert replica["DBSubnetGroup"]["DBSubnetGroupName"] == "home-subnets"
    assert replica["AvailabilityZone"].startswith(EAST)
    described = east.describe_db_instances(DBInstanceIdentifier="home")["DBInstances"][0]
    assert described["DBInstanceArn"].split(":")[3] == EAST
    # No DBParameterGroupName: the engine's default group of the replica's own region (the source's
    # group lives in the source's region).
    assert [g["DBParameterGroupName"][:16] for g in described["DBParameterGroups"]] == ["default.postgres"]
    east.create_db_parameter_group(DBParameterGroupName="home-params", DBParameterGroupFamily="postgres16",
                                   Description="home")
    named = east.create_db_instance_read_replica(DBInstanceIdentifier="home-2", SourceDBInstanceIdentifier=source,
                                                 DBParameterGroupName="home-params")["DBInstance"]
    assert [g["DBParameterGroupName"] for g in named["DBParameterGroups"]] == ["home-params"]
    with pytest.raises(ClientError) as missing:
        east.create_db_instance_read_replica(DBInstanceIdentifier="home-3", SourceDBInstanceIdentifier=source,
                                             DBParameterGroupName="west-only")
    assert missing.value.response["Error"]["Code"] == "DBParameterGroupNotFound"
