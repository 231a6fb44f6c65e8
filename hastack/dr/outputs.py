"""The stack outputs as the DR command reads them — and nothing else.

Why only outputs: during a regional outage the operator may have no working `pulumi` state
backend, no repository checkout and no access to the primary region. The outputs (exported by
`__main__.py`, contract in `hastack/outputs.py`) name every resource the command touches, so a
JSON file saved from `pulumi stack output --json --show-secrets` — or `build/outputs-<stack>.json`
from `make plan` — is all it needs.

The file is validated against the same `StackOutputs` model the program exports: every missing or
malformed key is reported at once, one line each, as an `OutputsError` (a `UserError`: exit 2).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr

from hastack.files import read_text
from hastack.outputs import OutputsError, StackOutputs, validate_outputs

__all__ = ["DrOutputs", "OutputsError", "load_outputs", "parse_outputs", "read_outputs_file",
           "read_outputs_from_pulumi"]


class DrOutputs(StackOutputs):
    """`StackOutputs` plus the name of the stack they belong to (given with `--stack`)."""

    _stack: str = PrivateAttr(default="")

    @property
    def stack(self) -> str:
        return self._stack


def parse_outputs(raw: Any, stack: str) -> DrOutputs:
    """Validate `raw` (the JSON of `pulumi stack output --json`) against the contract."""
    outputs = validate_outputs(raw, f"stack {stack!r}", DrOutputs)
    outputs._stack = stack
    return outputs


def read_outputs_file(path: Path, stack: str) -> DrOutputs:
    """Outputs from a JSON file (what `pulumi stack output --json --show-secrets` prints)."""
    if not path.exists():
        raise OutputsError(f"--outputs {path}: no such file (run `make plan STACK={stack}` to write "
                           f"build/outputs-{stack}.json, or save `pulumi stack output --json --show-secrets "
                           f"-s {stack}`)")
    try:
        raw = json.loads(read_text(path, "--outputs"))  # a UserError for a directory or bytes not UTF-8
    except json.JSONDecodeError as exc:
        raise OutputsError(f"--outputs {path}: not valid JSON ({exc})") from None
    return parse_outputs(raw, stack)


def read_outputs_from_pulumi(stack: str, pulumi: str = "pulumi") -> DrOutputs:
    """Outputs straight from the Pulumi CLI; a clear error for an unknown stack."""
    try:
        done = subprocess.run([pulumi, "stack", "output", "--json", "--show-secrets", "-s", stack],
                              capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OutputsError(f"could not run `pulumi stack output` for stack {stack!r}: {exc}") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise OutputsError(f"`pulumi stack output -s {stack}` failed (unknown stack?): "
                           f"{detail[-1] if detail else 'exit ' + str(done.returncode)}")
    try:
        raw = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise OutputsError(f"`pulumi stack output -s {stack}` did not print JSON ({exc})") from None
    return parse_outputs(raw, stack)


def load_outputs(stack: str, path: Path | None) -> DrOutputs:
    """`--outputs FILE` when given, else the Pulumi CLI when installed, else a clear error."""
    if path is not None:
        return read_outputs_file(path, stack)
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise OutputsError(f"the pulumi CLI is not installed: pass --outputs FILE (e.g. build/outputs-{stack}.json "
                           f"from `make plan STACK={stack}`, or a saved `pulumi stack output --json --show-secrets`)")
    return read_outputs_from_pulumi(stack, pulumi)
