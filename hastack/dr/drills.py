"""`hastack drill`: practise a failover with one command, timed, with a JSON report.

Why drills are commands: a failover nobody has practised breaks at 3 a.m. The runbooks
(`runbooks/database-failover.md`, `runbooks/cache-failover.md`) tell the operator to run these on a
schedule; each run prints what it will touch, asks before acting (unless `--yes`), records every
step with start, end, duration and status — `--dry-run` records the same steps and skips only the
AWS writes — and ends with the measured time against the stack's RTO budget.

* `db-failover`: `RebootDBInstance(ForceFailover=True)` on the Multi-AZ writer, then a botocore
  waiter until the instance is `available` again. "Writable again" is approximated by the status
  `available`: RDS reports it once the standby was promoted and the endpoint's DNS points to it. The
  command opens no database connection (it has neither the credentials nor a network path to a
  private subnet), so the few seconds clients need to re-resolve the endpoint are not measured.
* `cache-failover`: ElastiCache `TestFailover` on one node group (shard) of the primary
  replication group, then waiters until the "Failover ... completed" event is reported and the
  replication group is `available`. AWS allows 5 such tests per rolling 24 h.

The `drill` group (hastack/cli.py) also holds `hastack drill region`, the regional failover drill on
the local AWS (hastack/local/cli.py); each is imported only when it runs.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from botocore.exceptions import BotoCoreError, ClientError, WaiterError
from botocore.waiter import WaiterModel, create_waiter_with_client
from rich.console import Console

from hastack.dr.aws import factory_for
from hastack.dr.outputs import DrOutputs, load_outputs
from hastack.dr.preflight import require_aws
from hastack.errors import EXIT_REFUSED, UserError

#: `hastack drill db-failover | cache-failover` (hastack/cli.py puts them in the `drill` group).
drill_app = typer.Typer(add_completion=False)
out = Console(highlight=False)

#: Exit 1: the drill ran and failed (timeout, AWS error); user errors are `UserError` (exit 2).
EXIT_DRILL_FAILED = EXIT_REFUSED

DEFAULT_DB_TIMEOUT = 1800
DEFAULT_CACHE_TIMEOUT = 1800
POLL_SECONDS = 15


class DrillError(Exception):
    """The drill cannot start or did not finish (the message names the resource and the reason)."""


# ---------------------------------------------------------------------------------------------
# What the drill targets: the stack outputs, read by the DR command's loader (same contract, same
# `--outputs FILE` / pulumi CLI rules, same error messages)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrillTargets:
    """The writer DB and the primary cache of the stack, and the budgets a drill is measured against."""

    stack: str
    db_region: str
    db_identifier: str
    cache_region: str
    cache_replication_group_id: str
    rto_budget_seconds: float
    wait_timeout_seconds: float
    fence_timeout_seconds: float = 20.0

    @classmethod
    def from_outputs(cls, outputs: DrOutputs) -> DrillTargets:
        return cls(stack=outputs.stack, db_region=outputs.database.primary.region,
                   db_identifier=outputs.database.primary.identifier, cache_region=outputs.cache.primary.region,
                   cache_replication_group_id=outputs.cache.primary.replication_group_id,
                   rto_budget_seconds=outputs.rto_budget_seconds,
                   wait_timeout_seconds=outputs.dr_timeouts.wait_timeout_seconds,
                   fence_timeout_seconds=outputs.dr_timeouts.fence_timeout_seconds)


# ---------------------------------------------------------------------------------------------
# AWS access: one factory (region always explicit), waiters from JSON models
# ---------------------------------------------------------------------------------------------

#: `(service, region) -> boto3 client`; the CLI passes `hastack.dr.aws.ClientFactory.client` (region always
#: explicit, botocore standard retries with jittered backoff, bounded timeouts).
Clients = Callable[[str, str], Any]


def waiter_config(timeout_seconds: float, delay: int = POLL_SECONDS) -> dict[str, int]:
    """botocore WaiterConfig polling every `delay` s for at most `timeout_seconds`."""
    delay = max(1, int(delay))
    return {"Delay": delay, "MaxAttempts": max(1, math.ceil(timeout_seconds / delay))}


def _wait(client: Any, name: str, operation: str, acceptors: list[dict[str, Any]], config: dict[str, int],
          what: str, **params: Any) -> None:
    model = WaiterModel({"version": 2, "waiters": {name: {
        "operation": operation, "delay": POLL_SECONDS, "maxAttempts": 120, "acceptors": acceptors}}})
    try:
        create_waiter_with_client(name, model, client).wait(WaiterConfig=config, **params)
    except WaiterError as exc:
        reason = getattr(exc, "kwargs", {}).get("reason") or str(exc)
        raise DrillError(f"gave up waiting for {what}: {reason}") from exc


def _jmes(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ---------------------------------------------------------------------------------------------
# The journal: every step timed, also in a dry run
# ---------------------------------------------------------------------------------------------


@dataclass
class Step:
    name: str
    started_at: str
    ended_at: str = ""
    duration_seconds: float = 0.0
    status: str = "running"  # ok | skipped (dry run) | failed
    detail: str = ""


@dataclass
class Journal:
    drill: str
    stack: str
    dry_run: bool
    target: dict[str, Any]
    started_at: str = ""
    finished_at: str = ""
    outcome: str = "running"  # passed | failed | dry run
    measurements: dict[str, float] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self.started_at = _now()

    @contextmanager
    def step(self, name: str, acts: bool = False) -> Iterator[Step]:
        """Time one step; an acting step in a dry run is recorded as skipped (its body must check)."""
        step = Step(name=name, started_at=_now())
        self.steps.append(step)
        t0 = self.clock()
        try:
            yield step
        except Exception as exc:
            step.status = "failed"
            step.detail = step.detail or str(exc)
            raise
        else:
            step.status = "skipped (dry run)" if acts and self.dry_run else "ok"
        finally:
            step.duration_seconds = round(self.clock() - t0, 3)
            step.ended_at = _now()
            detail = f": {step.detail}" if step.detail else ""
            out.print(f"  [{step.status}] {step.name} ({step.duration_seconds:.1f}s){detail}", markup=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("clock", None)
        return data


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# db-failover
# ---------------------------------------------------------------------------------------------


def db_instance(rds: Any, identifier: str) -> dict[str, Any]:
    """The instance's description (probe), with an error naming it when it does not exist."""
    try:
        found = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    except ClientError as exc:
        raise DrillError(f"cannot describe DB instance {identifier!r}: {exc}") from exc
    if not found:
        raise DrillError(f"DB instance {identifier!r} not found")
    return found[0]


