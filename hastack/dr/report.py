"""The run report: per step start, end, duration and result; the RTO achieved and the RPO paid.

Why both a table and JSON: the operator reads the table at 3 a.m.; the post-mortem and the drill
history read the JSON (`--report FILE`, or `--json` on stdout). Times are seconds from the run's
start, on the run's clock (the simulated one in the RTO model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hastack.dr import steps as s
from hastack.dr.orchestrator import RunResult
from hastack.timings import DNS_SETTLE_SECONDS

STATUS_STYLE = {s.DONE: "green", s.ALREADY: "cyan", s.PLANNED: "blue", s.REFUSED: "bold red",
                s.FAILED: "bold red", s.TIMED_OUT: "yellow", s.SKIPPED: "dim"}


def as_json(result: RunResult) -> dict[str, Any]:
    rto = result.rto_seconds
    return {
        "command": result.command, "stack": result.stack, "dryRun": result.dry_run, "ok": result.ok,
        "changed": result.changed, "startedAt": result.started_at, "summary": result.summary,
        "rtoSeconds": None if rto is None else round(rto, 3), "rtoBudgetSeconds": result.rto_budget_seconds,
        "clientVisibleRtoSeconds": None if rto is None else round(rto + DNS_SETTLE_SECONDS, 3),
        "rpoPaidSeconds": result.lag_at_promotion, "rpoBudgetSeconds": result.rpo_budget_seconds,
        "totalSeconds": round(result.total_seconds, 3), "journal": result.journal_note,
        "steps": [{"name": r.name, "branch": r.branch, "status": r.status, "sentence": r.sentence,
                   "startSeconds": round(r.start, 3), "endSeconds": round(r.end, 3),
                   "durationSeconds": round(r.duration, 3)} for r in result.records],
    }


def write_report(result: RunResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(as_json(result), indent=2) + "\n")


def _secs(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(value, 60)
    return f"{int(minutes)}m{seconds:04.1f}s" if minutes else f"{seconds:.1f}s"


def steps_table(result: RunResult) -> Table:
    table = Table(title=f"{result.command} --stack {result.stack}" + (" (dry run)" if result.dry_run else ""),
                  title_justify="left")
    for col in ("step", "branch", "start", "end", "duration", "result"):
        table.add_column(col, no_wrap=col != "result")
    table.add_column("what happened", overflow="fold")
    for r in result.records:
        table.add_row(r.name, r.branch, _secs(r.start), _secs(r.end), _secs(r.duration),
                      f"[{STATUS_STYLE.get(r.status, '')}]{r.status}[/]", r.sentence)
    return table


def summary_lines(result: RunResult) -> list[str]:
    lines = [result.summary]
    if result.rto_seconds is not None and result.changed:
        budget = result.rto_budget_seconds
        verdict = "within" if result.rto_seconds + DNS_SETTLE_SECONDS <= budget else "OVER"
        lines.append(f"RTO: {_secs(result.rto_seconds)} to DNS switched; clients follow within "
                     f"{_secs(result.rto_seconds + DNS_SETTLE_SECONDS)} ({verdict} the {_secs(budget)} budget)")
    promoted = result.record("promote-db")
    if promoted is not None and promoted.status == s.DONE:
        lag = result.lag_at_promotion
        lines.append(f"RPO paid: replica lag at promotion {'unknown' if lag is None else _secs(lag)} "
                     f"(budget {_secs(result.rpo_budget_seconds)})")
    lines.append(f"total: {_secs(result.total_seconds)}")
    if result.journal_note:
        lines.append(f"journal: {result.journal_note}")
    return lines


def print_report(result: RunResult, console: Console) -> None:
    """A table on a terminal; one aligned line per step elsewhere (logs must not wrap sentences)."""
    if console.is_terminal:
        console.print(steps_table(result))
    else:
        width = max(len(r.name) for r in result.records) if result.records else 10
        for r in result.records:
            console.print(f"{r.name:<{width}}  {r.branch:<8}  {_secs(r.start):>8} -> {_secs(r.end):>8}  "
                          f"{_secs(r.duration):>8}  {r.status:<9} {r.sentence}", highlight=False, soft_wrap=True)
    for line in summary_lines(result):
        console.print(line, highlight=False, soft_wrap=True)
