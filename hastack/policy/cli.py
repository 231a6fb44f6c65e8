"""`hastack policy`: run the policy pack on a plan file offline, over the engine's gRPC protocol.

    hastack policy check build/plan-prod.json          # table + verdict; exit 1 on a mandatory violation
    hastack policy check build/plan-prod.json --json   # the same as JSON
    hastack policy config --stack prod [-o FILE]       # the policy config derived from Pulumi.prod.yaml
    hastack policy list                                # the pack's rules

`check` derives the policy config on every run from the stack file the plan was rendered from
(`Pulumi.<stack>.yaml`, or the plan's `--config`), so a config change (a failover's
`hastack:activeRegion`) never meets a stale copy. With the Pulumi CLI the same pack and config run as

    hastack policy config --stack prod --output build/policy-config-prod.json
    pulumi preview -s prod --policy-pack policies --policy-pack-config build/policy-config-prod.json
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
from hastack.files import output_file
from hastack.plan.render import stack_file
from hastack.policy.config import (
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


def _facts(stack: str, path: Path) -> dict[str, Any]:
    """What the policy config of `stack` is derived from, read from the stack file `path`."""
    try:
        return facts_for_stack(stack, config_path=path)
    except ConfigError as exc:
        raise UserError(f"{_shown(path)}: {exc.render()}") from None


def _resolve_config(plan: dict[str, Any], explicit: Path | None,
                    stack_config: Path | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str]:
    """Where the policy config of a plan comes from: (the --policy-config file's content, or None;
    the stack facts to derive it from, or None; a label). --policy-config is used as given; else the
    config is derived from --stack-config, else from the stack file the plan was rendered from
    (else Pulumi.<stack>.yaml)."""
    stack = str(plan["stack"])
    if explicit is not None and stack_config is not None:
        raise UserError("--policy-config and --stack-config are alternatives: pass one of them")
    if explicit is not None:
        try:
            return load_policy_config(explicit), None, str(explicit)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    path = stack_config or Path(plan.get("stackConfigFile") or stack_file(stack))
    return None, _facts(stack, path), f"derived from {_shown(path)}"


def _check_matches(plan: dict[str, Any], config: dict[str, Any], source: str, derived: bool) -> None:
    """Refuse a policy config made for another stack shape (other regions, DR mode) than the plan's."""
    problems = mismatches(config, plan.get("outputs") or {})
    if problems:
        fix = ("Pass the stack file the plan was rendered from with --stack-config, or render the plan again"
               if derived else "Write it again with `hastack policy config`")
        raise UserError(f"policy config ({source}) does not match the plan of stack {plan['stack']!r}: "
                        + "; ".join(problems) + f". {fix}.")


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


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
    policy_config: Path | None = typer.Option(None, "--policy-config", help="Use this policy config JSON as "
                                              "given (what --policy-pack-config gets) instead of deriving it."),
    stack_config: Path | None = typer.Option(None, "--stack-config", help="Derive the policy config from this "
                                             "stack file (default: the one the plan was rendered from)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    pack_dir: Path = typer.Option(POLICY_PACK_DIR, "--pack", help="The policy pack directory."),
) -> None:
    """Run the policy pack on a plan; exit 1 on any mandatory violation, 0 otherwise."""
    try:
        plan = load_plan(plan_file)
    except PolicyRunnerError as exc:
        raise UserError(str(exc)) from None
    given, facts, source = _resolve_config(plan, policy_config, stack_config)
    try:
        with PolicyPackProcess(pack_dir, project=str(plan["project"]), stack=str(plan["stack"])) as pack:
            config = given if facts is None else derive_policy_config(facts, pack.policies())
            _check_matches(plan, config, source, derived=facts is not None)
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
    config_file: Path | None = typer.Option(None, "--config", help="Derive from this stack file instead of "
                                            "Pulumi.<stack>.yaml (same shape)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the JSON to this file (for "
                                       "--policy-pack-config) instead of printing it."),
    pack_dir: Path = typer.Option(POLICY_PACK_DIR, "--pack", help="The policy pack directory."),
) -> None:
    """The stack's policy config (regions, DR mode, SLO, RTO), derived from Pulumi.<stack>.yaml."""
    path = config_file or stack_file(stack)
    facts = _facts(stack, path)
    try:
        with PolicyPackProcess(pack_dir, stack=stack) as pack:
            config = derive_policy_config(facts, pack.policies())
    except PolicyRunnerError as exc:
        raise UserError(str(exc)) from None
    text = render_config(config)
    if output is None:
        print(text, end="")
        return
    output_file(output, "--output").write_text(text)
    print(f"wrote {_shown(output)} (derived from {_shown(path)})")


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
