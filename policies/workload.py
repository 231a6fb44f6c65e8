"""No single point of failure in the Kubernetes workload: replicas, rollouts, probes, spread, PDBs.

Rollout strategy, probes and zone spread are properties of the Deployment alone (resource rules).
Replicas and the PodDisruptionBudget are stack rules: whether a Deployment has enough pods depends on
its HorizontalPodAutoscaler (which may scale it below `replicas`), on the PDB that selects it, and on
the region its cluster runs in (the pilot-light DR region is exempt from capacity minimums) — none of
which the Deployment's own inputs say.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from _util import (
    K8S_DEPLOYMENT,
    K8S_HPAS,
    K8S_PDB,
    ZONE_TOPOLOGY_KEY,
    Graph,
    Node,
    Resource,
    as_int,
    as_list,
    get,
    resource_rule,
    setting_schema,
    stack_rule,
)
from pulumi_policy import Severity


def k8s_meta(node: Node) -> tuple[str, str]:
    """(namespace, name) of a Kubernetes object; the logical name when the program let Pulumi auto-name it."""
    meta = get(node.props, "metadata", default={})
    return str(meta.get("namespace") or "default"), str(meta.get("name") or node.name)


def _same_cluster(a: Node, b: Node) -> bool:
    return a.provider == b.provider and k8s_meta(a)[0] == k8s_meta(b)[0]


def hpa_for(graph: Graph, deployment: Node) -> Node | None:
    """The HorizontalPodAutoscaler whose scaleTargetRef is this Deployment (same cluster and namespace)."""
    _, name = k8s_meta(deployment)
    for hpa in graph.of_type(*K8S_HPAS):
        ref = get(hpa.props, "spec", "scaleTargetRef", default={})
        if not _same_cluster(hpa, deployment) or ref.get("kind", "Deployment") != "Deployment":
            continue
        if ref.get("name") == name or deployment.urn in hpa.dependencies:
            return hpa
    return None


def effective_replicas(graph: Graph, deployment: Node) -> tuple[int, str]:
    """The fewest replicas the Deployment may run: `spec.replicas`, lowered by its HPA's minReplicas."""
    replicas = as_int(get(deployment.props, "spec", "replicas"), 1)
    assert replicas is not None
    hpa = hpa_for(graph, deployment)
    if hpa is not None:
        hpa_min = as_int(get(hpa.props, "spec", "minReplicas"), 1) or 1
        if hpa_min < replicas:
            return hpa_min, f"HPA {k8s_meta(hpa)[1]!r} minReplicas"
    return replicas, "replicas"


