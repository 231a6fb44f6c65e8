"""`hastack dr scale-up | status | failback`: the operator's side of the DR command.

Patroni's ctl manners: show the plan and the world first, ask before changing anything (unless
`--yes`), refuse to guess when nobody can be asked (no TTY, no `--yes`), `--dry-run` records every
step without acting, a JSON report on request, non-zero exit on any refusal or failure, and user
mistakes as one clear line without a traceback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from hastack.dr import failback as fb
from hastack.dr import report as rpt
from hastack.dr import status as st
from hastack.dr import steps as s
from hastack.dr.aws import factory_for
from hastack.dr.clock import WallClock
from hastack.dr.journal import Journal
from hastack.dr.orchestrator import RunResult, ScaleUp, plan_rows
from hastack.dr.outputs import DrOutputs, load_outputs
from hastack.dr.preflight import require_aws
from hastack.dr.progress import LiveProgress, NullProgress, PlainProgress
from hastack.errors import EXIT_REFUSED, UserError

dr_app = typer.Typer(help="Disaster recovery: scale the pilot-light DR region up to production, status, failback.",
                     no_args_is_help=True, add_completion=False)
out = Console()
err = Console(stderr=True)

#: Exit 1: refused, failed or not ready (user errors are `UserError`, exit 2).
EXIT_NOT_DONE = EXIT_REFUSED

STACK = typer.Option(..., "--stack", "-s", help="Stack whose DR region to act on (e.g. prod).")
OUTPUTS = typer.Option(None, "--outputs", help="Stack outputs JSON (`pulumi stack output --json --show-secrets` or "
                                               "build/outputs-<stack>.json); default: ask the pulumi CLI.")
JSON_OUT = typer.Option(False, "--json", help="Print the report as JSON on stdout (no live display).")


def _outputs(stack: str, path: Path | None) -> DrOutputs:
    outputs = load_outputs(stack, path)  # an OutputsError is a UserError: the root command prints it, exit 2
    require_aws()  # no credentials, or an AWS_ENDPOINT_URL that does not answer: one line, exit 2
    return outputs


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError("refusing to change anything without confirmation: stdin is not a terminal; "
                        "pass --yes to confirm")
    if not typer.confirm(question, default=False):
        err.print("aborted: nothing was changed")
        raise typer.Exit(EXIT_NOT_DONE)


def _plan_table(title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("#", "step", "branch", "what it does"):
        table.add_column(col)
    for i, (name, branch, what) in enumerate(plan_rows(), 1):
        table.add_row(str(i), name, branch, what)
    return table


def _checks_table(checks: list[s.Check]) -> Table:
    table = Table(title="readiness", title_justify="left")
    for col in ("check", "ok", "detail"):
        table.add_column(col, overflow="fold")
    for c in checks:
        table.add_row(c.name, "[green]yes[/]" if c.ok else "[bold red]NO[/]", c.detail)
    return table


def _activate_instruction(outputs: DrOutputs, region: str) -> None:
    command = ["pulumi", "config", "set", "hastack:activeRegion", region, "-s", outputs.stack]
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        out.print("next: record the failover in the stack so the next `pulumi up` keeps it (see docs/dr.md):\n  "
                  + " ".join(command), highlight=False)
        return
    done = subprocess.run([pulumi, *command[1:]], capture_output=True, text=True, check=False)
    if done.returncode == 0:
        out.print(f"ran: {' '.join(command)}", highlight=False)
    else:
        err.print(f"could not run `{' '.join(command)}` ({done.stderr.strip()}): run it yourself", highlight=False)


@dr_app.command("scale-up")
def scale_up(
    stack: str = STACK,
    outputs_file: Path | None = OUTPUTS,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan, run the read-only checks, change nothing; "
                                                          "exit 1 when the DR region is not ready."),
    accept_data_loss: bool = typer.Option(False, "--accept-data-loss", help="Promote even when the replica lag is "
                                                                            "over the RPO budget (or unknown)."),
    break_lock: bool = typer.Option(False, "--break-lock", help="Take the DR lock even though another run holds it."),
    report_file: Path | None = typer.Option(None, "--report", help="Also write the report as JSON to this file."),
    json_out: bool = JSON_OUT,
    poll_seconds: int = typer.Option(15, "--poll-seconds", min=1, help="How often waits poll AWS."),
) -> None:
    """Turn the pilot-light DR region into production: fence, promote, fail over, scale, switch DNS."""
    outputs = _outputs(stack, outputs_file)
    aws = factory_for(outputs.dr_timeouts.fence_timeout_seconds, outputs.dr_timeouts.wait_timeout_seconds)
    show = err if json_out else out
    if not json_out:
        show.print(f"stack {stack}: primary {outputs.primary_region} -> DR {outputs.dr_region} "
                   f"(RPO budget {outputs.rpo_budget_seconds:.0f} s, RTO budget {outputs.rto_budget_seconds:.0f} s)",
                   highlight=False)
        note = aws.endpoint_note()
        if note:
            show.print(note, highlight=False)
        show.print(_plan_table("plan" + (" (dry run: nothing will change)" if dry_run else "")))
        ctx = s.RunContext(outputs, aws, WallClock(), Journal(read_only=True), dry_run=True,
                           accept_data_loss=accept_data_loss)
        show.print(_checks_table(s.readiness_checks(ctx)))
    if not dry_run:
        _confirm(f"fail stack {stack} over to {outputs.dr_region}?", yes)

    clock = WallClock()
    run = ScaleUp(outputs, aws, clock=clock, dry_run=dry_run, accept_data_loss=accept_data_loss,
                  break_lock=break_lock, poll_seconds=poll_seconds)
    if json_out:
        run.observer = NullProgress()
        result = run.run()
    elif out.is_terminal:
        with LiveProgress(out, clock.now) as live:
            run.observer = live
            result = run.run()
    else:
        run.observer = PlainProgress(sys.stdout)
        result = run.run()

    _finish(result, outputs, outputs.dr_region, report_file, json_out, dry_run)


def _finish(result: RunResult, outputs: DrOutputs, active_region: str, report_file: Path | None,
            json_out: bool, dry_run: bool) -> None:
    """Report a scale-up or failback run, tell how to record the new active region, exit 1 unless done."""
    if report_file is not None:
        rpt.write_report(result, report_file)
    if json_out:
        print(json.dumps(rpt.as_json(result), indent=2))
    else:
        rpt.print_report(result, out)
        if report_file is not None:
            out.print(f"report: {report_file}", highlight=False)
    if not dry_run and result.ok:
        _activate_instruction(outputs, active_region)
    if not result.ok:
        raise typer.Exit(EXIT_NOT_DONE)


@dr_app.command("status")
def status(stack: str = STACK, outputs_file: Path | None = OUTPUTS, json_out: bool = JSON_OUT) -> None:
    """Where traffic goes, replica lag, DB role per region, node-group sizes, cache primary, lock holder."""
    outputs = _outputs(stack, outputs_file)
    aws = factory_for(outputs.dr_timeouts.fence_timeout_seconds, outputs.dr_timeouts.wait_timeout_seconds)
    snapshot = st.collect(outputs, aws)
    if json_out:
        print(json.dumps(snapshot, indent=2, default=str))
    else:
        st.print_status(snapshot, out)


@dr_app.command("failback")
def failback(
    stack: str = STACK,
    outputs_file: Path | None = OUTPUTS,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan and the checks; change nothing."),
    accept_data_loss: bool = typer.Option(False, "--accept-data-loss", help="Switch back even when the new "
                                                                            "replica's lag is not 0 (or unknown)."),
    break_lock: bool = typer.Option(False, "--break-lock", help="Take the DR lock even though another run holds it."),
    report_file: Path | None = typer.Option(None, "--report", help="Also write the report as JSON to this file."),
    json_out: bool = JSON_OUT,
    poll_seconds: int = typer.Option(15, "--poll-seconds", min=1, help="How often waits poll AWS."),
) -> None:
    """Re-protect the old primary region (replica under the original identifier), then switch back with no loss."""
    outputs = _outputs(stack, outputs_file)
    aws = factory_for(outputs.dr_timeouts.fence_timeout_seconds, outputs.dr_timeouts.wait_timeout_seconds)
    plan = fb.FailbackPlan(outputs)
    if not json_out:
        out.print(fb.plan_table(plan))
    if not dry_run:
        _confirm(f"fail stack {stack} back to {plan.home} (re-protect, then switch back from {plan.writer_region})?",
                 yes)
    run = fb.Failback(plan, aws, dry_run=dry_run, break_lock=break_lock, accept_data_loss=accept_data_loss,
                      poll_seconds=poll_seconds, observer=NullProgress() if json_out else PlainProgress(sys.stdout))
    result = run.run()
    _finish(result, outputs, plan.home, report_file, json_out, dry_run)