def db_failover_refusal(instance: dict[str, Any]) -> str | None:
    """Why a forced failover must not run now, or None."""
    ident = instance.get("DBInstanceIdentifier", "?")
    if not instance.get("MultiAZ"):
        return f"DB instance {ident!r} is not Multi-AZ: a reboot with failover needs a standby"
    if instance.get("DBInstanceStatus") != "available":
        return f"DB instance {ident!r} is {instance.get('DBInstanceStatus')!r}, not 'available': wait until it is"
    if instance.get("ReadReplicaSourceDBInstanceIdentifier"):
        return f"DB instance {ident!r} is a read replica: the drill fails over the writer"
    return None


def run_db_failover(targets: DrillTargets, clients: Clients, dry_run: bool, timeout_seconds: float,
                    clock: Callable[[], float] = time.monotonic, poll_seconds: int = POLL_SECONDS) -> Journal:
    """Forced Multi-AZ failover of the writer; returns the journal (outcome passed/failed/dry run)."""
    ident, region = targets.db_identifier, targets.db_region
    journal = Journal("db-failover", targets.stack, dry_run, {"region": region, "dbInstanceIdentifier": ident},
                      clock=clock)
    rds = clients("rds", region)
    try:
        with journal.step("check the writer is Multi-AZ and available") as step:
            before = db_instance(rds, ident)
            refusal = db_failover_refusal(before)
            if refusal:
                raise DrillError(refusal)
            step.detail = (f"{ident} in {before.get('AvailabilityZone')}, standby in "
                           f"{before.get('SecondaryAvailabilityZone', '?')}")
        t0 = clock()
        with journal.step("reboot with ForceFailover=True", acts=True) as step:
            if dry_run:
                step.detail = f"would call RebootDBInstance(DBInstanceIdentifier={ident!r}, ForceFailover=True)"
            else:
                status = rds.reboot_db_instance(DBInstanceIdentifier=ident, ForceFailover=True)[
                    "DBInstance"].get("DBInstanceStatus")
                step.detail = f"RDS answered status {status!r}"
        with journal.step("wait until the instance is available (writable) again", acts=True) as step:
            if dry_run:
                step.detail = f"would wait up to {timeout_seconds:.0f}s with the db_instance_available waiter"
            else:
                try:
                    rds.get_waiter("db_instance_available").wait(
                        DBInstanceIdentifier=ident, WaiterConfig=waiter_config(timeout_seconds, poll_seconds))
                except WaiterError as exc:
                    raise DrillError(f"DB instance {ident!r} not available after {timeout_seconds:.0f}s: "
                                     f"{getattr(exc, 'kwargs', {}).get('reason') or exc}") from exc
                journal.measurements["secondsUntilAvailable"] = round(clock() - t0, 1)
                step.detail = f"available after {journal.measurements['secondsUntilAvailable']:.1f}s"
        with journal.step("check the primary moved to the standby's AZ", acts=True) as step:
            if dry_run:
                step.detail = f"would compare the AZ with {before.get('AvailabilityZone')}"
            else:
                after = db_instance(rds, ident)
                moved = after.get("AvailabilityZone") != before.get("AvailabilityZone")
                step.detail = (f"primary now in {after.get('AvailabilityZone')} (was {before.get('AvailabilityZone')})"
                               + ("" if moved else " — unchanged: RDS may have rebooted without failing over"))
                journal.measurements["azChanged"] = float(moved)
        journal.outcome = "dry run" if dry_run else "passed"
    except (DrillError, ClientError, BotoCoreError) as exc:
        journal.outcome = "failed"
        journal.measurements.setdefault("error", 1.0)
        out.print(f"drill failed: {exc}", markup=False)
    journal.finished_at = _now()
    return journal


