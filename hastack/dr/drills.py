"""`hastack drill db-failover | cache-failover`: practise an in-region failover, timed, on the shared runner.

Why drills are commands: a failover nobody has practised breaks at 3 a.m. The runbooks
(`runbooks/database-failover.md`, `runbooks/cache-failover.md`) tell the operator to run these on a
schedule. They run on the same runner as scale-up and failback (`hastack.dr.runner`): the DR lock
(a drill never overlaps a failover), a journal, steps that decide then act — `--dry-run` decides
every step and skips only the AWS writes — and the same report, with the measured times against
the stack's RTO budget.

* `db-failover`: `RebootDBInstance(ForceFailover=True)` on the Multi-AZ writer, then a botocore
  waiter until the instance is `available` again. "Writable again" is approximated by the status
  `available`: RDS reports it once the standby was promoted and the endpoint's DNS points to it. The
  command opens no database connection (it has neither the credentials nor a network path to a
  private subnet), so the few seconds clients need to re-resolve the endpoint are not measured.
* `cache-failover`: ElastiCache `TestFailover` on one node group (shard) of the primary
  replication group, then waiters until the "Failover ... completed" event is reported and the
  replication group is `available`. AWS allows 5 such tests per rolling 24 h.

The `drill` group (hastack/cli.py) also holds `hastack drill region`, the regional failover drill on
the local world (hastack/local/cli.py), which runs the real scale-up; each is imported only when it runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import typer
from botocore.exceptions import ClientError, WaiterError
from rich.console import Console

from hastack.dr import report as rpt
from hastack.dr.aws import ClientFactory
from hastack.dr.clock import Clock
from hastack.dr.deployment import Deployment
from hastack.dr.outputs import DrOutputs, load_outputs
from hastack.dr.preflight import require_aws
from hastack.dr.progress import PlainProgress
from hastack.dr.runner import (
    CONTROL,
    Decision,
    Need,
    Options,
    Phase,
    Run,
    RunContext,
    RunResult,
    Step,
    act,
    blocked,
    refuse,
)
from hastack.dr.waiters import WaitPolicy, WaitTimeoutError, _wait
from hastack.errors import EXIT_REFUSED, UserError

#: `hastack drill db-failover | cache-failover` (hastack/cli.py puts them in the `drill` group).
drill_app = typer.Typer(add_completion=False)
out = Console(highlight=False)

#: Exit 1: the drill ran and failed (timeout, AWS error, refusal); user errors are `UserError` (exit 2).
EXIT_DRILL_FAILED = EXIT_REFUSED


class DrillError(Exception):
    """The drill cannot go on (the message names the resource and the reason)."""


def _policy(ctx: RunContext) -> WaitPolicy:
    return WaitPolicy(ctx.bounds.wait_timeout_seconds, int(max(1, ctx.options.poll_seconds)))


# ---------------------------------------------------------------------------------------------
# db-failover
# ---------------------------------------------------------------------------------------------


def db_instance(rds: Any, identifier: str) -> dict[str, Any]:
    """The instance's description, with an error naming it when it does not exist."""
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


