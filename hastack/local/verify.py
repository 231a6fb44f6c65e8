"""The drill's end-state checks, asked of AWS's own APIs (never of the DR command's report).

A failover is done when AWS says so: the DR database is a standalone, Multi-AZ instance of the
prod class; the DR node groups run at their prod sizes with healthy targets behind every target
group; the traffic switches are set (their alarms in the DR region: DrReady OK, PrimaryFenced
ALARM) and the failover record resolves to the DR load balancer; the writers' lease is held by the
DR region; the cache's primary is in the DR region (the Global Datastore's, or a standalone group
after an unplanned failover); the DR lock is released. Each check is one sentence, like the DR
command's steps. Nothing here asks Route 53's API (it may be dark with the primary region).

What DNS answers is asked of DNS: the record and the DR load balancer's name are resolved through
the world's resolver (Route 53's data plane as the world computes it: health checks, failover
routing, alias targets; `hastack.local.world.route53`), never read from the switch or from
Route 53's API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from dns.exception import DNSException

from hastack.dr.outputs import DrOutputs
from hastack.local.moto_mocks import AwsClients


@dataclass(frozen=True)
class Verdict:
    check: str
    ok: bool
    detail: str


def resolve(resolver: tuple[str, int], name: str, timeout: float = 2.0) -> list[str]:
    """The A records `name` resolves to through the DNS server at `resolver` (one UDP query)."""
    import dns.message
    import dns.query
    import dns.rdatatype

    response = dns.query.udp(dns.message.make_query(name, "A"), resolver[0], port=resolver[1], timeout=timeout)
    return sorted(r.address for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for r in rrset)


def _safe(check: str, fn: Any) -> Verdict:
    try:
        return fn()
    except (ClientError, BotoCoreError) as exc:
        return Verdict(check, False, f"could not read it from AWS: {exc}")
    except DNSException as exc:
        return Verdict(check, False, f"could not resolve it: {exc}")


def verify_failover(clients: AwsClients, o: DrOutputs, resolver: tuple[str, int], replicas: dict[str, int]
                    ) -> list[Verdict]:
    """Every end-state check of a regional failover to `o.dr_region` (see the module docstring)."""
    dr = o.dr_region
    return [
        _safe("DR database standalone, Multi-AZ, prod class", lambda: _database(clients, o)),
        _safe("DR node groups at prod size", lambda: _node_groups(clients, o)),
        _safe("DR target groups healthy", lambda: _targets(clients, o, replicas)),
        _safe("traffic switches set for DR", lambda: _switches(clients, o)),
        _safe("DNS answers with the DR load balancer", lambda: _dns(o, resolver, expect=dr)),
        _safe("writers' lease held by DR", lambda: _lease(clients, o, dr)),
        _safe("cache primary in DR", lambda: _cache(clients, o)),
        _safe("DR lock released", lambda: _lock(clients, o)),
    ]


def verify_failback(clients: AwsClients, o: DrOutputs, resolver: tuple[str, int]) -> list[Verdict]:
    """Every end-state check of a failback to `o.primary_region`: production is home again."""
    home = o.primary_region
    return [
        _safe("home database standalone under the original identifier", lambda: _home_database(clients, o)),
        _safe("traffic switches set for home", lambda: _switches(clients, o, home=True)),
        _safe("DNS answers with the home load balancer",
              lambda: _dns(o, resolver, expect=home, check="DNS answers with the home load balancer")),
        _safe("writers' lease held by home", lambda: _lease(clients, o, home, "writers' lease held by home")),
        _safe("cache primary in home", lambda: _cache_home(clients, o)),
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
        _safe("DR not declared ready", lambda: _invert(_dr_ready(clients, o), "DR not declared ready")),
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


def _alarm_states(clients: AwsClients, o: DrOutputs) -> dict[str, str]:
    alarms = clients.get("cloudwatch", o.traffic_control.region).describe_alarms()["MetricAlarms"]
    return {a["AlarmName"]: a["StateValue"] for a in alarms}


def _switches(clients: AwsClients, o: DrOutputs, home: bool = False) -> Verdict:
    """The traffic switches' alarms as a failover (DrReady OK, PrimaryFenced ALARM) or a failback left them."""
    check = f"traffic switches set for {'home' if home else 'DR'}"
    cw = o.traffic_control.cloudwatch_alarm
    if cw is None:
        return Verdict(check, False, "ARC routing controls: nothing emulates ARC here")
    states = _alarm_states(clients, o)
    ready, fenced = states.get(cw.dr_ready.alarm_name), states.get(cw.primary_fenced.alarm_name)
    want_ready, want_fenced = ("ALARM", "OK") if home else ("OK", "ALARM")
    ready_means, fenced_means = ("DR stands by", "primary not fenced") if home else ("DR ready", "primary fenced")
    return Verdict(check, (ready, fenced) == (want_ready, want_fenced),
                   f"{cw.dr_ready.alarm_name} {ready} ({want_ready}: {ready_means}), {cw.primary_fenced.alarm_name} "
                   f"{fenced} ({want_fenced}: {fenced_means}) in {o.traffic_control.region}")


