"""`hastack`: the operator's command line.

Sub-commands are grouped by concern (`plan`, `policy`, `dr`, `drill`, `local`); each group lives in
its package's `cli` module and is imported only when it runs (or shows its help): `hastack plan`
never loads the DR command or the local AWS (boto3, moto), and `hastack dr status` never loads the
Pulumi program's SDKs. Root `--help` lists every group, so it imports them all.

User mistakes (unknown stack, bad config, bad flags) are raised as `hastack.errors.UserError`
wherever they are found; the root group prints them as one line and exits 2, never a traceback
(and reads what escapes with `hastack.errors.as_user_error`: see hastack/errors.py).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, NamedTuple, NoReturn

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup
from typer.exceptions import TyperException

from hastack.errors import EXIT_INTERNAL, UserError, as_user_error

err = Console(stderr=True)


class Lazy(NamedTuple):
    """Where a sub-command lives: `module.attribute` (a `typer.Typer`), optionally one of its commands."""

    module: str
    attribute: str
    command: str | None = None

    def load(self, name: str) -> TyperCommand | TyperGroup:
        app = getattr(importlib.import_module(self.module), self.attribute)
        cmd = typer.main.get_command(app)
        if self.command is not None and isinstance(cmd, TyperGroup):
            return cmd.commands[self.command]
        cmd.name = name
        return cmd


class LazyGroup(TyperGroup):
    """A command group whose sub-commands are imported when they run, from the `LAZY` table."""

    lazy: dict[str, Lazy] = {}

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return [*self.lazy, *(name for name in super().list_commands(ctx) if name not in self.lazy)]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> TyperCommand | TyperGroup | None:
        if cmd_name in self.lazy:
            return self.lazy[cmd_name].load(cmd_name)
        return super().get_command(ctx, cmd_name)


class DrillCommands(LazyGroup):
    """`hastack drill ...`: the AWS drills (hastack/dr/drills.py) and the local regional drill."""

    lazy = {
        "db-failover": Lazy("hastack.dr.drills", "drill_app", "db-failover"),
        "cache-failover": Lazy("hastack.dr.drills", "drill_app", "cache-failover"),
        "region": Lazy("hastack.local.cli", "region_drill_app"),
    }


class Commands(LazyGroup):
    """The root group: lazy sub-commands; a `UserError` from any of them becomes one line and exit 2."""

    lazy = {
        "plan": Lazy("hastack.plan.cli", "plan_app"),
        "policy": Lazy("hastack.policy.cli", "policy_app"),
        "dr": Lazy("hastack.dr.cli", "dr_app"),
        "local": Lazy("hastack.local.cli", "local_app"),
    }  # `drill` (DrillCommands) is added below

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            _fail(exc)
        except BrokenPipeError:
            _reader_went_away()
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort,
                click.exceptions.ClickException, TyperException):
            # The commands' own exits, and usage errors (exit 2 with the usage): typer raises those of
            # the click it vendors (a value out of an option's range), which are not click's classes.
            raise
        except Exception as exc:
            # A mistake no command caught: the user's environment (a file, credentials, an endpoint)
            # is exit 2; anything else is a bug, one line and exit 70 (never 1: that means "violations").
            user = as_user_error(exc)
            if user is not None:
                _fail(user)
            if os.environ.get("HASTACK_TRACEBACK"):
                raise
            first = (str(exc).strip().splitlines() or [""])[0]
            err.print(f"[bold red]internal error[/] (a bug in hastack; HASTACK_TRACEBACK=1 shows where): "
                      f"{type(exc).__name__}: {escape(first)}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_INTERNAL) from None


#: A shell's exit status for a command killed by SIGPIPE (128 + 13): not 1, which means "refused".
EXIT_BROKEN_PIPE = 141


def _reader_went_away() -> NoReturn:
    """`hastack ... | head`: the reader closed the pipe. Not an error of ours: nothing more to print, and
    nothing at exit either (stdout is pointed at /dev/null so the interpreter's final flush stays quiet)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(EXIT_BROKEN_PIPE) from None


def _fail(exc: UserError) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=Commands,
    name="hastack",
    help="High-availability ML serving on AWS: offline plan, policy check, DR scale-up and drills.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
drill_group = typer.Typer(
    cls=DrillCommands,
    help="Practise failovers (timed, with a JSON report): db-failover, cache-failover (on AWS), region (local).",
    no_args_is_help=True,
)
app.add_typer(drill_group, name="drill")


def _stdout_is_devnull() -> bool:
    try:
        out, null = os.fstat(sys.stdout.fileno()), os.stat(os.devnull)
    except (OSError, ValueError):
        return False
    return (out.st_dev, out.st_ino, out.st_rdev) == (null.st_dev, null.st_ino, null.st_rdev)


def main() -> None:
    piped_to_devnull = _stdout_is_devnull()
    try:
        app()
    except SystemExit as exc:
        # rich (and typer's --help through it) answers a closed pipe by pointing stdout at /dev/null and
        # exiting 1, which here means "refused": a reader that went away is told apart by that redirect.
        if exc.code == 1 and not piped_to_devnull and _stdout_is_devnull():
            sys.exit(EXIT_BROKEN_PIPE)
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
