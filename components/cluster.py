"""Cluster: an EKS control plane with one managed node group per Availability Zone.

Why one node group per AZ rather than one group spanning all three: an Auto Scaling group that
spans AZs rebalances and scales as a whole, so the cluster autoscaler cannot add a node in the one
AZ that is short of capacity, and an AZ outage shows up as one group's odd size instead of "AZ b
has no nodes". With a group per AZ, each AZ scales on its own and the scheduler's zone spread
(see `components/workload.py`) can always be satisfied by scaling the right group.

The node groups' *desired* size belongs to whoever scales them at run time — the cluster
autoscaler in the serving region, `hastack dr scale-up` in the DR region — so the program sets it
on create and then ignores it (`ignore_changes=["scalingConfig.desiredSize"]`); otherwise every
`pulumi up` would undo a scale-up in the middle of an incident.

Security defaults: the API's public endpoint admits only `hastack:kubernetesApiAccessCidrs` (nodes
use the private endpoint), Kubernetes secrets are envelope-encrypted with a customer-managed KMS key
(rotation on), every control-plane log type goes to CloudWatch, nodes require IMDSv2 with a hop
limit of 1 and their root volumes are encrypted with a KMS key of their own.

Why hop limit 1: a pod on the VPC CNI sits one network hop behind its node, so with a limit of 1 it
can't fetch an IMDS token — and can't borrow the node role (ECR pulls, the CNI's ENI permissions)
through a compromised or careless container. Host-network pods (aws-node, kube-proxy, the Pod
Identity agent) are not behind that hop and keep working. Pods that need AWS get their own role
through EKS Pod Identity instead: the `eks-pod-identity-agent` add-on runs on every node and hands
each pod the credentials of the role associated with its service account (see
`components/workload.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.arguments import ArgProblem, require_valid
from hastack.config import NodeGroupSize, NodesConfig
from hastack.topology import Role, Topology

#: Every control-plane log type EKS can ship to CloudWatch.
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
#: Managed policies a managed node group's instance role needs (kubelet, VPC CNI, image pulls, SSM).
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonSSMManagedInstanceCore",
)
CLUSTER_POLICIES = ("AmazonEKSClusterPolicy", "AmazonEKSVPCResourceController")
#: IMDSv2 with a hop limit of 1: only the node itself (and host-network pods) reach the instance
#: metadata; pods get AWS credentials from EKS Pod Identity, never from the node role.
IMDS_HOP_LIMIT = 1
#: The EKS add-on that serves Pod Identity credentials on every node (a host-network DaemonSet).
POD_IDENTITY_ADDON = "eks-pod-identity-agent"
CONTROL_PLANE_LOG_RETENTION_DAYS = 90
#: Root volume floor: the AL2023 EKS AMI plus images of model-serving containers.
MIN_DISK_SIZE_GB = 20


def node_group_size(nodes: NodesConfig, topology: Topology, role: Role) -> NodeGroupSize:
    """Per-AZ node-group size the region built as `role` renders at.

    The primary region always renders at `nodes.primary`. The DR region renders at its pilot-light
    size `nodes.dr`, except while it serves (the stack has failed over): it must then keep the
    production size, or the next `pulumi up` would shrink the min/max the DR scale-up set.
    """
    return nodes.primary if role == "primary" or topology.serves(role) else nodes.dr


@dataclass
class ClusterArgs:
    """Inputs of `Cluster`."""

    #: The EKS cluster's name (fixed: the subnets carry `kubernetes.io/cluster/<name>` tags).
    cluster_name: str
    #: AWS region of the cluster: the kubeconfig's `aws eks get-token --region` needs it.
    region: str
    kubernetes_version: str
    vpc_id: pulumi.Input[str]
    #: One AZ per entry, in the same order as `private_subnet_ids`.
    azs: list[str]
    private_subnet_ids: list[pulumi.Input[str]]
    instance_types: list[str]
    disk_size_gb: int
    #: Size of each AZ's node group (see `node_group_size`).
    node_size: NodeGroupSize
    tags: dict[str, str]
    #: Source ranges allowed on the API's public endpoint (hastack:kubernetesApiAccessCidrs); never empty.
    public_access_cidrs: list[str]

    def __post_init__(self) -> None:
        require_valid("ClusterArgs", self.problems())

    def problems(self) -> Iterator[ArgProblem]:
        if not self.public_access_cidrs:
            yield ArgProblem("public_access_cidrs", self.public_access_cidrs,
                             "a non-empty allow-list (hastack:kubernetesApiAccessCidrs): the public endpoint is "
                             "never open to everyone")
        for i, cidr in enumerate(self.public_access_cidrs):
            if cidr in ("0.0.0.0/0", "::/0"):
                yield ArgProblem(f"public_access_cidrs[{i}]", cidr, "a range narrower than the whole internet")
        if len(self.azs) != len(self.private_subnet_ids):
            yield ArgProblem("private_subnet_ids", list(self.private_subnet_ids),
                             f"one private subnet per AZ: {len(self.azs)} for {self.azs} (a node group per AZ)")
        if not self.instance_types:
            yield ArgProblem("instance_types", self.instance_types, "at least one EC2 instance type")
        if self.disk_size_gb < MIN_DISK_SIZE_GB:
            yield ArgProblem("disk_size_gb", self.disk_size_gb, f"at least {MIN_DISK_SIZE_GB} (GiB)")


@dataclass(frozen=True)
class NodeGroupInfo:
    """One AZ's managed node group, as the rest of the stack (outputs, ingress, alarms) sees it."""

    az: str
    name: pulumi.Output[str]
    size: NodeGroupSize
    #: The Auto Scaling group EKS created for the node group (ALB instance targets attach to it).
    asg_name: pulumi.Output[str]


