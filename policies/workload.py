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
    K8S_POD_CONTROLLERS,
    K8S_SERVICE,
    ZONE_TOPOLOGY_KEY,
    Graph,
    Node,
    Resource,
    as_int,
    as_list,
    get,
    quantity,
    resource_rule,
    setting_schema,
    stack_rule,
    truthy,
)
from pulumi_policy import EnforcementLevel, Severity


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


def services_for(graph: Graph, deployment: Node) -> list[Node]:
    """The Kubernetes Services whose selector picks the Deployment's pods: what makes them serve traffic."""
    labels = get(deployment.props, "spec", "template", "metadata", "labels", default={})
    return [s for s in graph.of_type(K8S_SERVICE)
            if _same_cluster(s, deployment) and isinstance(get(s.props, "spec", "selector"), dict)
            and get(s.props, "spec", "selector") and all(labels.get(k) == v for k, v in
                                                        get(s.props, "spec", "selector").items())]


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
        missing = [p for p in ("readinessProbe", "livenessProbe", "startupProbe") if not isinstance(c.get(p), dict)]
        if missing:
            yield (f"{_where(r)} container '{c.get('name')}' has no {' and no '.join(missing)}: Kubernetes can't tell "
                   "a pod that can't serve (readiness), is stuck (liveness) or is still loading its model (startup: "
                   "without it, liveness restarts a slow-loading pod forever). Add httpGet probes on the service's "
                   "health paths.")


def _selector_matches(selector: Any, labels: dict[str, Any]) -> bool:
    return isinstance(selector, dict) and _labels_match(selector, labels)


