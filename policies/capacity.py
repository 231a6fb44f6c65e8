"""Scheduling feasibility: the pods fit the nodes, and each region at production size holds them.

A config can render, pass every redundancy rule and still never serve: a pod that requests more
than any node of its node group can give stays Pending for ever; node-group sizes out of order are
refused by EKS; and the pilot-light DR region, scaled to production size by `hastack dr scale-up`,
may not hold the replicas it must run after a failover. These rules compute what the scheduler
will:

* a node's **allocatable** capacity, as the EKS AMI reserves it: kube-reserved CPU (6 % of the first
  core, 1 % of the second, 0.5 % of the third and fourth, 0.25 % of the rest), kube-reserved memory
  (255 MiB + 11 MiB per pod the VPC CNI allows), the 100 MiB eviction threshold, out of what the
  kernel reports (ASSUMPTION: 94 % of the nominal memory), minus what the system DaemonSets
  request on every node (`nodeOverhead`, default aws-node + kube-proxy + the Pod Identity agent);
* a pod's **request**: the sum of its containers' requests, or its largest init container's;
* **per AZ**, a Deployment with a hard zone spread puts ceil(replicas / AZs) pods in any one AZ;
  first-fit decreasing packs them onto that AZ's nodes — at the node groups' desired size for the
  replica floor (replicas raised to the HPA's minReplicas), at their maximum size for the HPA's
  maxReplicas. The pilot-light DR region is checked at the sizes of the serving region's node groups:
  the production size the DR command gives it.

Instance types: vCPUs, memory and the VPC CNI's pod limit (amazon-eks-ami `eni-max-pods.txt`, no
prefix delegation) of common families are built in; any other type is declared through the
`instanceTypes` setting, or the rules say they can't check it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from _util import (
    EKS_CLUSTER,
    EKS_NODE_GROUP,
    K8S_POD_CONTROLLERS,
    Graph,
    Node,
    Resource,
    as_int,
    as_list,
    display,
    get,
    quantity,
    resource_rule,
    setting_schema,
    stack_rule,
)
from pulumi_policy import Severity
from workload import _containers, _pod_spec, hpa_for, k8s_meta

GIB = 2.0 ** 30
MIB = 2.0 ** 20
#: EKS's managed node group default when instanceTypes is not set.
DEFAULT_INSTANCE_TYPE = "t3.medium"
#: Share of the nominal memory the kernel reports to the kubelet (ASSUMPTION; AWS publishes none).
KERNEL_MEMORY_SHARE = 0.94

_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48, "16xlarge": 64,
          "24xlarge": 96}
_MAX_PODS = {"large": 29, "xlarge": 58, "2xlarge": 58, "4xlarge": 234, "8xlarge": 234, "12xlarge": 234,
             "16xlarge": 737, "24xlarge": 737}
#: GiB of memory per vCPU by family (general purpose 4, compute 2, memory 8).
_FAMILIES = {**{f: 4 for f in ("m5", "m5a", "m6i", "m6a", "m7i", "m7a", "m6g", "m7g")},
             **{f: 2 for f in ("c5", "c5a", "c6i", "c6a", "c7i", "c7a", "c6g", "c7g")},
             **{f: 8 for f in ("r5", "r5a", "r6i", "r6a", "r7i", "r7a", "r6g", "r7g")}}
_GRAVITON_MAX = "16xlarge"


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: float
    max_pods: int


def _builtin_types() -> dict[str, InstanceType]:
    types: dict[str, InstanceType] = {}
    for family, ratio in _FAMILIES.items():
        for size, vcpus in _SIZES.items():
            if family.endswith("g") and vcpus > _SIZES[_GRAVITON_MAX]:
                continue
            types[f"{family}.{size}"] = InstanceType(f"{family}.{size}", vcpus, vcpus * ratio, _MAX_PODS[size])
    for family in ("t3", "t3a", "t4g"):
        for size, vcpus, mem, pods in (("small", 2, 2, 11), ("medium", 2, 4, 17), ("large", 2, 8, 35),
                                       ("xlarge", 4, 16, 58), ("2xlarge", 8, 32, 58)):
            types[f"{family}.{size}"] = InstanceType(f"{family}.{size}", vcpus, mem, pods)
    for name, vcpus, mem, pods in (("g4dn.xlarge", 4, 16, 29), ("g4dn.2xlarge", 8, 32, 29),
                                   ("g4dn.4xlarge", 16, 64, 29), ("g4dn.8xlarge", 32, 128, 58),
                                   ("g5.xlarge", 4, 16, 58), ("g5.2xlarge", 8, 32, 58), ("g5.4xlarge", 16, 64, 234),
                                   ("g5.8xlarge", 32, 128, 234), ("g5.12xlarge", 48, 192, 737)):
        types[name] = InstanceType(name, vcpus, mem, pods)
    return types


BUILTIN_TYPES = _builtin_types()


@dataclass(frozen=True)
class Capacity:
    """What one node gives pods: CPU cores, memory bytes, pod slots."""

    cpu: float
    memory: float
    pods: int


def kube_reserved_cpu(vcpus: int) -> float:
    """Cores the EKS AMI reserves for the kubelet and runtime."""
    cores = [0.06, 0.01, 0.005, 0.005] + [0.0025] * max(vcpus - 4, 0)
    return sum(cores[:vcpus])


def allocatable(itype: InstanceType, overhead: Capacity) -> Capacity:
    memory = (itype.memory_gib * GIB * KERNEL_MEMORY_SHARE - (255 + 11 * itype.max_pods) * MIB - 100 * MIB
              - overhead.memory)
    return Capacity(cpu=itype.vcpus - kube_reserved_cpu(itype.vcpus) - overhead.cpu, memory=memory,
                    pods=itype.max_pods - overhead.pods)


def instance_types(cfg: dict[str, Any]) -> dict[str, InstanceType]:
    types = dict(BUILTIN_TYPES)
    for name, spec in (cfg.get("instanceTypes") or {}).items():
        if isinstance(spec, dict):
            types[name] = InstanceType(name, as_int(spec.get("vcpus"), 2) or 2, float(spec.get("memoryGiB") or 4),
                                       as_int(spec.get("maxPods"), 29) or 29)
    return types


def overhead(cfg: dict[str, Any]) -> Capacity:
    spec = cfg.get("nodeOverhead") or {}
    return Capacity(cpu=quantity(spec.get("cpu")) or 0.0, memory=quantity(spec.get("memory")) or 0.0,
                    pods=as_int(spec.get("pods"), 0) or 0)


def pod_request(pod: dict[str, Any]) -> tuple[float, float]:
    """(CPU cores, memory bytes) the scheduler reserves for one pod of this spec."""

    def request(c: dict[str, Any], res: str) -> float:
        return quantity(get(c, "resources", "requests", res)) or 0.0

    containers = _containers(pod, init=False)
    inits = [c for c in as_list(pod.get("initContainers")) if isinstance(c, dict)]
    cpu = max(sum(request(c, "cpu") for c in containers), max((request(c, "cpu") for c in inits), default=0.0))
    memory = max(sum(request(c, "memory") for c in containers),
                 max((request(c, "memory") for c in inits), default=0.0))
    return cpu, memory


def cores(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def gib(value: float) -> str:
    return f"{value / GIB:.1f} GiB"


def node_group_types(ng: Node | Resource) -> list[str]:
    return [str(t) for t in as_list(get(ng.props, "instanceTypes"))] or [DEFAULT_INSTANCE_TYPE]


def _selected(pod: dict[str, Any], ng: Node) -> bool:
    """Whether a pod's nodeSelector allows the node group (its labels; instance type and zone by name)."""
    labels = get(ng.props, "labels", default={})
    for key, value in (pod.get("nodeSelector") or {}).items():
        if key == "node.kubernetes.io/instance-type":
            if value not in node_group_types(ng):
                return False
        elif key in labels and labels[key] != value:
            return False
        elif key not in labels and key.startswith("hastack.io/"):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------


