"""The one runner of scale-up, failback and the drills: lock, journal, steps, report, unlock.

Against moto's DynamoDB (the coordination table, built from the outputs' own names) with small
step objects, so what is asserted is the runner's contract: phases in order, branches in parallel,
a refusal stops the run after its phase, a dry run decides without acting, best-effort steps never
stop a run, the lock is renewed across a long wait and a run that lost it stops, the journal
belongs to one run and only a crashed run of the same command is resumed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from hastack.dr.aws import ClientFactory
from hastack.dr.clock import WallClock
from hastack.dr.deployment import Deployment
from hastack.dr.journal import RunJournal
from hastack.dr.lock import DrLock
from hastack.dr.outputs import DrOutputs, parse_outputs
from hastack.dr.runner import (
    ALREADY,
    DONE,
    FAILED,
    GAVE_UP,
    PLANNED,
    REFUSED,
    SKIPPED,
    Need,
    Options,
    Phase,
    RunContext,
    Runner,
    Step,
    act,
    already,
    refuse,
)
from hastack.plan.render import stack_output_json
from tests.dr_runs import coordination_table, moto_only


@pytest.fixture()
def outputs(prod_plan: Any) -> DrOutputs:
    return parse_outputs(stack_output_json(prod_plan.outputs), "prod")


@pytest.fixture()
def table(outputs: DrOutputs) -> Iterator[Deployment]:
    dep = Deployment.of(outputs)
    with moto_only():
        coordination_table(dep.coordination.region, dep.coordination.table, dep.coordination.key)
        yield dep


def item(dep: Deployment, key: str) -> dict[str, Any] | None:
    c = dep.coordination
    return boto3.client("dynamodb", region_name=c.region).get_item(
        TableName=c.table, Key={c.key: {"S": key}}, ConsistentRead=True).get("Item")


class Calls:
    """What the steps did, in order (thread-safe: branches run in parallel)."""

    def __init__(self) -> None:
        self.acted: list[str] = []
        self.decided: list[str] = []
        self._lock = threading.Lock()

    def step(self, name: str, verdict: str = "act", sleep: float = 0.0, fail: bool = False,
             best_effort: bool = False) -> Step:
        def decide(ctx: RunContext) -> Any:
            with self._lock:
                self.decided.append(name)
            if verdict == "already":
                return already(f"{name} was done")
            if verdict == "refuse":
                return refuse(f"{name} says no")
            return act(f"would do {name}")

        def do(ctx: RunContext) -> str:
            time.sleep(sleep)
            if fail:
                raise RuntimeError(f"{name} broke")
            with self._lock:
                self.acted.append(name)
            ctx.remember(name, True)
            return f"did {name}"

        return Step(name, f"the {name} step", decide, do, needs=(Need("data", "dynamodb", "us-west-2"),),
                    best_effort=best_effort)


def make(outputs: DrOutputs, dep: Deployment, phases: list[Phase], command: str = "dr test",
         **options: Any) -> tuple[Runner, DrLock]:
    aws = ClientFactory(dep.bounds.call_timeout_seconds)
    lock = DrLock(aws, dep.coordination, command, dep.bounds.lock_ttl_seconds)
    opts = Options(**options)
    journal = RunJournal(aws, dep.coordination, lock.run_id, read_only=opts.dry_run)
    ctx = RunContext(outputs, dep, aws, WallClock(), journal, opts, outputs.dr_region)
    return Runner(command, phases, ctx, lock), lock


def statuses(result: Any) -> dict[str, str]:
    return {r.name: r.status for r in result.records}


def test_phases_in_order_branches_in_parallel_then_unlock(outputs: DrOutputs, table: Deployment) -> None:
    calls = Calls()
    phases = [Phase.serial("one", calls.step("a")),
              Phase.parallel("two", left=[calls.step("b", sleep=0.3)], right=[calls.step("c", sleep=0.3)]),
              Phase.serial("three", calls.step("d", verdict="already"))]
    runner, lock = make(outputs, table, phases)
    result = runner.run()
    assert result.ok and result.changed
    assert statuses(result) == {"lock": DONE, "a": DONE, "b": DONE, "c": DONE, "d": ALREADY, "unlock": DONE}
    assert calls.acted[0] == "a" and set(calls.acted[1:]) == {"b", "c"} and "d" not in calls.acted
    b, c = result.record("b"), result.record("c")
    assert b and c and b.start < c.end and c.start < b.end, "the branches overlapped"
    assert result.record("a").needs == ("data:dynamodb@us-west-2",)  # type: ignore[union-attr]
    assert item(table, table.coordination.lock_id) is None, "the lock was released"
    journal = item(table, table.coordination.journal_id(lock.run_id))
    assert journal is not None and journal["ended"]["BOOL"] is True and journal["ok"]["BOOL"] is True


def test_a_refusal_stops_the_run_after_its_phase(outputs: DrOutputs, table: Deployment) -> None:
    calls = Calls()
    phases = [Phase.parallel("one", left=[calls.step("no", verdict="refuse"), calls.step("after-no")],
                             right=[calls.step("other", sleep=0.2)]),
              Phase.serial("two", calls.step("never"))]
    result = make(outputs, table, phases)[0].run()
    assert not result.ok
    assert statuses(result) == {"lock": DONE, "no": REFUSED, "after-no": SKIPPED, "other": DONE, "never": SKIPPED,
                                "unlock": DONE}
    assert result.record("no").sentence == "no says no"  # type: ignore[union-attr]
    assert result.record("never").sentence.startswith("not run: no did not succeed")  # type: ignore[union-attr]
    assert "never" not in calls.decided and calls.acted == ["other"]


def test_a_dry_run_decides_every_step_and_acts_on_none(outputs: DrOutputs, table: Deployment) -> None:
    calls = Calls()
    phases = [Phase.serial("one", calls.step("a"), calls.step("no", verdict="refuse")),
              Phase.serial("two", calls.step("b", verdict="already"))]
    result = make(outputs, table, phases, dry_run=True)[0].run()
    assert calls.acted == [] and calls.decided == ["a", "no", "b"]
    assert statuses(result) == {"lock": PLANNED, "a": PLANNED, "no": REFUSED, "b": ALREADY, "unlock": PLANNED}
    assert result.record("a").sentence == "would do a"  # type: ignore[union-attr]
    assert item(table, table.coordination.lock_id) is None, "a dry run never takes the lock"


def test_a_failed_best_effort_step_never_stops_the_run(outputs: DrOutputs, table: Deployment) -> None:
    calls = Calls()
    phases = [Phase.serial("one", calls.step("extra", fail=True, best_effort=True), calls.step("a"))]
    result = make(outputs, table, phases)[0].run()
    assert result.ok
    assert statuses(result)["extra"] == GAVE_UP and statuses(result)["a"] == DONE
    assert result.record("extra").sentence == "best effort, going on: RuntimeError: extra broke"  # type: ignore


def test_a_failing_step_is_a_sentence_not_a_traceback(outputs: DrOutputs, table: Deployment) -> None:
    calls = Calls()
    result = make(outputs, table, [Phase.serial("one", calls.step("boom", fail=True), calls.step("a"))])[0].run()
    assert statuses(result) == {"lock": DONE, "boom": FAILED, "a": SKIPPED, "unlock": DONE}
    assert result.record("boom").sentence == "RuntimeError: boom broke"  # type: ignore[union-attr]


def short_ttl(dep: Deployment, seconds: float) -> Deployment:
    import dataclasses
    return dataclasses.replace(dep, bounds=dep.bounds.with_overrides(lock_ttl_seconds=seconds))


def test_the_lock_is_renewed_across_a_wait_longer_than_its_ttl(outputs: DrOutputs, table: Deployment) -> None:
    dep = short_ttl(table, 1.2)
    calls = Calls()
    seen: dict[str, Any] = {}

    def second_operator(ctx: RunContext) -> Any:
        time.sleep(2.5)  # two TTLs: without renewal the lock would have expired
        other = DrLock(ClientFactory(2), dep.coordination, "dr scale-up", 1.2)
        try:
            other.acquire()
        except Exception as exc:  # noqa: BLE001 - the refusal is what we assert
            seen["refusal"] = str(exc)
        return act("waited")

    phases = [Phase.serial("one", Step("long-wait", "waits", second_operator)), Phase.serial("two", calls.step("a"))]
    runner, lock = make(outputs, dep, phases)
    result = runner.run()
    assert result.ok, result.summary
    assert lock.renewals >= 2
    assert seen["refusal"].startswith("DR lock held by ") and "renewed until" in seen["refusal"]
    assert calls.acted == ["a"]


def test_a_run_that_lost_its_lock_stops_before_its_next_step(outputs: DrOutputs, table: Deployment) -> None:
    dep = short_ttl(table, 0.9)
    calls = Calls()

    def someone_breaks_it(ctx: RunContext) -> Any:
        DrLock(ClientFactory(2), dep.coordination, "dr failback", 60).acquire(break_lock=True)
        time.sleep(0.6)  # the next renewal finds the lock taken
        return act("the lock was broken meanwhile")

    phases = [Phase.serial("one", Step("first", "x", someone_breaks_it)), Phase.serial("two", calls.step("a"))]
    result = make(outputs, dep, phases)[0].run()
    assert not result.ok and calls.acted == []
    assert statuses(result)["a"] == SKIPPED
    assert "the DR lock was taken over by another run" in result.record("a").sentence  # type: ignore[union-attr]
    holder = item(dep, dep.coordination.lock_id)
    assert holder is not None and holder["command"]["S"] == "dr failback", "the lock stays with its new holder"


def test_an_expired_lock_is_taken_over_and_a_crashed_runs_facts_are_resumed(outputs: DrOutputs,
                                                                           table: Deployment) -> None:
    calls = Calls()

    class Crash(BaseException):
        pass

    def crash(ctx: RunContext) -> Any:
        raise Crash()

    crashed, crashed_lock = make(outputs, table, [Phase.serial("one", calls.step("a"), Step("x", "x", crash))])
    with pytest.raises(Crash):
        crashed.run()
    c = table.coordination
    boto3.client("dynamodb", region_name=c.region).update_item(  # the crashed run's lock expires (host elsewhere)
        TableName=c.table, Key={c.key: {"S": c.lock_id}}, UpdateExpression="SET expiresAt = :e, host = :h",
        ExpressionAttributeValues={":e": {"N": str(time.time() - 5)}, ":h": {"S": "another-host"}})
    again, _ = make(outputs, table, [Phase.serial("one", calls.step("b"))])
    result = again.run()
    assert result.ok
    assert result.record("lock").sentence.startswith("took over the DR lock of ")  # type: ignore[union-attr]
    assert "it expired at" in result.record("lock").sentence  # type: ignore[union-attr]
    assert result.journal_note is not None and result.journal_note.startswith(f"resuming run {crashed_lock.run_id}")
    assert again.ctx.fact("a") is True, "the crashed run's fact is reused"


def test_an_ended_runs_facts_are_never_used(outputs: DrOutputs, table: Deployment) -> None:
    calls = Calls()
    first, first_lock = make(outputs, table, [Phase.serial("one", calls.step("a"), calls.step("no",
                                                                                            verdict="refuse"))])
    assert not first.run().ok
    journal = item(table, table.coordination.journal_id(first_lock.run_id))
    assert journal is not None and journal["ended"]["BOOL"] is True and journal["ok"]["BOOL"] is False
    second, _ = make(outputs, table, [Phase.serial("one", calls.step("b"))])
    second.run()
    assert second.ctx.fact("a") is None and second.ctx.journal.resumed_from is None


def test_a_journal_is_never_overwritten_by_another_run(outputs: DrOutputs, table: Deployment) -> None:
    calls = Calls()
    runner, lock = make(outputs, table, [Phase.serial("one", calls.step("a"))])
    runner.run()
    before = item(table, table.coordination.journal_id(lock.run_id))
    clash = RunJournal(ClientFactory(2), table.coordination, lock.run_id)  # the same run id, another process
    clash.begin("dr scale-up", "2026-01-01T00:00:00+00:00", None)
    clash.set_fact("forged", True)
    assert clash.persist_error == f"this run's journal {lock.run_id} is owned by another run: not written"
    assert item(table, table.coordination.journal_id(lock.run_id)) == before