def _labels_match(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    """A label selector (matchLabels, simple matchExpressions) against a pod template's labels."""
    match = selector.get("matchLabels") or {}
    if not match and not selector.get("matchExpressions"):
        return False  # an empty selector in a PDB selects nothing useful for us
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for expr in as_list(selector.get("matchExpressions")):
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def pdbs_for(graph: Graph, deployment: Node) -> list[Node]:
    labels = get(deployment.props, "spec", "template", "metadata", "labels", default={})
    return [p for p in graph.of_type(K8S_PDB)
            if _same_cluster(p, deployment) and _labels_match(get(p.props, "spec", "selector", default={}), labels)]


def _count(value: Any, replicas: int, round_up: bool) -> int | None:
    """An int-or-percent PDB field as a pod count (Kubernetes rounds minAvailable up, maxUnavailable down)."""
    if isinstance(value, str) and value.endswith("%"):
        pct = float(value[:-1]) / 100.0 * replicas
        return math.ceil(pct) if round_up else math.floor(pct)
    return as_int(value)


def _deployments(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[Node, str | None, bool]]:
    """Each Deployment with its region and whether that region is a pilot-light standby."""
    standby = set(cfg.get("pilotLightRegions") or [])
    for d in graph.of_type(K8S_DEPLOYMENT):
        region = graph.region(d)
        yield d, region, region in standby


def check_replicas(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    required = as_int(cfg["prodMinReplicas"] if cfg["production"] else cfg["minReplicas"], 2) or 2
    for d, region, standby in _deployments(graph, cfg):
        if standby:
            continue
        count, source = effective_replicas(graph, d)
        if count < required:
            yield (f"Deployment '{k8s_meta(d)[1]}' ({region}) may run {count} pod(s) ({source}); at least "
                   f"{required} are required{' in production' if cfg['production'] else ''} so that one pod or one "
                   f"AZ can fail. Set replicas (and the HPA's minReplicas) >= {required}.", d.urn)


def _where(r: Resource) -> str:
    meta = get(r.props, "metadata", default={})
    return f"Deployment '{meta.get('name') or r.name}' ({r.region or 'unknown region'})"


def check_rollout(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    strategy = get(r.props, "spec", "strategy", default={})
    kind = strategy.get("type", "RollingUpdate")
    max_unavailable = get(strategy, "rollingUpdate", "maxUnavailable", default="25%")
    if kind != "RollingUpdate":
        yield (f"{_where(r)} uses strategy {kind}: every pod stops before new ones start. Use RollingUpdate with "
               "maxUnavailable=0 and maxSurge=1.")
    elif as_int(max_unavailable) != 0 and str(max_unavailable) != "0%":
        yield (f"{_where(r)} has rollingUpdate.maxUnavailable={max_unavailable!r}: a rollout removes serving pods "
               "before their replacements are ready. Set maxUnavailable=0 and maxSurge=1.")


def check_probes(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    for c in as_list(get(r.props, "spec", "template", "spec", "containers")):
        missing = [p for p in ("readinessProbe", "livenessProbe") if not isinstance(c.get(p), dict)]
        if missing:
            yield (f"{_where(r)} container '{c.get('name')}' has no {' and no '.join(missing)}: Kubernetes can't tell "
                   "a pod that can't serve (readiness) or is stuck (liveness). Add httpGet probes on the service's "
                   "health paths.")


def check_zone_spread(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    constraints = as_list(get(r.props, "spec", "template", "spec", "topologySpreadConstraints"))
    if not any(isinstance(c, dict) and c.get("topologyKey") == ZONE_TOPOLOGY_KEY for c in constraints):
        yield (f"{_where(r)} has no topologySpreadConstraint on {ZONE_TOPOLOGY_KEY}: all its pods may land in one "
               "AZ. Add one with maxSkew=1 and whenUnsatisfiable=DoNotSchedule.")


def check_pdb(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    for d, region, standby in _deployments(graph, cfg):
        count, _ = effective_replicas(graph, d)
        if standby and count == 0:
            continue
        name = k8s_meta(d)[1]
        pdbs = pdbs_for(graph, d)
        if not pdbs:
            yield (f"Deployment '{name}' ({region}) is selected by no PodDisruptionBudget: a node drain or upgrade may "
                   "evict all its pods at once. Add a PDB selecting its pod labels with minAvailable = replicas - 1.",
                   d.urn)
            continue
        for pdb in pdbs:
            spec = get(pdb.props, "spec", default={})
            if spec.get("minAvailable") is not None:
                floor = _count(spec["minAvailable"], count, round_up=True)
                if floor is None or floor < 1 or floor >= count:
                    yield (f"PodDisruptionBudget '{k8s_meta(pdb)[1]}' has minAvailable={spec['minAvailable']!r} for "
                           f"Deployment '{name}' ({region}, {count} replica(s)): it must be >= 1 (so a drain leaves "
                           "pods serving) and below the replica count (so drains can proceed). Use replicas - 1.",
                           pdb.urn)
            elif spec.get("maxUnavailable") is not None:
                budget = _count(spec["maxUnavailable"], count, round_up=False)
                if budget is None or budget < 1 or budget >= count:
                    yield (f"PodDisruptionBudget '{k8s_meta(pdb)[1]}' has "
                           f"maxUnavailable={spec['maxUnavailable']!r} for Deployment '{name}' ({region}, {count} "
                           "replica(s)): it must allow at least one and fewer than all pods to be evicted.", pdb.urn)
            else:
                yield (f"PodDisruptionBudget '{k8s_meta(pdb)[1]}' sets neither minAvailable nor maxUnavailable.",
                       pdb.urn)


POLICIES = [
    stack_rule(
        "deployment-replicas",
        "Deployments run at least 2 replicas (3 in production), counting the HPA's minReplicas.",
        "Set spec.replicas and the HorizontalPodAutoscaler's minReplicas to at least the minimum "
        "(prodMinReplicas in production); pilot-light regions are exempt.",
        check_replicas,
        setting_schema("production", "pilotLightRegions",
                       minReplicas={"type": "integer", "minimum": 1, "default": 2,
                                    "description": "Fewest replicas outside production."},
                       prodMinReplicas={"type": "integer", "minimum": 1, "default": 3,
                                        "description": "Fewest replicas in production."}),
        Severity.CRITICAL),
    resource_rule(
        "deployment-rollout-max-unavailable",
        "Deployments roll out with RollingUpdate and maxUnavailable 0.",
        "Set spec.strategy = {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}.",
        [K8S_DEPLOYMENT], check_rollout),
    resource_rule(
        "deployment-probes",
        "Every container of a Deployment has a readiness and a liveness probe.",
        "Add readinessProbe and livenessProbe (httpGet on the service's /health/ready and /health/live) to every "
        "container; a startupProbe keeps slow model loads from tripping liveness.",
        [K8S_DEPLOYMENT], check_probes),
    resource_rule(
        "deployment-zone-spread",
        "Deployments spread their pods over AZs with a zone topology spread constraint.",
        f"Add topologySpreadConstraints [{{topologyKey: {ZONE_TOPOLOGY_KEY}, maxSkew: 1, "
        "whenUnsatisfiable: DoNotSchedule, labelSelector: <the pod labels>}].",
        [K8S_DEPLOYMENT], check_zone_spread),
    stack_rule(
        "deployment-pod-disruption-budget",
        "Every Deployment is selected by a PodDisruptionBudget whose minAvailable is below its replica count.",
        "Create a policy/v1 PodDisruptionBudget selecting the Deployment's pod labels with "
        "minAvailable = replicas - 1 (>= 1), so drains proceed one pod at a time.",
        check_pdb, setting_schema("pilotLightRegions")),
]
