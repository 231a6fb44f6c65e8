"""Run the policy pack offline, the way the Pulumi engine runs it: a real process spoken to over gRPC.

`pulumi preview --policy-pack policies` starts the pack with `pulumi-analyzer-policy-python`, i.e.
`python -u -m pulumi.policy <engine address> .` in the pack's directory, with PULUMI_PROJECT,
PULUMI_STACK, PULUMI_DRY_RUN and PULUMI_ORGANIZATION in its environment. The pack prints the port of
its Analyzer server; the engine then calls `Handshake` (older packs answer UNIMPLEMENTED),
`ConfigureStack`, `GetAnalyzerInfo`, `Configure` (the policy config reconciled with each policy's
defaults and validated against its schema), `Analyze` for every resource it registers (with its
inputs) and `AnalyzeStack` once with the whole graph (outputs, parent, dependencies, property
dependencies, provider). This module does exactly that with the offline plan standing in for the
engine's resource states, so CI checks the very pack the CLI would run — without the CLI.

The process is always terminated at the end (context manager), even when a call fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import jsonschema
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2, engine_pb2_grpc

from hastack.paths import REPO_ROOT
from hastack.policy.plan_file import read_plan

POLICY_PACK_DIR = REPO_ROOT / "policies"

SECRET = "[secret]"
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_MAX_MESSAGE = 400 * 1024 * 1024  # what pulumi_policy's server accepts
_CHANNEL_OPTIONS = [("grpc.max_receive_message_length", _MAX_MESSAGE), ("grpc.max_send_message_length", _MAX_MESSAGE)]
_LEVELS = {analyzer_pb2.ADVISORY: "advisory", analyzer_pb2.MANDATORY: "mandatory",
           analyzer_pb2.DISABLED: "disabled", analyzer_pb2.REMEDIATE: "remediate"}
_LEVEL_CODES = {v: k for k, v in _LEVELS.items()}
_SEVERITIES = {analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "", analyzer_pb2.POLICY_SEVERITY_LOW: "low",
               analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium", analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
               analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical"}


class PolicyRunnerError(Exception):
    """The pack could not be started or answered with an error (the message says which call)."""


class PolicyConfigError(PolicyRunnerError):
    """The policy config is invalid for the pack (unknown level, schema violation)."""


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    description: str
    enforcement_level: str
    severity: str
    remediation: str
    kind: str  # "resource" or "stack"
    config_schema: dict[str, Any]
    required: tuple[str, ...]


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement_level: str
    urn: str
    message: str
    severity: str = ""

    @property
    def resource(self) -> str:
        """`Type::name` of the URN (the stack itself for stack-wide findings)."""
        parts = self.urn.split("::")
        if len(parts) < 4:
            return self.urn or "(stack)"
        return f"{parts[-2].split('$')[-1].rsplit(':', 1)[-1]}::{parts[-1]}"

    def to_json(self) -> dict[str, str]:
        return {"policy": self.policy, "enforcementLevel": self.enforcement_level, "severity": self.severity,
                "urn": self.urn, "resource": self.resource, "message": self.message}


@dataclass
class PolicyReport:
    pack: str
    version: str
    stack: str
    resources: int
    violations: list[Violation] = field(default_factory=list)
    not_applicable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement_level in ("mandatory", "remediate")]

    @property
    def passed(self) -> bool:
        return not self.mandatory

    def verdict(self) -> str:
        advisory = len(self.violations) - len(self.mandatory)
        if self.passed:
            extra = f" ({advisory} advisory)" if advisory else ""
            return f"PASS: stack {self.stack!r}: {self.resources} resources, no mandatory policy violation{extra}"
        names = sorted({v.policy for v in self.mandatory})
        return (f"FAIL: stack {self.stack!r}: {len(self.mandatory)} mandatory violation(s) of {', '.join(names)}"
                + (f" and {advisory} advisory" if advisory else ""))

    def to_json(self) -> dict[str, Any]:
        return {"policyPack": self.pack, "version": self.version, "stack": self.stack, "resources": self.resources,
                "passed": self.passed, "verdict": self.verdict(),
                "violations": [v.to_json() for v in self.violations]}


# ---------------------------------------------------------------------------------------------
# Plan resources -> engine requests
# ---------------------------------------------------------------------------------------------


def _engine_value(value: Any) -> Any:
    """Plan values as the engine marshals them: what the program marked secret becomes a secret value."""
    if isinstance(value, dict):
        return {k: _engine_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_engine_value(v) for v in value]
    if value == SECRET:
        return {_SIG: _SECRET_SIG, "value": SECRET}
    return value


def _struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(_engine_value(dict(props)))
    return s


def provider_urn(ref: str | None) -> str | None:
    """The URN in a provider reference (`<urn>::<id>`)."""
    return ref.rsplit("::", 1)[0] if ref else None


def stack_urn(plan: Mapping[str, Any]) -> str:
    return f"urn:pulumi:{plan['stack']}::{plan['project']}::pulumi:pulumi:Stack::{plan['project']}-{plan['stack']}"


def stack_properties(resource: Mapping[str, Any]) -> dict[str, Any]:
    """What AnalyzeStack sees of a resource: its final outputs; bridged (aws) resources echo their `id`."""
    props = dict(resource.get("outputs") or resource.get("inputs") or {})
    if resource.get("custom") and resource.get("id") and resource["type"].startswith("aws:"):
        props.setdefault("id", resource["id"])
    return props


def engine_resources(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The plan's resources plus the root stack resource the engine registers first."""
    root = {"urn": stack_urn(plan), "type": "pulumi:pulumi:Stack", "name": f"{plan['project']}-{plan['stack']}",
            "id": None, "parent": None, "provider": None, "dependencies": [], "custom": False,
            "inputs": {}, "outputs": dict(plan.get("outputs") or {})}
    return [root, *plan["resources"]]


