"""`hastack dr failback`: re-protect the old primary region, then switch back without data loss.

After a scale-up the DR region is production and nothing protects it. Failback, in order:

1. *Re-protect* (automated): create a new cross-region replica of the DR writer in the old
   primary region. The old primary instance is kept untouched under its own identifier — it may
   hold writes the replica never received (up to the RPO paid) and the program marks it protect +
   retain — so the new replica gets the identifier `<old identifier>-fb`.
2. *Catch up* (automated): wait until the new replica is available and its CloudWatch ReplicaLag
   is at most `CAUGHT_UP_SECONDS`.
3. *Planned switchback* (printed, not automated yet — see `switchback_steps`): the same machinery
   in the other direction, but *planned*, so zero data loss: stop writes in DR first, wait for lag
   0, promote, fail the cache back, flip the switch back (Inverted=false), set activeRegion back.
   What stops the automation here is not moto but the program: its identifiers assume the
   original instance is the primary's writer, so adopting the `-fb` replica as the writer needs a
   program change (import/alias) that is not part of this command yet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rich.table import Table

from hastack.dr import actions, probes, waiters
from hastack.dr import steps as s
from hastack.dr.aws import ClientFactory
from hastack.dr.clock import Clock, WallClock
from hastack.dr.journal import Journal
from hastack.dr.lock import DrLock, LockError
from hastack.dr.orchestrator import NullObserver, Observer, Recorder, RunResult, summarize
from hastack.dr.outputs import DrOutputs

#: The new replica counts as caught up at or below this ReplicaLag (seconds).
CAUGHT_UP_SECONDS = 1.0


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
        o = self.outputs
        return o.db_replica.identifier if o.db_replica.region == o.dr_region else o.db_primary.identifier

    @property
    def old_primary_id(self) -> str:
        o = self.outputs
        return o.db_primary.identifier if o.db_primary.region == self.home else o.db_replica.identifier

    @property
    def new_replica_id(self) -> str:
        return f"{self.old_primary_id[:60]}-fb"

    def rows(self) -> list[tuple[str, str, str]]:
        return [
            ("lock", "auto", "take the DR lock"),
            ("fb-readiness", "auto", f"DR writer {self.writer_id!r} standalone in {self.writer_region}; "
                                     f"{self.home} answers"),
            ("reprotect", "auto", f"create replica {self.new_replica_id!r} in {self.home} of {self.writer_id!r}"),
            ("caught-up", "auto", f"wait until it is available with ReplicaLag <= {CAUGHT_UP_SECONDS:.0f} s"),
            *[(name, "manual", what) for name, what in self.switchback_steps()],
        ]

    def switchback_steps(self) -> list[tuple[str, str]]:
        o = self.outputs
        return [
            ("stop-writes", f"announce a maintenance window; scale the workload in {self.writer_region} to 0 "
                            "replicas (kubectl scale) so nothing writes to the DR writer"),
            ("drain-lag", f"wait until ReplicaLag of {self.new_replica_id!r} is 0 (hastack dr status)"),
            ("promote-home", f"aws rds promote-read-replica --db-instance-identifier {self.new_replica_id} "
                             f"--region {self.home}; then modify it to Multi-AZ {o.db_prod_instance_class}"),
            ("cache-back", f"aws elasticache failover-global-replication-group --global-replication-group-id "
                           f"{o.cache_global_datastore_id} --primary-region {self.home} "
                           f"--primary-replication-group-id {o.cache_primary[1]}"),
            ("switch-back", f"aws route53 update-health-check --health-check-id {o.switch_health_check_id} "
                            "--no-inverted"),
            ("config-back", f"pulumi config set hastack:activeRegion {self.home} -s {o.stack}; adopt the "
                            f"'-fb' instance as the primary writer in the program, then pulumi up"),
        ]


def plan_table(plan: FailbackPlan) -> Table:
    table = Table(title=f"failback plan: {plan.writer_region} -> {plan.home}", title_justify="left")
    for col in ("#", "step", "how", "what it does"):
        table.add_column(col, overflow="fold")
    for i, (name, how, what) in enumerate(plan.rows(), 1):
        table.add_row(str(i), name, how, what)
    return table


def switchback_text(plan: FailbackPlan) -> str:
    lines = ["planned switchback (not automated yet; run once 'caught-up' is done):"]
    lines += [f"  {i}. {name}: {what}" for i, (name, what) in enumerate(plan.switchback_steps(), 1)]
    return "\n".join(lines)


class Failback:
    """The automated part of failback: lock, readiness, re-protect, catch-up."""

    def __init__(self, plan: FailbackPlan, aws: ClientFactory, *, clock: Clock | None = None,
                 observer: Observer | None = None, dry_run: bool = False, break_lock: bool = False,
                 poll_seconds: int = 15) -> None:
        self.plan, self.aws = plan, aws
        self.clock = clock or WallClock()
        self.observer = observer or NullObserver()
        self.dry_run, self.break_lock, self.poll_seconds = dry_run, break_lock, poll_seconds
        o = plan.outputs
        self.lock = DrLock(aws, o.lock_table, o.lock_region, o.stack, "dr failback", 2 * o.wait_timeout_seconds + 600)

    def run(self) -> RunResult:
        o = self.plan.outputs
        result = RunResult("dr failback", o.stack, self.dry_run, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                           self.clock.now(), rto_budget_seconds=o.rto_budget_seconds,
                           rpo_budget_seconds=o.rpo_budget_seconds)
        ctx = s.RunContext(o, self.aws, self.clock, Journal(read_only=True), self.dry_run,
                           poll_seconds=self.poll_seconds)
        rec = Recorder(ctx, self.observer, result)
        if self.dry_run:
            holder = self.lock.holder()
            free = s.Outcome(s.PLANNED, "would take the DR lock (it is free)")
            rec.run("lock", "main", lambda c: free if holder is None
                    else s.Outcome(s.REFUSED, f"the DR lock is held by {holder.describe()}"))
        else:
            def take(_: s.RunContext) -> s.Outcome:
                try:
                    return s.Outcome(s.DONE, self.lock.acquire(self.break_lock))
                except LockError as exc:
                    return s.Outcome(s.REFUSED, str(exc))
            if rec.run("lock", "main", take).status != s.DONE:
                result.summary = summarize(result, o)
                return result
        try:
            for name, fn in (("fb-readiness", self._readiness), ("reprotect", self._reprotect),
                             ("caught-up", self._caught_up)):
                outcome = rec.run(name, "main", fn)
                if outcome.status not in s.OK_STATUSES and not self.dry_run:
                    break
        finally:
            if not self.dry_run:
                rec.run("unlock", "main", lambda c: s.Outcome(s.DONE, self.lock.release()))
        result.total_seconds = self.clock.now() - result.t0
        bad = [r for r in result.records if r.status in (s.REFUSED, s.FAILED)]
        result.summary = ("failback: " + "; ".join(f"{r.name}: {r.sentence}" for r in bad) if bad else
                          f"failback: {self.plan.home} is re-protected by {self.plan.new_replica_id!r}"
                          + (" (dry run: nothing changed)" if self.dry_run else "; the switchback is below"))
        return result

    def _readiness(self, ctx: s.RunContext) -> s.Outcome:
        p = self.plan
        writer = probes.db_instance(self.aws, p.writer_region, p.writer_id)
        if writer is None or probes.is_replica(writer):
            return s.Outcome(s.REFUSED, f"{p.writer_id!r} in {p.writer_region} is {probes.db_role(writer)}: "
                                        "fail back only after a scale-up made it the writer")
        try:
            probes.db_instance(self.aws, p.home, p.old_primary_id, fast=True)
        except probes.ProbeError as exc:
            return s.Outcome(s.REFUSED, f"{p.home} does not answer yet ({exc}); fail back once it is healthy")
        return s.Outcome(s.PLANNED if self.dry_run else s.DONE,
                         f"{p.writer_id!r} is the writer in {p.writer_region} and {p.home} answers")

    def _reprotect(self, ctx: s.RunContext) -> s.Outcome:
        p, o = self.plan, self.plan.outputs
        existing = probes.db_instance(self.aws, p.home, p.new_replica_id)
        if existing is not None:
            return s.Outcome(s.ALREADY, f"replica {p.new_replica_id!r} already exists in {p.home} "
                                        f"({probes.db_role(existing)})")
        if self.dry_run:
            return s.Outcome(s.PLANNED, f"would create replica {p.new_replica_id!r} in {p.home}")
        writer = probes.db_instance(self.aws, p.writer_region, p.writer_id)
        arn = (writer or {}).get("DBInstanceArn", "")
        actions.create_cross_region_replica(self.aws, p.home, p.new_replica_id, arn, o.db_prod_instance_class)
        return s.Outcome(s.DONE, f"created replica {p.new_replica_id!r} in {p.home} of {p.writer_id!r}")

    def _caught_up(self, ctx: s.RunContext) -> s.Outcome:
        p = self.plan
        if self.dry_run:
            return s.Outcome(s.PLANNED, f"would wait for {p.new_replica_id!r} to catch up")
        started = self.clock.now()
        policy = ctx.wait_policy()
        waiters.db_available(self.aws.client("rds", p.home), p.new_replica_id, policy)
        # CloudWatch has no waiter for a metric value: a bounded poll on the run's clock.
        deadline = started + policy.timeout_seconds
        while True:
            lag = probes.replica_lag_seconds(self.aws, p.home, p.new_replica_id)
            if lag is not None and lag <= CAUGHT_UP_SECONDS:
                return s.Outcome(s.DONE, f"{p.new_replica_id!r} caught up (ReplicaLag {lag:.0f} s) after "
                                         f"{self.clock.now() - started:.0f} s")
            if self.clock.now() + self.poll_seconds > deadline:
                return s.Outcome(s.FAILED, f"{p.new_replica_id!r} did not catch up within "
                                           f"{policy.timeout_seconds:.0f} s (ReplicaLag {lag})")
            self.clock.sleep(self.poll_seconds)