def db_failover_plan(o: DrOutputs) -> list[Phase]:
    region, ident = o.database.primary.region, o.database.primary.identifier
    rds = (Need(CONTROL, "rds", region),)

    def client(ctx: RunContext) -> Any:
        return ctx.aws.client("rds", region)

    def decide_check(ctx: RunContext) -> Decision:
        before = db_instance(client(ctx), ident)
        refusal = db_failover_refusal(before)
        if refusal:
            return refuse(refusal)
        ctx.note("azBefore", before.get("AvailabilityZone"))
        return act(f"{ident} in {before.get('AvailabilityZone')}, standby in "
                   f"{before.get('SecondaryAvailabilityZone', '?')}: it can fail over")

    def decide_reboot(ctx: RunContext) -> Decision:
        return act(f"would call RebootDBInstance(DBInstanceIdentifier={ident!r}, ForceFailover=True)")

    def do_reboot(ctx: RunContext) -> str:
        ctx.note("rebootAt", ctx.clock.now())
        status = client(ctx).reboot_db_instance(DBInstanceIdentifier=ident, ForceFailover=True)["DBInstance"].get(
            "DBInstanceStatus")
        return f"RebootDBInstance(ForceFailover=True) accepted: status {status!r}"

    def decide_available(ctx: RunContext) -> Decision:
        return act(f"would wait up to {ctx.bounds.wait_timeout_seconds:.0f} s until {ident} is available (writable) "
                   "again")

    def do_available(ctx: RunContext) -> str:
        try:
            client(ctx).get_waiter("db_instance_available").wait(DBInstanceIdentifier=ident,
                                                                   WaiterConfig=_policy(ctx).config())
        except WaiterError as exc:
            raise DrillError(f"DB instance {ident!r} not available after {ctx.bounds.wait_timeout_seconds:.0f}s: "
                             f"{getattr(exc, 'kwargs', {}).get('reason') or exc}") from exc
        took = round(ctx.clock.now() - ctx.report.get("rebootAt", ctx.clock.now()), 1)
        ctx.note("secondsUntilAvailable", took)
        return f"available again after {took:.1f} s"

    def decide_moved(ctx: RunContext) -> Decision:
        return act(f"would compare the AZ with {ctx.report.get('azBefore', 'the one before')}")

    def do_moved(ctx: RunContext) -> str:
        after = db_instance(client(ctx), ident).get("AvailabilityZone")
        before = ctx.report.get("azBefore")
        ctx.note("azChanged", after != before)
        return f"primary now in {after} (was {before})" + (
            "" if after != before else " — unchanged: RDS may have rebooted without failing over")

    return [Phase.serial("drill",
                         Step("check-writer", "the writer is Multi-AZ and available", decide_check, needs=rds,
                              read_only=True),
                         Step("reboot-with-failover", "RebootDBInstance with ForceFailover=True", decide_reboot,
                              do_reboot, rds),
                         Step("writer-available", "wait until the writer is available again", decide_available,
                              do_available, rds, read_only=True),
                         Step("az-moved", "check the primary moved to the standby's AZ", decide_moved, do_moved, rds,
                              read_only=True))]


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