def check_zone_spread(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    constraints = [c for c in as_list(get(r.props, "spec", "template", "spec", "topologySpreadConstraints"))
                   if isinstance(c, dict) and c.get("topologyKey") == ZONE_TOPOLOGY_KEY]
    if not constraints:
        yield (f"{_where(r)} has no topologySpreadConstraint on {ZONE_TOPOLOGY_KEY}: all its pods may land in one "
               "AZ. Add one with maxSkew=1 and whenUnsatisfiable=DoNotSchedule.")
        return
    labels = get(r.props, "spec", "template", "metadata", "labels", default={})
    hard = [c for c in constraints if c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule"]
    if not hard:
        yield (f"{_where(r)} spreads over {ZONE_TOPOLOGY_KEY} with whenUnsatisfiable="
               f"{constraints[0].get('whenUnsatisfiable')}: a preference the scheduler drops whenever it is "
               "inconvenient, so all its pods may still land in one AZ. Set whenUnsatisfiable=DoNotSchedule.")
        return
    for c in hard:
        skew = as_int(c.get("maxSkew"), 1) or 1
        if skew > 1:
            yield (f"{_where(r)} spreads over {ZONE_TOPOLOGY_KEY} with maxSkew={skew}: one AZ may hold {skew} pods "
                   "more than another, so losing it takes more than its share. Set maxSkew=1.")
        if not _selector_matches(c.get("labelSelector"), labels):
            yield (f"{_where(r)} has a {ZONE_TOPOLOGY_KEY} spread constraint whose labelSelector does not select its "
                   "own pods, so the spread counts nothing. Set labelSelector to the pod template's labels.")


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


# ---------------------------------------------------------------------------------------------
# Containers: resources, graceful stop, Pod Security, images
# ---------------------------------------------------------------------------------------------

RESOURCES = ("cpu", "memory")


def _pod_spec(r: Resource | Node) -> dict[str, Any]:
    spec = get(r.props, "spec", "template", "spec", default={})
    return spec if isinstance(spec, dict) else {}


def _containers(pod: dict[str, Any], init: bool = True) -> list[dict[str, Any]]:
    kinds = ("initContainers", "containers") if init else ("containers",)
    return [c for kind in kinds for c in as_list(pod.get(kind)) if isinstance(c, dict)]


def _where_pod(r: Resource) -> str:
    kind = r.type.rsplit(":", 1)[-1]
    meta = get(r.props, "metadata", default={})
    return f"{kind} '{meta.get('name') or r.name}' ({r.region or 'unknown region'})"


def check_container_resources(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    for c in _containers(_pod_spec(r)):
        resources = c.get("resources") if isinstance(c.get("resources"), dict) else {}
        requests = resources.get("requests") if isinstance(resources.get("requests"), dict) else {}
        limits = resources.get("limits") if isinstance(resources.get("limits"), dict) else {}
        missing = [f"{kind}.{res}" for kind, values in (("requests", requests), ("limits", limits))
                   for res in RESOURCES if values.get(res) in (None, "")]
        if missing:
            yield (f"{_where_pod(r)} container '{c.get('name')}' sets no resources.{', resources.'.join(missing)}: "
                   "without requests the scheduler places it blind and an HPA utilization target has nothing to "
                   "divide by; without limits one pod can starve its node. Set requests and limits for cpu and "
                   "memory.")
        for res in RESOURCES:
            req, lim = quantity(requests.get(res)), quantity(limits.get(res))
            if req is not None and lim is not None and lim < req:
                yield (f"{_where_pod(r)} container '{c.get('name')}' has limits.{res}={limits[res]!r} below "
                       f"requests.{res}={requests[res]!r}: the API server rejects the pod. Set the limit at least "
                       "to the request.")


def prestop_sleep_seconds(container: dict[str, Any]) -> int | None:
    """Seconds a container's preStop hook sleeps (`sleep` action or an `exec` of sleep); None without one."""
    hook = get(container, "lifecycle", "preStop")
    if not isinstance(hook, dict):
        return None
    if isinstance(hook.get("sleep"), dict):
        return as_int(hook["sleep"].get("seconds"))
    command = [str(part) for part in as_list(get(hook, "exec", "command"))]
    words = " ".join(command[2:] if command[1:2] == ["-c"] else command).split()
    if len(words) == 2 and words[0].rsplit("/", 1)[-1] == "sleep":
        return as_int(words[1])
    return None


def check_graceful_termination(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    pod = _pod_spec(r)
    path = as_int(cfg["deregistrationSeconds"], 10) or 0
    drain = as_int(cfg["minDrainSeconds"], 10) or 0
    grace = as_int(pod.get("terminationGracePeriodSeconds"), 30)
    assert grace is not None
    for c in _containers(pod, init=False):
        sleep = prestop_sleep_seconds(c)
        if sleep is None:
            yield (f"{_where(r)} container '{c.get('name')}' has no preStop sleep: it gets SIGTERM while its endpoint "
                   "is still being removed, so kube-proxy and the ALB keep sending it requests that fail. Add "
                   f"lifecycle.preStop.sleep.seconds >= {path}.")
            continue
        if sleep < path:
            yield (f"{_where(r)} container '{c.get('name')}' sleeps {sleep} s in preStop, less than the "
                   f"deregistration path ({path} s for its endpoint to leave kube-proxy and the ALB's targets on "
                   f"every node): requests still arrive after SIGTERM. Sleep at least {path} s.")
        if grace < sleep + drain:
            yield (f"{_where(r)} has terminationGracePeriodSeconds={grace} for a {sleep} s preStop sleep: the "
                   f"server gets {max(grace - sleep, 0)} s after SIGTERM to finish in-flight requests before it is "
                   f"killed (at least {drain} s required). Set terminationGracePeriodSeconds >= {sleep + drain}.")


def check_pod_security(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    """The "restricted" Pod Security Standard (Kubernetes 1.25+), plus no service-account token unless needed."""
    pod = _pod_spec(r)
    pod_ctx = pod.get("securityContext") if isinstance(pod.get("securityContext"), dict) else {}
    problems: list[str] = [f"{key}=True" for key in ("hostNetwork", "hostPID", "hostIPC") if truthy(pod.get(key))]
    problems += [f"volume '{v.get('name')}' is a hostPath" for v in as_list(pod.get("volumes"))
                 if isinstance(v, dict) and v.get("hostPath") is not None]
    for c in _containers(pod):
        ctx = c.get("securityContext") if isinstance(c.get("securityContext"), dict) else {}
        name = f"container '{c.get('name')}'"
        if truthy(ctx.get("privileged")):
            problems.append(f"{name} is privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name} does not set allowPrivilegeEscalation=False")
        non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        user = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
        if as_int(user) == 0:
            problems.append(f"{name} runs as UID 0 (root)")
        elif non_root is not True:
            problems.append(f"{name} may run as root (runAsNonRoot is not True)")
        caps = ctx.get("capabilities") if isinstance(ctx.get("capabilities"), dict) else {}
        if "ALL" not in [str(x).upper() for x in as_list(caps.get("drop"))]:
            problems.append(f"{name} does not drop ALL capabilities")
        added = [str(x) for x in as_list(caps.get("add")) if str(x).upper() not in ("NET_BIND_SERVICE",)]
        if added:
            problems.append(f"{name} adds capabilities {', '.join(added)}")
        seccomp = get(ctx, "seccompProfile", "type", default=get(pod_ctx, "seccompProfile", "type"))
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name} has no seccompProfile RuntimeDefault or Localhost")
        ports = [p.get("hostPort") for p in as_list(c.get("ports")) if isinstance(p, dict) and p.get("hostPort")]
        if ports:
            problems.append(f"{name} uses hostPort {', '.join(str(p) for p in ports)}")
    account = str(pod.get("serviceAccountName") or "default")
    if pod.get("automountServiceAccountToken") is not False and account not in (cfg["apiAccessServiceAccounts"] or []):
        problems.append(f"the service-account token of '{account}' is mounted (automountServiceAccountToken is not "
                        "False) although the pod does not call the Kubernetes API")
    if problems:
        yield (f"{_where_pod(r)} breaks the restricted pod baseline: {'; '.join(problems)}. A container escape or a "
               "stolen token then reaches the node or the cluster API. Fix the pod's securityContext (runAsNonRoot, "
               "allowPrivilegeEscalation=False, capabilities.drop=[ALL], seccompProfile RuntimeDefault), drop host "
               "namespaces, hostPath and hostPort, and set automountServiceAccountToken=False.")


def check_image_digest(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    for c in _containers(_pod_spec(r)):
        image = str(c.get("image") or "")
        if "@sha256:" not in image:
            yield (f"{_where_pod(r)} container '{c.get('name')}' runs image '{image}' by tag: a tag can be moved, so "
                   "nodes scaled up during a failover may run other code than what was reviewed. Pin it by digest "
                   "(image@sha256:...), mirrored to the account's ECR in each region (README: Container images).")


def check_hpa_bounds(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    deployments = graph.of_type(K8S_DEPLOYMENT)
    for hpa in graph.of_type(*K8S_HPAS):
        spec = get(hpa.props, "spec", default={})
        ref = spec.get("scaleTargetRef") if isinstance(spec.get("scaleTargetRef"), dict) else {}
        if ref.get("kind", "Deployment") != "Deployment":
            continue
        name = f"HorizontalPodAutoscaler '{k8s_meta(hpa)[1]}' ({graph.region(hpa)})"
        target = next((d for d in deployments if _same_cluster(d, hpa) and k8s_meta(d)[1] == ref.get("name")), None)
        if target is None:
            yield (f"{name} scales Deployment '{ref.get('name')}', which is not in this stack (namespace "
                   f"{k8s_meta(hpa)[0]}): it scales nothing. Point scaleTargetRef at the service's Deployment.",
                   hpa.urn)
            continue
        low = as_int(spec.get("minReplicas"), 1) or 1
        high = as_int(spec.get("maxReplicas"), 0) or 0
        floor = as_int(get(target.props, "spec", "replicas"), 1) or 1
        if low < floor:
            yield (f"{name} has minReplicas={low}, below Deployment '{ref.get('name')}' replicas={floor}: whenever "
                   f"load is low it scales the Deployment under its replica floor. Set minReplicas={floor}.", hpa.urn)
        if high <= low:
            yield (f"{name} has maxReplicas={high}, not above minReplicas={low}: it can't add pods when a lost AZ's "
                   "share of the load moves to the others. Set maxReplicas above minReplicas.", hpa.urn)
        containers = _containers(_pod_spec(target), init=False)
        for metric in as_list(spec.get("metrics")):
            resource = get(metric, "resource") if isinstance(metric, dict) else None
            if not isinstance(resource, dict) or get(resource, "target", "type") != "Utilization":
                continue
            res = str(resource.get("name"))
            for c in containers:
                if get(c, "resources", "requests", res) in (None, ""):
                    yield (f"{name} targets {res} utilization but container '{c.get('name')}' of Deployment "
                           f"'{ref.get('name')}' requests no {res}: utilization has nothing to divide by, so the "
                           f"HPA never scales. Set resources.requests.{res}.", hpa.urn)


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
        "Every container of a Deployment has a readiness, a liveness and a startup probe.",
        "Add readinessProbe, livenessProbe and startupProbe (httpGet on the service's /health/ready, /health/live "
        "and /health/startup) to every container; the startup probe keeps slow model loads from tripping liveness.",
        [K8S_DEPLOYMENT], check_probes),
    resource_rule(
        "deployment-zone-spread",
        "Deployments spread their pods over AZs with a hard zone topology spread constraint (DoNotSchedule, "
        "maxSkew 1).",
        f"Add topologySpreadConstraints [{{topologyKey: {ZONE_TOPOLOGY_KEY}, maxSkew: 1, "
        "whenUnsatisfiable: DoNotSchedule, labelSelector: <the pod labels>}].",
        [K8S_DEPLOYMENT], check_zone_spread),
    stack_rule(
        "deployment-pod-disruption-budget",
        "Every Deployment is selected by a PodDisruptionBudget whose minAvailable is below its replica count.",
        "Create a policy/v1 PodDisruptionBudget selecting the Deployment's pod labels with "
        "minAvailable = replicas - 1 (>= 1), so drains proceed one pod at a time.",
        check_pdb, setting_schema("pilotLightRegions")),
    resource_rule(
        "container-resources",
        "Every container sets cpu and memory requests and limits, with limits not below requests.",
        "Set resources.requests and resources.limits for cpu and memory on every container (init containers "
        "included); keep each limit at or above its request.",
        K8S_POD_CONTROLLERS, check_container_resources, severity=Severity.HIGH),
    resource_rule(
        "graceful-termination",
        "Containers drain behind the load balancer: a preStop sleep covering the deregistration path, and a grace "
        "period longer than that sleep plus the drain time.",
        "Add lifecycle.preStop.sleep.seconds >= deregistrationSeconds (10 s by default) to every container and set "
        "terminationGracePeriodSeconds >= the sleep + minDrainSeconds (10 s by default).",
        [K8S_DEPLOYMENT], check_graceful_termination,
        setting_schema(
            deregistrationSeconds={"type": "integer", "minimum": 0, "default": 10,
                                   "description": "Seconds a terminating pod may still receive new requests: its "
                                                  "endpoint leaving kube-proxy on every node (ALB instance targets "
                                                  "on NodePorts)."},
            minDrainSeconds={"type": "integer", "minimum": 0, "default": 10,
                             "description": "Seconds the server needs after SIGTERM to finish in-flight requests."}),
        Severity.MEDIUM),
    stack_rule(
        "hpa-bounds",
        "Each HorizontalPodAutoscaler scales an existing Deployment between its replica floor and a higher "
        "maximum, on a resource every container requests.",
        "Set minReplicas to the Deployment's replicas, maxReplicas above it, and resources.requests for every "
        "resource the HPA targets by utilization.",
        check_hpa_bounds, severity=Severity.HIGH),
    resource_rule(
        "pod-security-restricted",
        "Pods meet the Kubernetes \"restricted\" Pod Security Standard and mount no service-account token unless "
        "they call the Kubernetes API.",
        "In the pod template: runAsNonRoot=True (never UID 0), allowPrivilegeEscalation=False, privileged unset, "
        "capabilities.drop=[ALL] (add at most NET_BIND_SERVICE), seccompProfile RuntimeDefault, no hostNetwork/"
        "hostPID/hostIPC, hostPath or hostPort, automountServiceAccountToken=False (or list the service account "
        "in apiAccessServiceAccounts).",
        K8S_POD_CONTROLLERS, check_pod_security,
        setting_schema(apiAccessServiceAccounts={
            "type": "array", "items": {"type": "string"}, "default": [],
            "description": "Service accounts whose pods call the Kubernetes API and may mount their token."}),
        Severity.HIGH),
    resource_rule(
        "image-pinned-by-digest",
        "Container images are pinned by digest (advisory).",
        "Reference every image as <repository>@sha256:<digest>, mirrored into the account's private ECR in both "
        "regions (README: Container images).",
        K8S_POD_CONTROLLERS, check_image_digest, severity=Severity.LOW, enforcement=EnforcementLevel.ADVISORY),
]