# ---------------------------------------------------------------------------------------------
# cache-failover
# ---------------------------------------------------------------------------------------------


def replication_group(ec: Any, rg_id: str) -> dict[str, Any]:
    try:
        groups = ec.describe_replication_groups(ReplicationGroupId=rg_id)["ReplicationGroups"]
    except ClientError as exc:
        raise DrillError(f"cannot describe replication group {rg_id!r}: {exc}") from exc
    if not groups:
        raise DrillError(f"replication group {rg_id!r} not found")
    return groups[0]


def primary_member(group: dict[str, Any], node_group_id: str) -> dict[str, Any]:
    for ng in group.get("NodeGroups", []):
        if ng.get("NodeGroupId") == node_group_id:
            for member in ng.get("NodeGroupMembers", []):
                if member.get("CurrentRole") == "primary":
                    return member
            raise DrillError(f"node group {node_group_id!r} of {group.get('ReplicationGroupId')!r} has no primary "
                             "member (cluster mode enabled groups report roles per shard only in events)")
    known = ", ".join(ng.get("NodeGroupId", "?") for ng in group.get("NodeGroups", [])) or "none"
    raise DrillError(f"replication group {group.get('ReplicationGroupId')!r} has no node group "
                     f"{node_group_id!r} (node groups: {known})")


def cache_failover_refusal(group: dict[str, Any], node_group_id: str) -> str | None:
    rg = group.get("ReplicationGroupId", "?")
    if group.get("Status") != "available":
        return f"replication group {rg!r} is {group.get('Status')!r}, not 'available'"
    if group.get("AutomaticFailover") != "enabled":
        return f"replication group {rg!r} has automatic failover {group.get('AutomaticFailover')!r}: TestFailover " \
               "needs it enabled"
    members = next((ng.get("NodeGroupMembers", []) for ng in group.get("NodeGroups", [])
                    if ng.get("NodeGroupId") == node_group_id), [])
    if len(members) < 2:
        return f"node group {node_group_id!r} of {rg!r} has {len(members)} member(s): a failover needs a replica"
    return None


