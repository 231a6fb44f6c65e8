"""The DR steps: each idempotent, each returning the one sentence that says what it did or why not.

Patroni's decision style: a step first asks AWS (through `probes`) whether its effect is already
there — "already done" is derived from the world, not from memory — then acts (through
`actions`) or refuses, and returns an `Outcome` whose sentence is at once the log line, the
report row and what the tests assert. `--dry-run` runs the same probes and returns what the step
*would* do.

Statuses: done (changed something), already (nothing to change), planned (dry run), refused
(a safety rule said no: the run stops), timed-out (bounded and allowed to go on: the fence),
failed (AWS said no or a wait ran out), skipped (not run because an earlier step failed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from hastack.dr import actions, probes, waiters
from hastack.dr.aws import ClientFactory
from hastack.dr.clock import Clock
from hastack.dr.journal import Journal
from hastack.dr.outputs import DrOutputs
from hastack.timings import DNS_SETTLE_SECONDS

DONE, ALREADY, PLANNED, REFUSED, TIMED_OUT, FAILED, SKIPPED = (
    "done", "already", "planned", "refused", "timed-out", "failed", "skipped")
#: Statuses after which the run goes on.
OK_STATUSES = (DONE, ALREADY, PLANNED, TIMED_OUT)


@dataclass(frozen=True)
class Outcome:
    status: str
    sentence: str
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    """Everything a step may use; built once per run by the orchestrator."""

    outputs: DrOutputs
    aws: ClientFactory
    clock: Clock
    journal: Journal
    dry_run: bool = False
    accept_data_loss: bool = False
    poll_seconds: int = 15

    @property
    def dr(self) -> str:
        return self.outputs.dr_region

    def wait_policy(self) -> waiters.WaitPolicy:
        return waiters.WaitPolicy(self.outputs.dr_timeouts.wait_timeout_seconds, self.poll_seconds)


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --- eligibility ------------------------------------------------------------------------------


def promotion_refusal(replica: dict[str, Any] | None, identifier: str, region: str, lag: float | None,
                      budget: float, accept_data_loss: bool) -> str | None:
    """Why the DR replica must not be promoted now, or None when it may (Patroni's failover_limitation)."""
    if replica is None:
        return f"the DR replica {identifier!r} does not exist in {region}"
    if not probes.is_replica(replica):
        return None  # already promoted: nothing to refuse
    status = replica.get("DBInstanceStatus")
    if status != "available":
        return (f"the DR replica {identifier!r} is {status!r}, not 'available' (RDS cannot promote a replica "
                f"that is backing up or modifying)")
    state = probes.replication_state(replica)
    if state not in (None, "replicating"):
        return f"replication of {identifier!r} is {state!r}, not 'replicating'"
    if accept_data_loss:
        return None
    if lag is None:
        return (f"no CloudWatch ReplicaLag datapoint for {identifier!r} in the last 10 minutes, so the data loss "
                f"cannot be bounded by the {budget:.0f} s RPO budget; re-run with --accept-data-loss to promote anyway")
    if lag > budget:
        return (f"replica lag {lag:.0f} s of {identifier!r} is over the {budget:.0f} s RPO budget: promoting now "
                f"loses up to {lag:.0f} s of writes; re-run with --accept-data-loss to accept that")
    return None


# --- readiness (read-only) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def readiness_checks(ctx: RunContext) -> list[Check]:
    """The read-only readiness report: can the DR region be made production now?"""
    o, aws, dr = ctx.outputs, ctx.aws, ctx.dr
    checks: list[Check] = []

    def guard(name: str, fn: Any) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - a failed read is a failed check, named in the report
            checks.append(Check(name, False, str(exc)))

    def database() -> None:
        rid = o.database.replica.identifier
        inst = probes.db_instance(aws, dr, rid)
        if inst is not None and not probes.is_replica(inst):
            checks.append(Check("database", True, f"{rid!r} is already a standalone primary in {dr} "
                                                  f"({probes.db_role(inst)})"))
            return
        if inst is not None and ctx.journal.fact("promoteIssuedAt"):
            issued, status = ctx.journal.fact("promoteIssuedAt"), inst.get("DBInstanceStatus")
            checks.append(Check("database", True, f"promotion of {rid!r} already issued at {issued}; "
                                                  f"status {status!r}"))
            return
        lag = probes.replica_lag_seconds(aws, dr, rid) if inst is not None else None
        refusal = promotion_refusal(inst, rid, dr, lag, o.rpo_budget_seconds, ctx.accept_data_loss)
        lag_text = "unknown" if lag is None else f"{lag:.0f} s"
        if refusal:
            checks.append(Check("database", False, refusal))
        else:
            over = lag is None or lag > o.rpo_budget_seconds
            note = " (over budget, accepted with --accept-data-loss)" if over else ""
            checks.append(Check("database", True, f"{rid!r} is replicating; ReplicaLag {lag_text}, RPO budget "
                                                  f"{o.rpo_budget_seconds:.0f} s{note}"))
        if not ctx.dry_run:
            ctx.journal.set_fact("lagAtReadiness", lag)

    def cache() -> None:
        gd = probes.global_datastore(aws, dr, o.cache.global_datastore_id)
        if gd is None:
            checks.append(Check("cache", False, f"Global Datastore {o.cache.global_datastore_id!r} not found"))
            return
        regions = {m.get("ReplicationGroupRegion") for m in gd.get("Members", [])}
        primary = probes.cache_primary_region(gd)
        ok = dr in regions
        checks.append(Check("cache", ok, f"Global Datastore {o.cache.global_datastore_id!r}: primary in {primary}"
                            + ("" if ok else f", no member in {dr}")))

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
        missing += [s.name for s in o.services if s.name not in ing.target_group_arns]
        checks.append(Check("load balancer", not missing, f"DR ALB {lb.get('LoadBalancerName')} and "
                            f"{len(ing.target_group_arns)} target groups exist" if not missing
                            else f"target groups missing for: {', '.join(sorted(set(missing)))}"))

    def dns() -> None:
        inverted = probes.switch_inverted(aws, o.dns.switch_health_check_id)
        if inverted is None:
            checks.append(Check("dns switch", False, f"Route 53 switch health check {o.dns.switch_health_check_id} "
                                                     "not found"))
        else:
            checks.append(Check("dns switch", True, f"switch {o.dns.switch_health_check_id} points at "
                                                    f"{o.dr_region if inverted else o.primary_region}"))

    for name, fn in (("database", database), ("cache", cache), ("node groups", nodes),
                     ("load balancer", ingress), ("dns switch", dns)):
        guard(name, fn)
    return checks


def readiness(ctx: RunContext) -> Outcome:
    checks = readiness_checks(ctx)
    failed = [c for c in checks if not c.ok]
    facts = {"checks": [c.__dict__ for c in checks]}
    if failed:
        return Outcome(REFUSED, "DR region not ready: " + "; ".join(f"{c.name}: {c.detail}" for c in failed), facts)
    return Outcome(DONE if not ctx.dry_run else PLANNED,
                   f"DR region {ctx.dr} is ready ({len(checks)} checks passed)", facts)


# --- fence ------------------------------------------------------------------------------------


def fence(ctx: RunContext) -> Outcome:
    """Flip the Route 53 switch first (split-brain guard); bounded by the fast client profile."""
    o = ctx.outputs
    started = ctx.clock.now()
    try:
        inverted = probes.switch_inverted(ctx.aws, o.dns.switch_health_check_id, fast=True)
        if inverted:
            ctx.journal.set_fact("fence", "already")
            return Outcome(ALREADY, f"primary already fenced: Route 53 switch {o.dns.switch_health_check_id} is "
                                    f"flipped to {ctx.dr}")
        if ctx.dry_run:
            return Outcome(PLANNED, f"would flip Route 53 switch {o.dns.switch_health_check_id} so {o.primary_region} "
                                    "stops taking traffic and writes")
        actions.publish_switch(ctx.aws, o, "primaryFenced", 1, fast=True)
        actions.set_switch(ctx.aws, o.dns.switch_health_check_id, True, fast=True)
    except (probes.ProbeError, actions.ActionError) as exc:
        took = ctx.clock.now() - started
        if ctx.dry_run:
            return Outcome(TIMED_OUT, f"Route 53 did not answer within {took:.0f} s: the fence would be "
                                      f"skipped ({exc})")
        ctx.journal.set_fact("fence", f"timed out after {took:.0f} s")
        return Outcome(TIMED_OUT, f"could not fence {o.primary_region}: Route 53 did not answer within {took:.0f} s "
                                  f"(limit {o.dr_timeouts.fence_timeout_seconds:.0f} s); going on — the DNS step flips "
                                  f"the switch again ({exc})")
    ctx.journal.set_fact("fence", "done")
    return Outcome(DONE, f"fenced {o.primary_region}: Route 53 switch {o.dns.switch_health_check_id} flipped, "
                         f"the primary record is unhealthy")


# --- database branch --------------------------------------------------------------------------


def promote_db(ctx: RunContext) -> Outcome:
    o, dr = ctx.outputs, ctx.dr
    rid = o.database.replica.identifier
    inst = probes.db_instance(ctx.aws, dr, rid)
    if inst is None:
        return Outcome(FAILED, f"the DR replica {rid!r} does not exist in {dr}")
    if not probes.is_replica(inst):
        lag = ctx.journal.fact("lagAtPromotion")
        return Outcome(ALREADY, f"{rid!r} is already a standalone primary in {dr}", {"lagAtPromotion": lag})
    issued = ctx.journal.fact("promoteIssuedAt")
    if issued and inst.get("DBInstanceStatus") != "available":
        return Outcome(ALREADY, f"promotion of {rid!r} already under way (issued {issued}); not repeating it",
                       {"lagAtPromotion": ctx.journal.fact("lagAtPromotion")})
    lag = probes.replica_lag_seconds(ctx.aws, dr, rid)
    lag_text = "unknown" if lag is None else f"{lag:.0f} s"
    if ctx.dry_run:
        return Outcome(PLANNED, f"would promote {rid!r} in {dr} (ReplicaLag {lag_text})", {"lagAtPromotion": lag})
    ctx.journal.set_fact("lagAtPromotion", lag)
    actions.promote_replica(ctx.aws, dr, rid)
    ctx.journal.set_fact("promoteIssuedAt", _now_iso())
    return Outcome(DONE, f"promoted {rid!r} in {dr}; replica lag at promotion {lag_text} "
                         f"(RPO budget {o.rpo_budget_seconds:.0f} s)", {"lagAtPromotion": lag})


def db_serving(ctx: RunContext) -> Outcome:
    rid, dr = ctx.outputs.database.replica.identifier, ctx.dr
    inst = probes.db_instance(ctx.aws, dr, rid)
    if inst is not None and not probes.is_replica(inst) and inst.get("DBInstanceStatus") in ("available", "modifying"):
        return Outcome(ALREADY, f"{rid!r} is standalone and serving ({inst.get('DBInstanceStatus')})")
    if ctx.dry_run:
        return Outcome(PLANNED, f"would wait up to {ctx.outputs.dr_timeouts.wait_timeout_seconds:.0f} s for {rid!r} "
                                "to be standalone and serving")
    started = ctx.clock.now()
    waiters.db_standalone_serving(ctx.aws.client("rds", dr), rid, ctx.wait_policy())
    return Outcome(DONE, f"{rid!r} is standalone and serving after {ctx.clock.now() - started:.0f} s")


def db_to_prod(ctx: RunContext) -> Outcome:
    """Request Multi-AZ at the prod class right after promotion (no downtime; finishes in the background)."""
    o, dr = ctx.outputs, ctx.dr
    rid, cls = o.database.replica.identifier, o.database.prod_instance_class
    inst = probes.db_instance(ctx.aws, dr, rid)
    if inst is None:
        return Outcome(FAILED, f"{rid!r} does not exist in {dr}")
    pending = inst.get("PendingModifiedValues") or {}
    multi_az = inst.get("MultiAZ") or pending.get("MultiAZ")
    at_class = inst.get("DBInstanceClass") == cls or pending.get("DBInstanceClass") == cls
    if multi_az and at_class:
        return Outcome(ALREADY, f"{rid!r} is already Multi-AZ at {cls} (or the change is pending)")
    if ctx.dry_run:
        return Outcome(PLANNED, f"would make {rid!r} Multi-AZ at {cls}")
    if probes.is_replica(inst):
        return Outcome(FAILED, f"{rid!r} is still a replica; not converting it to Multi-AZ")
    actions.make_multi_az(ctx.aws, dr, rid, cls)
    return Outcome(DONE, f"requested Multi-AZ at {cls} for {rid!r} (applied now, no downtime)")


def db_multi_az(ctx: RunContext) -> Outcome:
    """After the DNS switch: wait for the Multi-AZ conversion to finish (durability, not RTO)."""
    rid, cls, dr = ctx.outputs.database.replica.identifier, ctx.outputs.database.prod_instance_class, ctx.dr
    inst = probes.db_instance(ctx.aws, dr, rid)
    done = inst and inst.get("MultiAZ") and inst.get("DBInstanceClass") == cls
    if done and inst.get("DBInstanceStatus") == "available":  # type: ignore[union-attr]
        return Outcome(ALREADY, f"{rid!r} is Multi-AZ at {cls} and available")
    if ctx.dry_run:
        return Outcome(PLANNED, f"would wait for {rid!r} to finish converting to Multi-AZ at {cls}")
    started = ctx.clock.now()
    waiters.db_multi_az_at_class(ctx.aws.client("rds", dr), rid, cls, ctx.wait_policy())
    return Outcome(DONE, f"{rid!r} is Multi-AZ at {cls} after {ctx.clock.now() - started:.0f} s")


# --- cache branch -----------------------------------------------------------------------------


def cache_failover(ctx: RunContext) -> Outcome:
    o, dr = ctx.outputs, ctx.dr
    gid = o.cache.global_datastore_id
    # `dr` is the region to fail over to: the DR region for scale-up, the primary for failback.
    member = o.cache.secondary if o.cache.secondary.region == dr else o.cache.primary
    dr_group = member.replication_group_id
    gd = probes.global_datastore(ctx.aws, dr, gid)
    if gd is None:
        return Outcome(FAILED, f"Global Datastore {gid!r} not found")
    if probes.cache_primary_region(gd) == dr and gd.get("Status") == "available":
        return Outcome(ALREADY, f"Global Datastore {gid!r} already has its primary {dr_group!r} in {dr}")
    if ctx.dry_run:
        return Outcome(PLANNED, f"would fail Global Datastore {gid!r} over to {dr_group!r} in {dr}")
    started = ctx.clock.now()
    if probes.cache_primary_region(gd) != dr and gd.get("Status") == "available":
        actions.failover_global_datastore(ctx.aws, dr, gid, dr_group)
    waiters.global_primary_in(ctx.aws.client("elasticache", dr), gid, dr, ctx.wait_policy())
    return Outcome(DONE, f"failed Global Datastore {gid!r} over: {dr_group!r} in {dr} is primary "
                         f"after {ctx.clock.now() - started:.0f} s")


# --- compute branch ---------------------------------------------------------------------------


def scale_nodes(ctx: RunContext) -> Outcome:
    """Scale every DR node group to its prod size; never lower a size an autoscaler already raised."""
    dr = ctx.dr
    changed, kept = [], []
    for g in ctx.outputs.dr_node_groups:
        current = probes.node_group(ctx.aws, dr, g.cluster_name, g.name)
        if current is None:
            return Outcome(FAILED, f"node group {g.name!r} of {g.cluster_name!r} does not exist in {dr}")
        mn, ds, mx = probes.scaling(current)
        if mn >= g.prod_min_size and ds >= g.prod_desired_size and mx >= g.prod_max_size:
            kept.append(g.name)
            continue
        target = (max(mn, g.prod_min_size), max(ds, g.prod_desired_size), max(mx, g.prod_max_size))
        if not ctx.dry_run:
            actions.scale_node_group(ctx.aws, dr, g.cluster_name, g.name, *target)
        changed.append(f"{g.name} {mn}/{ds}/{mx}->{target[0]}/{target[1]}/{target[2]}")
    if not changed:
        return Outcome(ALREADY, f"all {len(kept)} DR node groups are already at prod size")
    verb = "would scale" if ctx.dry_run else "scaled"
    return Outcome(PLANNED if ctx.dry_run else DONE, f"{verb} {len(changed)} DR node groups (min/desired/max): "
                   + ", ".join(changed))


def _compute_state(ctx: RunContext) -> tuple[list[str], list[str]]:
    """(node groups not yet at size, target groups short of healthy targets) — as sentences."""
    dr, o = ctx.dr, ctx.outputs
    groups = []
    for g in o.dr_node_groups:
        cur = probes.node_group(ctx.aws, dr, g.cluster_name, g.name)
        if cur is None or cur.get("status") != "ACTIVE" or probes.scaling(cur)[1] < g.prod_desired_size:
            groups.append(g.name)
    short = []
    for svc, arn in o.ingress[dr].target_group_arns.items():
        th = probes.target_health(ctx.aws, dr, arn)
        need = o.replicas_of(svc) if any(s.name == svc for s in o.services) else 1
        if th.healthy < need:
            short.append(f"{svc} {th.healthy}/{need} healthy")
    return groups, short


def compute_ready(ctx: RunContext) -> Outcome:
    o, dr = ctx.outputs, ctx.dr
    groups, short = _compute_state(ctx)
    if not groups and not short:
        return Outcome(ALREADY, "DR node groups at prod size and every target group has its prod replica count "
                                "of healthy targets")
    if ctx.dry_run:
        return Outcome(PLANNED, f"would wait up to {o.dr_timeouts.wait_timeout_seconds:.0f} s for node groups and "
                                f"healthy targets ({'; '.join(short) or 'targets ok'})")
    started = ctx.clock.now()
    eks = ctx.aws.client("eks", dr)
    for g in o.dr_node_groups:
        waiters.nodegroup_at_size(eks, g.cluster_name, g.name, g.prod_desired_size, ctx.wait_policy())
    elb = ctx.aws.client("elbv2", dr)
    for svc, arn in o.ingress[dr].target_group_arns.items():
        need = o.replicas_of(svc) if any(s.name == svc for s in o.services) else 1
        waiters.targets_healthy(elb, arn, need, ctx.wait_policy())
    return Outcome(DONE, f"{len(o.dr_node_groups)} node groups at prod size and "
                         f"{len(o.ingress[dr].target_group_arns)} target groups healthy after "
                         f"{ctx.clock.now() - started:.0f} s")


# --- gate and DNS -----------------------------------------------------------------------------


def health_gate(ctx: RunContext) -> Outcome:
    """Re-read everything before DNS moves: DB serving, node groups at size, targets healthy."""
    rid, dr = ctx.outputs.database.replica.identifier, ctx.dr
    inst = probes.db_instance(ctx.aws, dr, rid)
    problems = []
    if inst is None or probes.is_replica(inst) or inst.get("DBInstanceStatus") not in ("available", "modifying"):
        problems.append(f"database {rid!r} is {probes.db_role(inst)}")
    groups, short = _compute_state(ctx)
    problems += [f"node group {g} below prod size" for g in groups] + short
    if ctx.dry_run:
        return Outcome(PLANNED, "would check DB, node groups and targets before switching DNS"
                       + (f" (now: {'; '.join(problems)})" if problems else ""))
    if problems:
        return Outcome(FAILED, "not switching DNS: " + "; ".join(problems))
    return Outcome(DONE, f"DR region {dr} healthy: DB serving, node groups at prod size, targets healthy")


def dns_switch(ctx: RunContext) -> Outcome:
    """Make Route 53 answer with the DR region (flip the switch if the fence could not) and verify."""
    o, dr = ctx.outputs, ctx.dr
    inverted = probes.switch_inverted(ctx.aws, o.dns.switch_health_check_id)
    if inverted is None:
        return Outcome(FAILED, f"Route 53 switch health check {o.dns.switch_health_check_id} not found")
    if ctx.dry_run:
        return Outcome(PLANNED, f"would {'keep' if inverted else 'flip'} switch {o.dns.switch_health_check_id} and "
                                f"verify {o.dns.record_name} answers the DR ALB")
    # The SECONDARY record's gate needs dr-ready; PRIMARY's needs primary-switch (see components/dns.py).
    actions.publish_switch(ctx.aws, o, "drReady", 1)
    actions.publish_switch(ctx.aws, o, "primaryFenced", 1)
    if not inverted:
        actions.set_switch(ctx.aws, o.dns.switch_health_check_id, True)
    problem = verify_dns(ctx)
    if problem:
        return Outcome(FAILED, problem)
    did = "switched DNS" if not inverted else "DNS already on DR"
    return Outcome(DONE if not inverted else ALREADY,
                   f"{did}: switch {o.dns.switch_health_check_id} flipped, {o.dns.record_name} answers the DR ALB "
                   f"{o.ingress[dr].alb_dns_name} (clients follow within {DNS_SETTLE_SECONDS:.0f} s: propagation "
                   "+ TTL)")


def verify_dns(ctx: RunContext) -> str | None:
    """None when the switch is flipped and the SECONDARY record aliases the DR ALB; else the problem."""
    o, dr = ctx.outputs, ctx.dr
    if not probes.switch_inverted(ctx.aws, o.dns.switch_health_check_id):
        return f"switch {o.dns.switch_health_check_id} reads back as not flipped"
    records = probes.failover_records(ctx.aws, o.dns.hosted_zone_id, o.dns.record_name)
    if not records:
        return f"no failover records for {o.dns.record_name} in hosted zone {o.dns.hosted_zone_id}"
    want = o.ingress[dr].alb_dns_name.rstrip(".").lower()
    secondary = [r for r in records if r.get("Failover") == "SECONDARY"]
    targets = [str(r.get("AliasTarget", {}).get("DNSName", "")).rstrip(".").lower() for r in secondary]
    if not any(t.endswith(want) for t in targets):
        return f"the SECONDARY record of {o.dns.record_name} does not alias the DR ALB {want} (it has {targets})"
    return None

