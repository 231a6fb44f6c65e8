"""The drill's end-state checks, asked of AWS's own APIs (never of the DR command's report).

A failover is done when AWS says so: the DR database is a standalone, Multi-AZ instance of the
prod class; the DR node groups run at their prod sizes with healthy targets behind every target
group; the Route 53 switch is flipped and the failover record resolves to the DR load balancer;
the cache's Global Datastore primary is in the DR region; the DR lock is released. Each check is
one sentence, like the DR command's steps.

`dns_answer` evaluates Route 53 failover routing the way Route 53 does: a record is healthy when
its health check is (CALCULATED checks count healthy children against the threshold; a disabled
check counts as healthy; `Inverted` flips the result) and, with EvaluateTargetHealth, when its
load balancer has a healthy target; PRIMARY answers when healthy, else SECONDARY — and when both
are unhealthy Route 53 answers as if both were healthy (the primary).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hastack.dr.outputs import DrOutputs
from hastack.local.moto_mocks import AwsClients


@dataclass(frozen=True)
class Verdict:
    check: str
    ok: bool
    detail: str


class HealthEvaluator:
    """Route 53's view of health checks, from GetHealthCheck / GetHealthCheckStatus."""

    def __init__(self, clients: AwsClients, down_regions: set[str]) -> None:
        self.r53 = clients.get("route53", "us-east-1")
        self.clients = clients
        self.down_regions = down_regions
        self._cache: dict[str, bool] = {}

    def healthy(self, check_id: str) -> bool:
        if check_id not in self._cache:
            self._cache[check_id] = self._evaluate(check_id)
        return self._cache[check_id]

    def _evaluate(self, check_id: str) -> bool:
        cfg = self.r53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]
        if cfg.get("Disabled"):
            healthy = True
        elif cfg["Type"] == "CALCULATED":
            children = cfg.get("ChildHealthChecks") or []
            healthy = sum(self.healthy(c) for c in children) >= int(cfg.get("HealthThreshold") or 0)
        else:
            observations = self.r53.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]
            ok = sum(o["StatusReport"]["Status"].startswith("Success") for o in observations)
            healthy = ok * 100 > 18 * len(observations)  # Route 53: healthy when > 18% of checkers agree
        return not healthy if cfg.get("Inverted") else healthy

    def load_balancer_healthy(self, dns_name: str) -> bool:
        """EvaluateTargetHealth for an ALB alias: at least one healthy target behind it."""
        region = _region_of_elb_dns(dns_name)
        if region is None or region in self.down_regions:
            return False
        elb = self.clients.get("elbv2", region)
        for lb in elb.describe_load_balancers()["LoadBalancers"]:
            if lb["DNSName"].rstrip(".").lower() != dns_name.rstrip(".").lower():
                continue
            for tg in elb.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]:
                health = elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
                if any(t["TargetHealth"]["State"] == "healthy" for t in health):
                    return True
        return False


def _region_of_elb_dns(dns_name: str) -> str | None:
    parts = dns_name.rstrip(".").split(".")
    return parts[-4] if len(parts) >= 4 and parts[-3] == "elb" else None


def dns_answer(clients: AwsClients, zone_id: str, record_name: str, down_regions: set[str]) -> str | None:
    """The alias target Route 53 would answer for `record_name` now (None without failover records)."""
    r53 = clients.get("route53", "us-east-1")
    name = record_name.rstrip(".") + "."
    sets = [r for r in r53.list_resource_record_sets(HostedZoneId=zone_id, StartRecordName=name)["ResourceRecordSets"]
            if r["Name"] == name and r.get("Failover")]
    if not sets:
        return None
    health = HealthEvaluator(clients, down_regions)

    def target(rrset: dict[str, Any]) -> str:
        alias = rrset.get("AliasTarget") or {}
        return str(alias.get("DNSName") or (rrset.get("ResourceRecords") or [{}])[0].get("Value", "")).rstrip(".")

    def ok(rrset: dict[str, Any]) -> bool:
        if rrset.get("HealthCheckId") and not health.healthy(rrset["HealthCheckId"]):
            return False
        alias = rrset.get("AliasTarget") or {}
        if alias.get("EvaluateTargetHealth"):
            return health.load_balancer_healthy(alias["DNSName"])
        return True

    primary = next((r for r in sets if r["Failover"] == "PRIMARY"), None)
    secondary = next((r for r in sets if r["Failover"] == "SECONDARY"), None)
    if primary is not None and ok(primary):
        return target(primary)
    if secondary is not None and ok(secondary):
        return target(secondary)
    return target(primary or secondary)  # every record unhealthy: Route 53 answers as if all were healthy


def _safe(check: str, fn: Any) -> Verdict:
    try:
        return fn()
    except (ClientError, BotoCoreError) as exc:
        return Verdict(check, False, f"could not read it from AWS: {exc}")


def verify_failover(clients: AwsClients, o: DrOutputs, down_regions: set[str], replicas: dict[str, int]
                    ) -> list[Verdict]:
    """Every end-state check of a regional failover to `o.dr_region` (see the module docstring)."""
    dr = o.dr_region
    return [
        _safe("DR database standalone, Multi-AZ, prod class", lambda: _database(clients, o)),
        _safe("DR node groups at prod size", lambda: _node_groups(clients, o)),
        _safe("DR target groups healthy", lambda: _targets(clients, o, replicas)),
        _safe("Route 53 switch flipped", lambda: _switch(clients, o)),
        _safe("DNS answers with the DR load balancer", lambda: _dns(clients, o, down_regions, expect=dr)),
        _safe("cache Global Datastore primary in DR", lambda: _cache(clients, o)),
        _safe("DR lock released", lambda: _lock(clients, o)),
    ]


