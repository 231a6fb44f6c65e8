"""Workload: the model-serving services on one region's EKS cluster.

Per service: a Deployment, its PodDisruptionBudget, HorizontalPodAutoscaler and a NodePort
Service, in one namespace. The availability properties live in the pod template:

* **Zone spread** — `topologySpreadConstraints` on `topology.kubernetes.io/zone` with
  `DoNotSchedule`: replicas never pile up in one AZ, so losing an AZ costs at most a third of the
  capacity. The per-node spread is `ScheduleAnyway` (a preference): a full node must not block a
  rollout. `matchLabelKeys: [pod-template-hash]` makes the spread count per ReplicaSet, so a
  rollout's new pods are spread on their own. No `minDomains`: after an AZ is lost, its zone has no
  nodes and drops out of the count, and replacement pods may land in the surviving AZs.
* **Probes** — startup (generous: model loading), readiness (fast: take a pod out of the Service
  quickly) and liveness (slow: restart only a pod that is really stuck) on the three health paths.
* **Rollouts** — `maxUnavailable: 0`, `maxSurge: 1`: serving capacity never drops during a deploy.
* **Graceful stop** — the pod first sleeps in `preStop` while it is removed from the Service's
  endpoints and kube-proxy on every node stops sending it new connections, then gets SIGTERM to
  drain in-flight requests; `terminationGracePeriodSeconds` covers both.
* **AWS access through EKS Pod Identity** — the nodes' IMDS hop limit is 1, so pods can't use the
  node role. The model servers run as the `model-server` service account (no Kubernetes API token
  mounted), which a Pod Identity association ties to a role of this region that may read only the
  secrets listed in `WorkloadArgs.readable_secrets` (the cache AUTH token) in this region.

Why NodePort: the ALB (ingress tier) registers the node-group instances as targets on a fixed
node port per service (`node_port(index)`); kube-proxy forwards to a ready pod on any node
(`externalTrafficPolicy: Cluster`), so every healthy instance is a valid target.

The DR region declares the same workload — same shape, same replica counts — even while it is
pilot-light with zero nodes. Its pods stay Pending until `hastack dr scale-up` adds nodes, and are
then scheduled straight away: failing over is only adding nodes, never deploying software in the
middle of an incident, and what runs in DR is exactly what was reviewed for the primary. The one
difference is that Pulumi does not wait for those Deployments to become ready (`await_rollout`
False), or every `pulumi up` would time out on pods that cannot be scheduled yet.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.arguments import ArgProblem, require_valid
from hastack.config import ServiceConfig

#: First node port handed out; service i gets NODE_PORT_BASE + i (inside 30000-32767).
NODE_PORT_BASE = 30000
NODE_PORT_MAX = 32767
#: Seconds a stopping pod keeps serving while it leaves the endpoints everywhere.
PRESTOP_SLEEP_SECONDS = 15
#: Seconds the server then gets to drain in-flight requests after SIGTERM.
DRAIN_SECONDS = 30
#: CPU utilisation the HPA aims for: leaves headroom for a lost AZ's load before new pods are up.
HPA_CPU_TARGET_PERCENT = 60
#: UID the containers run as (non-root, no login shell needed).
RUN_AS_USER = 10001
#: The model servers' Kubernetes service account (its Pod Identity association gives AWS access).
SERVICE_ACCOUNT = "model-server"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"


def node_port(index: int) -> int:
    """The fixed node port of the `index`-th service in config order (the ALB targets it)."""
    port = NODE_PORT_BASE + index
    if not NODE_PORT_BASE <= port <= NODE_PORT_MAX:
        raise ValueError(f"service #{index} would get node port {port}, outside {NODE_PORT_BASE}-{NODE_PORT_MAX}")
    return port


def min_available(replicas: int) -> int:
    """PDB floor: all replicas but one, so a drain moves one pod at a time (needs replicas >= 2)."""
    if replicas < 2:
        raise ValueError(f"replicas = {replicas}: a disruption budget needs at least 2 replicas")
    return replicas - 1


#: A private ECR image reference: `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]/<repository>...`.
_PRIVATE_ECR = re.compile(r"^(?P<account>\d{12})\.dkr\.(?P<service>ecr(?:-fips)?)\.(?P<region>[a-z0-9-]+)"
                          r"\.(?P<domain>amazonaws\.com(?:\.cn)?)/(?P<rest>.+)$")


def regional_image(image: str, region: str) -> str:
    """The image a region's pods pull: a private ECR reference is re-pointed at `region`'s registry.

    Why: a pull from another region's ECR does not go through this VPC's ECR endpoints (it leaves
    through NAT) and fails while that region is down — the DR region must pull from its own
    registry. ECR replication and pull-through cache rules keep the repository path and the digest
    the same in every region, so only the registry host changes. Any other reference (public ECR,
    Docker Hub, ...) is returned unchanged.
    """
    match = _PRIVATE_ECR.match(image)
    if match is None:
        return image
    return (f"{match['account']}.dkr.{match['service']}.{region}.{match['domain']}/{match['rest']}")


def supports_sleep_action(kubernetes_version: str) -> bool:
    """`lifecycle.preStop.sleep` is on by default from Kubernetes 1.30 (beta); 1.29 needs `exec sleep`."""
    major, minor = (int(p) for p in kubernetes_version.split(".")[:2])
    return (major, minor) >= (1, 30)


@dataclass
class WorkloadArgs:
    """Inputs of `Workload`."""

    namespace: str
    services: tuple[ServiceConfig, ...]
    kubernetes_version: str
    #: The AWS region the cluster runs in (a label on every object: which copy is this?).
    region: str
    #: Wait for Deployments to become ready on `pulumi up` (False while the region has no nodes).
    await_rollout: bool
    #: The EKS cluster the workload runs on (its Pod Identity association names it).
    cluster_name: pulumi.Input[str]
    #: Secrets Manager secret names (in this region) the model servers may read, e.g. the cache AUTH token.
    readable_secrets: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        require_valid("WorkloadArgs", self.problems())

    def problems(self) -> Iterator[ArgProblem]:
        if not _DNS_LABEL.match(self.namespace):
            yield ArgProblem("namespace", self.namespace, "a DNS label (lowercase letters, digits and '-')")
        if not re.match(r"^\d+\.\d+$", self.kubernetes_version):
            yield ArgProblem("kubernetes_version", self.kubernetes_version, "a major.minor version such as '1.31'")
        if not self.services:
            yield ArgProblem("services", list(self.services), "at least one service")
        if len(self.services) > NODE_PORT_MAX - NODE_PORT_BASE + 1:
            yield ArgProblem("services", f"{len(self.services)} services",
                             f"at most {NODE_PORT_MAX - NODE_PORT_BASE + 1} (one node port each)")
        for i, svc in enumerate(self.services):
            if svc.replicas < 2:
                yield ArgProblem(f"services[{i}].replicas", svc.replicas, "at least 2 (the disruption budget keeps "
                                 "all but one)")


@dataclass(frozen=True)
class ServiceInfo:
    """One deployed service as the ingress tier and the stack outputs see it."""

    name: str
    port: int
    node_port: int
    replicas: int
    health_path: str


class Workload(pulumi.ComponentResource):
    """Namespace plus, per service, Deployment, PodDisruptionBudget, HorizontalPodAutoscaler, Service.

    Create it with the cluster's Kubernetes provider in `opts.providers` so every object lands on
    that cluster.
    """

    services: list[ServiceInfo]
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:workload:Workload", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace,
                labels={
                    "app.kubernetes.io/part-of": "hastack",
                    # The pods below satisfy the "restricted" Pod Security Standard; enforce it so
                    # nothing less hardened can be started in this namespace.
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": f"v{args.kubernetes_version}",
                },
            ),
            opts=child,
        )
        self.namespace = ns.metadata.name
        self.service_account = self._build_identity(name, args, ns)
        self.services = [self._build_service(name, args, index, svc, ns) for index, svc in enumerate(args.services)]
        self.register_outputs({
            "namespace": self.namespace,
            "services": [{"name": s.name, "port": s.port, "nodePort": s.node_port, "replicas": s.replicas}
                         for s in self.services],
        })

    def _build_identity(self, name: str, args: WorkloadArgs, ns: k8s.core.v1.Namespace) -> k8s.core.v1.ServiceAccount:
        """The model servers' service account and, through EKS Pod Identity, their AWS role in this region."""
        invoke = pulumi.InvokeOptions(parent=self)
        partition = aws.get_partition(opts=invoke).partition
        account = aws.get_caller_identity(opts=invoke).account_id
        account_sa = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SERVICE_ACCOUNT, namespace=ns.metadata.name,
                                                labels={"app.kubernetes.io/part-of": "hastack"}),
            # The model servers do not call the Kubernetes API; Pod Identity brings its own token.
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]),
        )
        role = aws.iam.Role(
            f"{name}-pod-role",
            description=f"Model-server pods in {args.region} (EKS Pod Identity, service account {SERVICE_ACCOUNT})",
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"]}]}),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Secrets Manager appends "-" and 6 characters to a secret's name in its ARN.
        secrets = [f"arn:{partition}:secretsmanager:{args.region}:{account}:secret:{s}-??????"
                   for s in args.readable_secrets]
        if secrets:
            aws.iam.RolePolicy(
                f"{name}-pod-secrets",
                role=role.id,
                policy=json.dumps({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                     "Resource": secrets},
                    {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*", "Condition": {
                        "StringEquals": {"kms:ViaService": f"secretsmanager.{args.region}.amazonaws.com"},
                        "StringLike": {"kms:EncryptionContext:SecretARN": secrets}}},
                ]}),
                opts=pulumi.ResourceOptions(parent=self),
            )
        aws.eks.PodIdentityAssociation(
            f"{name}-pod-identity",
            cluster_name=args.cluster_name,
            namespace=args.namespace,
            service_account=SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return account_sa

    def _build_service(self, name: str, args: WorkloadArgs, index: int, svc: ServiceConfig,
                       ns: k8s.core.v1.Namespace) -> ServiceInfo:
        child = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        selector = {"app.kubernetes.io/name": svc.name, "app.kubernetes.io/instance": f"{svc.name}-{args.region}"}
        labels = {**selector, "app.kubernetes.io/part-of": "hastack", "app.kubernetes.io/component": "model-server",
                  "hastack.io/region": args.region}
        prefix = f"{name}-{svc.name}"

        def meta(annotations: dict[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=svc.name, namespace=ns.metadata.name, labels=labels,
                                              annotations=annotations)

        k8s.apps.v1.Deployment(
            f"{prefix}-deployment",
            metadata=meta(None if args.await_rollout else {"pulumi.com/skipAwait": "true"}),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=svc.replicas,
                revision_history_limit=5,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=self._pod_spec(args, svc, selector),
                ),
            ),
            # The HPA owns the live replica count; the config's value is the floor it starts from.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns, self.service_account],
                                        ignore_changes=["spec.replicas"]),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{prefix}-pdb",
            metadata=meta(),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                min_available=min_available(svc.replicas),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                # A crash-looping pod must not block node drains (it is not serving anyway).
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
            opts=child,
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{prefix}-hpa",
            metadata=meta(),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=svc.name),
                min_replicas=svc.replicas,
                max_replicas=svc.max_replicas,
                metrics=[k8s.autoscaling.v2.MetricSpecArgs(
                    type="Resource",
                    resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                        name="cpu",
                        target=k8s.autoscaling.v2.MetricTargetArgs(
                            type="Utilization", average_utilization=HPA_CPU_TARGET_PERCENT),
                    ),
                )],
                behavior=k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
                    # Scale up at once, scale down slowly: a traffic dip must not shed warm replicas.
                    scale_down=k8s.autoscaling.v2.HPAScalingRulesArgs(
                        stabilization_window_seconds=300,
                        policies=[k8s.autoscaling.v2.HPAScalingPolicyArgs(type="Pods", value=1, period_seconds=60)],
                    ),
                ),
            ),
            opts=child,
        )
        port = node_port(index)
        k8s.core.v1.Service(
            f"{prefix}-svc",
            metadata=meta(),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="NodePort",
                selector=selector,
                external_traffic_policy="Cluster",
                ports=[k8s.core.v1.ServicePortArgs(name="http", protocol="TCP", port=svc.port,
                                                   target_port="http", node_port=port)],
            ),
            opts=child,
        )
        return ServiceInfo(name=svc.name, port=svc.port, node_port=port, replicas=svc.replicas,
                           health_path=svc.health_paths.ready)

    @staticmethod
    def _pod_spec(args: WorkloadArgs, svc: ServiceConfig, selector: dict[str, str]) -> k8s.core.v1.PodSpecArgs:
        """The hardened, zone-spread pod of one model server."""

        def probe(path: str, period: int, timeout: int, failures: int, delay: int = 0) -> k8s.core.v1.ProbeArgs:
            return k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http", scheme="HTTP"),
                initial_delay_seconds=delay, period_seconds=period, timeout_seconds=timeout,
                failure_threshold=failures, success_threshold=1,
            )

        if supports_sleep_action(args.kubernetes_version):
            pre_stop = k8s.core.v1.LifecycleHandlerArgs(
                sleep=k8s.core.v1.SleepActionArgs(seconds=PRESTOP_SLEEP_SECONDS))
        else:
            pre_stop = k8s.core.v1.LifecycleHandlerArgs(
                exec_=k8s.core.v1.ExecActionArgs(command=["sleep", str(PRESTOP_SLEEP_SECONDS)]))

        spread = [
            k8s.core.v1.TopologySpreadConstraintArgs(
                topology_key=key, max_skew=1, when_unsatisfiable=when,
                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                match_label_keys=["pod-template-hash"],
            )
            for key, when in ((ZONE_KEY, "DoNotSchedule"), (HOST_KEY, "ScheduleAnyway"))
        ]
        container = k8s.core.v1.ContainerArgs(
            name=svc.name,
            image=regional_image(svc.image, args.region),
            image_pull_policy="IfNotPresent",
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=svc.port, protocol="TCP")],
            env=[k8s.core.v1.EnvVarArgs(name="PORT", value=str(svc.port)),
                 k8s.core.v1.EnvVarArgs(name="HASTACK_REGION", value=args.region)],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": svc.resources.requests.cpu, "memory": svc.resources.requests.memory},
                limits={"cpu": svc.resources.limits.cpu, "memory": svc.resources.limits.memory},
            ),
            # Startup: up to 5 minutes to load a model (60 x 5 s) before liveness starts counting.
            startup_probe=probe(svc.health_paths.startup, period=5, timeout=2, failures=60),
            # Readiness: out of the Service after 2 failed checks (10 s).
            readiness_probe=probe(svc.health_paths.ready, period=5, timeout=2, failures=2),
            # Liveness: restart only after 30 s of failing, so a slow request burst does not kill pods.
            liveness_probe=probe(svc.health_paths.live, period=10, timeout=3, failures=3),
            lifecycle=k8s.core.v1.LifecycleArgs(pre_stop=pre_stop),
            security_context=k8s.core.v1.SecurityContextArgs(
                run_as_non_root=True,
                run_as_user=RUN_AS_USER,
                run_as_group=RUN_AS_USER,
                allow_privilege_escalation=False,
                read_only_root_filesystem=True,
                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            # The root filesystem is read-only: scratch space (model caches, temp files) goes here.
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )
        return k8s.core.v1.PodSpecArgs(
            containers=[container],
            volumes=[k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs())],
            topology_spread_constraints=spread,
            termination_grace_period_seconds=PRESTOP_SLEEP_SECONDS + DRAIN_SECONDS,
            # AWS credentials through Pod Identity; the model server does not call the Kubernetes API.
            service_account_name=SERVICE_ACCOUNT,
            automount_service_account_token=False,
            security_context=k8s.core.v1.PodSecurityContextArgs(
                run_as_non_root=True, fs_group=RUN_AS_USER,
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
        )
