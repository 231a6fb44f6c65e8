"""The DR steps: each a decision that returns the sentence logged, reported and asserted.

Patroni's decision style (`runner` explains the shape): a step's `decide` asks AWS — through
`probes`, `evidence`, the lease and the switches — whether its effect is already there ("already
done" is derived from the world, not from memory) or may happen now, and returns *already*, *act*
(with what it would do) or *refuse* (with why not); `act` does it (through `actions`) and says
what it did. A dry run calls `decide` only.

The order of scale-up is its safety argument (docs/dr.md):
fence (revoke the writers' lease, wait until every lease granted before expired) → promote (the
RPO gate checked again right before `PromoteReadReplica`) ∥ cache ∥ compute → health gate →
grant the lease to the DR region → cutover last (DrReady, then PrimaryFenced, verified by
resolving the record). Nothing before the cutover needs the failed region or Route 53's control
plane; the one step that calls the failed region (`isolate-old-db`) is best effort and bounded.

Steps are built per run by `scale_up_steps(outputs, regions)`: their `needs` name real regions.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hastack.dr import actions, evidence, probes, waiters
from hastack.dr.lease import LeaseError, LeaseState, LeaseStore
from hastack.dr.lock import me
from hastack.dr.runner import (
    CONTROL,
    DATA,
    Decision,
    Need,
    RunContext,
    Step,
    act,
    already,
    refuse,
)
from hastack.dr.traffic import Switches, answered_region, wait_for

#: Errors with which ElastiCache refuses the planned Global Datastore failover (primary member unavailable).
GLOBAL_FAILOVER_REFUSALS = frozenset({"InvalidGlobalReplicationGroupState", "InvalidReplicationGroupState"})


def _hms(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%H:%M:%S")


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


def run_by(ctx: RunContext) -> str:
    user, host, _ = me()
    return f"run {ctx.journal.run_id} ({user}@{host})"


def wait_policy(ctx: RunContext) -> waiters.WaitPolicy:
    return waiters.WaitPolicy(ctx.bounds.wait_timeout_seconds, int(max(1, ctx.options.poll_seconds)))


def lease_store(ctx: RunContext) -> LeaseStore:
    return LeaseStore(ctx.aws, ctx.deployment.coordination, ctx.bounds.lease_seconds)


def switches(ctx: RunContext) -> Switches:
    return Switches(ctx.aws, ctx.deployment.traffic, ctx.outputs.primary_region)


def bounded(clock: Any, seconds: float, fn: Callable[[], str], what: str) -> str:
    """Run `fn` in a helper thread and give up after `seconds` on `clock` (for best-effort calls to a dead
    region). The thread is abandoned, not killed: its calls are themselves bounded by the client profile.
    """
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back below
            box["error"] = exc

    thread = threading.Thread(target=body, name=f"best-effort-{what}", daemon=True)
    thread.start()
    deadline = clock.now() + max(0.0, seconds)
    while thread.is_alive() and clock.now() < deadline:
        clock.sleep(0.05)
    if thread.is_alive():
        raise TimeoutError(f"{what} did not finish within {seconds:.0f} s (gave up; the lease is the fence)")
    if "error" in box:
        raise box["error"]
    return str(box["value"])


# --- readiness (read-only) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def replica_refusal(replica: dict[str, Any] | None, identifier: str, region: str) -> str | None:
    """Why RDS cannot promote the replica now (state, not lag), or None (Patroni's failover_limitation)."""
    if replica is None:
        return f"the DR replica {identifier!r} does not exist in {region}"
    if not probes.is_replica(replica):
        return None
    status = replica.get("DBInstanceStatus")
    if status != "available":
        return (f"the DR replica {identifier!r} is {status!r}, not 'available' (RDS cannot promote a replica that is "
                "backing up or modifying)")
    state = probes.replication_state(replica)
    if state not in (None, "replicating"):
        return f"replication of {identifier!r} is {state!r}, not 'replicating'"
    return None


def lag_evidence(ctx: RunContext, region: str, identifier: str, since: dt.datetime | None = None
                 ) -> evidence.Evidence:
    return evidence.evidence(ctx.aws, region, identifier, ctx.bounds.lag_evidence_max_age_seconds,
                             ctx.options.outage_start, since)


def readiness_checks(ctx: RunContext) -> list[Check]:
    """Can the DR region be made production now? Every read in the DR region, each bounded."""
    o, aws, dr = ctx.outputs, ctx.aws, ctx.outputs.dr_region
    checks: list[Check] = []

    def guard(name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - a failed read is a failed check, named in the report
            checks.append(Check(name, False, str(exc)))

    def database() -> None:
        rid = o.database.replica.identifier
        inst = probes.db_instance(aws, dr, rid)
        if inst is not None and not probes.is_replica(inst):
            checks.append(Check("database", True, f"{rid!r} is already a standalone primary in {dr}"))
            return
        refusal = replica_refusal(inst, rid, dr)
        if refusal:
            checks.append(Check("database", False, refusal))
            return
        ev = lag_evidence(ctx, dr, rid)
        why, said = evidence.rpo_refusal(ev, rid, o.rpo_budget_seconds, ctx.options.accept_data_loss)
        checks.append(Check("database", why is None, why or f"{rid!r} is replicating; {said}"))

    def cache() -> None:
        gid, member = o.cache.global_datastore_id, o.cache.secondary.replication_group_id
        gd = probes.global_datastore(aws, dr, gid)
        if probes.cache_member(gd, dr) is not None:
            checks.append(Check("cache", True, f"Global Datastore {gid!r}: primary in {probes.cache_primary_region(gd)}"
                                               f", member {member!r} in {dr}"))
            return
        group = probes.replication_group(aws, dr, member)
        checks.append(Check("cache", group is not None,
                            f"{member!r} in {dr} is standalone (no longer in {gid!r})" if group is not None
                            else f"no cache in {dr}: {member!r} not found"))

    def nodes() -> None:
        missing = [g.name for g in o.dr_node_groups if probes.node_group(aws, dr, g.cluster_name, g.name) is None]
        checks.append(Check("node groups", not missing, f"{len(o.dr_node_groups)} DR node groups exist" if not missing
                            else f"missing in {dr}: {', '.join(missing)}"))

    def ingress() -> None:
        ing = o.ingress[dr]
        lb = probes.load_balancer(aws, dr, ing.alb_arn)
        if lb is None:
            checks.append(Check("load balancer", False, f"DR ALB {ing.alb_arn} not found"))
            return
        missing = [svc for svc, arn in ing.target_group_arns.items() if not probes.target_health(aws, dr, arn).exists]
        checks.append(Check("load balancer", not missing, f"DR ALB {lb.get('LoadBalancerName')} and "
                            f"{len(ing.target_group_arns)} target groups exist" if not missing
                            else f"target groups missing for: {', '.join(sorted(missing))}"))

    def traffic_switches() -> None:
        sw = switches(ctx)
        if ctx.deployment.traffic.mode == "arc":
            states = sw.states()
            checks.append(Check("traffic switches", True, f"ARC routing controls read: {states}"))
            return
        t = ctx.deployment.traffic
        found = sw.alarm_states()
        missing = [a for a in (t.dr_ready_alarm, t.primary_fenced_alarm) if a not in found]
        checks.append(Check("traffic switches", not missing,
                            f"alarms {t.dr_ready_alarm} ({found.get(t.dr_ready_alarm)}), {t.primary_fenced_alarm} "
                            f"({found.get(t.primary_fenced_alarm)}) in {t.region}" if not missing
                            else f"alarm(s) {', '.join(missing)} not found in {t.region}"))

    def lease() -> None:
        try:
            state = lease_store(ctx).read()
        except LeaseError as exc:
            if ctx.options.accept_split_brain:
                checks.append(Check("lease", True, f"{exc}; going on without a fence (--accept-split-brain)"))
            else:
                checks.append(Check("lease", False, f"{exc}: no fence is possible; re-run when it answers, or "
                                                     "--accept-split-brain to promote while the old writer may still "
                                                     "accept writes"))
            return
        checks.append(Check("lease", True, "no lease item yet (no writer can hold one)" if state is None
                            else f"{state.describe()}; {ctx.deployment.coordination.trade_off(o.primary_region)}"))

    for name, fn in (("database", database), ("cache", cache), ("node groups", nodes), ("load balancer", ingress),
                     ("traffic switches", traffic_switches), ("lease", lease)):
        guard(name, fn)
    return checks


def decide_readiness(ctx: RunContext) -> Decision:
    checks = readiness_checks(ctx)
    failed = [c for c in checks if not c.ok]
    if failed:
        return refuse(f"DR region {ctx.outputs.dr_region} not ready: "
                      + "; ".join(f"{c.name}: {c.detail}" for c in failed), checks=[c.__dict__ for c in checks])
    return act(f"DR region {ctx.outputs.dr_region} is ready ({len(checks)} checks passed: "
               + "; ".join(f"{c.name}: {c.detail}" for c in checks) + ")", checks=[c.__dict__ for c in checks])


# --- the fence: the writers' lease ------------------------------------------------------------------


def decide_revoke_lease(ctx: RunContext, fenced: str, successor: str) -> Decision:
    """Fence `fenced` (the region whose writers must stop) before `successor` is made the writer."""
    coord = ctx.deployment.coordination
    try:
        state = lease_store(ctx).read()
    except LeaseError as exc:
        if ctx.options.accept_split_brain:
            return act(f"would go on WITHOUT A FENCE: {exc} (--accept-split-brain: the old writer in {fenced} may "
                       "still accept writes)")
        return refuse(f"cannot fence {fenced}: {exc}. Nothing was promoted; re-run when the table answers, or pass "
                      "--accept-split-brain to promote while the old writer may still accept writes")
    if state is None:
        return act(f"would create the lease revoked in {coord.table} ({coord.region}): no lease item existed, so no "
                   "writer could hold one")
    if state.revoked:
        return already(f"the lease is already revoked ({state.describe()}, since {_hms(state.changed_at)} by "
                       f"{state.changed_by or '?'})")
    if state.holder == successor:
        return already(f"the lease is already granted to {successor} ({state.describe()}): {fenced} was fenced before")
    return act(f"would revoke {state.holder}'s lease ({state.describe()} -> epoch {state.epoch + 1}) in "
               f"{coord.table} ({coord.region})")


def act_revoke_lease(ctx: RunContext, fenced: str) -> str:
    store = lease_store(ctx)
    try:
        seen = store.read()
    except LeaseError as exc:
        ctx.remember("fence", "none")
        ctx.note("fence", f"NO FENCE: {exc}; went on with --accept-split-brain")
        return (f"went on WITHOUT A FENCE: {exc} (--accept-split-brain: the old writer in {fenced} may still accept "
                "writes)")
    holder = seen.holder if seen else "nobody"
    state = store.revoke(seen, run_by(ctx), f"{ctx.journal.command or 'dr'}: fence {fenced}")
    ctx.remember("leaseRevoked", {"epoch": state.epoch, "at": state.changed_at})
    return (f"revoked {holder}'s lease: epoch {seen.epoch if seen else 0} -> {state.epoch} at {_hms(state.changed_at)} "
            "(no writer can renew it from now on)")


def _fence_sentence(fenced: str, state: LeaseState, seconds: float, expired_at: float) -> str:
    return (f"fenced {fenced}: lease epoch {state.epoch} revoked at {_hms(state.changed_at)}; every lease granted "
            f"before expired at {_hms(expired_at)} (leaseSeconds {seconds:g})")


def _lease_wait(ctx: RunContext) -> tuple[LeaseState | None, float, float]:
    """(the lease, its leaseSeconds, the wall time when every lease granted before it was revoked expired)."""
    state = lease_store(ctx).read()
    seconds = max(ctx.bounds.lease_seconds, state.lease_seconds if state else 0.0)
    changed = state.changed_at if state and state.revoked else time.time()
    return state, seconds, changed + seconds + ctx.bounds.lease_margin_seconds


def decide_lease_expired(ctx: RunContext, fenced: str, successor: str) -> Decision:
    if ctx.fact("fence") == "none":
        return already("no fence to wait for: went on without one (--accept-split-brain)")
    try:
        state, seconds, expires = _lease_wait(ctx)
    except LeaseError as exc:
        if ctx.options.accept_split_brain:
            ctx.note("fence", f"NO FENCE: {exc}; went on with --accept-split-brain")
            return already(f"no fence: {exc} (--accept-split-brain)")
        raise
    if state is not None and state.holder == successor:
        sentence = f"fenced {fenced} before: the lease is granted to {successor} ({state.describe()})"
        ctx.note("fence", sentence)
        return already(sentence)
    if state is None or not state.revoked:
        return act(f"would wait {seconds + ctx.bounds.lease_margin_seconds:g} s after the revocation until every "
                   f"lease granted before has expired (leaseSeconds {seconds:g} + margin)")
    if time.time() >= expires:
        sentence = _fence_sentence(fenced, state, seconds, expires)
        ctx.note("fence", sentence)
        ctx.remember("fencedAt", expires)
        return already(sentence)
    return act(f"would wait {expires - time.time():.0f} s until every lease granted before the revocation has "
               f"expired (at {_hms(expires)})")


def act_lease_expired(ctx: RunContext, fenced: str) -> str:
    state, seconds, expires = _lease_wait(ctx)
    ctx.clock.sleep(max(0.0, expires - time.time()))
    if state is None:
        raise LeaseError("the lease item disappeared after the revocation")
    sentence = _fence_sentence(fenced, state, seconds, expires)
    ctx.note("fence", sentence)
    ctx.remember("fencedAt", expires)
    return sentence


def decide_isolate(ctx: RunContext) -> Decision:
    o = ctx.outputs
    ident = o.database.primary.identifier
    coord = ctx.deployment.coordination
    try:
        done = ctx.aws.client("dynamodb", coord.region).get_item(
            TableName=coord.table, Key={coord.key: {"S": coord.isolation_id}}, ConsistentRead=True).get("Item")
    except (ClientError, BotoCoreError):
        done = None
    if done:
        return already(f"{ident!r} was taken out of its clients' reach before (the revoked rules are recorded for "
                       "failback)")
    return act(f"would try, best effort within {_isolation_bound(ctx):.0f} s, to take {ident!r} in {o.primary_region} "
               "out of its clients' reach (revoke its security groups' ingress)")


def _isolation_bound(ctx: RunContext) -> float:
    """Never longer than the lease wait it runs beside (it must not slow the failover), at least 2 s."""
    try:
        _, _, expires = _lease_wait(ctx)
        remaining = expires - time.time()
    except LeaseError:
        remaining = 0.0
    return max(2.0, min(ctx.bounds.fence_timeout_seconds, remaining))


def act_isolate(ctx: RunContext) -> str:
    o = ctx.outputs
    region, ident = o.primary_region, o.database.primary.identifier

    def isolate() -> str:
        inst = probes.db_instance(ctx.aws, region, ident)
        if inst is None:
            return f"{ident!r} does not exist in {region}: nothing to isolate"
        groups = [g["VpcSecurityGroupId"] for g in inst.get("VpcSecurityGroups", [])]
        ec2 = ctx.aws.client("ec2", region)
        revoked: list[dict[str, Any]] = []
        for group in groups:
            rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
            ingress = [r for r in rules.get("SecurityGroupRules", []) if not r.get("IsEgress")]
            if not ingress:
                continue
            ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[r["SecurityGroupRuleId"]
                                                                                 for r in ingress])
            revoked += [{"group": group, "protocol": r.get("IpProtocol"), "from": r.get("FromPort"),
                         "to": r.get("ToPort"), "source": (r.get("ReferencedGroupInfo") or {}).get("GroupId"),
                         "cidr": r.get("CidrIpv4"), "description": r.get("Description", "")} for r in ingress]
        record_isolation(ctx, ident, region, revoked)  # also when empty: a re-run knows it was done
        return (f"took {ident!r} out of its clients' reach: revoked {len(revoked)} ingress rule(s) of "
                f"{', '.join(groups)} in {region} (failback restores them)" if revoked
                else f"{ident!r} in {region} admits nobody already ({', '.join(groups) or 'no security group'})")

    try:
        return bounded(ctx.clock, _isolation_bound(ctx), isolate, f"isolating {ident!r} in {region}")
    except (ClientError, BotoCoreError) as exc:
        raise actions.ActionError(f"could not isolate {ident!r} in {region}: {exc}") from exc


def record_isolation(ctx: RunContext, ident: str, region: str, rules: list[dict[str, Any]]) -> None:
    """The revoked rules, kept in the coordination table for failback to restore."""
    import json

    coord = ctx.deployment.coordination
    ctx.aws.client("dynamodb", coord.region).put_item(TableName=coord.table, Item={
        coord.key: {"S": coord.isolation_id}, "identifier": {"S": ident}, "region": {"S": region},
        "rules": {"S": json.dumps(rules, default=str)}, "by": {"S": run_by(ctx)}})


# --- database branch ------------------------------------------------------------------------------


def decide_promote(ctx: RunContext) -> Decision:
    """The RPO gate, again, right before `PromoteReadReplica` (after the fence): evidence of this moment."""
    o, dr = ctx.outputs, ctx.outputs.dr_region
    rid = o.database.replica.identifier
    inst = probes.db_instance(ctx.aws, dr, rid)
    if inst is not None and not probes.is_replica(inst):
        return already(f"{rid!r} is already a standalone primary in {dr}")
    issued = ctx.fact("promoteIssuedAt")
    if inst is not None and issued:
        return already(f"promotion of {rid!r} already under way (issued {issued} by the run this one resumes); "
                       "not repeating it")
    refusal = replica_refusal(inst, rid, dr)
    if refusal:
        return refuse(refusal)
    ev = lag_evidence(ctx, dr, rid)
    why, said = evidence.rpo_refusal(ev, rid, o.rpo_budget_seconds, ctx.options.accept_data_loss)
    ctx.note("rpoEstimateSeconds", ev.estimate_lost_seconds())
    ctx.note("rpoEvidence", said)
    if why:
        return refuse(f"not promoting {rid!r}: {why}")
    return act(f"would promote {rid!r} in {dr}: {said}")


def act_promote(ctx: RunContext) -> str:
    o, dr = ctx.outputs, ctx.outputs.dr_region
    rid = o.database.replica.identifier
    actions.promote_replica(ctx.aws, dr, rid)
    ctx.remember("promoteIssuedAt", _iso(time.time()))
    return f"promoted {rid!r} in {dr}; {ctx.report.get('rpoEvidence', '')}"


def decide_db_serving(ctx: RunContext, region: str, rid: str) -> Decision:
    inst = probes.db_instance(ctx.aws, region, rid)
    if inst is not None and not probes.is_replica(inst) and inst.get("DBInstanceStatus") in ("available", "modifying"):
        return already(f"{rid!r} is standalone and serving ({inst.get('DBInstanceStatus')})")
    return act(f"would wait up to {ctx.bounds.wait_timeout_seconds:.0f} s for {rid!r} to be standalone and serving")


def act_db_serving(ctx: RunContext, region: str, rid: str) -> str:
    started = ctx.clock.now()
    waiters.db_standalone_serving(ctx.aws.client("rds", region), rid, wait_policy(ctx))
    return f"{rid!r} is standalone and serving after {ctx.clock.now() - started:.0f} s"


def decide_db_to_prod(ctx: RunContext, region: str, rid: str) -> Decision:
    cls = ctx.outputs.database.prod_instance_class
    inst = probes.db_instance(ctx.aws, region, rid)
    if inst is None:
        return refuse(f"{rid!r} does not exist in {region}")
    pending = inst.get("PendingModifiedValues") or {}
    multi_az = inst.get("MultiAZ") or pending.get("MultiAZ")
    at_class = cls in (inst.get("DBInstanceClass"), pending.get("DBInstanceClass"))
    if multi_az and at_class:
        return already(f"{rid!r} is already Multi-AZ at {cls} (or the change is pending)")
    if probes.is_replica(inst) and not ctx.dry_run:
        return refuse(f"{rid!r} is still a replica; not converting it to Multi-AZ")
    return act(f"would make {rid!r} Multi-AZ at {cls} (applied now, no downtime)")


def act_db_to_prod(ctx: RunContext, region: str, rid: str) -> str:
    cls = ctx.outputs.database.prod_instance_class
    actions.make_multi_az(ctx.aws, region, rid, cls)
    return f"requested Multi-AZ at {cls} for {rid!r} (applied now, no downtime)"


def decide_multi_az(ctx: RunContext, region: str, rid: str) -> Decision:
    cls = ctx.outputs.database.prod_instance_class
    inst = probes.db_instance(ctx.aws, region, rid)
    done = inst and inst.get("MultiAZ") and inst.get("DBInstanceClass") == cls
    if done and inst.get("DBInstanceStatus") == "available":  # type: ignore[union-attr]
        return already(f"{rid!r} is Multi-AZ at {cls} and available")
    return act(f"would wait for {rid!r} to finish converting to Multi-AZ at {cls}")


def act_multi_az(ctx: RunContext, region: str, rid: str) -> str:
    cls = ctx.outputs.database.prod_instance_class
    started = ctx.clock.now()
    waiters.db_multi_az_at_class(ctx.aws.client("rds", region), rid, cls, wait_policy(ctx))
    return f"{rid!r} is Multi-AZ at {cls} after {ctx.clock.now() - started:.0f} s"


# --- cache branch ---------------------------------------------------------------------------------


def _member(ctx: RunContext, region: str) -> str:
    c = ctx.outputs.cache
    return (c.secondary if c.secondary.region == region else c.primary).replication_group_id


def decide_cache(ctx: RunContext, region: str) -> Decision:
    """The cache's primary into `region`: planned failover, or (refused while the primary is dark) disassociation."""
    gid, group = ctx.outputs.cache.global_datastore_id, _member(ctx, region)
    gd = probes.global_datastore(ctx.aws, region, gid)
    member = probes.cache_member(gd, region)
    if member is None:
        if probes.replication_group(ctx.aws, region, group) is not None:
            return already(f"{group!r} in {region} is a standalone primary (no longer in Global Datastore {gid!r})")
        return refuse(f"{group!r} is neither in Global Datastore {gid!r} nor a replication group in {region}")
    if member.get("Role") == "PRIMARY" and (gd or {}).get("Status") == "available":
        return already(f"Global Datastore {gid!r} already has its primary {group!r} in {region}")
    return act(f"would fail Global Datastore {gid!r} over to {group!r} in {region} (planned); if ElastiCache refuses "
               f"because the primary member is unavailable, disassociate {group!r} (unplanned: standalone primary)")


def act_cache(ctx: RunContext, region: str) -> str:
    gid, group = ctx.outputs.cache.global_datastore_id, _member(ctx, region)
    started = ctx.clock.now()
    gd = probes.global_datastore(ctx.aws, region, gid)
    if probes.cache_primary_region(gd) != region:
        try:
            actions.failover_global_datastore(ctx.aws, region, gid, group)
        except actions.ActionError as exc:
            if exc.code not in GLOBAL_FAILOVER_REFUSALS:
                raise
            actions.disassociate_global_datastore(ctx.aws, region, gid, group, region)
            ctx.remember("cacheDisassociated", {"globalDatastore": gid, "group": group, "at": _iso(time.time())})
            waiters.group_standalone(ctx.aws.client("elasticache", region), gid, region, wait_policy(ctx))
            return (f"the planned failover was refused ({exc.code}: the primary member is unavailable): disassociated "
                    f"{group!r} from Global Datastore {gid!r}; it is a standalone primary in {region} after "
                    f"{ctx.clock.now() - started:.0f} s (failback re-protects it)")
    waiters.global_primary_in(ctx.aws.client("elasticache", region), gid, region, wait_policy(ctx))
    return (f"failed Global Datastore {gid!r} over: {group!r} in {region} is primary after "
            f"{ctx.clock.now() - started:.0f} s")


# --- compute branch -------------------------------------------------------------------------------


def _scaling_changes(ctx: RunContext) -> tuple[list[str], list[tuple[Any, tuple[int, int, int]]], int]:
    dr = ctx.outputs.dr_region
    changed, todo, kept = [], [], 0
    for g in ctx.outputs.dr_node_groups:
        current = probes.node_group(ctx.aws, dr, g.cluster_name, g.name)
        if current is None:
            raise probes.ProbeError(f"node group {g.name!r} of {g.cluster_name!r} does not exist in {dr}")
        mn, ds, mx = probes.scaling(current)
        if mn >= g.prod_min_size and ds >= g.prod_desired_size and mx >= g.prod_max_size:
            kept += 1
            continue
        target = (max(mn, g.prod_min_size), max(ds, g.prod_desired_size), max(mx, g.prod_max_size))
        todo.append((g, target))
        changed.append(f"{g.name} {mn}/{ds}/{mx}->{target[0]}/{target[1]}/{target[2]}")
    return changed, todo, kept


def decide_scale_nodes(ctx: RunContext) -> Decision:
    changed, _, kept = _scaling_changes(ctx)
    if not changed:
        return already(f"all {kept} DR node groups are already at prod size")
    return act(f"would scale {len(changed)} DR node groups (min/desired/max): " + ", ".join(changed))


def act_scale_nodes(ctx: RunContext) -> str:
    changed, todo, _ = _scaling_changes(ctx)
    for g, target in todo:
        actions.scale_node_group(ctx.aws, ctx.outputs.dr_region, g.cluster_name, g.name, *target)
    return f"scaled {len(changed)} DR node groups (min/desired/max): " + ", ".join(changed)


def compute_state(ctx: RunContext, region: str, groups: list[tuple[str, str, int]]) -> tuple[list[str], list[str]]:
    """(node groups not at size, target groups short of healthy targets) in `region`, as phrases."""
    o = ctx.outputs
    short_groups = []
    for cluster, name, desired in groups:
        cur = probes.node_group(ctx.aws, region, cluster, name)
        if cur is None or cur.get("status") != "ACTIVE" or probes.scaling(cur)[1] < desired:
            short_groups.append(name)
    short = []
    for svc, arn in o.ingress[region].target_group_arns.items():
        th = probes.target_health(ctx.aws, region, arn)
        need = o.replicas_of(svc) if any(s.name == svc for s in o.services) else 1
        if th.healthy < need:
            short.append(f"{svc} {th.healthy}/{need} healthy")
    return short_groups, short


def _dr_groups(ctx: RunContext) -> list[tuple[str, str, int]]:
    return [(g.cluster_name, g.name, g.prod_desired_size) for g in ctx.outputs.dr_node_groups]


def decide_compute_ready(ctx: RunContext) -> Decision:
    groups, short = compute_state(ctx, ctx.outputs.dr_region, _dr_groups(ctx))
    if not groups and not short:
        return already("DR node groups at prod size and every target group has its prod replica count of healthy "
                       "targets")
    return act(f"would wait up to {ctx.bounds.wait_timeout_seconds:.0f} s for node groups and healthy targets ("
               + "; ".join(groups + short) + ")")


def act_compute_ready(ctx: RunContext) -> str:
    o, dr = ctx.outputs, ctx.outputs.dr_region
    started = ctx.clock.now()
    eks = ctx.aws.client("eks", dr)
    for g in o.dr_node_groups:
        waiters.nodegroup_at_size(eks, g.cluster_name, g.name, g.prod_desired_size, wait_policy(ctx))
    elb = ctx.aws.client("elbv2", dr)
    for svc, arn in o.ingress[dr].target_group_arns.items():
        need = o.replicas_of(svc) if any(s.name == svc for s in o.services) else 1
        waiters.targets_healthy(elb, arn, need, wait_policy(ctx))
    return (f"{len(o.dr_node_groups)} node groups at prod size and {len(o.ingress[dr].target_group_arns)} target "
            f"groups healthy after {ctx.clock.now() - started:.0f} s")


# --- the health gate, the lease grant, the cutover --------------------------------------------------


def gate_problems(ctx: RunContext, region: str, rid: str, groups: list[tuple[str, str, int]]) -> list[str]:
    """What keeps `region` from serving: database writable, cache primary, nodes ready, healthy targets."""
    problems = []
    inst = probes.db_instance(ctx.aws, region, rid)
    if inst is None or probes.is_replica(inst) or inst.get("DBInstanceStatus") not in ("available", "modifying"):
        problems.append(f"database {rid!r} is {probes.db_role(inst)}")
    gd = probes.global_datastore(ctx.aws, region, ctx.outputs.cache.global_datastore_id)
    member = probes.cache_member(gd, region)
    if member is not None and member.get("Role") != "PRIMARY":
        problems.append(f"cache primary is in {probes.cache_primary_region(gd)}")
    elif member is None and probes.replication_group(ctx.aws, region, _member(ctx, region)) is None:
        problems.append(f"no cache in {region}")
    short_groups, short = compute_state(ctx, region, groups)
    return problems + [f"node group {g} not ready" for g in short_groups] + short


def decide_health_gate(ctx: RunContext) -> Decision:
    o = ctx.outputs
    problems = gate_problems(ctx, o.dr_region, o.database.replica.identifier, _dr_groups(ctx))
    if ctx.dry_run:
        return act(f"would check that {o.dr_region} can serve (database writable, cache primary, nodes ready, healthy "
                   "targets) before any client is sent there" + (f" (now: {'; '.join(problems)})" if problems else ""))
    if problems:
        return refuse(f"not sending clients to {o.dr_region}: " + "; ".join(problems))
    return act(f"{o.dr_region} can serve: database writable, cache primary, nodes ready, targets healthy")


def decide_grant(ctx: RunContext, region: str) -> Decision:
    if ctx.fact("fence") == "none":
        return already(f"no lease to grant: went on without a fence (--accept-split-brain); {region}'s writers need "
                       "the lease to write — grant it once the table answers (re-run)")
    state = lease_store(ctx).read()
    if state is not None and state.holder == region:
        return already(f"the lease is already granted to {region} ({state.describe()})")
    if state is not None and not state.revoked and not ctx.dry_run:
        return refuse(f"the lease is {state.describe()}: someone granted it after the fence; not granting it to "
                      f"{region} (find out who, then re-run)")
    epoch = state.epoch if state else 0
    return act(f"would grant the lease to {region} (epoch {epoch} -> {epoch + 1}): its writers may write")


def act_grant(ctx: RunContext, region: str) -> str:
    store = lease_store(ctx)
    seen = store.read()
    state = store.grant(seen, region, run_by(ctx), f"{ctx.journal.command}: {region} is the writer")
    return f"granted the lease to {region}: epoch {seen.epoch if seen else 0} -> {state.epoch} (its writers may write)"


def _switch_wait_seconds(ctx: RunContext) -> float:
    return ctx.bounds.wait_timeout_seconds


def decide_switch(ctx: RunContext, name: str, on: bool, meaning: str) -> Decision:
    sw = switches(ctx)
    if sw.reads(name, on):
        return already(f"{sw.describe(name)} already reads {'on' if on else 'off'}: {meaning}")
    return act(f"would set {sw.describe(name)} {'on' if on else 'off'} and wait until it reads so: {meaning}")


def act_switch(ctx: RunContext, name: str, on: bool, meaning: str) -> str:
    sw = switches(ctx)
    sent = sw.set(name, on)
    took = wait_for(lambda: sw.reads(name, on), ctx.deadline(_switch_wait_seconds(ctx)), ctx.options.poll_seconds,
                    ctx.clock, f"{sw.describe(name)} to read {'on' if on else 'off'}")
    t = ctx.deployment.traffic
    alarm = t.dr_ready_alarm if name == "dr-ready" else t.primary_fenced_alarm
    reads = f"alarm {alarm} reads {'OK' if (name == 'dr-ready') == on else 'ALARM'}" if t.mode != "arc" else "read back"
    return f"{sent}; {reads} after {took:.0f} s: {meaning}"


def dns_wait_seconds(ctx: RunContext) -> float:
    """Route 53 health evaluation of the switch (one alarm period), propagation and the answer's TTL."""
    return 60.0 + ctx.bounds.dns_propagation_seconds + ctx.bounds.dns_ttl_seconds


def _albs(ctx: RunContext) -> dict[str, str]:
    return {region: ing.alb_dns_name for region, ing in ctx.outputs.ingress.items()}


def decide_dns(ctx: RunContext, region: str) -> Decision:
    record = ctx.outputs.dns.record_name
    resolvers = ctx.deployment.resolvers
    where = ", ".join(resolvers) or "the system resolver"
    try:
        got, answer = answered_region(record, _albs(ctx), resolvers, ctx.bounds.call_timeout_seconds)
    except Exception as exc:  # noqa: BLE001 - DNS not answering now is what the wait is for
        return act(f"would resolve {record} through {where} until it answers the {region} ALB (up to "
                   f"{dns_wait_seconds(ctx):.0f} s; now: {exc})")
    if got == region:
        return already(f"{record} answers the {region} ALB: {answer.describe()}")
    return act(f"would resolve {record} through {where} until it answers the {region} ALB (up to "
               f"{dns_wait_seconds(ctx):.0f} s; now it answers {got or 'neither ALB'}: {answer.describe()})")


def act_dns(ctx: RunContext, region: str) -> str:
    record, resolvers = ctx.outputs.dns.record_name, ctx.deployment.resolvers
    seen: dict[str, Any] = {}

    def answers() -> bool:
        got, answer = answered_region(record, _albs(ctx), resolvers, ctx.bounds.call_timeout_seconds)
        seen["answer"] = answer
        return got == region

    took = wait_for(answers, ctx.deadline(dns_wait_seconds(ctx)), min(ctx.options.poll_seconds, 5.0), ctx.clock,
                    f"{record} to answer the {region} ALB")
    return f"{record} answers the {region} ALB after {took:.0f} s: {seen['answer'].describe()}"


# --- the scale-up plan ------------------------------------------------------------------------------


def needs_dr(ctx_outputs: Any, *pairs: tuple[str, str]) -> tuple[Need, ...]:
    return tuple(Need(plane, service, ctx_outputs.dr_region) for plane, service in pairs)


def scale_up_steps(o: Any, deployment: Any) -> dict[str, Step]:
    """Every scale-up step, with its needs in this deployment's regions."""
    dr, primary = o.dr_region, o.primary_region
    rid = o.database.replica.identifier
    coord, t = deployment.coordination, deployment.traffic
    table = (Need(DATA, "dynamodb", coord.region),)
    flip = (Need(DATA, "cloudwatch", t.region), Need(CONTROL, "cloudwatch", t.region)) if t.mode != "arc" else (
        Need(DATA, "route53-recovery-cluster", (t.arc_endpoints or ((dr, ""),))[0][0]),)
    steps = [
        Step("readiness", "check the DR replica, the lag evidence against the RPO budget, cache, node groups, ALB, "
                          "the traffic switches and the lease", decide_readiness,
             needs=needs_dr(o, (CONTROL, "rds"), (DATA, "cloudwatch"), (CONTROL, "elasticache"), (CONTROL, "eks"),
                            (CONTROL, "elbv2")) + table, read_only=True),
        Step("revoke-lease", f"revoke {primary}'s writers' lease (conditional update, epoch + 1)",
             lambda c: decide_revoke_lease(c, primary, dr), lambda c: act_revoke_lease(c, primary), needs=table),
        Step("lease-expired", "wait until every lease granted before the revocation has expired (leaseSeconds + "
                              "margin)", lambda c: decide_lease_expired(c, primary, dr),
             lambda c: act_lease_expired(c, primary), needs=table, read_only=True),
        Step("isolate-old-db", f"best effort, bounded: revoke the ingress of {o.database.primary.identifier!r}'s "
                               f"security groups in {primary}", decide_isolate, act_isolate,
             needs=(Need(CONTROL, "rds", primary), Need(CONTROL, "ec2", primary)) + table, best_effort=True),
        Step("promote-db", "RPO gate on fresh lag evidence, then promote the DR replica", decide_promote, act_promote,
             needs=needs_dr(o, (CONTROL, "rds"), (DATA, "cloudwatch"))),
        Step("db-serving", "wait until it is standalone and serving", lambda c: decide_db_serving(c, dr, rid),
             lambda c: act_db_serving(c, dr, rid), needs=needs_dr(o, (CONTROL, "rds")), read_only=True),
        Step("db-to-prod", "request Multi-AZ at the prod class", lambda c: decide_db_to_prod(c, dr, rid),
             lambda c: act_db_to_prod(c, dr, rid), needs=needs_dr(o, (CONTROL, "rds"))),
        Step("cache-failover", "fail the Global Datastore over to DR (or, refused while the primary is dark, "
                               "disassociate the DR member)", lambda c: decide_cache(c, dr), lambda c: act_cache(c, dr),
             needs=needs_dr(o, (CONTROL, "elasticache"))),
        Step("scale-nodes", "scale DR node groups to prod size", decide_scale_nodes, act_scale_nodes,
             needs=needs_dr(o, (CONTROL, "eks"))),
        Step("compute-ready", "wait for node groups and healthy targets", decide_compute_ready, act_compute_ready,
             needs=needs_dr(o, (CONTROL, "eks"), (CONTROL, "elbv2")), read_only=True),
        Step("health-gate", "re-check: database writable, cache primary, nodes ready, enough healthy targets",
             decide_health_gate, needs=needs_dr(o, (CONTROL, "rds"), (CONTROL, "elasticache"), (CONTROL, "eks"),
                                                (CONTROL, "elbv2")), read_only=True),
        Step("grant-lease", f"grant the writers' lease to {dr} (epoch + 1)", lambda c: decide_grant(c, dr),
             lambda c: act_grant(c, dr), needs=table),
        Step("dr-ready", f"set DrReady on: the SECONDARY record's gate may turn healthy ({dr} can serve)",
             lambda c: decide_switch(c, "dr-ready", True, f"{dr} is declared ready"),
             lambda c: act_switch(c, "dr-ready", True, f"{dr} is declared ready"), needs=flip),
        Step("primary-off", f"set PrimaryFenced on: the PRIMARY record's gate turns unhealthy ({primary} stops "
                            "being answered)",
             lambda c: decide_switch(c, "primary-fenced", True, f"{primary} is no longer answered"),
             lambda c: act_switch(c, "primary-fenced", True, f"{primary} is no longer answered"), needs=flip),
        Step("dns-on-dr", f"resolve {o.dns.record_name} until it answers the {dr} ALB (RTO ends here)",
             lambda c: decide_dns(c, dr), lambda c: act_dns(c, dr), needs=(Need(DATA, "route53-dns", "global"),),
             read_only=True),
        Step("db-multi-az", "wait for the Multi-AZ conversion (durability, after the cutover)",
             lambda c: decide_multi_az(c, dr, rid), lambda c: act_multi_az(c, dr, rid),
             needs=needs_dr(o, (CONTROL, "rds")), read_only=True),
    ]
    return {s.name: s for s in steps}