def verify_not_promoted(clients: AwsClients, o: DrOutputs) -> list[Verdict]:
    """The checks of a refused failover: nothing was promoted, DNS did not move, the lock is free."""
    db = clients.get("rds", o.dr_region).describe_db_instances(
        DBInstanceIdentifier=o.database.replica.identifier)["DBInstances"][0]
    source = db.get("ReadReplicaSourceDBInstanceIdentifier")
    return [
        Verdict("DR database still a replica (not promoted)", bool(source),
                f"{db['DBInstanceIdentifier']} is " + (f"a replica of {source}" if source else "standalone")),
        _safe("Route 53 switch not flipped", lambda: _invert(_switch(clients, o), "Route 53 switch not flipped")),
        _safe("DR lock released", lambda: _lock(clients, o)),
    ]


def _invert(v: Verdict, check: str) -> Verdict:
    return Verdict(check, not v.ok, v.detail)


def _database(clients: AwsClients, o: DrOutputs) -> Verdict:
    ident = o.database.replica.identifier
    db = clients.get("rds", o.dr_region).describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    source = db.get("ReadReplicaSourceDBInstanceIdentifier")
    ok = not source and bool(db.get("MultiAZ")) and db.get("DBInstanceClass") == o.database.prod_instance_class
    return Verdict("DR database standalone, Multi-AZ, prod class", ok,
                   f"{ident}: {'replica of ' + source if source else 'standalone'}, "
                   f"{'Multi-AZ' if db.get('MultiAZ') else 'single-AZ'}, {db.get('DBInstanceClass')} "
                   f"(prod class {o.database.prod_instance_class}), {db.get('DBInstanceStatus')}")


def _node_groups(clients: AwsClients, o: DrOutputs) -> Verdict:
    eks = clients.get("eks", o.dr_region)
    wrong = []
    for ng in o.dr_node_groups:
        sc = eks.describe_nodegroup(clusterName=ng.cluster_name, nodegroupName=ng.name)["nodegroup"]["scalingConfig"]
        have = (sc.get("minSize"), sc.get("desiredSize"), sc.get("maxSize"))
        want = (ng.prod_min_size, ng.prod_desired_size, ng.prod_max_size)
        if have != want:
            wrong.append(f"{ng.name} at {have}, prod is {want}")
    count = len(o.dr_node_groups)
    return Verdict("DR node groups at prod size", not wrong,
                   "; ".join(wrong) if wrong else f"{count} node groups at min/desired/max "
                   + ", ".join(f"{n.prod_min_size}/{n.prod_desired_size}/{n.prod_max_size}" for n in o.dr_node_groups))


def _targets(clients: AwsClients, o: DrOutputs, replicas: dict[str, int]) -> Verdict:
    elb = clients.get("elbv2", o.dr_region)
    parts, ok = [], True
    for service, arn in o.ingress[o.dr_region].target_group_arns.items():
        health = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        healthy = sum(t["TargetHealth"]["State"] == "healthy" for t in health)
        need = replicas.get(service, 1)
        ok = ok and healthy >= need
        parts.append(f"{service}: {healthy} healthy (needs {need})")
    return Verdict("DR target groups healthy", ok, "; ".join(parts))


def _switch(clients: AwsClients, o: DrOutputs) -> Verdict:
    cfg = clients.get("route53", "us-east-1").get_health_check(
        HealthCheckId=o.dns.switch_health_check_id)["HealthCheck"]["HealthCheckConfig"]
    inverted = bool(cfg.get("Inverted"))
    return Verdict("Route 53 switch flipped", inverted,
                   f"switch {o.dns.switch_health_check_id[:8]}: Inverted={inverted} "
                   f"({'traffic to DR' if inverted else 'traffic to primary'})")


def _dns(clients: AwsClients, o: DrOutputs, down_regions: set[str], expect: str) -> Verdict:
    answer = dns_answer(clients, o.dns.hosted_zone_id, o.dns.record_name, down_regions)
    want = o.ingress[expect].alb_dns_name.rstrip(".")
    return Verdict("DNS answers with the DR load balancer", answer == want,
                   f"{o.dns.record_name} -> {answer} (DR ALB {want})")


def _cache(clients: AwsClients, o: DrOutputs) -> Verdict:
    gid = o.cache.global_datastore_id
    groups = clients.get("elasticache", o.dr_region).describe_global_replication_groups(
        GlobalReplicationGroupId=gid, ShowMemberInfo=True)["GlobalReplicationGroups"]
    members = groups[0].get("Members", []) if groups else []
    primary = next((m for m in members if m.get("Role") == "PRIMARY"), {})
    return Verdict("cache Global Datastore primary in DR", primary.get("ReplicationGroupRegion") == o.dr_region,
                   f"{gid}: primary {primary.get('ReplicationGroupId')} in {primary.get('ReplicationGroupRegion')}")


def _lock(clients: AwsClients, o: DrOutputs) -> Verdict:
    ddb = clients.get("dynamodb", o.lock_table.region)
    key = ddb.describe_table(TableName=o.lock_table.name)["Table"]["KeySchema"][0]["AttributeName"]
    items = ddb.scan(TableName=o.lock_table.name)["Items"]
    held = [i for i in items if i.get(key, {}).get("S", "").startswith("dr-lock#")]
    return Verdict("DR lock released", not held,
                   f"held by {held[0].get('owner', {}).get('S', '?')}" if held
                   else f"no lock item in {o.lock_table.name}")