class _RequestBuilder:
    """Builds Analyze/AnalyzeStack requests, with each resource's provider filled in as the engine does."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.by_urn = {r["urn"]: r for r in resources}
        self._providers: dict[str, analyzer_pb2.AnalyzerProviderResource] = {}

    def provider(self, ref: str | None) -> analyzer_pb2.AnalyzerProviderResource | None:
        urn = provider_urn(ref)
        if urn is None or urn not in self.by_urn:
            return None
        if urn not in self._providers:
            p = self.by_urn[urn]
            self._providers[urn] = analyzer_pb2.AnalyzerProviderResource(
                type=p["type"], properties=_struct(p.get("inputs") or {}), urn=urn, name=p["name"])
        return self._providers[urn]

    @staticmethod
    def options(r: Mapping[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
        return analyzer_pb2.AnalyzerResourceOptions(
            protect=bool(r.get("protect")), ignoreChanges=list(r.get("ignoreChanges") or []),
            deleteBeforeReplaceDefined=False, parent=r.get("parent") or "",
            customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts())

    def analyze_request(self, r: Mapping[str, Any]) -> analyzer_pb2.AnalyzeRequest:
        request = analyzer_pb2.AnalyzeRequest(type=r["type"], properties=_struct(r.get("inputs") or {}),
                                              urn=r["urn"], name=r["name"], options=self.options(r))
        provider = self.provider(r.get("provider"))
        if provider is not None:
            request.provider.CopyFrom(provider)
        return request

    def stack_resource(self, r: Mapping[str, Any]) -> analyzer_pb2.AnalyzerResource:
        resource = analyzer_pb2.AnalyzerResource(
            type=r["type"], properties=_struct(stack_properties(r)), urn=r["urn"], name=r["name"],
            options=self.options(r), parent=r.get("parent") or "", dependencies=list(r.get("dependencies") or []))
        for key, urns in (r.get("propertyDependencies") or {}).items():
            if urns:
                resource.propertyDependencies[key].urns.extend(urns)
        provider = self.provider(r.get("provider"))
        if provider is not None:
            resource.provider.CopyFrom(provider)
        return resource


# ---------------------------------------------------------------------------------------------
# Policy config: what the engine does with --policy-pack-config
# ---------------------------------------------------------------------------------------------


def reconcile_config(policies: Iterable[PolicyInfo], initial: Mapping[str, Any],
                     given: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Each policy's effective {enforcementLevel, properties}: schema defaults, then the pack's initial
    config, then the given config (`all` first, then per policy); validated against each schema.

    Mirrors the engine's `ReconcilePolicyPackConfig`; raises `PolicyConfigError` listing every problem.
    """
    policies = list(policies)
    result = {p.name: {"enforcementLevel": p.enforcement_level,
                       "properties": {k: v["default"] for k, v in p.config_schema.items() if "default" in v}}
              for p in policies}
    errors: list[str] = []
    for layer in (initial, given or {}):
        parsed = _parse_config_layer(layer, errors)
        if "all" in parsed and parsed["all"]["enforcementLevel"]:
            for entry in result.values():
                entry["enforcementLevel"] = parsed["all"]["enforcementLevel"]
        for name, entry in parsed.items():
            if name == "all":
                continue
            if name not in result:
                errors.append(f"{name}: no such policy in the pack (known: {', '.join(sorted(result))})")
                continue
            if entry["enforcementLevel"]:
                result[name]["enforcementLevel"] = entry["enforcementLevel"]
            result[name]["properties"].update(entry["properties"])
    for p in policies:
        schema = {"type": "object", "properties": {**p.config_schema, "enforcementLevel": {
            "type": "string", "enum": list(_LEVEL_CODES)}}}
        if p.required:
            schema["required"] = list(p.required)
        validator = jsonschema.Draft7Validator(schema)
        for e in sorted(validator.iter_errors(result[p.name]["properties"]), key=str):
            where = ".".join(str(x) for x in e.absolute_path) or "(root)"
            errors.append(f"{p.name}: {where}: {e.message}")
    if errors:
        raise PolicyConfigError("invalid policy config:\n  - " + "\n  - ".join(errors))
    return result


