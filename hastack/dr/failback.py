"""`hastack dr failback`: re-protect the old primary region, then switch back without data loss.

After a scale-up the DR region is production and nothing protects it. Failback is one idempotent
run in two halves, with the same machinery as scale-up (`Recorder`, probes, actions, waiters, the
parallel branches) pointed the other way:

*Re-protect* — keep the program's assumption that the original identifier is the primary-region
writer: the old primary instance (protect + retain in the program; it may hold writes the replica
never got) is renamed aside to `<original>-pre-failover-<yyyymmdd>` and kept; a new cross-region
replica of the DR writer is created under the ORIGINAL identifier, tagged `hastack:failback`; it
must be available with ReplicaLag <= `CAUGHT_UP_SECONDS`, else the run stops there (refused, nothing
else changed) — re-run once it caught up, or pass --accept-data-loss.

*Planned switchback* (zero data loss) — fence first: set the Route 53 switch back (Inverted=false)
so the DR writer stops taking traffic (the primary region's replica is read-only, so nothing can be
written anywhere meanwhile); wait until ReplicaLag is 0; then in parallel promote the replica
(standalone, then Multi-AZ at the prod class) / fail the Global Datastore back / make sure the
primary node groups are at their deployed size; health gate; verify DNS answers the primary ALB;
finally rename the fenced DR writer aside (`<dr id>-post-failback-<yyyymmdd>`, kept) so the next
`pulumi up` with activeRegion back to the primary re-creates the DR replica under its own name.

"Done" is derived from AWS (tag, identifiers, roles, the switch), so a re-run converges and, once
everything is back, says there is nothing to do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from hastack.dr import actions, probes, waiters
from hastack.dr import steps as s
from hastack.dr.aws import ClientFactory
from hastack.dr.clock import Clock, WallClock
from hastack.dr.journal import Journal
from hastack.dr.lock import DrLock, LockError
from hastack.dr.orchestrator import NullObserver, Observer, Recorder, RunResult
from hastack.dr.outputs import DrOutputs

#: The new replica counts as caught up at or below this ReplicaLag (seconds); promotion waits for 0.
CAUGHT_UP_SECONDS = 1.0
#: Tag on the replica failback creates: how a re-run tells it from the old primary it replaces.
FAILBACK_TAG = "hastack:failback"


def _today() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d")


@dataclass(frozen=True)
class FailbackPlan:
    outputs: DrOutputs

    @property
    def home(self) -> str:
        """The region built as primary, to return to."""
        return self.outputs.primary_region

    @property
    def writer_region(self) -> str:
        return self.outputs.dr_region

    @property
    def writer_id(self) -> str:
        """The DR instance: the writer since the scale-up (stack outputs name members by build region)."""
        return self.outputs.database.replica.identifier

    @property
    def original_id(self) -> str:
        """The primary-region writer's identifier, as the program declares it; failback gives it back."""
        return self.outputs.database.primary.identifier

    def aside_prefix(self) -> str:
        return f"{self.original_id[:40]}-pre-failover-"

    def retired_prefix(self) -> str:
        return f"{self.writer_id[:40]}-post-failback-"

    def rows(self) -> list[tuple[str, str, str]]:
        return [(name, branch, what) for name, branch, what, _ in self.steps()]

    def steps(self) -> list[tuple[str, str, str, str]]:
        """(step, branch, what it does, phase) in display order; one phase's branches run in parallel."""
        o, home, dr = self.outputs, self.home, self.writer_region
        return [
            ("lock", "main", "take the DR lock", "lock"),
            ("fb-readiness", "main", f"DR writer {self.writer_id!r} standalone in {dr}; {home} answers", "ready"),
            ("rename-aside", "main", f"rename the old primary {self.original_id!r} to "
                                     f"'{self.aside_prefix()}<date>' (kept)", "reprotect"),
            ("reprotect", "main", f"create replica {self.original_id!r} in {home} of {self.writer_id!r}",
             "reprotect"),
            ("caught-up", "main", f"replica available with ReplicaLag <= {CAUGHT_UP_SECONDS:.0f} s (else refuse)",
             "reprotect"),
            ("fence-back", "main", f"switch back (Inverted=false): {dr} stops taking traffic and writes", "fence"),
            ("drain-lag", "main", f"wait until ReplicaLag of {self.original_id!r} is 0", "fence"),
            ("promote-home", "database", f"promote {self.original_id!r} in {home}", "parallel"),
            ("home-serving", "database", "wait until it is standalone and serving", "parallel"),
            ("home-to-prod", "database", f"request Multi-AZ at {o.database.prod_instance_class}", "parallel"),
            ("cache-back", "cache", f"fail the Global Datastore back to {home}", "parallel"),
            ("home-nodes", "compute", f"{home} node groups at their deployed size", "parallel"),
            ("health-gate-back", "main", f"re-check the {home} DB and cache", "gate"),
            ("dns-back", "main", f"verify the switch and that {o.dns.record_name} answers the {home} ALB", "dns"),
            ("retire-dr-writer", "main", f"rename the fenced {self.writer_id!r} to '{self.retired_prefix()}<date>' "
                                         "(kept; the next pulumi up re-creates the DR replica)", "retire"),
            ("unlock", "main", "release the DR lock", "unlock"),
        ]


