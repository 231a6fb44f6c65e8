"""The stack outputs the DR command reads — and nothing else.

Why only outputs: during a regional outage the operator may have no working `pulumi` state
backend, no repository checkout and no access to the primary region. The outputs (exported by
`__main__.py`, names fixed by the STACK OUTPUTS CONTRACT) name every resource the command touches,
so a JSON file saved from `pulumi stack output --json --show-secrets` — or `build/outputs-<stack>.json`
from `make plan` — is all it needs.

Every missing or malformed key is reported at once, each by its dotted path.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class OutputsError(Exception):
    """The outputs could not be read or do not follow the contract (a user error, no traceback)."""


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    replicas: int


@dataclass(frozen=True)
class NodeGroup:
    """A managed node group as deployed now (`nodeGroups`)."""

    name: str
    az: str
    cluster_name: str
    min_size: int
    desired_size: int
    max_size: int


@dataclass(frozen=True)
class DrNodeGroup:
    """A DR node group and the production size scale-up brings it to (`drNodeGroups`)."""

    cluster_name: str
    name: str
    az: str
    prod_min_size: int
    prod_desired_size: int
    prod_max_size: int


@dataclass(frozen=True)
class DbInstance:
    region: str
    identifier: str
    arn: str
    endpoint: str = ""


@dataclass(frozen=True)
class Ingress:
    alb_arn: str
    alb_dns_name: str
    alb_zone_id: str
    target_group_arns: dict[str, str]


@dataclass(frozen=True)
class DrOutputs:
    """The typed view of the stack outputs (see the module docstring for why only these)."""

    stack: str
    primary_region: str
    dr_region: str
    active_region: str
    dr_mode: str
    rpo_budget_seconds: float
    rto_budget_seconds: float
    fence_timeout_seconds: float
    wait_timeout_seconds: float
    services: tuple[Service, ...]
    clusters: dict[str, dict[str, str]]
    node_groups: dict[str, tuple[NodeGroup, ...]]
    dr_node_groups: tuple[DrNodeGroup, ...]
    db_primary: DbInstance
    db_replica: DbInstance
    db_prod_instance_class: str
    cache_global_datastore_id: str
    cache_primary: tuple[str, str]  # (region, replicationGroupId)
    cache_secondary: tuple[str, str]
    ingress: dict[str, Ingress]
    hosted_zone_id: str
    record_name: str
    health_check_ids: dict[str, str]
    switch_health_check_id: str
    lock_table: str
    lock_region: str
    raw: dict[str, Any]

    def replicas_of(self, service: str) -> int:
        return next(s.replicas for s in self.services if s.name == service)


class _Reader:
    """Walks the raw outputs by dotted path, collecting every problem instead of stopping."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.errors: list[str] = []

    def get(self, path: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        node: Any = self.raw
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                self.errors.append(f"missing output {path}")
                return default
            node = node[part]
        if isinstance(node, bool) or not isinstance(node, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.errors.append(f"output {path} = {json.dumps(node)[:60]} should be a {names}")
            return default
        return node

    def text(self, path: str) -> str:
        value = self.get(path, str, "")
        if value == "":
            if not any(e.endswith(path) or f" {path} " in e for e in self.errors):
                self.errors.append(f"output {path} is empty")
        return value

    def number(self, path: str) -> float:
        return float(self.get(path, (int, float), 0))

    def integer(self, path: str) -> int:
        return int(self.get(path, int, 0))


def parse_outputs(raw: Any, stack: str) -> DrOutputs:
    """Validate `raw` (the JSON of `pulumi stack output --json`) against the contract."""
    if not isinstance(raw, dict):
        raise OutputsError(f"stack {stack!r}: outputs must be a JSON object, got {type(raw).__name__}")
    r = _Reader(raw)
    primary, dr = r.text("primaryRegion"), r.text("drRegion")
    services = []
    for i, s in enumerate(r.get("services", list, []) or []):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not isinstance(s.get("replicas"), int):
            r.errors.append(f"output services[{i}] needs name (string), port and replicas (integers)")
            continue
        services.append(Service(s["name"], int(s.get("port", 0)), s["replicas"]))
    if not services:
        r.errors.append("output services must list at least one service with name, port, replicas")
    node_groups: dict[str, tuple[NodeGroup, ...]] = {}
    for region, groups in (r.get("nodeGroups", dict, {}) or {}).items():
        node_groups[region] = tuple(
            NodeGroup(g["name"], g.get("az", ""), g["clusterName"], int(g.get("minSize", 0)),
                      int(g.get("desiredSize", 0)), int(g.get("maxSize", 0)))
            for g in groups if isinstance(g, dict) and "name" in g and "clusterName" in g)
    dr_groups = []
    for i, g in enumerate(r.get("drNodeGroups", list, []) or []):
        missing = [k for k in ("clusterName", "name", "prodMinSize", "prodDesiredSize", "prodMaxSize")
                   if not isinstance(g, dict) or k not in g]
        if missing:
            r.errors.append(f"output drNodeGroups[{i}] lacks {', '.join(missing)}")
            continue
        dr_groups.append(DrNodeGroup(g["clusterName"], g["name"], g.get("az", ""), int(g["prodMinSize"]),
                                     int(g["prodDesiredSize"]), int(g["prodMaxSize"])))
    if not dr_groups and "drNodeGroups" in raw:
        r.errors.append("output drNodeGroups is empty: scale-up would have no node group to scale")
    ingress = {}
    for region in r.get("ingress", dict, {}) or {}:
        base = f"ingress.{region}"
        ingress[region] = Ingress(r.text(f"{base}.albArn"), r.text(f"{base}.albDnsName"),
                                  r.text(f"{base}.albZoneId"), dict(r.get(f"{base}.targetGroupArns", dict, {})))
    if dr and ingress and dr not in ingress:
        r.errors.append(f"output ingress has no entry for the DR region {dr}")
    out = DrOutputs(
        stack=stack,
        primary_region=primary,
        dr_region=dr,
        active_region=r.text("activeRegion"),
        dr_mode=r.text("drMode"),
        rpo_budget_seconds=r.number("rpoBudgetSeconds"),
        rto_budget_seconds=r.number("rtoBudgetSeconds"),
        fence_timeout_seconds=r.number("drTimeouts.fenceTimeoutSeconds"),
        wait_timeout_seconds=r.number("drTimeouts.waitTimeoutSeconds"),
        services=tuple(services),
        clusters=dict(r.get("clusters", dict, {}) or {}),
        node_groups=node_groups,
        dr_node_groups=tuple(dr_groups),
        db_primary=DbInstance(r.text("database.primary.region"), r.text("database.primary.identifier"),
                              r.text("database.primary.arn"), str((raw.get("database") or {}).get(
                                  "primary", {}).get("endpoint", ""))),
        db_replica=DbInstance(r.text("database.replica.region"), r.text("database.replica.identifier"),
                              r.text("database.replica.arn")),
        db_prod_instance_class=r.text("database.prodInstanceClass"),
        cache_global_datastore_id=r.text("cache.globalDatastoreId"),
        cache_primary=(r.text("cache.primary.region"), r.text("cache.primary.replicationGroupId")),
        cache_secondary=(r.text("cache.secondary.region"), r.text("cache.secondary.replicationGroupId")),
        ingress=ingress,
        hosted_zone_id=r.text("dns.hostedZoneId"),
        record_name=r.text("dns.recordName"),
        health_check_ids=dict(r.get("dns.healthCheckIds", dict, {}) or {}),
        switch_health_check_id=r.text("dns.switchHealthCheckId"),
        lock_table=r.text("lockTable.name"),
        lock_region=r.text("lockTable.region"),
        raw=raw,
    )
    if primary and dr and primary == dr:
        r.errors.append(f"primaryRegion and drRegion are both {primary!r}: DR needs two regions")
    if out.db_replica.region and dr and out.db_replica.region != dr:
        r.errors.append(f"database.replica.region is {out.db_replica.region!r}, expected the DR region {dr!r}")
    if r.errors:
        errors = list(dict.fromkeys(r.errors))
        head = f"stack {stack!r}: the outputs do not follow the DR contract ({len(errors)} problem" \
               f"{'s' if len(errors) != 1 else ''}):"
        raise OutputsError("\n".join([head, *(f"  - {e}" for e in errors)]))
    return out


def read_outputs_file(path: Path, stack: str) -> DrOutputs:
    """Outputs from a JSON file (what `pulumi stack output --json --show-secrets` prints)."""
    if not path.is_file():
        raise OutputsError(f"--outputs {path}: no such file (run `make plan STACK={stack}` to write "
                           f"build/outputs-{stack}.json, or save `pulumi stack output --json --show-secrets "
                           f"-s {stack}`)")
    try:
        raw = json.loads(path.read_text())
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