def _dr_ready(clients: AwsClients, o: DrOutputs) -> Verdict:
    cw = o.traffic_control.cloudwatch_alarm
    state = _alarm_states(clients, o).get(cw.dr_ready.alarm_name) if cw else None
    return Verdict("DR declared ready", state == "OK", f"{cw.dr_ready.alarm_name if cw else 'dr-ready'}: {state}")


def _lease(clients: AwsClients, o: DrOutputs, region: str, check: str = "writers' lease held by DR") -> Verdict:
    c = o.coordination
    item = clients.get("dynamodb", c.home_region).get_item(
        TableName=c.table_name, Key={c.key_attribute: {"S": c.lease_key}}, ConsistentRead=True).get("Item")
    holder = item["holder"]["S"] if item else None
    return Verdict(check, holder == region,
                   f"{c.lease_key}: holder {holder or 'nobody'}, epoch {item['epoch']['N'] if item else '-'}")


def _dns(o: DrOutputs, resolver: tuple[str, int], expect: str,
         check: str = "DNS answers with the DR load balancer") -> Verdict:
    answer = resolve(resolver, o.dns.record_name)
    alb = o.ingress[expect].alb_dns_name.rstrip(".")
    want = resolve(resolver, alb)
    return Verdict(check, bool(answer) and answer == want,
                   f"{o.dns.record_name} -> {', '.join(answer) or 'no answer'} "
                   f"({expect} ALB {alb} -> {', '.join(want) or '?'}; resolved through {resolver[0]}:{resolver[1]})")


def _cache(clients: AwsClients, o: DrOutputs) -> Verdict:
    gid, dr_group = o.cache.global_datastore_id, o.cache.secondary.replication_group_id
    ec = clients.get("elasticache", o.dr_region)
    groups = ec.describe_global_replication_groups(GlobalReplicationGroupId=gid,
                                                   ShowMemberInfo=True)["GlobalReplicationGroups"]
    members = groups[0].get("Members", []) if groups else []
    if not any(m.get("ReplicationGroupRegion") == o.dr_region for m in members):  # disassociated: standalone
        group = ec.describe_replication_groups(ReplicationGroupId=dr_group)["ReplicationGroups"][0]
        return Verdict("cache primary in DR", group.get("Status") == "available",
                       f"{dr_group} is a standalone primary in {o.dr_region} ({group.get('Status')}), no longer in "
                       f"{gid} (unplanned failover)")
    primary = next((m for m in members if m.get("Role") == "PRIMARY"), {})
    return Verdict("cache primary in DR", primary.get("ReplicationGroupRegion") == o.dr_region,
                   f"{gid}: primary {primary.get('ReplicationGroupId')} in {primary.get('ReplicationGroupRegion')}")


def _home_database(clients: AwsClients, o: DrOutputs) -> Verdict:
    ident = o.database.primary.identifier
    db = clients.get("rds", o.primary_region).describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    source = db.get("ReadReplicaSourceDBInstanceIdentifier")
    return Verdict("home database standalone under the original identifier", not source,
                   f"{ident} in {o.primary_region}: {'replica of ' + source if source else 'standalone'}, "
                   f"{db.get('DBInstanceStatus')}")


def _cache_home(clients: AwsClients, o: DrOutputs) -> Verdict:
    gid, home = o.cache.global_datastore_id, o.primary_region
    groups = clients.get("elasticache", home).describe_global_replication_groups(
        GlobalReplicationGroupId=gid, ShowMemberInfo=True)["GlobalReplicationGroups"]
    members = groups[0].get("Members", []) if groups else []
    primary = next((m for m in members if m.get("Role") == "PRIMARY"), {})
    return Verdict("cache primary in home", primary.get("ReplicationGroupRegion") == home,
                   f"{gid}: primary {primary.get('ReplicationGroupId')} in {primary.get('ReplicationGroupRegion')}, "
                   f"{len(members)} members")


def _lock(clients: AwsClients, o: DrOutputs) -> Verdict:
    ddb = clients.get("dynamodb", o.coordination.home_region)
    key = ddb.describe_table(TableName=o.coordination.table_name)["Table"]["KeySchema"][0]["AttributeName"]
    items = ddb.scan(TableName=o.coordination.table_name)["Items"]
    held = [i for i in items if i.get(key, {}).get("S", "").startswith("dr-lock#")]
    return Verdict("DR lock released", not held,
                   f"held by {held[0].get('owner', {}).get('S', '?')}" if held
                   else f"no lock item in {o.coordination.table_name}")
