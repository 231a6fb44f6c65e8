"""The scale-up run: lock, readiness, fence, three parallel branches, health gate, DNS, report.

Order is the safety argument: nothing changes before the lock is ours and the DR region passed
its readiness checks; the primary is fenced *before* anything is promoted (split-brain guard);
the independent slow work — DB promotion, cache failover, compute scale-up — runs concurrently
because the RTO is the longest branch, not the sum; DNS moves only after a health gate re-read
everything. The Multi-AZ conversion finishes after the switch: it has no downtime and is about
durability, not about when service is back, so it is not on the RTO path.

Every step is idempotent (see `steps`), so a re-run after a crash at any point converges; a
crashed run's lock is taken over by the next run on the same host, or broken with --break-lock.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hastack.dr import steps as s
from hastack.dr.aws import ClientFactory
from hastack.dr.clock import Clock, WallClock
from hastack.dr.journal import Journal
from hastack.dr.lock import DrLock, LockError
from hastack.dr.outputs import DrOutputs

log = logging.getLogger("hastack.dr")

StepFn = Callable[[s.RunContext], s.Outcome]

#: The scale-up plan: (phase, [(branch, [(step, what it does)])]). Branches of one phase run in parallel.
SCALE_UP_PLAN: list[tuple[str, list[tuple[str, list[tuple[str, str]]]]]] = [
    ("lock", [("main", [("lock", "take the DR lock (conditional write)")])]),
    ("readiness", [("main", [("readiness", "check replica, lag vs RPO budget, node groups, ALB, switch")])]),
    ("fence", [("main", [("fence", "flip the Route 53 switch: the old primary stops taking traffic")])]),
    ("parallel", [
        ("database", [("promote-db", "promote the DR replica"),
                      ("db-serving", "wait until it is standalone and serving"),
                      ("db-to-prod", "request Multi-AZ at the prod class")]),
        ("cache", [("cache-failover", "fail the Global Datastore over to DR")]),
        ("compute", [("scale-nodes", "scale DR node groups to prod size"),
                     ("compute-ready", "wait for node groups and healthy targets")]),
    ]),
    ("gate", [("main", [("health-gate", "re-check DB, nodes and targets")])]),
    ("dns", [("main", [("dns-switch", "make DNS answer with DR and verify")])]),
    ("durability", [("main", [("db-multi-az", "wait for the Multi-AZ conversion (after the switch)")])]),
    ("unlock", [("main", [("unlock", "release the DR lock")])]),
]

#: Steps that only read (or only manage the lock): their "done" changes nothing in the stack.
READ_ONLY_STEPS = ("lock", "unlock", "readiness", "health-gate", "fb-readiness", "health-gate-back")

STEP_FUNCTIONS: dict[str, StepFn] = {
    "readiness": s.readiness, "fence": s.fence, "promote-db": s.promote_db, "db-serving": s.db_serving,
    "db-to-prod": s.db_to_prod, "cache-failover": s.cache_failover, "scale-nodes": s.scale_nodes,
    "compute-ready": s.compute_ready, "health-gate": s.health_gate, "dns-switch": s.dns_switch,
    "db-multi-az": s.db_multi_az,
}


def plan_rows(plan: list[tuple[str, list[tuple[str, list[tuple[str, str]]]]]] = SCALE_UP_PLAN
              ) -> list[tuple[str, str, str]]:
    """(step, branch, description) in display order."""
    return [(step, branch, what) for _, branches in plan for branch, chain in branches for step, what in chain]


@dataclass
class StepRecord:
    name: str
    branch: str
    status: str
    sentence: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


class Observer(Protocol):
    """What progress displays implement (and what tests use to inject a crash after a step)."""

    def started(self, name: str, branch: str, at: float) -> None: ...

    def finished(self, record: StepRecord) -> None: ...


class NullObserver:
    def started(self, name: str, branch: str, at: float) -> None:
        return None

    def finished(self, record: StepRecord) -> None:
        return None


@dataclass
class RunResult:
    command: str
    stack: str
    dry_run: bool
    started_at: str
    t0: float
    records: list[StepRecord] = field(default_factory=list)
    rto_seconds: float | None = None
    total_seconds: float = 0.0
    lag_at_promotion: float | None = None
    rto_budget_seconds: float = 0.0
    rpo_budget_seconds: float = 0.0
    summary: str = ""
    journal_note: str | None = None

    @property
    def ok(self) -> bool:
        return all(r.status in s.OK_STATUSES for r in self.records)

    @property
    def changed(self) -> bool:
        return any(r.status == s.DONE for r in self.records if r.name not in READ_ONLY_STEPS)

    def record(self, name: str) -> StepRecord | None:
        return next((r for r in self.records if r.name == name), None)


class Recorder:
    """Runs steps, times them on the injected clock, journals and reports each one."""

    def __init__(self, ctx: s.RunContext, observer: Observer, result: RunResult) -> None:
        self.ctx, self.observer, self.result = ctx, observer, result
        self._lock = threading.Lock()

    def run(self, name: str, branch: str, fn: StepFn) -> s.Outcome:
        clock = self.ctx.clock
        start = clock.now()
        self.observer.started(name, branch, start - self.result.t0)
        try:
            outcome = fn(self.ctx)
        except Exception as exc:  # noqa: BLE001 - a failing step becomes a sentence, never a traceback
            log.debug("step %s failed", name, exc_info=True)
            outcome = s.Outcome(s.FAILED, f"{type(exc).__name__}: {exc}" if not _ours(exc) else str(exc))
        self.add(name, branch, outcome, start, clock.now())
        return outcome

    def add(self, name: str, branch: str, outcome: s.Outcome, start: float, end: float) -> StepRecord:
        rec = StepRecord(name, branch, outcome.status, outcome.sentence, start - self.result.t0,
                         end - self.result.t0)
        with self._lock:
            self.result.records.append(rec)
            if "lagAtPromotion" in outcome.facts and outcome.facts["lagAtPromotion"] is not None:
                self.result.lag_at_promotion = outcome.facts["lagAtPromotion"]
        if not self.ctx.dry_run:
            self.ctx.journal.record_step(name, outcome.status, outcome.sentence)
        log.info("%s: %s", name, outcome.sentence)
        self.observer.finished(rec)
        return rec

    def skip(self, name: str, branch: str, why: str) -> None:
        now = self.ctx.clock.now()
        self.add(name, branch, s.Outcome(s.SKIPPED, why), now, now)

    def chain(self, branch: str, names: Sequence[str], keep_going: bool = False) -> bool:
        """Run `names` in order; after a failure the rest is skipped (unless a dry run: record all)."""
        for i, name in enumerate(names):
            outcome = self.run(name, branch, STEP_FUNCTIONS[name])
            if outcome.status not in s.OK_STATUSES and not keep_going:
                for rest in names[i + 1:]:
                    self.skip(rest, branch, f"not run: {name} {outcome.status}")
                return False
        return True


def _ours(exc: Exception) -> bool:
    from hastack.dr import actions, probes, waiters
    return isinstance(exc, (actions.ActionError, probes.ProbeError, waiters.WaitTimeoutError, LockError))


class ScaleUp:
    """One `hastack dr scale-up` run (see module docstring)."""

    def __init__(self, outputs: DrOutputs, aws: ClientFactory, *, clock: Clock | None = None,
                 observer: Observer | None = None, dry_run: bool = False, accept_data_loss: bool = False,
                 break_lock: bool = False, poll_seconds: int = 15, command: str = "dr scale-up") -> None:
        self.outputs, self.aws = outputs, aws
        self.clock = clock or WallClock()
        self.observer = observer or NullObserver()
        self.dry_run, self.accept_data_loss, self.break_lock = dry_run, accept_data_loss, break_lock
        self.poll_seconds = poll_seconds
        self.command = command
        ttl = 2 * outputs.dr_timeouts.wait_timeout_seconds + 600
        self.lock = DrLock(aws, outputs.coordination.table_name, outputs.coordination.home_region, outputs.stack,
                           command, ttl)

    def _journal(self) -> Journal:
        try:
            key = self.lock.key
        except LockError:
            return Journal(read_only=True)
        journal = Journal(self.aws, self.outputs.coordination.table_name, self.outputs.coordination.home_region, key,
                          f"dr-journal#{self.outputs.stack}#scale-up", read_only=self.dry_run)
        journal.load()
        return journal

    def run(self) -> RunResult:
        o = self.outputs
        result = RunResult(self.command, o.stack, self.dry_run, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                           self.clock.now(), rto_budget_seconds=o.rto_budget_seconds,
                           rpo_budget_seconds=o.rpo_budget_seconds)
        journal = self._journal()
        ctx = s.RunContext(o, self.aws, self.clock, journal, self.dry_run, self.accept_data_loss, self.poll_seconds)
        rec = Recorder(ctx, self.observer, result)

        if not self._take_lock(rec):
            result.summary = "refused: " + result.records[-1].sentence
            return self._finish(result, rec)
        if journal.previous and not journal.previous.get("finished") and journal.previous.get("runs"):
            last = journal.previous["runs"][-1]
            result.journal_note = f"resuming after run {last.get('runId')} started {last.get('started')} stopped early"
        if not self.dry_run:
            journal.begin(self.lock.run_id, result.started_at, self.command)
        try:
            self._steps(rec, result)
        except (Exception, KeyboardInterrupt):
            if not self.dry_run:
                self.lock.release()
            raise
        return self._finish(result, rec)

    def _take_lock(self, rec: Recorder) -> bool:
        def lock_step(ctx: s.RunContext) -> s.Outcome:
            if self.dry_run:
                holder = self.lock.holder()
                if holder is None:
                    return s.Outcome(s.PLANNED, "would take the DR lock (it is free)")
                return s.Outcome(s.REFUSED, f"the DR lock is held by {holder.describe()}: a real run would be "
                                            "refused without --break-lock")
            try:
                return s.Outcome(s.DONE, self.lock.acquire(break_lock=self.break_lock))
            except LockError as exc:
                return s.Outcome(s.REFUSED, str(exc))

        outcome = rec.run("lock", "main", lock_step)
        return outcome.status in s.OK_STATUSES or self.dry_run

    def _steps(self, rec: Recorder, result: RunResult) -> None:
        dry = self.dry_run
        if not rec.chain("main", ["readiness"]) and not dry:
            self._skip_rest(rec, "not run: the DR region is not ready")
            return
        rec.chain("main", ["fence"], keep_going=True)
        branches = [b for phase, bs in SCALE_UP_PLAN if phase == "parallel" for b in bs]
        oks = self.clock.run_parallel([
            (lambda b=b: rec.chain(b[0], [n for n, _ in b[1]], keep_going=dry)) for b in branches])
        if not all(oks) and not dry:
            failed = [r.name for r in result.records if r.status in (s.FAILED, s.REFUSED)]
            self._skip_rest(rec, f"not run: {', '.join(failed)} did not succeed; "
                                                         "DNS stays as it is — fix and re-run")
            return
        if not rec.chain("main", ["health-gate", "dns-switch"], keep_going=dry) and not dry:
            self._skip_rest(rec, "not run: DNS was not switched")
            return
        dns = result.record("dns-switch")
        if dns is not None and dns.status in (s.DONE, s.ALREADY):
            result.rto_seconds = dns.end
        rec.chain("main", ["db-multi-az"], keep_going=dry)
        self._unlock(rec)

    def _skip_rest(self, rec: Recorder, why: str) -> None:
        done = {r.name for r in rec.result.records}
        for name, branch, _ in plan_rows():
            if name not in done and name != "unlock":
                rec.skip(name, branch, why)
        self._unlock(rec)

    def _unlock(self, rec: Recorder) -> None:
        if self.dry_run:
            rec.add("unlock", "main", s.Outcome(s.PLANNED, "would release the DR lock"), self.clock.now(),
                    self.clock.now())
            return
        rec.run("unlock", "main", lambda ctx: s.Outcome(s.DONE, self.lock.release()))

    def _finish(self, result: RunResult, rec: Recorder) -> RunResult:
        result.total_seconds = self.clock.now() - result.t0
        journal = rec.ctx.journal
        lock = result.record("lock")
        if not self.dry_run and lock is not None and lock.status == s.DONE:
            journal.finish(result.ok)
        if journal.persist_error:
            result.journal_note = journal.persist_error
        if not result.summary:
            result.summary = summarize(result, self.outputs)
        return result


def summarize(result: RunResult, o: DrOutputs) -> str:
    if result.dry_run:
        blocked = [r for r in result.records if r.status in (s.REFUSED, s.FAILED)]
        if blocked:
            return "dry run: NOT ready — " + "; ".join(f"{r.name}: {r.sentence}" for r in blocked)
        return f"dry run: ready — {o.dr_region} can be made production; nothing was changed"
    if not result.ok:
        bad = [r for r in result.records if r.status in (s.REFUSED, s.FAILED)]
        return "scale-up did not finish: " + "; ".join(f"{r.name}: {r.sentence}" for r in bad)
    if not result.changed:
        return (f"nothing to do: {o.dr_region} is already production (every step found its work done); "
                "nothing was changed")
    return f"{o.dr_region} is now production: database promoted, cache primary, nodes at prod size, DNS on DR"


def refusal_of(result: RunResult) -> str | None:
    """The first refusal or failure sentence, for exit codes and messages."""
    for r in result.records:
        if r.status in (s.REFUSED, s.FAILED):
            return r.sentence
    return None