def plan_table(plan: FailbackPlan) -> Table:
    table = Table(title=f"failback plan: {plan.writer_region} -> {plan.home}", title_justify="left")
    for col in ("#", "step", "branch", "what it does"):
        table.add_column(col, overflow="fold")
    for i, (name, branch, what) in enumerate(plan.rows(), 1):
        table.add_row(str(i), name, branch, what)
    return table


@dataclass
class HomeContext(s.RunContext):
    """A RunContext pointed the other way: the region to make production is the primary region."""

    @property
    def dr(self) -> str:  # type: ignore[override]
        return self.outputs.primary_region


def _tags(aws: ClientFactory, region: str, inst: dict[str, Any]) -> dict[str, str]:
    tags = inst.get("TagList")
    if tags is None:
        tags = aws.client("rds", region).list_tags_for_resource(ResourceName=inst["DBInstanceArn"])["TagList"]
    return {t["Key"]: t["Value"] for t in tags}


class Failback:
    """One `hastack dr failback` run (see module docstring)."""

    def __init__(self, plan: FailbackPlan, aws: ClientFactory, *, clock: Clock | None = None,
                 observer: Observer | None = None, dry_run: bool = False, break_lock: bool = False,
                 accept_data_loss: bool = False, poll_seconds: int = 15) -> None:
        self.plan, self.aws = plan, aws
        self.clock = clock or WallClock()
        self.observer = observer or NullObserver()
        self.dry_run, self.break_lock, self.poll_seconds = dry_run, break_lock, poll_seconds
        self.accept_data_loss = accept_data_loss
        o = plan.outputs
        self.lock = DrLock(aws, o.coordination.table_name, o.coordination.home_region, o.stack, "dr failback",
                           2 * o.dr_timeouts.wait_timeout_seconds + 600)

    # --- world ----------------------------------------------------------------------------------

    def _home_db(self) -> dict[str, Any] | None:
        return probes.db_instance(self.aws, self.plan.home, self.plan.original_id)

    def _is_ours(self, inst: dict[str, Any] | None) -> bool:
        """True when the original identifier already holds failback's replica (or its promotion)."""
        return inst is not None and FAILBACK_TAG in _tags(self.aws, self.plan.home, inst)

    def _ids_with_prefix(self, region: str, prefix: str) -> list[str]:
        pages = self.aws.client("rds", region).get_paginator("describe_db_instances").paginate()
        return [i["DBInstanceIdentifier"] for page in pages for i in page["DBInstances"]
                if i["DBInstanceIdentifier"].startswith(prefix)]

    # --- run ------------------------------------------------------------------------------------

    def run(self) -> RunResult:
        o = self.plan.outputs
        result = RunResult("dr failback", o.stack, self.dry_run, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                           self.clock.now(), rto_budget_seconds=o.rto_budget_seconds,
                           rpo_budget_seconds=o.rpo_budget_seconds)
        ctx = HomeContext(o, self.aws, self.clock, Journal(read_only=True), self.dry_run, self.accept_data_loss,
                          self.poll_seconds)
        rec = Recorder(ctx, self.observer, result)
        if not self._take_lock(rec):
            result.summary = self._summary(result)
            return result
        try:
            self._steps(rec, result)
        finally:
            if not self.dry_run:
                rec.run("unlock", "main", lambda c: s.Outcome(s.DONE, self.lock.release()))
            else:
                rec.run("unlock", "main", lambda c: s.Outcome(s.PLANNED, "would release the DR lock"))
        result.total_seconds = self.clock.now() - result.t0
        result.summary = self._summary(result)
        return result

    def _take_lock(self, rec: Recorder) -> bool:
        if self.dry_run:
            holder = self.lock.holder()
            free = s.Outcome(s.PLANNED, "would take the DR lock (it is free)")
            rec.run("lock", "main", lambda c: free if holder is None
                    else s.Outcome(s.REFUSED, f"the DR lock is held by {holder.describe()}"))
            return True

        def take(_: s.RunContext) -> s.Outcome:
            try:
                return s.Outcome(s.DONE, self.lock.acquire(self.break_lock))
            except LockError as exc:
                return s.Outcome(s.REFUSED, str(exc))
        return rec.run("lock", "main", take).status == s.DONE

    def _chain(self, rec: Recorder, branch: str, names: list[str]) -> bool:
        for i, name in enumerate(names):
            outcome = rec.run(name, branch, getattr(self, "_" + name.replace("-", "_")))
            if outcome.status not in s.OK_STATUSES and not self.dry_run:
                for rest in names[i + 1:]:
                    rec.skip(rest, branch, f"not run: {name} {outcome.status}")
                return False
        return True

    def _steps(self, rec: Recorder, result: RunResult) -> None:
        phases: list[tuple[str, list[tuple[str, list[str]]]]] = []
        for name, branch, _, phase in self.plan.steps():
            if name in ("lock", "unlock"):
                continue
            if not phases or phases[-1][0] != phase:
                phases.append((phase, []))
            branches = phases[-1][1]
            if not branches or branches[-1][0] != branch:
                branches.append((branch, []))
            branches[-1][1].append(name)
        for phase, branches in phases:
            if len(branches) == 1:
                ok = self._chain(rec, *branches[0])
            else:
                ok = all(self.clock.run_parallel([(lambda b=b: self._chain(rec, *b)) for b in branches]))
            if not ok and not self.dry_run:
                done = {r.name for r in result.records}
                for name, branch, _, _ in self.plan.steps():
                    if name not in done and name != "unlock":
                        rec.skip(name, branch, f"not run: the {phase} phase did not succeed; fix and re-run")
                return

    def _summary(self, result: RunResult) -> str:
        p = self.plan
        bad = [r for r in result.records if r.status in (s.REFUSED, s.FAILED)]
        if self.dry_run:
            if bad:
                return "dry run: NOT ready — " + "; ".join(f"{r.name}: {r.sentence}" for r in bad)
            return f"dry run: failback to {p.home} can run; nothing was changed"
        if bad:
            return "failback did not finish: " + "; ".join(f"{r.name}: {r.sentence}" for r in bad)
        if not result.changed:
            return (f"nothing to do: {p.home} is already production again (every step found its work done); "
                    "nothing was changed")
        return (f"{p.home} is production again: {p.original_id!r} promoted, cache primary, DNS on {p.home}; "
                f"the old primary is kept as '{p.aside_prefix()}*'")

    # --- re-protect -----------------------------------------------------------------------------

    def _fb_readiness(self, ctx: s.RunContext) -> s.Outcome:
        p = self.plan
        try:
            home = probes.db_instance(self.aws, p.home, p.original_id, fast=True)
        except probes.ProbeError as exc:
            return s.Outcome(s.REFUSED, f"{p.home} does not answer yet ({exc}); fail back once it is healthy")
        if self._is_ours(home) and not probes.is_replica(home):
            return s.Outcome(s.DONE, f"{p.original_id!r} is already the standalone writer in {p.home}")
        writer = probes.db_instance(self.aws, p.writer_region, p.writer_id)
        if writer is None or probes.is_replica(writer):
            return s.Outcome(s.REFUSED, f"{p.writer_id!r} in {p.writer_region} is {probes.db_role(writer)}: "
                                        "fail back only after a scale-up made it the writer")
        return s.Outcome(s.PLANNED if self.dry_run else s.DONE,
                         f"{p.writer_id!r} is the writer in {p.writer_region} and {p.home} answers")

    def _rename_aside(self, ctx: s.RunContext) -> s.Outcome:
        p = self.plan
        home = self._home_db()
        if home is None or self._is_ours(home):
            aside = self._ids_with_prefix(p.home, p.aside_prefix())
            kept = f"kept as {', '.join(repr(a) for a in aside)}" if aside else "no old instance found"
            return s.Outcome(s.ALREADY, f"the old primary is already out of the way ({kept})")
        new_id = p.aside_prefix() + _today()
        if self.dry_run:
            return s.Outcome(s.PLANNED, f"would rename the old primary {p.original_id!r} in {p.home} to {new_id!r}")
        actions.rename_db_instance(self.aws, p.home, p.original_id, new_id)
        self._wait_gone(p.home, p.original_id)
        return s.Outcome(s.DONE, f"renamed the old primary {p.original_id!r} in {p.home} to {new_id!r} (kept: it "
                                 "may hold writes the replica never got)")

    def _wait_gone(self, region: str, identifier: str) -> None:
        """A rename frees the old identifier after a moment; bounded by the wait timeout."""
        deadline = self.clock.now() + self.plan.outputs.dr_timeouts.wait_timeout_seconds
        while probes.db_instance(self.aws, region, identifier) is not None:
            if self.clock.now() + self.poll_seconds > deadline:
                raise actions.ActionError(f"{identifier!r} in {region} still exists after the rename")
            self.clock.sleep(self.poll_seconds)

    def _reprotect(self, ctx: s.RunContext) -> s.Outcome:
        p, o = self.plan, self.plan.outputs
        existing = self._home_db()
        if existing is not None:
            return s.Outcome(s.ALREADY, f"{p.original_id!r} already exists in {p.home} ({probes.db_role(existing)})")
        if self.dry_run:
            return s.Outcome(s.PLANNED, f"would create replica {p.original_id!r} in {p.home} of {p.writer_id!r}")
        writer = probes.db_instance(self.aws, p.writer_region, p.writer_id)
        arn = (writer or {}).get("DBInstanceArn", "")
        actions.create_cross_region_replica(self.aws, p.home, p.original_id, arn, o.database.prod_instance_class,
                                            tags={FAILBACK_TAG: _today()})
        return s.Outcome(s.DONE, f"created replica {p.original_id!r} in {p.home} of {p.writer_id!r}")

    def _caught_up(self, ctx: s.RunContext) -> s.Outcome:
        p = self.plan
        home = self._home_db()
        if home is not None and not probes.is_replica(home):
            return s.Outcome(s.ALREADY, f"{p.original_id!r} is already promoted")
        if self.dry_run:
            return s.Outcome(s.PLANNED, f"would wait for {p.original_id!r} to be available and check ReplicaLag "
                                        f"<= {CAUGHT_UP_SECONDS:.0f} s")
        started = self.clock.now()
        waiters.db_available(self.aws.client("rds", p.home), p.original_id, ctx.wait_policy())
        lag = probes.replica_lag_seconds(self.aws, p.home, p.original_id)
        if lag is not None and lag <= CAUGHT_UP_SECONDS:
            return s.Outcome(s.DONE, f"{p.original_id!r} is available and caught up (ReplicaLag {lag:.0f} s) after "
                                     f"{self.clock.now() - started:.0f} s")
        lag_text = "unknown (no datapoint)" if lag is None else f"{lag:.0f} s"
        if self.accept_data_loss:
            return s.Outcome(s.DONE, f"{p.original_id!r} ReplicaLag {lag_text}, over {CAUGHT_UP_SECONDS:.0f} s: "
                                     "going on (accepted with --accept-data-loss)")
        return s.Outcome(s.REFUSED, f"ReplicaLag of {p.original_id!r} is {lag_text}, not <= "
                                    f"{CAUGHT_UP_SECONDS:.0f} s: not switching back (writes would be lost); re-run "
                                    "when it has caught up (hastack dr status), or --accept-data-loss")

    # --- planned switchback ---------------------------------------------------------------------

    def _fence_back(self, ctx: s.RunContext) -> s.Outcome:
        o, p = self.plan.outputs, self.plan
        inverted = probes.switch_inverted(self.aws, o.dns.switch_health_check_id)
        if inverted is None:
            return s.Outcome(s.FAILED, f"Route 53 switch health check {o.dns.switch_health_check_id} not found")
        if not inverted:
            return s.Outcome(s.ALREADY, f"switch {o.dns.switch_health_check_id} already points at {p.home}")
        if self.dry_run:
            return s.Outcome(s.PLANNED, f"would set switch {o.dns.switch_health_check_id} Inverted=false so "
                                        f"{p.writer_region} stops taking traffic and writes")
        actions.publish_switch(self.aws, o, "primaryFenced", 0)
        actions.set_switch(self.aws, o.dns.switch_health_check_id, False)
        return s.Outcome(s.DONE, f"fenced {p.writer_region}: switch {o.dns.switch_health_check_id} Inverted=false, "
                                 f"traffic goes to {p.home} (read-only until the promotion)")

    def _drain_lag(self, ctx: s.RunContext) -> s.Outcome:
        p = self.plan
        home = self._home_db()
        if home is not None and not probes.is_replica(home):
            return s.Outcome(s.ALREADY, f"{p.original_id!r} is already promoted")
        if self.dry_run:
            return s.Outcome(s.PLANNED, f"would wait until ReplicaLag of {p.original_id!r} is 0")
        started = self.clock.now()
        deadline = started + self.plan.outputs.dr_timeouts.wait_timeout_seconds
        while True:
            lag = probes.replica_lag_seconds(self.aws, p.home, p.original_id)
            if lag == 0:
                return s.Outcome(s.DONE, f"ReplicaLag of {p.original_id!r} is 0 after {self.clock.now() - started:.0f} "
                                         "s: nothing written in DR is missing", {"lagAtPromotion": 0.0})
            if self.accept_data_loss:
                return s.Outcome(s.DONE, f"ReplicaLag of {p.original_id!r} is {lag}: promoting anyway "
                                         "(--accept-data-loss)", {"lagAtPromotion": lag})
            if self.clock.now() + self.poll_seconds > deadline:
                return s.Outcome(s.FAILED, f"ReplicaLag of {p.original_id!r} did not reach 0 within "
                                           f"{self.plan.outputs.dr_timeouts.wait_timeout_seconds:.0f} s (last {lag}); "
                                           "not "
                                           "promoting; traffic is on the read-only replica — re-run, or scale-up again")
            self.clock.sleep(self.poll_seconds)

    def _promote_home(self, ctx: s.RunContext) -> s.Outcome:
        p = self.plan
        home = self._home_db()
        if home is None:
            return s.Outcome(s.FAILED, f"{p.original_id!r} does not exist in {p.home}")
        if not probes.is_replica(home):
            return s.Outcome(s.ALREADY, f"{p.original_id!r} is already a standalone primary in {p.home}")
        if self.dry_run:
            return s.Outcome(s.PLANNED, f"would promote {p.original_id!r} in {p.home}")
        actions.promote_replica(self.aws, p.home, p.original_id)
        return s.Outcome(s.DONE, f"promoted {p.original_id!r} in {p.home} (ReplicaLag 0 at promotion)")

    def _home_serving(self, ctx: s.RunContext) -> s.Outcome:
        p = self.plan
        home = self._home_db()
        if home is not None and not probes.is_replica(home) and home.get("DBInstanceStatus") in ("available",
                                                                                                 "modifying"):
            return s.Outcome(s.ALREADY, f"{p.original_id!r} is standalone and serving ({home.get('DBInstanceStatus')})")
        if self.dry_run:
            return s.Outcome(s.PLANNED, f"would wait for {p.original_id!r} to be standalone and serving")
        started = self.clock.now()
        waiters.db_standalone_serving(self.aws.client("rds", p.home), p.original_id, ctx.wait_policy())
        took = self.clock.now() - started
        return s.Outcome(s.DONE, f"{p.original_id!r} is standalone and serving after {took:.0f} s")

    def _home_to_prod(self, ctx: s.RunContext) -> s.Outcome:
        p, cls = self.plan, self.plan.outputs.database.prod_instance_class
        home = self._home_db()
        if home is None:
            return s.Outcome(s.FAILED, f"{p.original_id!r} does not exist in {p.home}")
        pending = home.get("PendingModifiedValues") or {}
        if (home.get("MultiAZ") or pending.get("MultiAZ")) and cls in (home.get("DBInstanceClass"),
                                                                        pending.get("DBInstanceClass")):
            return s.Outcome(s.ALREADY, f"{p.original_id!r} is already Multi-AZ at {cls} (or the change is pending)")
        if self.dry_run:
            return s.Outcome(s.PLANNED, f"would make {p.original_id!r} Multi-AZ at {cls}")
        if probes.is_replica(home):
            return s.Outcome(s.FAILED, f"{p.original_id!r} is still a replica; not converting it to Multi-AZ")
        actions.make_multi_az(self.aws, p.home, p.original_id, cls)
        return s.Outcome(s.DONE, f"requested Multi-AZ at {cls} for {p.original_id!r} (applied now, no downtime)")

    def _cache_back(self, ctx: s.RunContext) -> s.Outcome:
        return s.cache_failover(ctx)  # ctx is a HomeContext: the same step, pointed at the primary region

    def _home_nodes(self, ctx: s.RunContext) -> s.Outcome:
        p = self.plan
        groups = self.plan.outputs.node_groups.get(p.home, ())
        raised = []
        for g in groups:
            cur = probes.node_group(self.aws, p.home, g.cluster_name, g.name)
            if cur is None:
                return s.Outcome(s.FAILED, f"node group {g.name!r} of {g.cluster_name!r} does not exist in {p.home}")
            mn, ds, mx = probes.scaling(cur)
            if mn >= g.min_size and ds >= g.desired_size and mx >= g.max_size:
                continue
            target = (max(mn, g.min_size), max(ds, g.desired_size), max(mx, g.max_size))
            if not self.dry_run:
                actions.scale_node_group(self.aws, p.home, g.cluster_name, g.name, *target)
            raised.append(f"{g.name} {mn}/{ds}/{mx}->{target[0]}/{target[1]}/{target[2]}")
        if not raised:
            return s.Outcome(s.ALREADY, f"all {len(groups)} {p.home} node groups are at their deployed size")
        verb = "would scale" if self.dry_run else "scaled"
        return s.Outcome(s.PLANNED if self.dry_run else s.DONE, f"{verb} {p.home} node groups: " + ", ".join(raised))

    def _health_gate_back(self, ctx: s.RunContext) -> s.Outcome:
        p, o = self.plan, self.plan.outputs
        problems = []
        home = self._home_db()
        if home is None or probes.is_replica(home) or home.get("DBInstanceStatus") not in ("available", "modifying"):
            problems.append(f"database {p.original_id!r} is {probes.db_role(home)}")
        primary = probes.cache_primary_region(probes.global_datastore(self.aws, p.home, o.cache.global_datastore_id))
        if primary != p.home:
            problems.append(f"cache primary is in {primary}")
        if self.dry_run:
            return s.Outcome(s.PLANNED, f"would check the {p.home} DB and cache"
                             + (f" (now: {'; '.join(problems)})" if problems else ""))
        if problems:
            return s.Outcome(s.FAILED, "not done: " + "; ".join(problems))
        return s.Outcome(s.DONE, f"{p.home} healthy: {p.original_id!r} standalone and serving, cache primary")

    def _dns_back(self, ctx: s.RunContext) -> s.Outcome:
        p, o = self.plan, self.plan.outputs
        if self.dry_run:
            return s.Outcome(s.PLANNED, f"would verify {o.dns.record_name} answers the {p.home} ALB")
        if probes.switch_inverted(self.aws, o.dns.switch_health_check_id) is not False:
            return s.Outcome(s.FAILED, f"switch {o.dns.switch_health_check_id} does not read back as Inverted=false")
        want = o.ingress[p.home].alb_dns_name.rstrip(".").lower()
        records = probes.failover_records(self.aws, o.dns.hosted_zone_id, o.dns.record_name)
        targets = [str(r.get("AliasTarget", {}).get("DNSName", "")).rstrip(".").lower()
                   for r in records if r.get("Failover") == "PRIMARY"]
        if not any(t.endswith(want) for t in targets):
            return s.Outcome(s.FAILED, f"the PRIMARY record of {o.dns.record_name} does not alias {want} ({targets})")
        return s.Outcome(s.ALREADY, f"DNS on {p.home}: switch Inverted=false, the PRIMARY record of "
                                    f"{o.dns.record_name} aliases {o.ingress[p.home].alb_dns_name}")

    def _retire_dr_writer(self, ctx: s.RunContext) -> s.Outcome:
        p = self.plan
        old = probes.db_instance(self.aws, p.writer_region, p.writer_id)
        if old is None:
            return s.Outcome(s.ALREADY, f"{p.writer_id!r} is already out of the way in {p.writer_region}")
        if probes.is_replica(old):
            return s.Outcome(s.ALREADY, f"{p.writer_id!r} is already a replica ({probes.db_role(old)})")
        new_id = p.retired_prefix() + _today()
        if self.dry_run:
            return s.Outcome(s.PLANNED, f"would rename the fenced {p.writer_id!r} in {p.writer_region} to {new_id!r}")
        actions.rename_db_instance(self.aws, p.writer_region, p.writer_id, new_id)
        return s.Outcome(s.DONE, f"renamed the fenced {p.writer_id!r} in {p.writer_region} to {new_id!r} (kept); "
                                 "the next pulumi up re-creates the DR replica")
