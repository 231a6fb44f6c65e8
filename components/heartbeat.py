"""Heartbeat: a small Deployment per region that keeps `ReplicaLag` a measure of data.

RDS for PostgreSQL reports a replica's lag from the last transaction it replayed, so an idle
primary shows minutes of "lag" with nothing missing, and the DR command's gates (RPO before the
promotion, catch-up evidence before a failback) would judge noise. The heartbeat writes one row every
`hastack:dr.heartbeatSeconds` to the writer database (the program: hastack/heartbeat.py).

The same Deployment runs in both regions, one pod per AZ (an AZ loss does not stop the beat); each
pod asks its region's database `pg_is_in_recovery()` and writes only where it is not: the primary
region's pods beat, the pilot-light DR region's stay idle (their pods are Pending until the DR
command adds nodes, and then find a replica) until the promotion, when they take over. No step of
the DR command has to start or stop it.

What it needs, all built here or by the tiers it names:

* **credentials**: the region's RDS-managed master secret, found with `rds:DescribeDBInstances` on
  this region's instance and read with `secretsmanager:GetSecretValue` — allowed only on secrets RDS
  manages for that instance (tag `aws:rds:primaryDBInstanceArn`) and decrypted through Secrets Manager
  with the database's KMS key. The pods get the role through **EKS Pod Identity** (service account
  `heartbeat`, a Pod Identity association; the cluster's `eks-pod-identity-agent` add-on,
  components/cluster.py, serves the credentials: the nodes' IMDS is closed to pods);
* **network path**: the pods run on the cluster's nodes, whose security group the database admits on
  5432 (components/database.py); Secrets Manager, RDS and the Pod Identity agent's EKS Auth API are
  reached through the NAT gateways (or VPC endpoints, if you add them);
* **image**: `hastack:dr.heartbeatImage` (built from images/heartbeat/Dockerfile: python, boto3,
  psycopg, hastack/heartbeat.py), pulled from the region's own registry like the services'.

Pod hardening follows the model servers' (components/workload.py): restricted Pod Security, read-only
root filesystem, zone spread, a disruption budget, probes (the loop's liveness file, checked by
`python -m hastack.heartbeat check`), a short preStop sleep so it keeps beating while its
replacement starts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.arguments import ArgProblem, require_valid
from components.workload import HOST_KEY, RUN_AS_USER, ZONE_KEY, regional_image, supports_sleep_action
from hastack.heartbeat import NOT_A_WRITER_BACKOFF_SECONDS, TABLE

if TYPE_CHECKING:
    from components.database import DatabaseTier
    from components.region import Region
    from hastack.config import StackConfig

NAME = "heartbeat"
SERVICE_ACCOUNT = "heartbeat"
#: Keeps beating while a replacement pod starts; the grace period covers it and the loop's last beat.
PRESTOP_SLEEP_SECONDS = 10
STOP_SECONDS = 10
CPU_REQUEST, CPU_LIMIT = "50m", "200m"
MEMORY_REQUEST, MEMORY_LIMIT = "64Mi", "128Mi"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def probe_max_age(interval_seconds: int) -> int:
    """How old the loop's liveness file may get: a region without a writer re-checks only every backoff."""
    return NOT_A_WRITER_BACKOFF_SECONDS + 3 * interval_seconds + 15


@dataclass
class HeartbeatArgs:
    """Inputs of `Heartbeat` (one region's)."""

    region: str
    #: The Kubernetes namespace (the workload's) and the EKS cluster it runs on.
    namespace: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    #: This region's database instance: the writer, or the replica the heartbeat waits on.
    db_instance_identifier: pulumi.Input[str]
    db_instance_arn: pulumi.Input[str]
    #: The KMS key the instance's RDS-managed master secret is encrypted with.
    db_kms_key_arn: pulumi.Input[str]
    image: str
    interval_seconds: int
    kubernetes_version: str
    #: One pod per AZ.
    replicas: int
    #: Wait for the rollout on `pulumi up` (False while the region has no nodes).
    await_rollout: bool

    def __post_init__(self) -> None:
        require_valid("HeartbeatArgs", self.problems())

    def problems(self) -> Iterator[ArgProblem]:
        if self.replicas < 2:
            yield ArgProblem("replicas", self.replicas, "at least 2 (one per AZ: an AZ loss must not stop the beat)")
        if not 1 <= self.interval_seconds <= 60:
            yield ArgProblem("interval_seconds", self.interval_seconds, "between 1 and 60 seconds")
        if not self.image or self.image.endswith(":latest"):
            yield ArgProblem("image", self.image, "a pinned image reference (tag or digest, not 'latest')")