def run_cache_failover(targets: DrillTargets, clients: Clients, dry_run: bool, timeout_seconds: float,
                       node_group_id: str | None = None, clock: Callable[[], float] = time.monotonic,
                       poll_seconds: int = POLL_SECONDS) -> Journal:
    """TestFailover on one shard of the primary replication group; returns the journal."""
    rg_id, region = targets.cache_replication_group_id, targets.cache_region
    journal = Journal("cache-failover", targets.stack, dry_run,
                      {"region": region, "replicationGroupId": rg_id}, clock=clock)
    ec = clients("elasticache", region)
    try:
        with journal.step("check the replication group can fail over") as step:
            group = replication_group(ec, rg_id)
            ngid = node_group_id or (group.get("NodeGroups") or [{}])[0].get("NodeGroupId", "0001")
            journal.target["nodeGroupId"] = ngid
            refusal = cache_failover_refusal(group, ngid)
            if refusal:
                raise DrillError(refusal)
            before = primary_member(group, ngid)
            step.detail = (f"{rg_id} shard {ngid}: primary {before.get('CacheClusterId')} in "
                           f"{before.get('PreferredAvailabilityZone')}")
        t0 = clock()
        started = datetime.now(UTC)
        with journal.step("TestFailover", acts=True) as step:
            if dry_run:
                step.detail = f"would call TestFailover(ReplicationGroupId={rg_id!r}, NodeGroupId={ngid!r})"
            else:
                ec.test_failover(ReplicationGroupId=rg_id, NodeGroupId=ngid)
                step.detail = "accepted"
        with journal.step("wait for the 'Failover ... completed' event", acts=True) as step:
            if dry_run:
                step.detail = f"would wait up to {timeout_seconds:.0f}s for the event"
            else:
                done = "length(Events[?contains(Message, 'Failover') && contains(Message, 'completed')]) > `0`"
                _wait(ec, "CacheFailoverCompleted", "DescribeEvents", [
                    {"matcher": "path", "argument": done, "expected": True, "state": "success"},
                ], waiter_config(timeout_seconds, poll_seconds), f"the failover of {rg_id} shard {ngid}",
                    SourceType="replication-group", SourceIdentifier=rg_id, StartTime=started)
                journal.measurements["secondsUntilFailoverCompleted"] = round(clock() - t0, 1)
                step.detail = f"completed after {journal.measurements['secondsUntilFailoverCompleted']:.1f}s"
        with journal.step("wait until the replication group is available", acts=True) as step:
            if dry_run:
                step.detail = "would wait with the replication_group_available waiter"
            else:
                try:
                    ec.get_waiter("replication_group_available").wait(
                        ReplicationGroupId=rg_id, WaiterConfig=waiter_config(timeout_seconds, poll_seconds))
                except WaiterError as exc:
                    raise DrillError(f"replication group {rg_id!r} not available after {timeout_seconds:.0f}s: "
                                     f"{getattr(exc, 'kwargs', {}).get('reason') or exc}") from exc
                after = primary_member(replication_group(ec, rg_id), ngid)
                journal.measurements["secondsUntilAvailable"] = round(clock() - t0, 1)
                step.detail = (f"primary now {after.get('CacheClusterId')} in {after.get('PreferredAvailabilityZone')}"
                               f" (was {before.get('CacheClusterId')})")
        journal.outcome = "dry run" if dry_run else "passed"
    except (DrillError, ClientError, BotoCoreError) as exc:
        journal.outcome = "failed"
        out.print(f"drill failed: {exc}", markup=False)
    journal.finished_at = _now()
    return journal


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

StackOption = typer.Option(..., "--stack", "-s", help="Stack whose resources the drill targets.")
OutputsOption = typer.Option(None, "--outputs", help="Stack outputs JSON (`pulumi stack output --json "
                             "--show-secrets` or build/outputs-<stack>.json); default: ask the pulumi CLI.")
DryRunOption = typer.Option(False, "--dry-run", help="Record every step, call no AWS write.")
ReportOption = typer.Option(None, "--report", help="Write the timed journal as JSON to this file.")
YesOption = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")