def cache_failover_plan(o: DrOutputs, node_group_id: str | None = None) -> list[Phase]:
    region, rg_id = o.cache.primary.region, o.cache.primary.replication_group_id
    ec_need = (Need(CONTROL, "elasticache", region),)

    def client(ctx: RunContext) -> Any:
        return ctx.aws.client("elasticache", region)

    def decide_check(ctx: RunContext) -> Decision:
        group = replication_group(client(ctx), rg_id)
        ngid = node_group_id or (group.get("NodeGroups") or [{}])[0].get("NodeGroupId", "0001")
        ctx.note("nodeGroupId", ngid)
        refusal = cache_failover_refusal(group, ngid)
        if refusal:
            return refuse(refusal)
        before = primary_member(group, ngid)
        ctx.note("primaryBefore", before.get("CacheClusterId"))
        return act(f"{rg_id} shard {ngid}: primary {before.get('CacheClusterId')} in "
                   f"{before.get('PreferredAvailabilityZone')}; it can fail over")

    def decide_test(ctx: RunContext) -> Decision:
        return act(f"would call TestFailover(ReplicationGroupId={rg_id!r}, "
                   f"NodeGroupId={ctx.report.get('nodeGroupId')!r})")

    def do_test(ctx: RunContext) -> str:
        ctx.note("testAt", ctx.clock.now())
        ctx.note("testStartedAt", dt.datetime.now(dt.UTC))
        client(ctx).test_failover(ReplicationGroupId=rg_id, NodeGroupId=ctx.report["nodeGroupId"])
        return f"TestFailover accepted for {rg_id} shard {ctx.report['nodeGroupId']}"

    def decide_completed(ctx: RunContext) -> Decision:
        return act(f"would wait up to {ctx.bounds.wait_timeout_seconds:.0f} s for the 'Failover ... completed' event")

    def do_completed(ctx: RunContext) -> str:
        done = "length(Events[?contains(Message, 'Failover') && contains(Message, 'completed')]) > `0`"
        try:
            _wait(client(ctx), "CacheFailoverCompleted", "DescribeEvents", [
                {"matcher": "path", "argument": done, "expected": True, "state": "success"},
            ], _policy(ctx), f"the failover of {rg_id} shard {ctx.report['nodeGroupId']}",
                SourceType="replication-group", SourceIdentifier=rg_id, StartTime=ctx.report["testStartedAt"])
        except WaitTimeoutError as exc:
            raise DrillError(str(exc)) from exc
        took = round(ctx.clock.now() - ctx.report["testAt"], 1)
        ctx.note("secondsUntilFailoverCompleted", took)
        return f"failover completed after {took:.1f} s"

    def decide_available(ctx: RunContext) -> Decision:
        return act("would wait with the replication_group_available waiter")

    def do_available(ctx: RunContext) -> str:
        try:
            client(ctx).get_waiter("replication_group_available").wait(ReplicationGroupId=rg_id,
                                                                        WaiterConfig=_policy(ctx).config())
        except WaiterError as exc:
            raise DrillError(f"replication group {rg_id!r} not available after {ctx.bounds.wait_timeout_seconds:.0f}s: "
                             f"{getattr(exc, 'kwargs', {}).get('reason') or exc}") from exc
        after = primary_member(replication_group(client(ctx), rg_id), ctx.report["nodeGroupId"])
        took = round(ctx.clock.now() - ctx.report["testAt"], 1)
        ctx.note("secondsUntilAvailable", took)
        return (f"primary now {after.get('CacheClusterId')} in {after.get('PreferredAvailabilityZone')} (was "
                f"{ctx.report.get('primaryBefore')})")

    return [Phase.serial("drill",
                         Step("check-group", "the replication group can fail over", decide_check, needs=ec_need,
                              read_only=True),
                         Step("test-failover", "TestFailover on the shard", decide_test, do_test, ec_need),
                         Step("failover-completed", "wait for the 'Failover ... completed' event", decide_completed,
                              do_completed, ec_need, read_only=True),
                         Step("group-available", "wait until the replication group is available", decide_available,
                              do_available, ec_need, read_only=True))]


# ---------------------------------------------------------------------------------------------
# Running a drill
# ---------------------------------------------------------------------------------------------

MEASUREMENTS = ("secondsUntilAvailable", "secondsUntilFailoverCompleted", "azChanged")


def run_drill(name: str, phases: list[Phase], outputs: DrOutputs, aws: ClientFactory, options: Options,
              wait_timeout_seconds: float | None = None, clock: Clock | None = None,
              observer: Any = None) -> RunResult:
    """One drill on the shared runner (lock, journal, steps, report, unlock)."""
    deployment = Deployment.of(outputs)
    if wait_timeout_seconds is not None:
        deployment = dataclasses.replace(
            deployment, bounds=deployment.bounds.with_overrides(wait_timeout_seconds=wait_timeout_seconds))
    run = Run(f"drill {name}", outputs, aws, outputs.primary_region, deployment=deployment, options=options,
              clock=clock, observer=observer)
    return run.execute(phases, lambda r: _summary(name, r))


def outcome(result: RunResult) -> str:
    if result.dry_run:
        return "dry run" if result.ok else "dry run: would fail"
    return "passed" if result.ok else "failed"


def measurements(result: RunResult) -> dict[str, Any]:
    return {k: result.report[k] for k in MEASUREMENTS if k in result.report}


def _summary(name: str, result: RunResult) -> str:
    if result.blocking():
        return f"drill {name} {'would fail' if result.dry_run else 'failed'}: {blocked(result)}"
    figures = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in measurements(result).items())
    return f"drill {name}: {outcome(result)}" + (f" — {figures}" if figures else "")


def as_json(name: str, result: RunResult, budget: float) -> dict[str, Any]:
    body = rpt.as_json(result, {"rto": budget})
    return {"drill": name, "outcome": outcome(result), "measurements": measurements(result), **body}


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

