"""`hastack`: the operator's command line.

Sub-commands are grouped by concern (`plan`, `policy`, `dr`, `drill`, `local`); each group lives
in its own module and registers itself here. User mistakes (unknown stack, bad config, bad
flags) end with a clear message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from hastack.config import ConfigError
from hastack.dr.cli import dr_app
from hastack.dr.drills import drill_app
from hastack.errors import UserError
from hastack.local.cli import local_app
from hastack.paths import REPO_ROOT
from hastack.plan.fmea import write_fmea
from hastack.plan.render import PlanError, render, write_plan
from hastack.plan.summary import print_summary
from hastack.policy.cli import policy_app
from hastack.policy.config import facts_for_stack


class _Commands(TyperGroup):
    """The root command group: a `UserError` from any sub-command becomes one line and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_Commands,
    name="hastack",
    help="High-availability ML serving on AWS: offline plan, policy check, DR scale-up and drills.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """High-availability ML serving on AWS: offline plan, policy check, DR scale-up and drills."""

#: Exit codes shared by every sub-command.
EXIT_USER_ERROR = 2


def fail(message: str, code: int = EXIT_USER_ERROR) -> None:
    """Print a user-facing error (no traceback) and exit non-zero."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command("plan")
def plan_command(
    stack: str = typer.Option("prod", "--stack", "-s", help="Stack to render (reads Pulumi.<stack>.yaml)."),
    config_file: Path | None = typer.Option(None, "--config", help="Render this stack file instead of "
                                            "Pulumi.<stack>.yaml (same shape)."),
    build_dir: Path = typer.Option(REPO_ROOT / "build", "--build-dir", help="Where plan files are written."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Write the files, print only their paths."),
) -> None:
    """Render the real Pulumi program offline (mock runtime) and write build/plan-<stack>.json."""
    try:
        plan = render(stack, config_path=config_file)
    except ConfigError as exc:
        fail(f"stack {stack!r}: {exc.render()}")
    except PlanError as exc:
        fail(str(exc))
    paths = write_plan(plan, build_dir)
    if not quiet:
        print_summary(plan)
    # The availability model and FMEA table (policies/availability.py) of what was just rendered.
    paths.update(write_fmea(plan.to_json(), facts_for_stack(stack, config_path=config_file), build_dir,
                            None if quiet else Console()))
    for label, path in paths.items():
        print(f"wrote {label}: {_rel(path)}")


# Drills: `hastack drill db-failover|cache-failover` (hastack/dr/drills.py); other modules add commands to
# the same group (e.g. `hastack drill region`).
app.add_typer(drill_app, name="drill")
app.add_typer(dr_app, name="dr")
app.add_typer(policy_app, name="policy")
# `hastack local up|down` and `hastack drill region` (hastack/local/cli.py adds it to drill_app).
app.add_typer(local_app, name="local")


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