def _targets(stack: str, outputs: Path | None) -> DrillTargets:
    # An OutputsError is a UserError: the root command prints it and exits 2.
    targets = DrillTargets.from_outputs(load_outputs(stack, outputs))
    require_aws()  # no credentials, or an AWS_ENDPOINT_URL that does not answer: one line, exit 2
    return targets


def _clients(targets: DrillTargets) -> Clients:
    return factory_for(targets.fence_timeout_seconds, targets.wait_timeout_seconds).client


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _confirm(what: str, dry_run: bool, yes: bool) -> None:
    if dry_run or yes:
        return
    if not _stdin_is_terminal():
        raise UserError("refusing to act without confirmation: stdin is not a terminal; pass --yes to confirm")
    if not typer.confirm(f"{what} Go ahead?", default=False):
        raise UserError("aborted: nothing was changed")


def _finish(journal: Journal, report: Path | None, budget: float) -> None:
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(journal.to_json(), indent=2) + "\n")
        out.print(f"wrote report: {report}")
    figures = ", ".join(f"{k} {v:g}" for k, v in journal.measurements.items())
    budget_note = f" (RTO budget {budget:.0f}s)" if budget else ""
    out.print(f"drill {journal.drill} on stack {journal.stack}: {journal.outcome}"
              f"{' — ' + figures if figures else ''}{budget_note}")
    if journal.outcome == "failed":
        raise typer.Exit(EXIT_DRILL_FAILED)


def _timeout(given: int | None, targets: DrillTargets, default: int) -> float:
    if given is not None:
        if given < 60:
            raise UserError(f"--timeout {given} is too short: at least 60 seconds")
        return float(given)
    return float(targets.wait_timeout_seconds or default)


@drill_app.command("db-failover")
def db_failover_command(
    stack: str = StackOption,
    outputs: Path | None = OutputsOption,
    dry_run: bool = DryRunOption,
    report: Path | None = ReportOption,
    yes: bool = YesOption,
    timeout: int | None = typer.Option(None, "--timeout", help="Seconds to wait for the instance "
                                       "(default drTimeouts.waitTimeoutSeconds)."),
) -> None:
    """Forced Multi-AZ failover of the writer DB (reboot with failover), timed until it is available again."""
    targets = _targets(stack, outputs)
    wait = _timeout(timeout, targets, DEFAULT_DB_TIMEOUT)
    out.print(f"db-failover drill, stack {stack}: writer {targets.db_identifier} in {targets.db_region}"
              f"{' (dry run)' if dry_run else ''}")
    _confirm(f"This reboots {targets.db_identifier} with a forced failover: writes fail for about a minute.",
             dry_run, yes)
    journal = run_db_failover(targets, _clients(targets), dry_run, wait)
    _finish(journal, report, targets.rto_budget_seconds)


@drill_app.command("cache-failover")
def cache_failover_command(
    stack: str = StackOption,
    outputs: Path | None = OutputsOption,
    dry_run: bool = DryRunOption,
    report: Path | None = ReportOption,
    yes: bool = YesOption,
    node_group: str | None = typer.Option(None, "--node-group", help="Shard to fail over (default: the first)."),
    timeout: int | None = typer.Option(None, "--timeout", help="Seconds to wait for the failover "
                                       "(default drTimeouts.waitTimeoutSeconds)."),
) -> None:
    """ElastiCache TestFailover on a shard of the primary replication group, timed until it completes."""
    targets = _targets(stack, outputs)
    wait = _timeout(timeout, targets, DEFAULT_CACHE_TIMEOUT)
    out.print(f"cache-failover drill, stack {stack}: replication group {targets.cache_replication_group_id} in "
              f"{targets.cache_region}{' (dry run)' if dry_run else ''}")
    _confirm(f"This fails over a shard of {targets.cache_replication_group_id}: writes fail for seconds "
             "(AWS allows 5 test failovers per 24 h).", dry_run, yes)
    journal = run_cache_failover(targets, _clients(targets), dry_run, wait, node_group)
    _finish(journal, report, targets.rto_budget_seconds)
