"""`hastack policy`: run the policy pack on a plan file offline, over the engine's gRPC protocol.

    hastack policy check build/plan-prod.json          # table + verdict; exit 1 on a mandatory violation
    hastack policy check build/plan-prod.json --json   # the same as JSON
    hastack policy config --stack prod [--write]       # derive policies/config/prod.json from Pulumi.prod.yaml
    hastack policy list                                # the pack's rules

With the Pulumi CLI the same pack and config run as
`pulumi preview -s prod --policy-pack policies --policy-pack-config policies/config/prod.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from hastack.config import ConfigError
from hastack.errors import EXIT_REFUSED, UserError
from hastack.policy.config import (
    config_path,
    derive_policy_config,
    facts_for_stack,
    load_policy_config,
    mismatches,
    render_config,
)
from hastack.policy.runner import (
    POLICY_PACK_DIR,
    PolicyPackProcess,
    PolicyReport,
    PolicyRunnerError,
    load_plan,
)

policy_app = typer.Typer(help="Run the HA policy pack offline (same gRPC protocol as `pulumi preview "
                              "--policy-pack policies`).", no_args_is_help=True, add_completion=False)
EXIT_VIOLATIONS = EXIT_REFUSED


def _resolve_config(plan: dict[str, Any], explicit: Path | None, pack: PolicyPackProcess,
                    stack_config: Path | None) -> tuple[dict[str, Any], str]:
    """The policy config for a plan: --policy-config; else derived from --stack-config; else
    policies/config/<stack>.json. Checked against the plan's outputs so that a config written for
    another stack shape (other regions, DR mode) is refused."""
    stack = str(plan["stack"])
    if explicit is not None and stack_config is not None:
        raise UserError("--policy-config and --stack-config are alternatives: pass one of them")
    if stack_config is not None:
        try:
            config = derive_policy_config(facts_for_stack(stack, config_path=stack_config), pack.policies())
        except ConfigError as exc:
            raise UserError(f"{stack_config}: {exc.render()}") from None
        source = f"derived from {stack_config}"
    else:
        path = explicit or config_path(stack)
        if explicit is None and not path.is_file():
            raise UserError(f"no policy config for stack {stack!r}: {path} does not exist. Derive it with "
                  f"`hastack policy config --stack {stack} --write`, or pass --policy-config FILE.")
        try:
            config = load_policy_config(path)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        source = str(path)
    problems = mismatches(config, plan.get("outputs") or {})
    if problems:
        raise UserError(f"policy config ({source}) does not match the plan of stack {stack!r}: " + "; ".join(problems)
              + f". Regenerate it with `hastack policy config --stack {stack} --write`.")
    return config, source


def print_report(report: PolicyReport, console: Console) -> None:
    if report.violations:
        table = Table(title=f"policy violations — {report.pack} v{report.version}, stack {report.stack}",
                      title_justify="left", show_lines=True)
        table.add_column("policy", no_wrap=True)
        table.add_column("resource", overflow="fold")
        table.add_column("message", overflow="fold", ratio=3)
        table.add_column("level", no_wrap=True)
        for v in sorted(report.violations, key=lambda v: (v.enforcement_level != "mandatory", v.policy, v.urn)):
            level = f"[bold red]{v.enforcement_level}[/]" if v.enforcement_level == "mandatory" else v.enforcement_level
            table.add_row(v.policy, v.resource, v.message, level)
        console.print(table)
    style = "bold green" if report.passed else "bold red"
    console.print(f"[{style}]{report.verdict()}[/]", highlight=False)


@policy_app.command("check")
def check_command(
    plan_file: Path = typer.Argument(..., help="A plan written by `hastack plan` (build/plan-<stack>.json)."),
    policy_config: Path | None = typer.Option(None, "--policy-config", help="Policy config JSON (default: "
                                              "policies/config/<stack>.json, as --policy-pack-config)."),
    stack_config: Path | None = typer.Option(None, "--stack-config", help="Derive the policy config from this "
                                             "stack file (the --config the plan was rendered with)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    pack_dir: Path = typer.Option(POLICY_PACK_DIR, "--pack", help="The policy pack directory."),
) -> None:
    """Run the policy pack on a plan; exit 1 on any mandatory violation, 0 otherwise."""
    try:
        plan = load_plan(plan_file)
    except PolicyRunnerError as exc:
        raise UserError(str(exc)) from None
    try:
        with PolicyPackProcess(pack_dir, project=str(plan["project"]), stack=str(plan["stack"])) as pack:
            config, source = _resolve_config(plan, policy_config, pack, stack_config)
            report = pack.check(plan, config)
    except PolicyRunnerError as exc:
        raise UserError(str(exc)) from None
    if as_json:
        print(json.dumps({**report.to_json(), "policyConfig": source}, indent=2))
    else:
        print_report(report, Console(width=max(Console().width, 140)))
    raise typer.Exit(0 if report.passed else EXIT_VIOLATIONS)


@policy_app.command("config")
def config_command(
    stack: str = typer.Option("prod", "--stack", "-s", help="Stack whose Pulumi.<stack>.yaml to derive from."),
    write: bool = typer.Option(False, "--write", help="Write policies/config/<stack>.json instead of printing."),
    pack_dir: Path = typer.Option(POLICY_PACK_DIR, "--pack", help="The policy pack directory."),
) -> None:
    """Derive the stack's policy config (regions, DR mode, SLO, RTO) from Pulumi.<stack>.yaml."""
    try:
        facts = facts_for_stack(stack)
    except ConfigError as exc:
        raise UserError(f"stack {stack!r}: {exc.render()}") from None
    try:
        with PolicyPackProcess(pack_dir, stack=stack) as pack:
            config = derive_policy_config(facts, pack.policies())
    except PolicyRunnerError as exc:
        raise UserError(str(exc)) from None
    text = render_config(config)
    if write:
        path = config_path(stack, pack_dir / "config")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    else:
        print(text, end="")


@policy_app.command("list")
def list_command(pack_dir: Path = typer.Option(POLICY_PACK_DIR, "--pack", help="The policy pack directory.")) -> None:
    """List the pack's policies: name, kind, enforcement level, severity, description."""
    try:
        with PolicyPackProcess(pack_dir) as pack:
            policies = pack.policies()
    except PolicyRunnerError as exc:
        raise UserError(str(exc)) from None
    table = Table(title="hastack policy pack", title_justify="left")
    for col in ("policy", "kind", "level", "severity", "description"):
        table.add_column(col, overflow="fold")
    for p in policies:
        table.add_row(p.name, p.kind, p.enforcement_level, p.severity, p.description)
    Console(width=max(Console().width, 140)).print(table)