def check_pods_fit(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    types = instance_types(cfg)
    extra = overhead(cfg)
    unknown_reported: set[tuple[str, str]] = set()
    clusters_by_region: dict[str | None, list[Node]] = {}
    for cluster in graph.of_type(EKS_CLUSTER):
        clusters_by_region.setdefault(graph.region(cluster), []).append(cluster)
    for workload in graph.of_type(*K8S_POD_CONTROLLERS):
        region = graph.region(workload)
        pod = _pod_spec(workload)
        cpu, memory = pod_request(pod)
        groups = [ng for c in clusters_by_region.get(region, []) for ng in graph.cluster_node_groups(c)
                  if _selected(pod, ng)]
        too_small: dict[str, list[str]] = {}
        for ng in groups:
            for tname in node_group_types(ng):
                itype = types.get(tname)
                if itype is None:
                    if (ng.urn, tname) not in unknown_reported:
                        unknown_reported.add((ng.urn, tname))
                        yield (f"{display(ng)} ({region}) uses instance type {tname}, which the pack's capacity "
                               "table does not know: whether pods fit its nodes can't be checked. Declare it in the "
                               "instanceTypes setting ({vcpus, memoryGiB, maxPods}).", ng.urn)
                    continue
                room = allocatable(itype, extra)
                if cpu > room.cpu + 1e-9 or memory > room.memory:
                    too_small.setdefault(tname, []).append(ng.name)
        kind = workload.type.rsplit(":", 1)[-1]
        for tname, names in sorted(too_small.items()):
            room = allocatable(types[tname], extra)
            yield (f"{kind} '{k8s_meta(workload)[1]}' ({region}) requests {cores(cpu)} CPU and {gib(memory)} per "
                   f"pod, more than a {tname} node of node group{'s' if len(names) > 1 else ''} "
                   f"{', '.join(sorted(names))} can give a pod "
                   f"({cores(room.cpu)} CPU, {gib(room.memory)} allocatable after system reservations): its pods "
                   "stay Pending there. Lower the requests or use a larger instance type.", workload.urn)


def check_node_group_sizes(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    scaling = get(r.props, "scalingConfig", default={})
    low, want, high = (as_int(get(scaling, k)) for k in ("minSize", "desiredSize", "maxSize"))
    where = f"{display(r)} ({r.region})"
    if high is not None and high < 1:
        yield (f"{where} has maxSize={high}: EKS requires at least 1, and the group could never run a node. Set "
               "maxSize to the production size.")
    if low is not None and want is not None and low > want:
        yield (f"{where} has minSize={low} above desiredSize={want}: EKS refuses the update. Order them "
               "minSize <= desiredSize <= maxSize.")
    if want is not None and high is not None and want > high:
        yield (f"{where} has desiredSize={want} above maxSize={high}: EKS refuses the update. Order them "
               "minSize <= desiredSize <= maxSize.")
    elif low is not None and high is not None and low > high:
        yield (f"{where} has minSize={low} above maxSize={high}: EKS refuses the update. Order them "
               "minSize <= desiredSize <= maxSize.")


@dataclass
class _Group:
    """One AZ's node group as the capacity check sizes it."""

    node: Node
    az: str
    desired: int
    maximum: int
    itype: InstanceType | None


def _zone_spread(workload: Node) -> bool:
    constraints = as_list(get(_pod_spec(workload), "topologySpreadConstraints"))
    return any(isinstance(c, dict) and c.get("topologyKey") == "topology.kubernetes.io/zone"
               and c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule" for c in constraints)


def replica_bounds(graph: Graph, workload: Node) -> tuple[int, int]:
    """(floor, peak): replicas raised to the HPA's minReplicas; the HPA's maxReplicas (else replicas)."""
    replicas = as_int(get(workload.props, "spec", "replicas"), 1) or 0
    hpa = hpa_for(graph, workload) if workload.type == K8S_POD_CONTROLLERS[0] else None
    if hpa is None:
        return replicas, replicas
    low = as_int(get(hpa.props, "spec", "minReplicas"), 1) or 1
    high = as_int(get(hpa.props, "spec", "maxReplicas"), low) or low
    return min(max(replicas, low), high), high


def pack(pods: list[tuple[float, float]], nodes: int, room: Capacity) -> bool:
    """First-fit decreasing of (cpu, memory) pods onto `nodes` nodes of capacity `room`."""
    bins: list[list[float]] = [[room.cpu, room.memory, float(room.pods)] for _ in range(nodes)]
    for cpu, memory in sorted(pods, reverse=True):
        for b in bins:
            if b[0] + 1e-9 >= cpu and b[1] >= memory and b[2] >= 1:
                b[0] -= cpu
                b[1] -= memory
                b[2] -= 1
                break
        else:
            return False
    return True


def _smallest(types: list[str], known: dict[str, InstanceType]) -> InstanceType | None:
    found = [known[t] for t in types if t in known]
    return min(found, key=lambda t: (t.vcpus, t.memory_gib)) if found else None


def check_capacity(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    types = instance_types(cfg)
    extra = overhead(cfg)
    standby = set(cfg["pilotLightRegions"] or [])
    serving_sizes = [(as_int(get(ng.props, "scalingConfig", "desiredSize"), 0) or 0,
                      as_int(get(ng.props, "scalingConfig", "maxSize"), 0) or 0)
                     for c in graph.of_type(EKS_CLUSTER) if graph.region(c) not in standby
                     for ng in graph.cluster_node_groups(c)]
    for cluster in graph.of_type(EKS_CLUSTER):
        region = graph.region(cluster)
        pilot = region in standby and bool(serving_sizes)
        groups = []
        for ng in graph.cluster_node_groups(cluster):
            azs = sorted(graph.subnet_azs(as_list(get(ng.props, "subnetIds"))))
            scaling = get(ng.props, "scalingConfig", default={})
            desired = min(d for d, _ in serving_sizes) if pilot else as_int(get(scaling, "desiredSize"), 0) or 0
            maximum = min(m for _, m in serving_sizes) if pilot else as_int(get(scaling, "maxSize"), 0) or 0
            groups.append(_Group(ng, azs[0] if len(azs) == 1 else ",".join(azs) or "?", desired, maximum,
                                 _smallest(node_group_types(ng), types)))
        by_az: dict[str, list[_Group]] = {}
        for g in groups:
            by_az.setdefault(g.az, []).append(g)
        if not by_az:
            continue
        workloads = sorted((w for w in graph.of_type(*K8S_POD_CONTROLLERS) if graph.region(w) == region
                            and w.type == K8S_POD_CONTROLLERS[0]), key=lambda w: k8s_meta(w)[1])
        size_note = " at the production size `hastack dr scale-up` gives it" if pilot else ""
        for label, index in (("replica floor (replicas, HPA minReplicas)", 0), ("HPA maxReplicas", 1)):
            for az, az_groups in sorted(by_az.items()):
                pods: list[tuple[float, float]] = []
                names = []
                for w in workloads:
                    count = replica_bounds(graph, w)[index]
                    share = math.ceil(count / len(by_az)) if _zone_spread(w) else count
                    pods += [pod_request(_pod_spec(w))] * share
                    names.append(f"{share} x {k8s_meta(w)[1]}")
                known = [g for g in az_groups if g.itype is not None]
                if not known or not pods:
                    continue  # pods-fit-nodes reports unknown instance types
                nodes = sum(g.desired if index == 0 else g.maximum for g in known)
                room = min((allocatable(g.itype, extra) for g in known if g.itype is not None),
                           key=lambda c: (c.cpu, c.memory))
                if pack(pods, nodes, room):
                    continue
                need_cpu, need_mem = sum(p[0] for p in pods), sum(p[1] for p in pods)
                size = "desiredSize" if index == 0 else "maxSize"
                yield (f"{display(cluster)} ({region}){size_note} can't run the {label} in {az}: {nodes} node(s) "
                       f"({size}) of {cores(room.cpu)} CPU / {gib(room.memory)} allocatable each for "
                       f"{', '.join(names)} = {cores(need_cpu)} CPU / {gib(need_mem)}. Raise the node groups' "
                       f"{size}, use a larger instance type or lower the requests.", cluster.urn)


CAPACITY_SETTINGS: dict[str, dict[str, Any]] = {
    "instanceTypes": {
        "type": "object", "default": {},
        "description": "Instance types the built-in table lacks: {<type>: {vcpus, memoryGiB, maxPods}}.",
        "additionalProperties": {"type": "object", "required": ["vcpus", "memoryGiB", "maxPods"],
                                 "properties": {"vcpus": {"type": "integer", "minimum": 1},
                                                "memoryGiB": {"type": "number", "exclusiveMinimum": 0},
                                                "maxPods": {"type": "integer", "minimum": 1}}}},
    "nodeOverhead": {
        "type": "object", "default": {"cpu": "150m", "memory": "128Mi", "pods": 3},
        "description": "What the system DaemonSets (aws-node, kube-proxy, eks-pod-identity-agent) take on every "
                       "node: {cpu, memory, pods}."},
}

POLICIES = [
    stack_rule(
        "pods-fit-nodes",
        "Every pod's requests fit the allocatable capacity of each instance type of the node groups it may run "
        "on.",
        "Lower the container requests or give the node groups larger instance types; declare instance types the "
        "pack doesn't know in the instanceTypes setting.",
        check_pods_fit, setting_schema(**CAPACITY_SETTINGS), Severity.HIGH),
    resource_rule(
        "node-group-sizes-ordered",
        "Node-group sizes are ordered: minSize <= desiredSize <= maxSize, maxSize >= 1.",
        "Set scalingConfig so that minSize <= desiredSize <= maxSize and maxSize >= 1.",
        [EKS_NODE_GROUP], check_node_group_sizes, severity=Severity.HIGH),
    stack_rule(
        "capacity-holds-replicas",
        "Each cluster at production size (the pilot-light DR region at the size the DR scale-up gives it) can "
        "schedule every Deployment's replica floor at desired size and its HPA maximum at max size, per AZ under "
        "the zone spread.",
        "Raise the node groups' desiredSize / maxSize (nodes.primary, which the DR scale-up also uses), use "
        "larger instance types, or lower the requests or replica counts.",
        check_capacity, setting_schema("pilotLightRegions", **CAPACITY_SETTINGS), Severity.HIGH),
]