StackOption = typer.Option(..., "--stack", "-s", help="Stack whose resources the drill targets.")
OutputsOption = typer.Option(None, "--outputs", help="Stack outputs JSON (`pulumi stack output --json "
                             "--show-secrets` or build/outputs-<stack>.json); default: ask the pulumi CLI.")
DryRunOption = typer.Option(False, "--dry-run", help="Decide every step, call no AWS write.")
ReportOption = typer.Option(None, "--report", help="Write the timed report as JSON to this file.")
YesOption = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")
TimeoutOption = typer.Option(None, "--timeout", help="Seconds to wait (default drTimeouts.waitTimeoutSeconds).")


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _confirm(what: str, dry_run: bool, yes: bool) -> None:
    if dry_run or yes:
        return
    if not _stdin_is_terminal():
        raise UserError("refusing to act without confirmation: stdin is not a terminal; pass --yes to confirm")
    if not typer.confirm(f"{what} Go ahead?", default=False):
        raise UserError("aborted: nothing was changed")


def _timeout(given: int | None) -> float | None:
    if given is not None and given < 60:
        raise UserError(f"--timeout {given} is too short: at least 60 seconds")
    return None if given is None else float(given)


def _outputs(stack: str, path: Path | None) -> DrOutputs:
    outputs = load_outputs(stack, path)  # an OutputsError is a UserError: the root command prints it, exit 2
    require_aws()  # no credentials, or an AWS_ENDPOINT_URL that does not answer: one line, exit 2
    return outputs


def _drill(name: str, stack: str, outputs_path: Path | None, dry_run: bool, report: Path | None,
           timeout: int | None, phases_of: Any, what: str) -> None:
    outputs = _outputs(stack, outputs_path)
    wait = _timeout(timeout)
    out.print(f"{name} drill, stack {stack}: {what}{' (dry run)' if dry_run else ''}")
    deployment = Deployment.of(outputs)
    aws = ClientFactory(deployment.bounds.call_timeout_seconds)
    result = run_drill(name, phases_of(outputs), outputs, aws, Options(dry_run=dry_run), wait,
                       observer=PlainProgress(sys.stdout))
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(as_json(name, result, outputs.rto_budget_seconds), indent=2, default=str) + "\n")
        out.print(f"wrote report: {report}")
    out.print(f"{result.summary} (RTO budget {outputs.rto_budget_seconds:.0f}s)")
    if not result.ok:
        raise typer.Exit(EXIT_DRILL_FAILED)


@drill_app.command("db-failover")
def db_failover_command(stack: str = StackOption, outputs: Path | None = OutputsOption, dry_run: bool = DryRunOption,
                        report: Path | None = ReportOption, yes: bool = YesOption,
                        timeout: int | None = TimeoutOption) -> None:
    """Forced Multi-AZ failover of the writer DB (reboot with failover), timed until it is available again."""
    o = _outputs(stack, outputs)
    ident = o.database.primary.identifier
    _confirm(f"This reboots {ident} with a forced failover: writes fail for about a minute.", dry_run, yes)
    _drill("db-failover", stack, outputs, dry_run, report, timeout, db_failover_plan,
           f"writer {ident} in {o.database.primary.region}")


@drill_app.command("cache-failover")
def cache_failover_command(stack: str = StackOption, outputs: Path | None = OutputsOption,
                           dry_run: bool = DryRunOption, report: Path | None = ReportOption, yes: bool = YesOption,
                           node_group: str | None = typer.Option(None, "--node-group",
                                                                 help="Shard to fail over (default: the first)."),
                           timeout: int | None = TimeoutOption) -> None:
    """ElastiCache TestFailover on a shard of the primary replication group, timed until it completes."""
    o = _outputs(stack, outputs)
    rg = o.cache.primary.replication_group_id
    _confirm(f"This fails over a shard of {rg}: writes fail for seconds (AWS allows 5 test failovers per 24 h).",
             dry_run, yes)
    _drill("cache-failover", stack, outputs, dry_run, report, timeout,
           lambda outs: cache_failover_plan(outs, node_group), f"replication group {rg} in {o.cache.primary.region}")


