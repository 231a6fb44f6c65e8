"""The one step runner of `hastack dr scale-up`, `hastack dr failback` and the drills.

A run is: take the DR lock (and keep renewing it), open this run's journal, run the plan's steps
phase by phase, report, close the journal, release the lock. Each step is a small object in the
style of Patroni's `ha.py`: `decide(ctx)` reads the world and returns a `Decision` — *already*
(nothing to do), *act* (what it will do) or *refuse* (why not) — each with the one sentence that
is logged, reported and asserted; `act(ctx)` then does it and returns the sentence of what it did.
A dry run calls `decide` only: it lists exactly the steps the real run takes, each with what it
would do, and changes nothing.

Decide runs immediately before act, in the same step: a gate checked in `decide` is checked where
it acts (the RPO gate of the promotion runs after the fence, right before `PromoteReadReplica`).

Each step declares what it `needs`: the AWS plane (data or control), service and region of its
calls. The plan and the report show them, so the operator sees at a glance that nothing before the
cutover needs the failed region or Route 53's control plane; `best_effort` steps (a control-plane
extra in the failed region) are bounded, and their failure never stops the run.

Phases run in order; a phase's branches run in parallel (the RTO is the longest branch, not the
sum). A refused or failed step skips the rest of its branch; once its phase is over, the run stops
and every later step is recorded as skipped with the reason (a dry run records them all).
Before each step the runner checks the lock: a run whose lock was broken, or could not be renewed
before it expired, stops there and says so.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hastack.dr.aws import ClientFactory
from hastack.dr.clock import Clock
from hastack.dr.deployment import Deployment
from hastack.dr.journal import RunJournal
from hastack.dr.lock import DrLock, LockError
from hastack.dr.outputs import DrOutputs

log = logging.getLogger("hastack.dr")

DONE, ALREADY, PLANNED, REFUSED, FAILED, SKIPPED, GAVE_UP = (
    "done", "already", "planned", "refused", "failed", "skipped", "gave-up")
#: Statuses after which the run goes on (gave-up: a best-effort step that could not finish within its bound).
OK_STATUSES = (DONE, ALREADY, PLANNED, GAVE_UP)

ACT, REFUSE = "act", "refuse"
DATA, CONTROL = "data", "control"


@dataclass(frozen=True)
class Need:
    """One kind of AWS call a step makes: plane (data|control), service, region ("global" for Route 53 DNS)."""

    plane: str
    service: str
    region: str

    def __str__(self) -> str:
        return f"{self.plane}:{self.service}@{self.region}"


@dataclass(frozen=True)
class Decision:
    """What a step decided, with the sentence that says it (see module docstring)."""

    verdict: str
    sentence: str
    facts: dict[str, Any] = field(default_factory=dict)


def already(sentence: str, **facts: Any) -> Decision:
    return Decision(ALREADY, sentence, facts)


def act(sentence: str, **facts: Any) -> Decision:
    """`sentence` says what the step *would* do (the dry run reports it as is)."""
    return Decision(ACT, sentence, facts)


def refuse(sentence: str, **facts: Any) -> Decision:
    return Decision(REFUSE, sentence, facts)


@dataclass(frozen=True)
class Step:
    """One step of a plan (see module docstring)."""

    name: str
    what: str
    decide: Callable[[RunContext], Decision]
    act: Callable[[RunContext], str] | None = None
    needs: tuple[Need, ...] = ()
    best_effort: bool = False
    #: Steps that never change the deployment (checks, waits): their "done" does not count as a change.
    read_only: bool = False


@dataclass(frozen=True)
class Phase:
    """Steps in order; a phase with several branches runs them in parallel."""

    name: str
    branches: tuple[tuple[str, tuple[Step, ...]], ...]

    @classmethod
    def serial(cls, name: str, *steps: Step) -> Phase:
        return cls(name, (("main", tuple(steps)),))

    @classmethod
    def parallel(cls, name: str, **branches: Sequence[Step]) -> Phase:
        return cls(name, tuple((b, tuple(s)) for b, s in branches.items()))


@dataclass(frozen=True)
class Options:
    """What the operator chose for this run."""

    dry_run: bool = False
    accept_data_loss: bool = False
    accept_split_brain: bool = False
    break_lock: bool = False
    poll_seconds: float = 15.0
    #: When the outage began (wall clock), if the operator knows; else the run start (labelled as such).
    outage_start: dt.datetime | None = None


class RunContext:
    """What every step may use; one per run, shared by the branches (thread-safe facts)."""

    def __init__(self, outputs: DrOutputs, deployment: Deployment, aws: ClientFactory, clock: Clock,
                 journal: RunJournal, options: Options, target_region: str) -> None:
        self.outputs, self.deployment, self.aws, self.clock = outputs, deployment, aws, clock
        self.journal, self.options, self.target = journal, options, target_region
        self._lock = threading.Lock()
        self.report: dict[str, Any] = {}  # figures for the report (rpo estimate, fence, ...)

    @property
    def dry_run(self) -> bool:
        return self.options.dry_run

    @property
    def bounds(self) -> Any:
        return self.deployment.bounds

    def fact(self, name: str, default: Any = None) -> Any:
        """A fact this run (or the crashed run of the same command it resumes) journaled."""
        return self.journal.fact(name, default)

    def remember(self, name: str, value: Any) -> None:
        """Journal a fact (a dry run keeps it in memory only)."""
        self.journal.set_fact(name, value)

    def note(self, name: str, value: Any) -> None:
        """A figure for the report."""
        with self._lock:
            self.report[name] = value

    def deadline(self, seconds: float) -> float:
        return self.clock.now() + seconds


@dataclass
class StepRecord:
    name: str
    branch: str
    phase: str
    status: str
    sentence: str
    start: float
    end: float
    needs: tuple[str, ...] = ()
    best_effort: bool = False
    read_only: bool = False

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
    deployment: str
    dry_run: bool
    started_at: str
    t0: float
    records: list[StepRecord] = field(default_factory=list)
    total_seconds: float = 0.0
    summary: str = ""
    run_id: str = ""
    journal_note: str | None = None
    report: dict[str, Any] = field(default_factory=dict)
    #: Run start minus outage start (seconds): added to step times to measure from the outage.
    outage_offset_seconds: float = 0.0
    outage_start_label: str = "run start"
    #: Outage start -> the cutover verified (scale-up only; None until then).
    rto_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return all(r.status in OK_STATUSES for r in self.records)

    @property
    def changed(self) -> bool:
        return any(r.status == DONE and r.name not in ("lock", "unlock") and not r.read_only for r in self.records)

    def record(self, name: str) -> StepRecord | None:
        return next((r for r in self.records if r.name == name), None)

    def blocking(self) -> list[StepRecord]:
        return [r for r in self.records if r.status in (REFUSED, FAILED)]


def plan_rows(phases: Sequence[Phase]) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    """(step, phase, branch, what it does, needs) in display order, lock and unlock included."""
    rows = [("lock", "lock", "main", "take the DR lock and keep renewing it", ())]
    for phase in phases:
        for branch, steps in phase.branches:
            rows += [(s.name, phase.name, branch, s.what, tuple(str(n) for n in s.needs)) for s in steps]
    rows.append(("unlock", "unlock", "main", "release the DR lock", ()))
    return rows


class Runner:
    """Runs one plan (see module docstring)."""

    def __init__(self, command: str, phases: Sequence[Phase], ctx: RunContext, lock: DrLock,
                 observer: Observer | None = None,
                 summarize: Callable[[RunResult], str] | None = None) -> None:
        self.command, self.phases, self.ctx, self.lock = command, list(phases), ctx, lock
        self.observer = observer or NullObserver()
        self.summarize = summarize or default_summary
        self._records_lock = threading.Lock()
        self._stop: str | None = None
        #: No lock at all (the table did not answer and the operator accepted the split-brain risk).
        self._lockless = False

    # --- the run --------------------------------------------------------------------------------

    def run(self) -> RunResult:
        ctx, o = self.ctx, self.ctx.outputs
        clock = ctx.clock
        started = dt.datetime.now(dt.UTC)
        result = RunResult(self.command, o.stack, ctx.deployment.identity, ctx.dry_run,
                           started.isoformat(timespec="seconds"), clock.now(), run_id=self.lock.run_id,
                           report=ctx.report)
        if ctx.options.outage_start is not None:
            result.outage_offset_seconds = max(0.0, (started - ctx.options.outage_start).total_seconds())
            result.outage_start_label = f"outage start {ctx.options.outage_start.isoformat(timespec='seconds')}"
        self.result = result
        if not self._take_lock():
            self._skip_all("not run: the DR lock is not ours")
            return self._finish()
        try:
            self._open_journal()
            for phase in self.phases:
                self._run_phase(phase)
        except BaseException:
            self.lock.stop_renewing()
            raise  # a crash (tests simulate one): the lock stays, the next run takes it over
        self._unlock()
        return self._finish()

    def _take_lock(self) -> bool:
        ctx = self.ctx
        start = ctx.clock.now()
        self.observer.started("lock", "main", start - self.result.t0)
        if ctx.dry_run:
            try:
                holder = self.lock.holder()
            except LockError as exc:
                self._add("lock", "lock", "main", REFUSED, str(exc), start)
                return True  # a dry run goes on deciding: the report says the real run would stop here
            if holder is None or holder.expired:
                self._add("lock", "lock", "main", PLANNED, "would take the DR lock "
                          + ("(it is free)" if holder is None else f"(the one left by {holder.describe()} expired)"),
                          start)
            else:
                self._add("lock", "lock", "main", REFUSED, f"the DR lock is held by {holder.describe()}: a real run "
                          "would be refused", start)
            return True
        try:
            sentence = self.lock.acquire(break_lock=ctx.options.break_lock)
        except LockError as exc:
            if exc.unreachable and ctx.options.accept_split_brain:
                self._lockless = True
                ctx.journal.read_only = True  # the journal lives in the same table: in memory only
                self._add("lock", "lock", "main", GAVE_UP, f"went on WITHOUT THE DR LOCK: {exc} (--accept-split-brain: "
                          "another run could act at the same time)", start)
                return True
            if exc.unreachable:
                exc = LockError(f"{exc}: neither the lock nor a fence is possible; re-run when the table answers, or "
                                "--accept-split-brain to go on without either", unreachable=True)
            self._add("lock", "lock", "main", REFUSED, str(exc), start)
            return False
        self.lock.start_renewing()
        self._add("lock", "lock", "main", DONE, sentence, start)
        return True

    def _open_journal(self) -> None:
        ctx = self.ctx
        if ctx.dry_run or self._lockless:
            return
        resumed = ctx.journal.begin(self.command, self.result.started_at, self.lock.took_over_run_id)
        if resumed:
            self.result.journal_note = resumed

    def _run_phase(self, phase: Phase) -> None:
        if self._stop is not None:
            for branch, steps in phase.branches:
                for step in steps:
                    self._skip(step, phase.name, branch, self._stop)
            return
        if len(phase.branches) == 1:
            oks = [self._chain(phase.name, *phase.branches[0])]
        else:
            oks = self.ctx.clock.run_parallel(
                [(lambda b=b: self._chain(phase.name, *b)) for b in phase.branches])
        if not all(oks) and not self.ctx.dry_run and self._stop is None:
            bad = [r.name for r in self.result.records if r.status in (REFUSED, FAILED)]
            self._stop = f"not run: {', '.join(bad)} did not succeed — fix it and run the same command again"

    def _chain(self, phase: str, branch: str, steps: Sequence[Step]) -> bool:
        for i, step in enumerate(steps):
            lost = None if self.ctx.dry_run or self._lockless else self.lock.lost()
            if lost is not None:
                self._stop = f"not run: {lost}; this run stopped"
                self._add("lock", "lock", "main", FAILED, f"{lost}: stopping before {step.name}", self.ctx.clock.now())
                for rest in steps[i:]:
                    self._skip(rest, phase, branch, self._stop)
                return False
            status = self._run_step(step, phase, branch)
            if status not in OK_STATUSES and not self.ctx.dry_run:
                for rest in steps[i + 1:]:
                    self._skip(rest, phase, branch, f"not run: {step.name} {status}")
                return False
        return True

    def _run_step(self, step: Step, phase: str, branch: str) -> str:
        ctx = self.ctx
        start = ctx.clock.now()
        self.observer.started(step.name, branch, start - self.result.t0)
        try:
            decision = step.decide(ctx)
            for name, value in decision.facts.items():
                ctx.note(name, value)
            if decision.verdict == ALREADY:
                status, sentence = ALREADY, decision.sentence
            elif decision.verdict == REFUSE:
                status, sentence = REFUSED, decision.sentence
            elif ctx.dry_run or step.act is None:
                status, sentence = (PLANNED if ctx.dry_run else DONE), decision.sentence
            else:
                status, sentence = DONE, step.act(ctx)
        except Exception as exc:  # noqa: BLE001 - a failing step becomes a sentence, never a traceback
            log.debug("step %s failed", step.name, exc_info=True)
            status = GAVE_UP if step.best_effort else FAILED
            sentence = _describe(exc)
            if step.best_effort:
                sentence = f"best effort, going on: {sentence}"
        if status == REFUSED and step.best_effort:
            status = GAVE_UP
        rec = self._add(step.name, phase, branch, status, sentence, start, step)
        if not ctx.dry_run:
            ctx.journal.record_step(rec.name, rec.status, rec.sentence)
        return status

    # --- records --------------------------------------------------------------------------------

    def _add(self, name: str, phase: str, branch: str, status: str, sentence: str, start: float,
             step: Step | None = None) -> StepRecord:
        t0 = self.result.t0
        rec = StepRecord(name, branch, phase, status, sentence, start - t0, self.ctx.clock.now() - t0,
                         tuple(str(n) for n in step.needs) if step else (), bool(step and step.best_effort),
                         bool(step and step.read_only))
        with self._records_lock:
            self.result.records.append(rec)
        log.info("%s %s: %s", name, status, sentence)
        self.observer.finished(rec)
        return rec

    def _skip(self, step: Step, phase: str, branch: str, why: str) -> None:
        self._add(step.name, phase, branch, SKIPPED, why, self.ctx.clock.now(), step)

    def _skip_all(self, why: str) -> None:
        for phase in self.phases:
            for branch, steps in phase.branches:
                for step in steps:
                    self._skip(step, phase.name, branch, why)

    def _unlock(self) -> None:
        start = self.ctx.clock.now()
        if self.ctx.dry_run:
            self._add("unlock", "unlock", "main", PLANNED, "would release the DR lock", start)
            return
        if self._lockless:
            self._add("unlock", "unlock", "main", ALREADY, "no DR lock to release (the run went on without it)", start)
            return
        ok = self.result.ok
        try:
            self.ctx.journal.end(ok)
        except Exception as exc:  # noqa: BLE001 - the report says the journal could not be closed
            self.result.journal_note = f"could not close this run's journal: {_describe(exc)}"
        self.lock.stop_renewing()
        try:
            sentence = self.lock.release()
        except LockError as exc:
            self._add("unlock", "unlock", "main", FAILED, str(exc), start)
            return
        self._add("unlock", "unlock", "main", DONE, sentence, start)

    def _finish(self) -> RunResult:
        result = self.result
        result.total_seconds = self.ctx.clock.now() - result.t0
        if self.ctx.journal.persist_error and not result.journal_note:
            result.journal_note = self.ctx.journal.persist_error
        result.summary = self.summarize(result)
        return result


def _describe(exc: BaseException) -> str:
    from hastack.dr import actions, probes, waiters

    if isinstance(exc, (actions.ActionError, probes.ProbeError, waiters.WaitTimeoutError, LockError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def blocked(result: RunResult) -> str:
    """The refusals and failures of a run, one clause each."""
    return "; ".join(f"{r.name}: {r.sentence}" for r in result.blocking())


def summary(result: RunResult, ready: str, stopped: str, nothing: str, finished: str) -> str:
    """The run's one-line verdict: a dry run ready or not, stopped (with what blocked it), nothing to
    do, or finished."""
    if result.dry_run:
        return f"dry run: NOT ready — {blocked(result)}" if result.blocking() else f"dry run: {ready}"
    if result.blocking():
        return f"{stopped}: {blocked(result)}"
    return nothing if not result.changed else finished


def default_summary(result: RunResult) -> str:
    return summary(result, f"`{result.command}` can run; nothing was changed", f"{result.command} did not finish",
                   "nothing to do: every step found its work done; nothing was changed", f"{result.command} finished")


class Run:
    """One run of a plan — what scale-up, failback and the drills share: the lock (keyed by the
    deployment), this run's journal, the context, the runner."""

    def __init__(self, command: str, outputs: DrOutputs, aws: ClientFactory, target_region: str, *,
                 deployment: Deployment | None = None, options: Options | None = None,
                 clock: Clock | None = None, observer: Observer | None = None) -> None:
        from hastack.dr.clock import WallClock

        self.command, self.outputs, self.aws, self.target_region = command, outputs, aws, target_region
        self.deployment = deployment or Deployment.of(outputs)
        self.options = options or Options()
        self.clock: Clock = clock or WallClock()
        self.observer = observer
        self.lock = DrLock(aws, self.deployment.coordination, command, self.deployment.bounds.lock_ttl_seconds)

    def execute(self, phases: Sequence[Phase], summarize: Callable[[RunResult], str]) -> RunResult:
        journal = RunJournal(self.aws, self.deployment.coordination, self.lock.run_id,
                             read_only=self.options.dry_run)
        ctx = RunContext(self.outputs, self.deployment, self.aws, self.clock, journal, self.options,
                         self.target_region)
        return Runner(self.command, phases, ctx, self.lock, self.observer, summarize).run()
