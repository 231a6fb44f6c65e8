"""`hastack dr scale-up | status | failback`: the operator's side of the DR command.

Patroni's ctl manners: show the plan (each step with the AWS plane and region it needs) and the
readiness first, ask before changing anything (unless `--yes`), refuse to guess when nobody can be
asked (no TTY, no `--yes`), `--dry-run` decides every step without acting, a report on request,
non-zero exit on any refusal or failure, and user mistakes as one clear line without a traceback.
`--json` prints exactly one JSON document on stdout; progress and prompts go to stderr.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from hastack.dr import failback as fb
from hastack.dr import report as rpt
from hastack.dr import scale_up as su
from hastack.dr import status as st
from hastack.dr.aws import ClientFactory
from hastack.dr.clock import WallClock
from hastack.dr.deployment import Deployment
from hastack.dr.outputs import DrOutputs, load_outputs
from hastack.dr.preflight import require_aws
from hastack.dr.progress import LiveProgress, PlainProgress
from hastack.dr.runner import Options, RunResult
from hastack.errors import EXIT_REFUSED, UserError

dr_app = typer.Typer(help="Disaster recovery: scale the pilot-light DR region up to production, status, failback.",
                     no_args_is_help=True, add_completion=False)

#: Exit 1: refused, failed or not ready (user errors are `UserError`, exit 2).
EXIT_NOT_DONE = EXIT_REFUSED

STACK = typer.Option(..., "--stack", "-s", help="Stack whose DR region to act on (e.g. prod); must be the stack the "
                                               "outputs belong to.")
OUTPUTS = typer.Option(None, "--outputs", help="Stack outputs JSON (`pulumi stack output --json --show-secrets` or "
                                               "build/outputs-<stack>.json); default: ask the pulumi CLI.")
JSON_OUT = typer.Option(False, "--json", help="Print exactly one JSON document on stdout (progress goes to stderr).")
RESOLVER = typer.Option(None, "--dns-resolver", help="Resolver (ip[:port]) to verify DNS through; repeatable. "
                                                     "Default: dns.resolvers from the outputs, else the system's.")
YES = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")
BREAK_LOCK = typer.Option(False, "--break-lock", help="Take the DR lock although a live run holds it (only when you "
                                                      "know that run is dead: an expired lock is taken over anyway).")
REPORT = typer.Option(None, "--report", help="Also write the report as JSON to this file.")
POLL = typer.Option(15.0, "--poll-seconds", min=0.05, help="How often waits poll AWS and DNS.")


def consoles(json_out: bool) -> tuple[Console, Console]:
    """(where the human-readable output goes, where errors go): with --json both are stderr."""
    err = Console(stderr=True)
    return (err if json_out else Console()), err


def outputs_for(stack: str, path: Path | None) -> DrOutputs:
    """The outputs, refused (exit 2) when `--stack` is not the stack they belong to."""
    outputs = load_outputs(stack, path)  # an OutputsError is a UserError: the root command prints it, exit 2
    dep = getattr(outputs, "deployment", None)
    if dep is not None and dep.stack != stack:
        raise UserError(f"--stack {stack!r} disagrees with the outputs: they belong to stack {dep.stack!r} (deployment "
                        f"{dep.project}/{dep.stack}); pass --stack {dep.stack}")
    require_aws()  # no credentials, or an AWS_ENDPOINT_URL that does not answer: one line, exit 2
    return outputs


def parse_outage_start(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"--outage-start {value!r}: not a time; use ISO 8601 such as 2026-11-28T03:12:00Z") from None
    if moment.tzinfo is None:
        raise UserError(f"--outage-start {value!r}: give a time zone (e.g. a trailing Z for UTC)")
    if moment > dt.datetime.now(dt.UTC):
        raise UserError(f"--outage-start {value!r} is in the future")
    return moment.astimezone(dt.UTC)


def factory(deployment: Deployment) -> ClientFactory:
    return ClientFactory(deployment.bounds.call_timeout_seconds)


def _confirm(question: str, yes: bool, err: Console) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError("refusing to change anything without confirmation: stdin is not a terminal; "
                        "pass --yes to confirm")
    if not typer.confirm(question, default=False, err=True):
        err.print("aborted: nothing was changed")
        raise typer.Exit(EXIT_NOT_DONE)


def plan_table(title: str, rows: list[tuple[str, str, str, str, tuple[str, ...]]]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("#", "step", "branch", "what it does", "needs (plane:service@region)"):
        table.add_column(col, overflow="fold")
    for i, (name, _, branch, what, needs) in enumerate(rows, 1):
        table.add_row(str(i), name, branch, what, ", ".join(needs))
    return table


def _activate_instruction(outputs: DrOutputs, region: str, show: Console, err: Console) -> None:
    command = ["pulumi", "config", "set", "hastack:activeRegion", region, "-s", outputs.stack]
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        show.print("next: record it in the stack so the next `pulumi up` keeps it (see docs/dr.md):\n  "
                   + " ".join(command), highlight=False)
        return
    done = subprocess.run([pulumi, *command[1:]], capture_output=True, text=True, check=False, timeout=120)
    if done.returncode == 0:
        show.print(f"ran: {' '.join(command)}", highlight=False)
    else:
        err.print(f"could not run `{' '.join(command)}` ({done.stderr.strip()}): run it yourself", highlight=False)


def _run(run: Any, rows: list[Any], show: Console, json_out: bool) -> RunResult:
    clock = WallClock()
    run.clock = clock
    if json_out or not show.is_terminal:
        run.observer = PlainProgress(sys.stderr if json_out else sys.stdout)
        return run.run()
    with LiveProgress(show, clock.now, rows) as live:
        run.observer = live
        return run.run()


def _finish(result: RunResult, outputs: DrOutputs, active_region: str, report_file: Path | None, json_out: bool,
            show: Console, err: Console) -> None:
    """Report a run, tell how to record the new active region, exit 1 unless done."""
    budgets = {"rto": outputs.rto_budget_seconds, "rpo": outputs.rpo_budget_seconds}
    if report_file is not None:
        rpt.write_report(result, report_file, budgets)
    if json_out:
        rpt.print_report(result, show, budgets)
        print(json.dumps(rpt.as_json(result, budgets), indent=2))
    else:
        rpt.print_report(result, show, budgets)
        if report_file is not None:
            show.print(f"report: {report_file}", highlight=False)
    if not result.dry_run and result.ok and result.changed:
        _activate_instruction(outputs, active_region, show, err)
    if not result.ok:
        raise typer.Exit(EXIT_NOT_DONE)


@dr_app.command("scale-up")
def scale_up(
    stack: str = STACK,
    outputs_file: Path | None = OUTPUTS,
    yes: bool = YES,
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide every step, change nothing; exit 1 when the DR "
                                                          "region is not ready."),
    accept_data_loss: bool = typer.Option(False, "--accept-data-loss", help="Promote even when the estimated data "
                                          "loss is over the RPO budget, or unknown (no fresh lag evidence)."),
    accept_split_brain: bool = typer.Option(False, "--accept-split-brain", help="Promote even when no fence is "
                                            "possible (the lease table does not answer): the old writer may still "
                                            "accept writes that will be lost or conflict."),
    break_lock: bool = BREAK_LOCK,
    outage_start: str | None = typer.Option(None, "--outage-start", help="When the primary stopped (ISO 8601 with "
                                            "zone): the RTO is measured from it, and the data-loss estimate uses it. "
                                            "Default: the run start (labelled)."),
    resolvers: list[str] | None = RESOLVER,
    report_file: Path | None = REPORT,
    json_out: bool = JSON_OUT,
    poll_seconds: float = POLL,
) -> None:
    """Turn the pilot-light DR region into production: fence, promote, fail over, scale, cut over last."""
    options = Options(dry_run=dry_run, accept_data_loss=accept_data_loss, accept_split_brain=accept_split_brain,
                      break_lock=break_lock, poll_seconds=poll_seconds, outage_start=parse_outage_start(outage_start))
    _command("scale-up", stack, outputs_file, resolvers, options, yes, report_file, json_out)


@dr_app.command("status")
def status(stack: str = STACK, outputs_file: Path | None = OUTPUTS, resolvers: list[str] | None = RESOLVER,
           json_out: bool = JSON_OUT) -> None:
    """Where clients are sent, the lease, DB roles and lag evidence, node groups, cache, lock — within its bound."""
    outputs = outputs_for(stack, outputs_file)
    deployment = Deployment.of(outputs, tuple(resolvers) if resolvers else None)
    snapshot = st.collect(outputs, factory(deployment), deployment)
    if json_out:
        print(json.dumps(snapshot, indent=2, default=str))
    else:
        st.print_status(snapshot, Console())
    if snapshot["readCount"] == 0:
        Console(stderr=True).print(f"read nothing within {snapshot['timeoutSeconds']:g} s: every read was "
                                   "unreachable", highlight=False)
        raise typer.Exit(EXIT_NOT_DONE)


@dr_app.command("failback")
def failback(
    stack: str = STACK,
    outputs_file: Path | None = OUTPUTS,
    yes: bool = YES,
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide every step the real run takes; change nothing."),
    accept_data_loss: bool = typer.Option(False, "--accept-data-loss", help="Switch back even when the new replica "
                                          "is not shown caught up (writes not yet replayed are lost)."),
    accept_split_brain: bool = typer.Option(False, "--accept-split-brain", help="Go on when the DR writer cannot be "
                                            "fenced (the lease table does not answer)."),
    break_lock: bool = BREAK_LOCK,
    resolvers: list[str] | None = RESOLVER,
    report_file: Path | None = REPORT,
    json_out: bool = JSON_OUT,
    poll_seconds: float = POLL,
) -> None:
    """Re-protect the home region, fence the DR writer, switch back, wait out DNS, promote on fresh evidence."""
    options = Options(dry_run=dry_run, accept_data_loss=accept_data_loss, accept_split_brain=accept_split_brain,
                      break_lock=break_lock, poll_seconds=poll_seconds)
    _command("failback", stack, outputs_file, resolvers, options, yes, report_file, json_out)


def _command(name: str, stack: str, outputs_file: Path | None, resolvers: list[str] | None, options: Options,
             yes: bool, report_file: Path | None, json_out: bool) -> None:
    """What scale-up and failback share: outputs, plan shown, confirmation, the run, the report, the exit code."""
    outputs = outputs_for(stack, outputs_file)
    show, err = consoles(json_out)
    deployment = Deployment.of(outputs, tuple(resolvers) if resolvers else None)
    aws = factory(deployment)
    o, dry = outputs, options.dry_run
    note = aws.endpoint_note()
    if name == "scale-up":
        rows, target = su.rows(o, deployment), o.dr_region
        title = "plan"
        question = f"fail {deployment.identity} over to {o.dr_region}?"
        run: su.ScaleUp | fb.Failback = su.ScaleUp(o, aws, options=options, deployment=deployment)
    else:
        rows, target = fb.rows(o, deployment), o.primary_region
        title = f"failback plan: {o.dr_region} -> {o.primary_region}"
        question = (f"fail {deployment.identity} back to {o.primary_region} (re-protect, fence {o.dr_region}, switch "
                    "back)?")
        run = fb.Failback(o, aws, options=options, deployment=deployment)
    show.print(f"deployment {deployment.identity}: primary {o.primary_region}, DR {o.dr_region} (RPO budget "
               f"{o.rpo_budget_seconds:g} s, RTO budget {o.rto_budget_seconds:g} s; "
               f"{deployment.coordination.trade_off(o.primary_region)})", highlight=False)
    if note:
        show.print(note, highlight=False)
    show.print(plan_table(title + (" (dry run: nothing will change)" if dry else ""), rows))
    if not dry:
        _confirm(question, yes, err)
    result = _run(run, rows, show, json_out)
    _finish(result, o, target, report_file, json_out, show, err)
