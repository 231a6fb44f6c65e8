"""`hastack plan`: render the real Pulumi program offline and write the plan, outputs, manifests, FMEA."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from hastack.config import ConfigError
from hastack.errors import UserError
from hastack.files import output_dir
from hastack.paths import BUILD_DIR
from hastack.plan.fmea import write_fmea
from hastack.plan.render import render, write_plan
from hastack.plan.summary import print_summary
from hastack.policy.config import facts_for_stack

plan_app = typer.Typer(add_completion=False)


@plan_app.command("plan")
def plan_command(
    stack: str = typer.Option("prod", "--stack", "-s", help="Stack to render (reads Pulumi.<stack>.yaml)."),
    config_file: Path | None = typer.Option(None, "--config", help="Render this stack file instead of "
                                            "Pulumi.<stack>.yaml (same shape)."),
    build_dir: Path = typer.Option(BUILD_DIR, "--build-dir", help="Where plan files are written."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Write the files, print only their paths."),
) -> None:
    """Render the real Pulumi program offline (mock runtime) and write build/plan-<stack>.json."""
    output_dir(build_dir, "--build-dir")  # refused before the render's seconds are spent
    try:
        plan = render(stack, config_path=config_file)
    except ConfigError as exc:
        raise UserError(f"stack {stack!r}: {exc.render()}") from None
    for line in plan.warnings:  # what `pulumi up` would show as warnings (config_warnings)
        typer.echo(f"warning: {line}", err=True)
    paths = write_plan(plan, build_dir)
    if not quiet:
        print_summary(plan)
    # The availability model and FMEA table (policies/availability.py) of what was just rendered.
    paths.update(write_fmea(plan.to_json(), facts_for_stack(stack, config_path=config_file), build_dir,
                            None if quiet else Console()))
    for label, path in paths.items():
        print(f"wrote {label}: {_rel(path)}")


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
