"""The offline plan: the real Pulumi program run under Pulumi's mock runtime.

There is no cloud and no Pulumi CLI here, so `make plan` runs `__main__.py` exactly as the
engine would — same config, same resource registrations — with `pulumi.runtime.set_mocks`
standing in for the engine and the providers.  A recording monitor keeps what the engine would
see for every resource (type, name, parent, provider, dependencies, inputs) and what the mocks
answered (id, outputs); that record is the plan every test, the policy pack and the DR command
stand on.

Secrets never reach the plan: any value the program marked secret is written as "[secret]".
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import runpy
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from hastack.config import ConfigError
from hastack.errors import UserError
from hastack.files import read_text
from hastack.paths import REPO_ROOT
from hastack.plan import mock_values

PROJECT = "hastack"
SECRET = "[secret]"

# Signatures the Pulumi RPC layer uses inside property structs.
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


class PlanError(UserError):
    """The plan could not be rendered for a reason the user can fix (missing stack file, ...)."""


# ---------------------------------------------------------------------------------------------
# Stack config files
# ---------------------------------------------------------------------------------------------


def stack_file(stack: str, root: Path = REPO_ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def available_stacks(root: Path = REPO_ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def read_stack_config(stack: str, root: Path = REPO_ROOT, path: Path | None = None) -> dict[str, Any]:
    """The `config:` map of `Pulumi.<stack>.yaml` (or of `path`), values as YAML parsed them."""
    if path is None or Path(path) == stack_file(stack, root):
        path = stack_file(stack, root)
        if not path.exists():
            known = ", ".join(available_stacks(root)) or "none"
            raise PlanError(f"unknown stack {stack!r}: {path} does not exist (stacks here: {known})")
    text = read_text(path, "stack file")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise PlanError(f"stack file {path}: not valid YAML ({_yaml_problem(exc)})") from None
    config = data.get("config") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        raise PlanError(f"{path}: expected a top-level 'config:' map")
    for key in config:
        if ":" not in str(key):
            raise PlanError(f"{path}: config key {key!r} has no namespace (write hastack:{key})")
    return config


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: what and where (PyYAML's own text spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem} at line {mark.line + 1} column {mark.column + 1}" if mark is not None else problem


def engine_config(config: dict[str, Any]) -> dict[str, str]:
    """Config as the engine hands it to a program: scalars as text, objects and lists as JSON."""
    out: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, (dict, list)):
            out[key] = json.dumps(value)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


# ---------------------------------------------------------------------------------------------
# Recording the engine's view
# ---------------------------------------------------------------------------------------------


def _plain(value: Any, secret_paths: list[str] | None = None, path: str = "") -> Any:
    """A struct value with Pulumi's special objects turned into plain JSON (secrets redacted)."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            if secret_paths is not None:
                secret_paths.append(path)
            return SECRET
        if sig == _RESOURCE_SIG:
            return value.get("urn")
        if sig == _OUTPUT_SIG:
            if value.get("secret"):
                if secret_paths is not None:
                    secret_paths.append(path)
                return SECRET
            return _plain(value.get("value"), secret_paths, path)
        return {k: _plain(v, secret_paths, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, secret_paths, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        # Protobuf carries every number as a double; the engine's JSON (`pulumi stack output
        # --json`) prints whole numbers as integers, and boto3 rejects 2.0 where it wants 2.
        return int(value)
    return value


def _struct_to_plain(struct: Any, secret_paths: list[str] | None = None) -> dict[str, Any]:
    return _plain(json_format.MessageToDict(struct, preserving_proto_field_name=True), secret_paths)


def _redact(value: Any, secret_paths: list[str]) -> Any:
    """Replace, in the mocks' outputs, every top-level property that was a secret input."""
    if not secret_paths or not isinstance(value, dict):
        return value
    top = {p.split(".")[0].split("[")[0] for p in secret_paths}
    return {k: (SECRET if k in top else v) for k, v in value.items()}


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    providers: dict[str, str]
    dependencies: list[str]
    custom: bool
    inputs: dict[str, Any]
    id: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    region: str | None = None
    ignore_changes: list[str] = field(default_factory=list)
    protect: bool = False
    retain_on_delete: bool = False
    #: input name -> URNs its value came from (what the engine hands AnalyzeStack as propertyDependencies).
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)


class PlanMocks(pulumi.runtime.Mocks):
    """Answers the program's resources and invokes with realistic, deterministic AWS values."""

    def __init__(self, default_region: str) -> None:
        self.default_region = default_region
        self.provider_regions: dict[str, str] = {}  # provider resource id -> region

    def region_of(self, provider_ref: str | None) -> str:
        if provider_ref:
            pid = provider_ref.split("::")[-1]
            if pid in self.provider_regions:
                return self.provider_regions[pid]
        return self.default_region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        if args.typ == "pulumi:providers:aws":
            pid = f"{args.inputs.get('region', self.default_region)}-{mock_values.digest(args.name, length=8)}"
            self.provider_regions[pid] = args.inputs.get("region", self.default_region)
            return pid, dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-{mock_values.digest(args.typ, args.name, length=8)}", dict(args.inputs)
        region = self.region_of(args.provider) if args.typ.startswith("aws:") else None
        rid = mock_values.resource_id(args.typ, args.name)
        return rid, mock_values.resource_outputs(args.typ, args.name, region, args.inputs, rid)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
        region = self.region_of(args.provider)
        try:
            return mock_values.invoke_result(args.token, args.args, region), []
        except KeyError:
            raise NotImplementedError(
                f"the offline plan does not model the invoke {args.token}; add it to hastack/plan/mock_values.py"
            ) from None


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, keeping everything the engine would know about each registration."""

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        self.plan_mocks = mocks
        self.registrations: list[Registration] = []
        self.stack_outputs: dict[str, Any] = {}
        self.stack_urn: str | None = None

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            self.stack_urn = response.urn
            return response
        secret_paths: list[str] = []
        inputs = _struct_to_plain(request.object, secret_paths)
        # Outputs the provider declares secret (e.g. a RandomPassword's `result`) are secret in the
        # engine's state even though the program never wrapped them: redact them too.
        outputs = _redact(_struct_to_plain(response.object),
                          [*secret_paths, *getattr(request, "additionalSecretOutputs", [])])
        region: str | None = None
        if request.type == "pulumi:providers:aws":
            region = inputs.get("region")
        elif request.type.startswith("aws:"):
            region = self.plan_mocks.region_of(request.provider)
        self.registrations.append(Registration(
            urn=response.urn, type=request.type, name=request.name, parent=request.parent or None,
            provider=request.provider or None, providers=dict(request.providers),
            dependencies=list(request.dependencies), custom=bool(request.custom), inputs=inputs,
            id=response.id or None, outputs=outputs, region=region, ignore_changes=list(request.ignoreChanges),
            protect=bool(request.protect), retain_on_delete=bool(request.retainOnDelete),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items() if v.urns},
        ))
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.urn == self.stack_urn or request.urn.split("::")[-2].endswith("pulumi:pulumi:Stack"):
            self.stack_outputs = _struct_to_plain(request.outputs)
        return super().RegisterResourceOutputs(request)


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


@dataclass
class Plan:
    project: str
    stack: str
    resources: list[dict[str, Any]]
    outputs: dict[str, Any]
    #: The stack file the config was read from (None: a config given in memory). `hastack policy
    #: check` derives the policy config from the same file, so a plan and its check never disagree.
    config_file: str | None = None
    #: What the program logged as warnings (`pulumi.log.warn`: config warnings); not part of the plan file.
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "stack": self.stack, "stackConfigFile": self.config_file,
                "resources": self.resources, "outputs": self.outputs}

    def of_type(self, typ: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == typ]

    def by_urn(self) -> dict[str, dict[str, Any]]:
        return {r["urn"]: r for r in self.resources}


def _home_regions(regs: list[Registration], provider_regions: dict[str, str]) -> dict[str, str | None]:
    """For every resource, the AWS region it lives in: its own provider's, else its nearest ancestor's."""
    by_urn = {r.urn: r for r in regs}
    urn_by_provider_id = {r.id: r.urn for r in regs if r.type == "pulumi:providers:aws"}
    cache: dict[str, str | None] = {}

    def own(r: Registration) -> str | None:
        if r.region:
            return r.region
        ref = r.providers.get("aws")
        if ref:
            return provider_regions.get(ref.split("::")[-1])
        return None

    def home(urn: str | None) -> str | None:
        if urn is None or urn not in by_urn:
            return None
        if urn not in cache:
            r = by_urn[urn]
            cache[urn] = own(r) or home(r.parent)
        return cache[urn]

    del urn_by_provider_id
    return {r.urn: home(r.urn) for r in regs}


class _Warnings(logging.Handler):
    """Keeps what the program logs as warnings (the mock engine's `Log` writes to a logger)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def _own_event_loop() -> Iterator[None]:
    """Run the program on an event loop of its own, closed with whatever it left pending.

    A program that fails inside an `apply` leaves other applies and registrations scheduled, and the
    SDK's process-wide set of outstanding outputs (`SETTINGS.outputs`, which `set_mocks` does not reset)
    still holds them: the next render in the same process (tests, `hastack local`) would await them and
    fail, and on a shared loop they would register into its plan. They are cancelled and forgotten
    here, and the caller's loop is restored.
    """
    try:
        previous: asyncio.AbstractEventLoop | None = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        previous = None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    with pulumi_settings.SETTINGS.lock:
        pulumi_settings.SETTINGS.outputs.clear()
    try:
        yield
    finally:
        with pulumi_settings.SETTINGS.lock:
            pulumi_settings.SETTINGS.outputs.clear()
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(previous if previous is not None and not previous.is_closed()
                               else asyncio.new_event_loop())


def render(stack: str, root: Path = REPO_ROOT, config: dict[str, Any] | None = None,
           config_path: Path | None = None, program: Callable[[], None] | None = None,
           mocks: PlanMocks | None = None) -> Plan:
    """Run the Pulumi program for `stack` under the mock runtime and return what it declared.

    `config` replaces the stack file's config map (tests render variations of a stack this way);
    `config_path` reads the config from another file shaped like `Pulumi.<stack>.yaml`.
    Raises `ConfigError` for an invalid config and `PlanError` for a missing or unreadable stack.
    """
    raw = config if config is not None else read_stack_config(stack, root, config_path)
    source = None if config is not None else (config_path or stack_file(stack, root)).resolve()
    default_region = str(raw.get("aws:region") or raw.get("hastack:primaryRegion") or "us-east-1")
    # `mocks` lets another backend answer the program (hastack.local deploys into moto this way).
    mocks = mocks if mocks is not None else PlanMocks(default_region)
    monitor = RecordingMonitor(mocks)
    warnings = _Warnings()
    logger = logging.getLogger(f"{__name__}.program")
    logger.propagate = False  # printed by the CLI (`hastack plan`), not by logging's last-resort handler
    logger.addHandler(warnings)

    set_all_config(engine_config(raw), [])
    pulumi_mocks.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor, logger=logger)
    # set_mocks installs a finished root stack for unit tests; a full program run needs a fresh
    # one whose outputs are registered at the end, as the engine's language host does.
    pulumi_settings.set_root_resource(None)  # type: ignore[arg-type]

    main = root / "__main__.py"

    def run_program() -> None:
        if program is not None:
            program()
            return
        sys.path.insert(0, str(root))
        cwd = os.getcwd()
        try:
            os.chdir(root)
            runpy.run_path(str(main), run_name="__main__")
        finally:
            os.chdir(cwd)
            sys.path.remove(str(root))

    try:
        with _own_event_loop():
            _sync_await(run_in_stack(run_program))
    except ConfigError:
        raise
    except pulumi.RunError as exc:
        raise PlanError(str(exc)) from None
    finally:
        pulumi_settings.set_root_resource(None)  # type: ignore[arg-type]
        logger.removeHandler(warnings)

    homes = _home_regions(monitor.registrations, mocks.provider_regions)
    resources = [
        {
            "urn": r.urn,
            "type": r.type,
            "name": r.name,
            "id": r.id,
            "parent": r.parent,
            "provider": r.provider,
            "dependencies": r.dependencies,
            "custom": r.custom,
            "region": r.region,
            "homeRegion": homes.get(r.urn),
            "inputs": r.inputs,
            "outputs": r.outputs,
            "ignoreChanges": r.ignore_changes,
            "protect": r.protect,
            "retainOnDelete": r.retain_on_delete,
            "propertyDependencies": r.property_dependencies,
        }
        for r in monitor.registrations
    ]
    return Plan(project=PROJECT, stack=stack, resources=resources, outputs=monitor.stack_outputs,
                config_file=str(source) if source else None, warnings=warnings.lines)


# ---------------------------------------------------------------------------------------------
# Writing the plan's files
# ---------------------------------------------------------------------------------------------


def stack_output_json(outputs: dict[str, Any]) -> dict[str, Any]:
    """The stack outputs in the format of `pulumi stack output --json` (secrets as "[secret]")."""
    return json.loads(json.dumps(outputs, sort_keys=True))


def kubernetes_manifests(plan: Plan) -> dict[str, dict[str, Any]]:
    """Every Kubernetes object of the plan as a manifest, keyed by `<region>/<kind>-<name>.yaml`."""
    out: dict[str, dict[str, Any]] = {}
    for r in plan.resources:
        if not r["type"].startswith("kubernetes:") or r["type"].startswith("kubernetes:helm"):
            continue
        if not r["custom"] or r["type"].startswith("pulumi:providers"):
            continue
        inputs = r["inputs"]
        kind = inputs.get("kind")
        if not kind:
            continue
        manifest = {k: inputs[k] for k in ("apiVersion", "kind", "metadata", "spec", "data", "stringData",
                                            "type", "rules", "roleRef", "subjects") if k in inputs}
        meta = manifest.get("metadata", {})
        name = meta.get("name") or r["name"]
        region = r["homeRegion"] or "global"
        out[f"{region}/{kind.lower()}-{name}.yaml"] = manifest
    return out


def write_plan(plan: Plan, build_dir: Path) -> dict[str, Path]:
    """Write plan-<stack>.json, outputs-<stack>.json and the Kubernetes manifests; return their paths."""
    build_dir.mkdir(parents=True, exist_ok=True)
    plan_path = build_dir / f"plan-{plan.stack}.json"
    plan_path.write_text(json.dumps(plan.to_json(), indent=2, sort_keys=False) + "\n")
    outputs_path = build_dir / f"outputs-{plan.stack}.json"
    outputs_path.write_text(json.dumps(stack_output_json(plan.outputs), indent=2) + "\n")
    manifest_dir = build_dir / "manifests"
    manifests = kubernetes_manifests(plan)
    # Clear only the regions where this plan runs clusters: rendering staging must not delete prod's
    # manifests (a plan's AWS resources may sit in other regions, e.g. Route 53 alarms in us-east-1).
    regions = {r["homeRegion"] for r in plan.of_type("pulumi:providers:kubernetes")}
    regions |= {rel.split("/")[0] for rel in manifests}
    for region in sorted(r for r in regions if r):
        for old in (manifest_dir / region).glob("*.yaml"):
            old.unlink()
    for rel, manifest in manifests.items():
        path = manifest_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return {"plan": plan_path, "outputs": outputs_path, "manifests": manifest_dir}
