"""The run report: per step its start, end, duration, result, sentence and the AWS it needed.

Why both a table and JSON: the operator reads the table at 3 a.m.; the post-mortem and the drill
history read the JSON (`--report FILE`, or `--json` on stdout — exactly one JSON document there).
Times are seconds from the run's start, on the run's clock (the simulated one in the RTO model).
The RTO runs from the outage start (`--outage-start`, else the run start: the report says which)
to the moment the record resolved to the DR region; the data loss is an *estimate* from the lag
history (issue 13 measures it against real replicated data).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hastack.dr import runner as r

STATUS_STYLE = {r.DONE: "green", r.ALREADY: "cyan", r.PLANNED: "blue", r.REFUSED: "bold red", r.FAILED: "bold red",
                r.GAVE_UP: "yellow", r.SKIPPED: "dim"}


def as_json(result: r.RunResult, budgets: dict[str, float] | None = None) -> dict[str, Any]:
    rep = result.report
    budgets = budgets or {}
    return {
        "command": result.command, "stack": result.stack, "deployment": result.deployment, "runId": result.run_id,
        "dryRun": result.dry_run, "ok": result.ok, "changed": result.changed, "startedAt": result.started_at,
        "summary": result.summary,
        "rtoSeconds": None if result.rto_seconds is None else round(result.rto_seconds, 3),
        "rtoFrom": result.outage_start_label, "rtoBudgetSeconds": budgets.get("rto"),
        "fence": rep.get("fence"),
        "rpoEstimateSeconds": rep.get("rpoEstimateSeconds"), "rpoEvidence": rep.get("rpoEvidence"),
        "rpoBudgetSeconds": budgets.get("rpo"),
        "totalSeconds": round(result.total_seconds, 3), "journal": result.journal_note,
        "steps": [{"name": s.name, "phase": s.phase, "branch": s.branch, "status": s.status, "sentence": s.sentence,
                   "needs": list(s.needs), "bestEffort": s.best_effort, "startSeconds": round(s.start, 3),
                   "endSeconds": round(s.end, 3), "durationSeconds": round(s.duration, 3)} for s in result.records],
    }


def write_report(result: r.RunResult, path: Path, budgets: dict[str, float] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(as_json(result, budgets), indent=2) + "\n")


def secs(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(value, 60)
    return f"{int(minutes)}m{seconds:04.1f}s" if minutes else f"{seconds:.1f}s"


def steps_table(result: r.RunResult) -> Table:
    table = Table(title=f"{result.command} --stack {result.stack}" + (" (dry run)" if result.dry_run else ""),
                  title_justify="left")
    for col in ("step", "branch", "start", "duration", "result", "needs"):
        table.add_column(col, no_wrap=col not in ("needs",))
    table.add_column("what happened", overflow="fold")
    for s in result.records:
        table.add_row(s.name, s.branch, secs(s.start), secs(s.duration), f"[{STATUS_STYLE.get(s.status, '')}]"
                      f"{s.status}[/]", ", ".join(s.needs), s.sentence)
    return table


def summary_lines(result: r.RunResult, budgets: dict[str, float] | None = None) -> list[str]:
    budgets = budgets or {}
    lines = [result.summary]
    fence = result.report.get("fence")
    if fence and not result.dry_run:
        lines.append(f"fence: {fence}")
    if result.rto_seconds is not None:
        budget = budgets.get("rto")
        verdict = "" if budget is None else (" (within" if result.rto_seconds <= budget else " (OVER") + \
            f" the {secs(budget)} budget)"
        lines.append(f"RTO: {secs(result.rto_seconds)} from {result.outage_start_label} to DNS answering the DR "
                     f"region{verdict}")
    if result.report.get("rpoEvidence") and not result.dry_run and result.record("promote-db") is not None:
        lines.append(f"RPO (estimate): {result.report['rpoEvidence']}")
    lines.append(f"total: {secs(result.total_seconds)}")
    if result.journal_note:
        lines.append(f"journal: {result.journal_note}")
    return lines


def print_report(result: r.RunResult, console: Console, budgets: dict[str, float] | None = None) -> None:
    """A table on a terminal; one aligned line per step elsewhere (logs must not wrap sentences)."""
    if console.is_terminal:
        console.print(steps_table(result))
    else:
        width = max(len(s.name) for s in result.records) if result.records else 10
        for s in result.records:
            console.print(f"{s.name:<{width}}  {s.branch:<8}  {secs(s.start):>8} {secs(s.duration):>8}  "
                          f"{s.status:<8} {s.sentence}", highlight=False, soft_wrap=True)
    for line in summary_lines(result, budgets):
        console.print(line, highlight=False, soft_wrap=True)