class Cluster(pulumi.ComponentResource):
    """EKS control plane, IAM roles, security groups, one node group per AZ and a Kubernetes provider."""

    cluster_name: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    node_groups: list[NodeGroupInfo]
    k8s_provider: k8s.Provider

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:cluster:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        self._partition = aws.get_partition(opts=invoke).partition
        self._account_id = aws.get_caller_identity(opts=invoke).account_id

        cluster_role, node_role, role_policies = self._build_roles(name, args, child)
        secrets_key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"Envelope encryption of Kubernetes secrets in EKS cluster {args.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags={**args.tags, "Name": f"{args.cluster_name}-secrets"},
            opts=child,
        )
        # The cluster role needs to use the key; AmazonEKSClusterPolicy does not grant KMS access.
        secrets_key_access = aws.iam.RolePolicy(
            f"{name}-cluster-kms",
            role=cluster_role.name,
            policy=secrets_key.arn.apply(lambda arn: json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Resource": arn,
                               "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]}],
            })),
            opts=child,
        )
        ebs_key = self._build_ebs_key(name, args, child)
        cluster_sg, node_sg = self._build_security_groups(name, args, child)

        # Created before the cluster so that EKS writes into a group with a retention period
        # (EKS would otherwise create it on its own with logs kept forever).
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=CONTROL_PLANE_LOG_RETENTION_DAYS,
            tags=args.tags,
            opts=child,
        )
        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.private_subnet_ids,
                security_group_ids=[cluster_sg.id],
                # Nodes and anything else inside the VPC reach the API privately.
                endpoint_private_access=True,
                # `pulumi up`, kubectl and the DR command run from outside the VPC: the public
                # endpoint stays, limited to their egress ranges (and authenticated by IAM).
                endpoint_public_access=True,
                public_access_cidrs=list(args.public_access_cidrs),
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn),
                resources=["secrets"],
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            # Lets Application Recovery Controller shift traffic away from an impaired AZ.
            zonal_shift_config=aws.eks.ClusterZonalShiftConfigArgs(enabled=True),
            tags={**args.tags, "Name": args.cluster_name},
            opts=pulumi.ResourceOptions(parent=self,
                                        depends_on=[log_group, secrets_key_access, *role_policies["cluster"]]),
        )
        self.cluster_name = self.cluster.name
        self.cluster_arn = self.cluster.arn
        self.node_security_group_id = node_sg.id
        self.cluster_security_group_id = cluster_sg.id

        launch_template = self._build_launch_template(name, args, node_sg, ebs_key, child)
        self._node_group_resources: list[aws.eks.NodeGroup] = []
        self.node_groups = [
            self._build_node_group(name, args, az, subnet_id, node_role, launch_template, role_policies["node"])
            for az, subnet_id in zip(args.azs, args.private_subnet_ids, strict=True)
        ]
        # Pod Identity credentials for pods (with IMDS closed to them by the hop limit). Created after
        # the node groups so its DaemonSet has nodes to start on where the region has any.
        self.pod_identity_agent = aws.eks.Addon(
            f"{name}-pod-identity-agent",
            cluster_name=self.cluster.name,
            addon_name=POD_IDENTITY_ADDON,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._node_group_resources),
        )

        self.kubeconfig = pulumi.Output.all(self.cluster.name, self.cluster.endpoint,
                                            self.cluster.certificate_authority.data).apply(
            lambda v: kubeconfig(v[0], v[1], v[2], args.region))
        self.k8s_provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, opts=child)

        self.register_outputs({
            "clusterName": self.cluster_name,
            "clusterArn": self.cluster_arn,
            "nodeSecurityGroupId": self.node_security_group_id,
            "clusterSecurityGroupId": self.cluster_security_group_id,
            "nodeGroupNames": [ng.name for ng in self.node_groups],
            "nodeGroupAsgNames": [ng.asg_name for ng in self.node_groups],
        })

    # -----------------------------------------------------------------------------------------

    def _policy_arn(self, policy: str) -> str:
        return f"arn:{self._partition}:iam::aws:policy/{policy}"

    def _build_roles(self, name: str, args: ClusterArgs, child: pulumi.ResourceOptions
                     ) -> tuple[aws.iam.Role, aws.iam.Role, dict[str, list[pulumi.Resource]]]:
        """The control plane's role and the nodes' instance role, each with its managed policies."""
        roles: dict[str, aws.iam.Role] = {}
        attachments: dict[str, list[pulumi.Resource]] = {"cluster": [], "node": []}
        for kind, service, policies in (("cluster", "eks.amazonaws.com", CLUSTER_POLICIES),
                                        ("node", "ec2.amazonaws.com", NODE_POLICIES)):
            role = aws.iam.Role(
                f"{name}-{kind}-role",
                assume_role_policy=json.dumps({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": service},
                                   "Action": ["sts:AssumeRole", *(["sts:TagSession"] if kind == "cluster" else [])]}],
                }),
                description=f"EKS {kind} role of {args.cluster_name}",
                tags=args.tags,
                opts=child,
            )
            for policy in policies:
                attachments[kind].append(aws.iam.RolePolicyAttachment(
                    f"{name}-{kind}-{policy.replace('_', '-').lower()}",
                    role=role.name,
                    policy_arn=self._policy_arn(policy),
                    opts=child,
                ))
            roles[kind] = role
        return roles["cluster"], roles["node"], attachments

    def _build_ebs_key(self, name: str, args: ClusterArgs, child: pulumi.ResourceOptions) -> aws.kms.Key:
        """KMS key for the nodes' root volumes.

        Managed node groups launch instances through the EC2 Auto Scaling service-linked role; with a
        customer-managed key it must be allowed to use the key, or instances fail to launch.
        """
        account_root = f"arn:{self._partition}:iam::{self._account_id}:root"
        autoscaling_role = (f"arn:{self._partition}:iam::{self._account_id}:role/aws-service-role/"
                            "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": account_root},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "AutoScalingUsesKeyForVolumes", "Effect": "Allow", "Principal": {"AWS": autoscaling_role},
                 "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                            "kms:DescribeKey"], "Resource": "*"},
                {"Sid": "AutoScalingGrantsForAttachedVolumes", "Effect": "Allow",
                 "Principal": {"AWS": autoscaling_role}, "Action": "kms:CreateGrant", "Resource": "*",
                 "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
            ],
        }
        return aws.kms.Key(
            f"{name}-ebs-key",
            description=f"Encryption of the node volumes of EKS cluster {args.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(policy),
            tags={**args.tags, "Name": f"{args.cluster_name}-ebs"},
            opts=child,
        )

    def _build_security_groups(self, name: str, args: ClusterArgs, child: pulumi.ResourceOptions
                               ) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
        """Control-plane and node security groups, and the rules between them.

        The nodes' launch template sets its own security group, so EKS does not attach its cluster
        security group to them: the node <-> control-plane paths are opened here explicitly. Load
        balancer -> node rules belong to the ingress tier (it adds them to `node_security_group_id`).
        """
        cluster_sg = aws.ec2.SecurityGroup(
            f"{name}-cluster-sg",
            vpc_id=args.vpc_id,
            description=f"EKS control plane of {args.cluster_name}",
            tags={**args.tags, "Name": f"{args.cluster_name}-control-plane"},
            opts=child,
        )
        node_sg = aws.ec2.SecurityGroup(
            f"{name}-node-sg",
            vpc_id=args.vpc_id,
            description=f"Worker nodes of {args.cluster_name}",
            tags={**args.tags, "Name": f"{args.cluster_name}-nodes",
                  f"kubernetes.io/cluster/{args.cluster_name}": "owned"},
            opts=child,
        )
        rules = (
            (cluster_sg, "api-from-nodes", node_sg, "tcp", 443, 443, "Kubernetes API from the nodes"),
            (node_sg, "kubelet-from-control-plane", cluster_sg, "tcp", 1025, 65535,
             "kubelet and webhooks from the control plane"),
            (node_sg, "https-from-control-plane", cluster_sg, "tcp", 443, 443,
             "webhooks on 443 from the control plane"),
            (node_sg, "node-to-node", node_sg, "-1", None, None, "pod and node traffic between nodes"),
        )
        for sg, rule, source, protocol, from_port, to_port, description in rules:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{rule}",
                security_group_id=sg.id,
                referenced_security_group_id=source.id,
                ip_protocol=protocol,
                from_port=from_port,
                to_port=to_port,
                description=description,
                opts=child,
            )
        for sg, rule in ((cluster_sg, "cluster-egress"), (node_sg, "node-egress")):
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-{rule}",
                security_group_id=sg.id,
                ip_protocol="-1",
                cidr_ipv4="0.0.0.0/0",
                description="AWS APIs, image pulls and replies",
                opts=child,
            )
        return cluster_sg, node_sg

    def _build_launch_template(self, name: str, args: ClusterArgs, node_sg: aws.ec2.SecurityGroup,
                               ebs_key: aws.kms.Key, child: pulumi.ResourceOptions) -> aws.ec2.LaunchTemplate:
        """The nodes' launch template: IMDSv2 required, encrypted gp3 root volume, the node SG."""
        return aws.ec2.LaunchTemplate(
            f"{name}-nodes-lt",
            description=f"Worker nodes of {args.cluster_name}",
            update_default_version=True,
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=IMDS_HOP_LIMIT,
            ),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=args.disk_size_gb,
                    volume_type="gp3",
                    encrypted="true",
                    kms_key_id=ebs_key.arn,
                    delete_on_termination="true",
                ),
            )],
            vpc_security_group_ids=[node_sg.id],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind,
                                                          tags={**args.tags, "Name": f"{args.cluster_name}-node"})
                for kind in ("instance", "volume")
            ],
            tags=args.tags,
            opts=child,
        )

    def _build_node_group(self, name: str, args: ClusterArgs, az: str, subnet_id: pulumi.Input[str],
                          node_role: aws.iam.Role, launch_template: aws.ec2.LaunchTemplate,
                          node_policies: list[pulumi.Resource]) -> NodeGroupInfo:
        """One AZ's managed node group, on that AZ's private subnet only."""
        size = args.node_size
        group = aws.eks.NodeGroup(
            f"{name}-ng-{az[-1]}",
            cluster_name=self.cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=[subnet_id],
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type="ON_DEMAND",
            instance_types=args.instance_types,
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=launch_template.id,
                version=launch_template.latest_version.apply(str),
            ),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=size.min_size, desired_size=size.desired_size, max_size=size.max_size,
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels={"hastack.io/node-group-az": az},
            tags={**args.tags, "Name": f"{args.cluster_name}-{az}",
                  "k8s.io/cluster-autoscaler/enabled": "true",
                  f"k8s.io/cluster-autoscaler/{args.cluster_name}": "owned"},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=node_policies,
                # Desired size is owned at run time by the cluster autoscaler / `hastack dr scale-up`.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
        self._node_group_resources.append(group)
        asg_name = group.resources.apply(_first_asg_name)
        return NodeGroupInfo(az=az, name=group.node_group_name, size=size, asg_name=asg_name)


def _first_asg_name(resources: list) -> str:
    """Name of the Auto Scaling group behind a managed node group (`resources[0].autoscalingGroups[0]`)."""
    groups = (resources[0].autoscaling_groups or []) if resources else []
    return groups[0].name or "" if groups else ""


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (no long-lived token in state)."""
    user = f"aws-{region}-{cluster_name}"
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": cluster_name,
        "users": [{"name": user, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--region", region, "--cluster-name", cluster_name, "--output", "json"],
            "interactiveMode": "Never",
        }}}],
    })