class Heartbeat(pulumi.ComponentResource):
    """IAM role + Pod Identity association, service account, Deployment and PodDisruptionBudget.

    Create it with the region's AWS and Kubernetes providers in `opts.providers`.
    """

    def __init__(self, name: str, args: HeartbeatArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:heartbeat:Heartbeat", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = self._role(name, args)
        aws.eks.PodIdentityAssociation(
            f"{name}-pod-identity", cluster_name=args.cluster_name, namespace=args.namespace,
            service_account=SERVICE_ACCOUNT, role_arn=role.arn, opts=child)
        labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/instance": f"{NAME}-{args.region}",
                  "app.kubernetes.io/part-of": "hastack", "app.kubernetes.io/component": "heartbeat",
                  "hastack.io/region": args.region}
        selector = {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SERVICE_ACCOUNT, namespace=args.namespace, labels=labels),
            # The heartbeat never calls the Kubernetes API; Pod Identity brings its own token.
            automount_service_account_token=False,
            opts=child)
        annotations = None if args.await_rollout else {"pulumi.com/skipAwait": "true"}
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=args.namespace, labels=labels,
                                                annotations=annotations),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=args.replicas,
                revision_history_limit=5,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=self._pod_spec(args, selector)),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]))
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=args.namespace, labels=labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                min_available=args.replicas - 1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                unhealthy_pod_eviction_policy="AlwaysAllow"),
            opts=child)
        self.role_arn = role.arn
        self.register_outputs({"roleArn": role.arn, "deployment": NAME})

    def _role(self, name: str, args: HeartbeatArgs) -> aws.iam.Role:
        """The pods' role: read this instance's description and its RDS-managed master secret, nothing else."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            description=f"Heartbeat pods in {args.region} (EKS Pod Identity, service account {SERVICE_ACCOUNT})",
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"]}]}),
            opts=child)
        invoke = pulumi.InvokeOptions(parent=self)
        partition = aws.get_partition(opts=invoke).partition
        account = aws.get_caller_identity(opts=invoke).account_id
        # RDS names the secrets it manages `rds!db-<id>` and tags them with the instance's ARN.
        secrets = f"arn:{partition}:secretsmanager:{args.region}:{account}:secret:rds!db-*"
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.all(args.db_instance_arn, args.db_kms_key_arn).apply(
                lambda refs: json.dumps({"Version": "2012-10-17", "Statement": [
                    {"Sid": "FindTheInstance", "Effect": "Allow", "Action": "rds:DescribeDBInstances",
                     "Resource": refs[0]},
                    {"Sid": "ReadItsMasterSecret", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                     "Resource": secrets,
                     "Condition": {"StringEquals": {
                         "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn": refs[0]}}},
                    {"Sid": "DecryptItThroughSecretsManager", "Effect": "Allow", "Action": "kms:Decrypt",
                     "Resource": refs[1],
                     "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{args.region}.amazonaws.com"}}},
                ]})),
            opts=child)
        return role

    @staticmethod
    def _pod_spec(args: HeartbeatArgs, selector: dict[str, str]) -> k8s.core.v1.PodSpecArgs:
        check = ["python", "-m", "hastack.heartbeat", "check", "--max-age", str(probe_max_age(args.interval_seconds))]

        def probe(period: int, failures: int) -> k8s.core.v1.ProbeArgs:
            return k8s.core.v1.ProbeArgs(exec_=k8s.core.v1.ExecActionArgs(command=check), period_seconds=period,
                                         timeout_seconds=5, failure_threshold=failures, success_threshold=1)

        if supports_sleep_action(args.kubernetes_version):
            pre_stop = k8s.core.v1.LifecycleHandlerArgs(
                sleep=k8s.core.v1.SleepActionArgs(seconds=PRESTOP_SLEEP_SECONDS))
        else:
            pre_stop = k8s.core.v1.LifecycleHandlerArgs(
                exec_=k8s.core.v1.ExecActionArgs(command=["sleep", str(PRESTOP_SLEEP_SECONDS)]))
        spread = [k8s.core.v1.TopologySpreadConstraintArgs(
            topology_key=key, max_skew=1, when_unsatisfiable=when,
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            match_label_keys=["pod-template-hash"])
            for key, when in ((ZONE_KEY, "DoNotSchedule"), (HOST_KEY, "ScheduleAnyway"))]
        container = k8s.core.v1.ContainerArgs(
            name=NAME,
            image=regional_image(args.image, args.region),
            image_pull_policy="IfNotPresent",
            command=["python", "-m", "hastack.heartbeat", "run"],
            env=[k8s.core.v1.EnvVarArgs(name="AWS_REGION", value=args.region),
                 k8s.core.v1.EnvVarArgs(name="HASTACK_DB_INSTANCE", value=args.db_instance_identifier),
                 k8s.core.v1.EnvVarArgs(name="HASTACK_HEARTBEAT_SECONDS", value=str(args.interval_seconds))],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": CPU_REQUEST, "memory": MEMORY_REQUEST},
                limits={"cpu": CPU_LIMIT, "memory": MEMORY_LIMIT}),
            # Startup: the first pass may wait out a connect timeout and the backoff of a region with no writer.
            startup_probe=probe(period=10, failures=max(3, probe_max_age(args.interval_seconds) // 10 + 1)),
            readiness_probe=probe(period=10, failures=3),
            liveness_probe=probe(period=10, failures=3),
            lifecycle=k8s.core.v1.LifecycleArgs(pre_stop=pre_stop),
            security_context=k8s.core.v1.SecurityContextArgs(
                run_as_non_root=True, run_as_user=RUN_AS_USER, run_as_group=RUN_AS_USER,
                allow_privilege_escalation=False, read_only_root_filesystem=True,
                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )
        return k8s.core.v1.PodSpecArgs(
            service_account_name=SERVICE_ACCOUNT,
            containers=[container],
            volumes=[k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs())],
            topology_spread_constraints=spread,
            termination_grace_period_seconds=PRESTOP_SLEEP_SECONDS + STOP_SECONDS,
            automount_service_account_token=False,
            security_context=k8s.core.v1.PodSecurityContextArgs(
                run_as_non_root=True, fs_group=RUN_AS_USER,
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
        )


def region_heartbeat(region: Region, database: DatabaseTier, config: StackConfig) -> Heartbeat:
    """The `Heartbeat` of one region, on its cluster, waiting on (or writing to) its own database instance."""
    return Heartbeat(
        f"{region.role}-heartbeat",
        HeartbeatArgs(
            region=region.region, namespace=region.workload.namespace, cluster_name=region.cluster.cluster_name,
            db_instance_identifier=database.instances[region.role].identifier,
            db_instance_arn=database.instances[region.role].arn, db_kms_key_arn=database.keys[region.role].arn,
            image=config.dr.heartbeat_image, interval_seconds=config.dr.heartbeat_seconds,
            kubernetes_version=config.kubernetes_version, replicas=config.az_count,
            await_rollout=region.node_size.desired_size > 0),
        opts=pulumi.ResourceOptions(parent=region, providers={"aws": region.provider,
                                                              "kubernetes": region.k8s_provider}))


def heartbeat_output(regions: list[str], config: StackConfig) -> dict[str, object]:
    """The `heartbeat` stack output."""
    return {"writer": "kubernetes-deployment", "namespace": "hastack", "deploymentName": NAME, "regions": regions,
            "table": TABLE, "intervalSeconds": config.dr.heartbeat_seconds}
