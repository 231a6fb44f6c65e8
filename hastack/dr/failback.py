"""`hastack dr failback`: re-protect the home region, then switch back without losing a write.

After a scale-up the DR region is production and nothing protects it. Failback is one run on the
shared runner, in the order that keeps its promise (docs/dr.md, runbooks/failback.md):

1. readiness — the DR writer is standalone and the home region answers (bounded);
2. re-protect — the old primary is renamed aside to `<original>-pre-failover-<yyyymmdd>` (kept: it
   may hold writes the replica never got); a replica of the DR writer is created under the
   ORIGINAL identifier (tagged `hastack:failback`, in the old primary's subnet group and security
   groups, with its KMS key); the database access the scale-up's isolation revoked is restored;
   a cache the scale-up had to disassociate is re-protected (a Global Datastore again, DR primary);
3. caught up — the new replica is available and fresh lag evidence says it is close behind;
4. fence the DR writer — the same lease, now held by the DR region, revoked; wait until every
   lease granted before has expired: from here nothing is written anywhere;
5. health gate of the home region — node groups at their deployed size, healthy targets, the replica;
6. switch back — PrimaryFenced off (the PRIMARY record's gate turns healthy again: it is preferred),
   verified by resolving the record; then wait out DNS (TTL + propagation) so no client keeps
   writing to the DR region from a cached answer;
7. fresh evidence — a `ReplicaLag` datapoint proving the replica replayed a commit made after the
   fence (the heartbeat): everything written before the fence is in the home replica;
8. promote home ∥ fail the cache back — then the lease is granted to the home region, DrReady off,
   and the fenced DR writer renamed aside (`<dr id>-post-failback-<yyyymmdd>`, kept).

Between the fence and the promotion nobody can write: that pause is the price of zero data loss.
"Done" is derived from AWS (tag, identifiers, roles, the lease, the switches, DNS answers), so a
re-run after a crash at any step converges, and after success says there is nothing to do.
`--dry-run` decides every step and lists exactly the steps the real run takes.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from hastack.dr import actions, evidence, probes, waiters
from hastack.dr import steps as st
from hastack.dr.aws import ClientFactory
from hastack.dr.deployment import Deployment
from hastack.dr.outputs import DrOutputs
from hastack.dr.runner import (
    CONTROL,
    DATA,
    Decision,
    Need,
    Phase,
    Run,
    RunContext,
    RunResult,
    Step,
    act,
    already,
    plan_rows,
    refuse,
    summary,
)

COMMAND = "dr failback"
#: The new replica counts as caught up when fresh evidence puts it at most this far behind (seconds).
CAUGHT_UP_SECONDS = 5.0
#: Tag on the replica failback creates: how a re-run tells it from the old primary it replaces.
FAILBACK_TAG = "hastack:failback"


def _today() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d")


class Names:
    """Regions and identifiers of a failback (the stack outputs name members by the region they were built in)."""

    def __init__(self, o: DrOutputs) -> None:
        self.o = o
        self.home, self.writer_region = o.primary_region, o.dr_region
        self.writer_id = o.database.replica.identifier
        self.original_id = o.database.primary.identifier

    @property
    def aside_prefix(self) -> str:
        return f"{self.original_id[:40]}-pre-failover-"

    @property
    def retired_prefix(self) -> str:
        return f"{self.writer_id[:40]}-post-failback-"


def _tags(aws: ClientFactory, region: str, inst: dict[str, Any]) -> dict[str, str]:
    tags = inst.get("TagList")
    if tags is None:
        tags = aws.client("rds", region).list_tags_for_resource(ResourceName=inst["DBInstanceArn"])["TagList"]
    return {t["Key"]: t["Value"] for t in tags}


def _home_db(ctx: RunContext, n: Names) -> dict[str, Any] | None:
    return probes.db_instance(ctx.aws, n.home, n.original_id)


def _is_ours(ctx: RunContext, n: Names, inst: dict[str, Any] | None) -> bool:
    return inst is not None and FAILBACK_TAG in _tags(ctx.aws, n.home, inst)


def _ours(ctx: RunContext, n: Names) -> dict[str, Any] | None:
    """The home instance under the original identifier if it is failback's (None while the old primary
    still holds the identifier, or nothing does)."""
    home = _home_db(ctx, n)
    return home if _is_ours(ctx, n, home) else None


def _ids_with_prefix(ctx: RunContext, region: str, prefix: str) -> list[str]:
    pages = ctx.aws.client("rds", region).get_paginator("describe_db_instances").paginate()
    return [i["DBInstanceIdentifier"] for page in pages for i in page["DBInstances"]
            if i["DBInstanceIdentifier"].startswith(prefix)]


# --- readiness and re-protect -----------------------------------------------------------------------


def decide_readiness(ctx: RunContext, n: Names) -> Decision:
    try:
        home = _home_db(ctx, n)
    except probes.ProbeError as exc:
        return refuse(f"{n.home} does not answer yet ({exc}); fail back once it is healthy")
    if _is_ours(ctx, n, home) and not probes.is_replica(home):
        return act(f"{n.original_id!r} is already the standalone writer in {n.home}")
    writer = probes.db_instance(ctx.aws, n.writer_region, n.writer_id)
    if writer is None or probes.is_replica(writer):
        return refuse(f"{n.writer_id!r} in {n.writer_region} is {probes.db_role(writer)}: fail back only after a "
                      "scale-up made it the writer")
    return act(f"{n.writer_id!r} is the writer in {n.writer_region} and {n.home} answers")


def decide_rename_aside(ctx: RunContext, n: Names) -> Decision:
    home = _home_db(ctx, n)
    if home is None or _is_ours(ctx, n, home):
        aside = _ids_with_prefix(ctx, n.home, n.aside_prefix)
        kept = f"kept as {', '.join(repr(a) for a in aside)}" if aside else "no old instance found"
        return already(f"the old primary is already out of the way ({kept})")
    return act(f"would rename the old primary {n.original_id!r} in {n.home} to {n.aside_prefix + _today()!r} (kept: "
               "it may hold writes the replica never got)")


def act_rename_aside(ctx: RunContext, n: Names) -> str:
    home = _home_db(ctx, n)
    if home is not None:
        ctx.remember("oldPrimary", inherited_settings(home))
    new_id = n.aside_prefix + _today()
    actions.rename_db_instance(ctx.aws, n.home, n.original_id, new_id)
    deadline = ctx.deadline(ctx.bounds.wait_timeout_seconds)
    while probes.db_instance(ctx.aws, n.home, n.original_id) is not None:  # a rename frees the old name after a moment
        if ctx.clock.now() + ctx.options.poll_seconds > deadline:
            raise actions.ActionError(f"{n.original_id!r} in {n.home} still exists after the rename")
        ctx.clock.sleep(ctx.options.poll_seconds)
    return f"renamed the old primary {n.original_id!r} in {n.home} to {new_id!r} (kept)"


def decide_reprotect(ctx: RunContext, n: Names) -> Decision:
    existing = _home_db(ctx, n)
    if existing is not None and _is_ours(ctx, n, existing):
        return already(f"{n.original_id!r} already exists in {n.home} ({probes.db_role(existing)})")
    if existing is not None and not ctx.dry_run:
        return refuse(f"the old primary still holds {n.original_id!r} in {n.home}: it was not renamed aside")
    return act(f"would create replica {n.original_id!r} in {n.home} of {n.writer_id!r} (in the old primary's subnet "
               "group, security groups and parameter group)")


def inherited_settings(instance: dict[str, Any]) -> dict[str, Any]:
    """What the re-protecting replica takes from the old primary: network, security groups, key, and
    its parameter group (without it RDS gives a cross-region replica the engine's default group, and
    the home writer promoted from it would lose the stack's settings, e.g. rds.force_ssl)."""
    groups = instance.get("DBParameterGroups") or [{}]
    return {"subnetGroup": (instance.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
            "securityGroups": [g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", [])],
            "kmsKeyId": instance.get("KmsKeyId"), "parameterGroup": groups[0].get("DBParameterGroupName")}


def _old_primary_settings(ctx: RunContext, n: Names) -> dict[str, Any]:
    known = ctx.fact("oldPrimary")
    if known:
        return dict(known)
    aside = sorted(_ids_with_prefix(ctx, n.home, n.aside_prefix))
    inst = probes.db_instance(ctx.aws, n.home, aside[-1]) if aside else None
    return {} if inst is None else inherited_settings(inst)


def act_reprotect(ctx: RunContext, n: Names) -> str:
    writer = probes.db_instance(ctx.aws, n.writer_region, n.writer_id)
    arn = (writer or {}).get("DBInstanceArn", "")
    settings = _old_primary_settings(ctx, n)
    actions.create_cross_region_replica(ctx.aws, n.home, n.original_id, arn, ctx.outputs.database.prod_instance_class,
                                        tags={FAILBACK_TAG: _today()}, subnet_group=settings.get("subnetGroup"),
                                        security_groups=settings.get("securityGroups"),
                                        kms_key_id=settings.get("kmsKeyId"),
                                        parameter_group=settings.get("parameterGroup"))
    return f"created replica {n.original_id!r} in {n.home} of {n.writer_id!r}"


def _isolation(ctx: RunContext) -> dict[str, Any] | None:
    coord = ctx.deployment.coordination
    item = ctx.aws.client("dynamodb", coord.region).get_item(
        TableName=coord.table, Key={coord.key: {"S": coord.isolation_id}}, ConsistentRead=True).get("Item")
    if not item:
        return None
    return {"identifier": item["identifier"]["S"], "region": item["region"]["S"],
            "rules": json.loads(item["rules"]["S"])}


def decide_restore_access(ctx: RunContext, n: Names) -> Decision:
    iso = _isolation(ctx)
    if iso is None:
        return already("no database access to restore (the scale-up's isolation did not revoke any)")
    if not iso["rules"]:
        return act("would clear the scale-up's isolation record (it revoked no rule)")
    groups = sorted({r["group"] for r in iso["rules"]})
    return act(f"would restore the {len(iso['rules'])} ingress rule(s) of {', '.join(groups)} in {iso['region']} that "
               "the scale-up revoked")


def act_restore_access(ctx: RunContext, n: Names) -> str:
    iso = _isolation(ctx)
    assert iso is not None
    ec2 = ctx.aws.client("ec2", iso["region"])
    restored = 0
    for rule in iso["rules"]:
        perm: dict[str, Any] = {"IpProtocol": rule["protocol"]}
        if rule.get("from") is not None and rule.get("from") != -1:
            perm.update(FromPort=rule["from"], ToPort=rule["to"])
        if rule.get("source"):
            perm["UserIdGroupPairs"] = [{"GroupId": rule["source"], "Description": rule.get("description") or ""}]
        elif rule.get("cidr"):
            perm["IpRanges"] = [{"CidrIp": rule["cidr"], "Description": rule.get("description") or ""}]
        try:
            ec2.authorize_security_group_ingress(GroupId=rule["group"], IpPermissions=[perm])
            restored += 1
        except Exception as exc:  # noqa: BLE001 - a rule that exists again is restored
            if "Duplicate" not in str(exc):
                raise
    coord = ctx.deployment.coordination
    ctx.aws.client("dynamodb", coord.region).delete_item(TableName=coord.table,
                                                         Key={coord.key: {"S": coord.isolation_id}})
    return f"restored {restored} ingress rule(s) the scale-up revoked in {iso['region']}"


def decide_cache_reprotect(ctx: RunContext, n: Names) -> Decision:
    c = ctx.outputs.cache
    gd = probes.global_datastore(ctx.aws, n.writer_region, c.global_datastore_id)
    if probes.cache_member(gd, n.writer_region) is not None:
        return already(f"{c.secondary.replication_group_id!r} is in Global Datastore {c.global_datastore_id!r} "
                       f"(primary in {probes.cache_primary_region(gd)})")
    return act(f"would re-protect the cache: {c.secondary.replication_group_id!r} in {n.writer_region} is standalone "
               f"since the unplanned failover; delete the stale {c.global_datastore_id!r} (keeping nothing of "
               f"{c.primary.replication_group_id!r}'s stale data), create it again with {n.writer_region} as primary "
               f"and {c.primary.replication_group_id!r} in {n.home} as its secondary")


def act_cache_reprotect(ctx: RunContext, n: Names) -> str:
    c = ctx.outputs.cache
    gid = c.global_datastore_id
    home_ec, dr_ec = ctx.aws.client("elasticache", n.home), ctx.aws.client("elasticache", n.writer_region)
    old_home = probes.replication_group(ctx.aws, n.home, c.primary.replication_group_id)
    template = {k: old_home[k] for k in ("CacheNodeType",) if old_home and old_home.get(k)}
    if probes.global_datastore(ctx.aws, n.home, gid) is not None:
        home_ec.delete_global_replication_group(GlobalReplicationGroupId=gid, RetainPrimaryReplicationGroup=True)
        waiters.global_gone(home_ec, gid, st.wait_policy(ctx))
    if old_home is not None:
        home_ec.delete_replication_group(ReplicationGroupId=c.primary.replication_group_id)
        waiters.replication_group_gone(home_ec, c.primary.replication_group_id, st.wait_policy(ctx))
    dr_ec.create_global_replication_group(GlobalReplicationGroupIdSuffix=gid.split("-", 1)[1],
                                          PrimaryReplicationGroupId=c.secondary.replication_group_id,
                                          GlobalReplicationGroupDescription="hastack cache (re-protected by failback)")
    home_ec.create_replication_group(ReplicationGroupId=c.primary.replication_group_id,
                                     ReplicationGroupDescription="hastack cache (failback secondary)",
                                     GlobalReplicationGroupId=gid, **template)
    waiters.global_member_in(dr_ec, gid, n.home, st.wait_policy(ctx))
    return (f"re-protected the cache: Global Datastore {gid!r} again, primary {c.secondary.replication_group_id!r} in "
            f"{n.writer_region}, secondary {c.primary.replication_group_id!r} in {n.home} (its stale data dropped)")


def decide_caught_up(ctx: RunContext, n: Names) -> Decision:
    home = _ours(ctx, n)
    if home is not None and not probes.is_replica(home):
        return already(f"{n.original_id!r} is already promoted")
    if home is None or home.get("DBInstanceStatus") != "available":
        return act(f"would wait for {n.original_id!r} to be available, then check fresh lag evidence is within "
                   f"{CAUGHT_UP_SECONDS:g} s")
    return _caught_up_verdict(ctx, n)


def _caught_up_verdict(ctx: RunContext, n: Names) -> Decision:
    ev = st.lag_evidence(ctx, n.home, n.original_id)
    unknown = ev.unknown_because(n.original_id)
    latest = ev.latest
    if unknown is None and latest is not None and latest.lag <= CAUGHT_UP_SECONDS:
        return act(f"{n.original_id!r} is caught up: ReplicaLag {latest.lag:g} s, {ev.age_seconds:.0f} s old")
    why = unknown or f"ReplicaLag of {n.original_id!r} is {latest.lag:g} s" if latest else unknown
    if ctx.options.accept_data_loss:
        return act(f"{why}: going on (--accept-data-loss)")
    return refuse(f"{why}, not within {CAUGHT_UP_SECONDS:g} s: not switching back yet (nothing has moved); re-run "
                  "when it has caught up (hastack dr status), or --accept-data-loss")


def act_caught_up(ctx: RunContext, n: Names) -> str:
    started = ctx.clock.now()
    waiters.db_available(ctx.aws.client("rds", n.home), n.original_id, st.wait_policy(ctx))
    verdict = _caught_up_verdict(ctx, n)
    if verdict.verdict == "refuse":
        raise actions.ActionError(verdict.sentence)
    return f"{verdict.sentence} (available after {ctx.clock.now() - started:.0f} s)"


# --- switch back ------------------------------------------------------------------------------------


def _home_groups(ctx: RunContext, n: Names) -> list[tuple[str, str, int]]:
    return [(g.cluster_name, g.name, g.desired_size) for g in ctx.outputs.node_groups.get(n.home, ())]


def decide_home_gate(ctx: RunContext, n: Names) -> Decision:
    groups, short = st.compute_state(ctx, n.home, _home_groups(ctx, n))
    problems = [f"node group {g} not at its deployed size" for g in groups] + short
    home = _ours(ctx, n)
    if home is None or home.get("DBInstanceStatus") not in ("available", "modifying"):
        problems.append(f"database {n.original_id!r} is {probes.db_role(home)}")
    if ctx.dry_run:
        return act(f"would check {n.home} can serve (node groups, healthy targets, its database) before switching "
                   "back" + (f" (now: {'; '.join(problems)})" if problems else ""))
    if problems:
        return refuse(f"not switching back to {n.home}: " + "; ".join(problems))
    return act(f"{n.home} can serve: node groups at size, targets healthy, {n.original_id!r} "
               f"{probes.db_role(home)}")


def decide_dns_drain(ctx: RunContext) -> Decision:
    switched = ctx.fact("switchedBackAt")
    settle = ctx.bounds.dns_settle_seconds
    if switched and time.time() >= switched + settle:
        return already(f"DNS settled: {settle:g} s (TTL + propagation) passed since the switch back")
    return act(f"would wait {settle:g} s (dnsTtlSeconds + dnsPropagationSeconds) so no client still writes to the DR "
               "region from a cached answer")


def act_dns_drain(ctx: RunContext) -> str:
    switched = ctx.fact("switchedBackAt") or time.time()
    settle = ctx.bounds.dns_settle_seconds
    ctx.clock.sleep(max(0.0, switched + settle - time.time()))
    return f"waited out DNS: {settle:g} s (TTL {ctx.bounds.dns_ttl_seconds:g} + propagation " \
           f"{ctx.bounds.dns_propagation_seconds:g}) since the switch back"


def decide_fresh_evidence(ctx: RunContext, n: Names) -> Decision:
    home = _ours(ctx, n)
    if home is not None and not probes.is_replica(home):
        return already(f"{n.original_id!r} is already promoted")
    fenced = ctx.fact("fencedAt")
    if not fenced:
        return act("would wait for a ReplicaLag datapoint proving the replica replayed a commit made after the fence")
    moment = dt.datetime.fromtimestamp(fenced, dt.UTC)
    point = st.lag_evidence(ctx, n.home, n.original_id, since=moment).proves_replay_after(moment)
    if point is not None:
        return already(_evidence_sentence(n, point, moment))
    return act(f"would wait up to {ctx.bounds.wait_timeout_seconds:.0f} s for a ReplicaLag datapoint of "
               f"{n.original_id!r} proving it replayed a commit made after the fence ({moment:%H:%M:%S})")


def _evidence_sentence(n: Names, point: evidence.LagPoint, moment: dt.datetime) -> str:
    return (f"{n.original_id!r} replayed a commit made after the fence: ReplicaLag {point.lag:g} s at "
            f"{point.at:%H:%M:%S} (replayed up to {point.replay:%H:%M:%S}, fence {moment:%H:%M:%S}): nothing written "
            "before the fence is missing")


def act_fresh_evidence(ctx: RunContext, n: Names) -> str:
    fenced = ctx.fact("fencedAt")
    moment = dt.datetime.fromtimestamp(fenced, dt.UTC)
    found: dict[str, evidence.LagPoint] = {}

    def proven() -> bool:
        point = st.lag_evidence(ctx, n.home, n.original_id, since=moment).proves_replay_after(moment)
        if point is not None:
            found["point"] = point
        return point is not None

    st.wait_for(proven, ctx.deadline(ctx.bounds.wait_timeout_seconds), ctx.options.poll_seconds, ctx.clock,
                f"a ReplicaLag datapoint of {n.original_id!r} from after the fence")
    ctx.note("rpoEstimateSeconds", 0.0)
    ctx.note("rpoEvidence", "zero: " + _evidence_sentence(n, found["point"], moment))
    return _evidence_sentence(n, found["point"], moment)


def decide_promote_home(ctx: RunContext, n: Names) -> Decision:
    home = _ours(ctx, n)
    if home is None:
        if ctx.dry_run:
            return act(f"would promote {n.original_id!r} in {n.home} once re-protected and caught up")
        return refuse(f"failback's replica {n.original_id!r} does not exist in {n.home}")
    if not probes.is_replica(home):
        return already(f"{n.original_id!r} is already a standalone primary in {n.home}")
    return act(f"would promote {n.original_id!r} in {n.home} (every write before the fence replayed)")


def act_promote_home(ctx: RunContext, n: Names) -> str:
    actions.promote_replica(ctx.aws, n.home, n.original_id)
    return f"promoted {n.original_id!r} in {n.home} (every write before the fence was replayed)"


def decide_home_nodes(ctx: RunContext, n: Names) -> Decision:
    raised = _home_scaling(ctx, n)
    if not raised:
        return already(f"all {len(_home_groups(ctx, n))} {n.home} node groups are at their deployed size")
    return act(f"would scale {n.home} node groups: " + ", ".join(r for r, _ in raised))


def _home_scaling(ctx: RunContext, n: Names) -> list[tuple[str, tuple[Any, tuple[int, int, int]]]]:
    out = []
    for g in ctx.outputs.node_groups.get(n.home, ()):
        cur = probes.node_group(ctx.aws, n.home, g.cluster_name, g.name)
        if cur is None:
            raise probes.ProbeError(f"node group {g.name!r} of {g.cluster_name!r} does not exist in {n.home}")
        mn, ds, mx = probes.scaling(cur)
        if mn >= g.min_size and ds >= g.desired_size and mx >= g.max_size:
            continue
        target = (max(mn, g.min_size), max(ds, g.desired_size), max(mx, g.max_size))
        out.append((f"{g.name} {mn}/{ds}/{mx}->{target[0]}/{target[1]}/{target[2]}", (g, target)))
    return out


def act_home_nodes(ctx: RunContext, n: Names) -> str:
    raised = _home_scaling(ctx, n)
    for _, (g, target) in raised:
        actions.scale_node_group(ctx.aws, n.home, g.cluster_name, g.name, *target)
    return f"scaled {n.home} node groups: " + ", ".join(r for r, _ in raised)


def decide_retire(ctx: RunContext, n: Names) -> Decision:
    old = probes.db_instance(ctx.aws, n.writer_region, n.writer_id)
    if old is None:
        return already(f"{n.writer_id!r} is already out of the way in {n.writer_region}")
    if probes.is_replica(old):
        return already(f"{n.writer_id!r} is already a replica ({probes.db_role(old)})")
    new_id = n.retired_prefix + _today()
    return act(f"would rename the fenced {n.writer_id!r} in {n.writer_region} to {new_id!r} (kept; the next pulumi up "
               "re-creates the DR replica)")


def act_retire(ctx: RunContext, n: Names) -> str:
    new_id = n.retired_prefix + _today()
    actions.rename_db_instance(ctx.aws, n.writer_region, n.writer_id, new_id)
    return f"renamed the fenced {n.writer_id!r} in {n.writer_region} to {new_id!r} (kept); the next pulumi up " \
           "re-creates the DR replica"


def act_switch_back(ctx: RunContext) -> str:
    sentence = st.act_switch(ctx, "primary-fenced", False, f"{ctx.outputs.primary_region} is preferred again")
    ctx.remember("switchedBackAt", time.time())
    return sentence


def decide_switch_back(ctx: RunContext) -> Decision:
    decision = st.decide_switch(ctx, "primary-fenced", False, f"{ctx.outputs.primary_region} is preferred again")
    if decision.verdict == "already" and not ctx.fact("switchedBackAt"):
        ctx.remember("switchedBackAt", time.time())  # conservative: the drain counts from now
    return decision


def _once_ours(ctx: RunContext, n: Names, what: str, decide: Any) -> Decision:
    """A home-database decision, made on failback's own instance (a dry run before the re-protect
    says what the real run will do once it exists)."""
    if _ours(ctx, n) is None:
        if ctx.dry_run:
            return act(f"would {what} ({n.original_id!r}, once re-protected and promoted)")
        return refuse(f"failback's replica {n.original_id!r} does not exist in {n.home}")
    return decide()


# --- the plan -----------------------------------------------------------------------------------------


def plan(o: DrOutputs, deployment: Deployment) -> list[Phase]:
    n = Names(o)
    home, dr = n.home, n.writer_region
    coord, t = deployment.coordination, deployment.traffic
    table = (Need(DATA, "dynamodb", coord.region),)
    flip = (Need(DATA, "cloudwatch", t.region), Need(CONTROL, "cloudwatch", t.region)) if t.mode != "arc" else (
        Need(DATA, "route53-recovery-cluster", (t.arc_endpoints or ((dr, ""),))[0][0]),)
    rds_home, rds_dr = Need(CONTROL, "rds", home), Need(CONTROL, "rds", dr)

    def s(name: str, what: str, decide: Any, do: Any = None, needs: tuple[Need, ...] = (), **kw: Any) -> Step:
        return Step(name, what, decide, do, needs, **kw)

    readiness = s("fb-readiness", f"{n.writer_id!r} standalone in {dr}; {home} answers",
                  lambda c: decide_readiness(c, n), needs=(rds_home, rds_dr), read_only=True)
    rename = s("rename-aside", f"rename the old primary {n.original_id!r} to '{n.aside_prefix}<date>' (kept)",
               lambda c: decide_rename_aside(c, n), lambda c: act_rename_aside(c, n), (rds_home,))
    reprotect = s("reprotect", f"create replica {n.original_id!r} in {home} of {n.writer_id!r}",
                  lambda c: decide_reprotect(c, n), lambda c: act_reprotect(c, n), (rds_home, rds_dr))
    access = s("restore-db-access", "restore the database ingress the scale-up's isolation revoked",
               lambda c: decide_restore_access(c, n), lambda c: act_restore_access(c, n),
               (Need(CONTROL, "ec2", home),) + table)
    cache_protect = s("cache-reprotect", "a cache the scale-up disassociated joins a Global Datastore again (DR "
                                         "primary)", lambda c: decide_cache_reprotect(c, n),
                      lambda c: act_cache_reprotect(c, n), (Need(CONTROL, "elasticache", home),
                                                            Need(CONTROL, "elasticache", dr)))
    caught = s("caught-up", f"the replica is available and fresh lag evidence within {CAUGHT_UP_SECONDS:g} s (else "
                            "refuse: nothing moved)", lambda c: decide_caught_up(c, n), lambda c: act_caught_up(c, n),
               (rds_home, Need(DATA, "cloudwatch", home)), read_only=True)
    revoke = s("fence-dr", f"revoke {dr}'s writers' lease (epoch + 1)", lambda c: st.decide_revoke_lease(c, dr, home),
               lambda c: st.act_revoke_lease(c, dr), table)
    expired = s("dr-lease-expired", "wait until every lease granted before the revocation has expired",
                lambda c: st.decide_lease_expired(c, dr, home), lambda c: st.act_lease_expired(c, dr), table,
                read_only=True)
    gate = s("home-gate", f"{home} can serve: node groups, healthy targets, the replica",
             lambda c: decide_home_gate(c, n), needs=(rds_home, Need(CONTROL, "eks", home),
                                                      Need(CONTROL, "elbv2", home)), read_only=True)
    switch = s("switch-back", f"set PrimaryFenced off: the PRIMARY record ({home}) is preferred again",
               decide_switch_back, act_switch_back, flip)
    dns_home = s("dns-on-home", f"resolve {o.dns.record_name} until it answers the {home} ALB",
                 lambda c: st.decide_dns(c, home), lambda c: st.act_dns(c, home),
                 (Need(DATA, "route53-dns", "global"),), read_only=True)
    drain = s("dns-drain", "wait out DNS (TTL + propagation) so no client still writes to the DR region",
              decide_dns_drain, act_dns_drain, read_only=True)
    fresh = s("fresh-evidence", "a ReplicaLag datapoint proving replay of a commit made after the fence",
              lambda c: decide_fresh_evidence(c, n), lambda c: act_fresh_evidence(c, n),
              (Need(DATA, "cloudwatch", home),), read_only=True)
    promote = s("promote-home", f"promote {n.original_id!r} in {home}", lambda c: decide_promote_home(c, n),
                lambda c: act_promote_home(c, n), (rds_home,))
    serving = s("home-serving", "wait until it is standalone and serving",
                lambda c: _once_ours(c, n, "wait for it to be standalone and serving",
                                     lambda: st.decide_db_serving(c, home, n.original_id)),
                lambda c: st.act_db_serving(c, home, n.original_id), (rds_home,), read_only=True)
    to_prod = s("home-to-prod", f"request Multi-AZ at {o.database.prod_instance_class}",
                lambda c: _once_ours(c, n, f"make it Multi-AZ at {o.database.prod_instance_class}",
                                     lambda: st.decide_db_to_prod(c, home, n.original_id)),
                lambda c: st.act_db_to_prod(c, home, n.original_id), (rds_home,))
    cache_back = s("cache-back", f"fail the Global Datastore back to {home}", lambda c: st.decide_cache(c, home),
                   lambda c: st.act_cache(c, home), (Need(CONTROL, "elasticache", home),))
    nodes = s("home-nodes", f"{home} node groups at their deployed size", lambda c: decide_home_nodes(c, n),
              lambda c: act_home_nodes(c, n), (Need(CONTROL, "eks", home),))
    grant = s("grant-home", f"grant the writers' lease to {home}", lambda c: st.decide_grant(c, home),
              lambda c: st.act_grant(c, home), table)
    not_ready = s("dr-not-ready", f"set DrReady off: {dr} is no longer declared ready",
                  lambda c: st.decide_switch(c, "dr-ready", False, f"{dr} stands by again"),
                  lambda c: st.act_switch(c, "dr-ready", False, f"{dr} stands by again"), flip)
    retire = s("retire-dr-writer", f"rename the fenced {n.writer_id!r} to '{n.retired_prefix}<date>' (kept)",
               lambda c: decide_retire(c, n), lambda c: act_retire(c, n), (rds_dr,))
    return [
        Phase.serial("readiness", readiness),
        Phase.serial("reprotect", rename, reprotect, access, cache_protect, caught),
        Phase.serial("fence", revoke, expired),
        Phase.serial("gate", gate),
        Phase.serial("switch-back", switch, dns_home, drain, fresh),
        Phase.parallel("promote", database=[promote, serving, to_prod], cache=[cache_back], compute=[nodes]),
        Phase.serial("hand-over", grant, not_ready, retire),
    ]


def rows(o: DrOutputs, deployment: Deployment) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    return plan_rows(plan(o, deployment))


class Failback(Run):
    """One `hastack dr failback` run (see module docstring)."""

    def __init__(self, outputs: DrOutputs, aws: ClientFactory, **kwargs: Any) -> None:
        super().__init__(COMMAND, outputs, aws, outputs.primary_region, **kwargs)

    def run(self) -> RunResult:
        return self.execute(plan(self.outputs, self.deployment), lambda r: summarize(r, Names(self.outputs)))


def summarize(result: RunResult, n: Names) -> str:
    return summary(result, f"failback to {n.home} can run; nothing was changed", "failback did not finish",
                   f"nothing to do: {n.home} is already production again (every step found its work done); nothing "
                   "was changed",
                   f"{n.home} is production again: {n.original_id!r} promoted with every write before the fence, "
                   f"cache primary, {n.o.dns.record_name} answers the {n.home} ALB; the old primary is kept as "
                   f"'{n.aside_prefix}*'")