def _parse_config_layer(layer: Mapping[str, Any], errors: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, value in layer.items():
        if isinstance(value, str):
            level, props = value, {}
        elif isinstance(value, dict):
            props = dict(value)
            level = props.pop("enforcementLevel", "")
        else:
            errors.append(f"{name}: {value!r} is not a valid value; must be an enforcement level or an object")
            continue
        if level and level not in _LEVEL_CODES:
            errors.append(f"{name}: {level!r} is not a valid enforcement level ({', '.join(_LEVEL_CODES)})")
            continue
        if level or props:
            out[name] = {"enforcementLevel": level, "properties": props}
    return out


# ---------------------------------------------------------------------------------------------
# The engine's side: a minimal Engine service (the address the pack is started with)
# ---------------------------------------------------------------------------------------------


class _EngineService(engine_pb2_grpc.EngineServicer):
    """Collects what a pack logs through the engine, as the CLI would show it."""

    def __init__(self) -> None:
        self.logs: list[str] = []

    def Log(self, request: engine_pb2.LogRequest, context: Any) -> empty_pb2.Empty:  # noqa: N802 - gRPC name
        self.logs.append(request.message)
        return empty_pb2.Empty()


# ---------------------------------------------------------------------------------------------
# The pack process
# ---------------------------------------------------------------------------------------------


class PolicyPackProcess:
    """A running policy pack. Use as a context manager; one process can check many plans.

    >>> with PolicyPackProcess() as pack:
    ...     report = pack.check(plan_json, config)
    """

    def __init__(self, pack_dir: Path = POLICY_PACK_DIR, python: str = sys.executable, project: str = "hastack",
                 stack: str = "prod", startup_timeout: float = 60.0, dry_run: bool = True) -> None:
        self.pack_dir = Path(pack_dir)
        self.python = python
        self.project = project
        self.stack = stack
        self.startup_timeout = startup_timeout
        self.dry_run = dry_run
        self.proc: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._engine_server: grpc.Server | None = None
        self._engine = _EngineService()
        self._stderr: list[str] = []
        self._stdout: list[str] = []
        self._info: analyzer_pb2.AnalyzerInfo | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self.plugin_version = ""

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> PolicyPackProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise PolicyRunnerError(f"{self.pack_dir} is not a policy pack (no PulumiPolicy.yaml)")
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        self._engine_server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        engine_pb2_grpc.add_EngineServicer_to_server(self._engine, self._engine_server)
        engine_port = self._engine_server.add_insecure_port("127.0.0.1:0")
        self._engine_server.start()
        env = dict(os.environ)
        env.update({"PULUMI_PROJECT": self.project, "PULUMI_STACK": self.stack,
                    "PULUMI_DRY_RUN": "true" if self.dry_run else "false", "PULUMI_ORGANIZATION": "organization",
                    "PYTHONUNBUFFERED": "1"})
        env.pop("PULUMI_CONFIG", None)
        # What `pulumi-analyzer-policy-python <engine> .` runs, in the pack's directory.
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [self.python, "-u", "-m", "pulumi.policy", f"127.0.0.1:{engine_port}", "."],
            cwd=self.pack_dir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        port = self._read_port()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_CHANNEL_OPTIONS)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=self.startup_timeout)
        except grpc.FutureTimeoutError:
            raise PolicyRunnerError(f"policy pack did not accept connections on port {port}") from None
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        self._handshake(engine_port)

    def _read_port(self) -> int:
        assert self.proc is not None and self.proc.stdout is not None and self.proc.stderr is not None
        first: list[bytes] = []
        got = threading.Event()

        def read_stdout() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            first.append(self.proc.stdout.readline())
            got.set()
            for line in self.proc.stdout:  # keep draining so the pack never blocks on a full pipe
                self._stdout.append(line.decode(errors="replace"))

        def read_stderr() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self._stderr.append(line.decode(errors="replace"))

        threading.Thread(target=read_stdout, daemon=True, name="policy-pack-stdout").start()
        threading.Thread(target=read_stderr, daemon=True, name="policy-pack-stderr").start()
        deadline = time.monotonic() + self.startup_timeout
        while not got.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                break
        line = first[0].decode(errors="replace").strip() if first else ""
        if not line.isdigit():
            time.sleep(0.1)  # let stderr drain for the message
            raise PolicyRunnerError(
                f"policy pack in {self.pack_dir} did not print its port "
                f"(exit code {self.proc.poll()}, stdout {line!r}):\n{self.stderr_text()[-4000:]}")
        return int(line)

    def _handshake(self, engine_port: int) -> None:
        assert self.stub is not None
        try:
            self.stub.Handshake(analyzer_pb2.AnalyzerHandshakeRequest(
                engine_address=f"127.0.0.1:{engine_port}", root_directory=str(self.pack_dir),
                program_directory=str(self.pack_dir)))
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:  # older packs: fine, like the engine
                raise self._error("Handshake", exc) from None
        self.plugin_version = self._call("GetPluginInfo", self.stub.GetPluginInfo, empty_pb2.Empty()).version

    def stderr_text(self) -> str:
        return "".join(self._stderr)

    @property
    def engine_logs(self) -> list[str]:
        return list(self._engine.logs)

    def close(self) -> None:
        """Stop the pack process (terminate, then kill) and the engine service; safe to call twice."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe is not None:
                    pipe.close()
        if self._engine_server is not None:
            self._engine_server.stop(grace=None)
            self._engine_server = None

    # -- calls --------------------------------------------------------------------------------

    def _error(self, call: str, exc: grpc.RpcError) -> PolicyRunnerError:
        return PolicyRunnerError(f"policy pack {call} failed: {exc.code().name}: {exc.details()}\n"
                                 f"{self.stderr_text()[-4000:]}")

    def _call(self, name: str, method: Any, request: Any) -> Any:
        try:
            return method(request)
        except grpc.RpcError as exc:
            raise self._error(name, exc) from None

    def info(self) -> analyzer_pb2.AnalyzerInfo:
        if self._info is None:
            assert self.stub is not None
            self._info = self._call("GetAnalyzerInfo", self.stub.GetAnalyzerInfo, empty_pb2.Empty())
        return self._info

    def version(self) -> str:
        """The pack's version: PulumiPolicy.yaml's `version` wins over the server's, as in the engine."""
        try:
            project = yaml.safe_load((self.pack_dir / "PulumiPolicy.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError):
            project = {}
        return str(project.get("version") or self.info().version)

    def policies(self) -> list[PolicyInfo]:
        out = []
        for p in self.info().policies:
            schema = _plain_struct(p.configSchema.properties) if p.HasField("configSchema") else {}
            out.append(PolicyInfo(
                name=p.name, description=p.description, enforcement_level=_LEVELS[p.enforcementLevel],
                severity=_SEVERITIES.get(p.severity, ""), remediation=p.remediation_steps,
                kind="stack" if p.policy_type == analyzer_pb2.POLICY_TYPE_STACK else "resource",
                config_schema=schema, required=tuple(p.configSchema.required) if p.HasField("configSchema") else ()))
        return out

    def configure_stack(self, stack: str, project: str = "hastack", config: Mapping[str, str] | None = None,
                        secret_keys: Iterable[str] = ()) -> None:
        """`ConfigureStack` as the engine calls it: the stack config (values as text, secrets decrypted) and
        the keys declared secret."""
        assert self.stub is not None
        self._call("ConfigureStack", self.stub.ConfigureStack, analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=stack, project=project, organization="organization", dry_run=self.dry_run,
            config=dict(config or {}), config_secret_keys=list(secret_keys)))

    def configure(self, policy_config: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
        """Reconcile `policy_config` (the --policy-pack-config JSON) like the engine and send it."""
        assert self.stub is not None
        info = self.info()
        initial = {k: {"enforcementLevel": _LEVELS[v.enforcementLevel], **_plain_struct(v.properties)}
                   for k, v in info.initialConfig.items()}
        effective = reconcile_config(self.policies(), initial, policy_config)
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, entry in effective.items():
            request.policyConfig[name].enforcementLevel = _LEVEL_CODES[entry["enforcementLevel"]]
            request.policyConfig[name].properties.update(entry["properties"])
        self._call("Configure", self.stub.Configure, request)
        return effective

    def analyze(self, resources: list[dict[str, Any]], in_flight: int = 64) -> list[Violation]:
        """`Analyze` every resource (pipelined, as the engine's parallel steps do); violations in order."""
        assert self.stub is not None
        builder = _RequestBuilder(resources)
        results: list[Violation] = []
        pending: list[tuple[dict[str, Any], Any]] = []

        def drain(count: int) -> None:
            while len(pending) > count:
                resource, future = pending.pop(0)
                try:
                    response = future.result()
                except grpc.RpcError as exc:
                    raise self._error(f"Analyze({resource['urn']})", exc) from None
                results.extend(_violations(response, resource["urn"]))

        for r in resources:
            pending.append((r, self.stub.Analyze.future(builder.analyze_request(r))))
            drain(in_flight)
        drain(0)
        return results

    def analyze_stack(self, resources: list[dict[str, Any]], default_urn: str) -> list[Violation]:
        assert self.stub is not None
        builder = _RequestBuilder(resources)
        request = analyzer_pb2.AnalyzeStackRequest(resources=[builder.stack_resource(r) for r in resources])
        response = self._call("AnalyzeStack", self.stub.AnalyzeStack, request)
        return _violations(response, default_urn)

    def check(self, plan: Mapping[str, Any], policy_config: Mapping[str, Any] | None = None,
              stack_config: Mapping[str, str] | None = None, secret_keys: Iterable[str] = ()) -> PolicyReport:
        """One preview's worth of policy calls on a plan: configure, Analyze each resource, AnalyzeStack.

        `stack_config` / `secret_keys` are what the engine's ConfigureStack carries (the offline plan
        has no decrypted config, so the CLI sends none).
        """
        self.configure_stack(str(plan["stack"]), str(plan["project"]), stack_config, secret_keys)
        self.configure(policy_config)
        resources = engine_resources(plan)
        violations = self.analyze(resources)
        violations += self.analyze_stack(resources, stack_urn(plan))
        info = self.info()
        return PolicyReport(pack=info.name, version=self.version(), stack=str(plan["stack"]),
                            resources=len(plan["resources"]), violations=violations)


def _plain_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


def _violations(response: analyzer_pb2.AnalyzeResponse, default_urn: str) -> list[Violation]:
    out = []
    for d in response.diagnostics:
        message = d.message
        if d.description and message.startswith(d.description):
            message = message[len(d.description):].lstrip("\n") or d.description
        out.append(Violation(policy=d.policyName, enforcement_level=_LEVELS.get(d.enforcementLevel, "advisory"),
                             urn=d.urn or default_urn, message=message, severity=_SEVERITIES.get(d.severity, "")))
    return out


def load_plan(path: Path) -> dict[str, Any]:
    """A plan file written by `hastack plan` (build/plan-<stack>.json), checked against its contract.

    Raises `UserError` naming the file and what is wrong with it (hastack/policy/plan_file.py).
    """
    return read_plan(path)
