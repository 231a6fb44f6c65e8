"""Component arguments: every bad one reported at once, before the component creates anything.

Each component's args dataclass states its rules in a pure `problems()` generator (tested without
the engine) and checks them on construction with `require_valid`, which raises one
`InvalidArgumentsError`: a `pulumi.InputPropertiesError` (the SDK's error for bad component
inputs: a message plus one `{property_path, reason}` per problem, what a component provider hands
to the engine as is) that is also a `pulumi.RunError`, so `pulumi up` prints it without a traceback.

The stack config is validated before any component sees a value (hastack/config.py), so these
errors mostly mean a wiring bug in the program; the few a user can reach (a stack name that makes
an invalid resource name) still name the argument, the bad value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pulumi


@dataclass(frozen=True)
class ArgProblem:
    """One bad argument: its property path (`services[1].node_port`), the value, what is allowed."""

    path: str
    value: Any
    allowed: str

    @property
    def reason(self) -> str:
        return f"{self.value!r} is invalid: {self.allowed}"


class InvalidArgumentsError(pulumi.InputPropertiesError, pulumi.RunError):
    """Every bad argument of one component, with its property path (see the module docstring)."""


def require_valid(args_type: str, problems: Iterable[ArgProblem]) -> None:
    """Raise every problem of `args_type`'s arguments at once (nothing when there is none)."""
    found = list(problems)
    if not found:
        return
    count = f"{len(found)} invalid argument{'s' if len(found) != 1 else ''}"
    lines = [f"{args_type}: {count}:", *(f"  - {p.path} = {p.reason}" for p in found)]
    raise InvalidArgumentsError("\n".join(lines), [{"property_path": p.path, "reason": p.reason} for p in found])
