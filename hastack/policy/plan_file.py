"""The plan file's contract (`build/plan-<stack>.json`, written by `hastack plan`), checked before the pack runs.

`hastack policy check` takes any file a user names. The runner turns each resource into the gRPC
requests the engine would send, so a resource without `type`, with `inputs` that are not an object,
or a list where the plan should be, would fail deep inside it; checked here, each such file is one
line naming the file and the first problems (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from hastack.errors import UserError
from hastack.files import read_json
from hastack.validation import Kind, problem_lines

Properties = Annotated[dict[str, Any], Kind("properties", "an object of property name -> value")]

#: How many problems one error line names (the rest are counted).
SHOWN = 3


class _Contract(BaseModel):
    """camelCase keys as in the file; other keys kept (a newer plan may carry more)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class PlanResource(_Contract):
    urn: str = Field(min_length=1)
    type: str = Field(min_length=1)
    name: str
    id: str | None = None
    parent: str | None = None
    provider: str | None = None
    dependencies: list[str] = []
    custom: bool = False
    region: str | None = None
    home_region: str | None = None
    inputs: Properties = {}
    outputs: Properties = {}
    ignore_changes: list[str] = []
    protect: bool = False
    retain_on_delete: bool = False
    property_dependencies: Annotated[dict[str, list[str]],
                                     Kind("dependencies", "an object of input name -> list of URNs")] = {}


class PlanFile(_Contract):
    project: str = "hastack"
    stack: str = Field(min_length=1)
    stack_config_file: str | None = None
    resources: Annotated[list[Annotated[PlanResource, Kind("resource", "an object with at least urn, type and name")]],
                         Kind("resources", "a list of resources, each an object with at least urn, type and name")]
    outputs: Properties = {}


def read_plan(path: Path) -> dict[str, Any]:
    """The plan in `path` as the runner reads it (a dict), once it follows the contract; else `UserError`."""
    if not Path(path).exists():
        raise UserError(f"plan file {path}: does not exist (run `make plan` or `hastack plan` first)")
    data = read_json(path, "plan file")
    if not isinstance(data, dict):
        raise UserError(f"plan file {path}: not a hastack plan (a JSON object with stack, resources and outputs, "
                        f"not a {type(data).__name__}); write one with `hastack plan`")
    try:
        PlanFile.model_validate(data)
    except ValidationError as exc:
        lines = problem_lines(PlanFile, exc)
        more = f" (and {len(lines) - SHOWN} more)" if len(lines) > SHOWN else ""
        raise UserError(f"plan file {path}: not a hastack plan: {'; '.join(lines[:SHOWN])}{more}") from None
    data.setdefault("project", "hastack")
    data.setdefault("outputs", {})
    return data
