"""Cluster: per-AZ node groups, hardened control plane and nodes, DR sizes and the failed-over render."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from plan_helpers import by_arn, by_id, in_role, is_private_subnet, subnet_az

from components.cluster import CONTROL_PLANE_LOG_TYPES, ClusterArgs, node_group_size
from hastack.config import NodeGroupSize, parse_config
from hastack.plan.render import Plan, read_stack_config
from tests.arg_helpers import invalid_arguments

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
PRIMARY_SIZE = {"minSize": 1, "desiredSize": 2, "maxSize": 6}
DR_SIZE = {"minSize": 0, "desiredSize": 0, "maxSize": 6}


@pytest.fixture(scope="module")
def failed_over_plan(render_config: Callable[..., Plan]) -> Plan:
    """Prod after `hastack dr scale-up`: the operator set activeRegion to the DR region."""
    config = read_stack_config("prod")
    config["hastack:activeRegion"] = config["hastack:drRegion"]
    return render_config(config)


def test_primary_has_one_node_group_per_az_on_that_azs_private_subnet(prod_plan: Plan) -> None:
    azs_by_subnet = subnet_az(prod_plan)
    subnets = by_id(prod_plan, "aws:ec2/subnet:Subnet")
    groups = in_role(prod_plan, "primary", NODE_GROUP)
    azs = []
    for group in groups:
        [subnet_id] = group["inputs"]["subnetIds"]
        assert is_private_subnet(subnets[subnet_id]), f"{group['urn']} is not on a private subnet"
        azs.append(azs_by_subnet[subnet_id])
        assert group["inputs"]["scalingConfig"] == PRIMARY_SIZE
    assert len(groups) == 3 and len(set(azs)) == 3, azs


def test_node_group_desired_size_is_left_to_the_autoscaler(prod_plan: Plan) -> None:
    for group in prod_plan.of_type(NODE_GROUP):
        assert group["ignoreChanges"] == ["scalingConfig.desiredSize"], group["urn"]


def test_control_plane_version_logging_and_secrets_encryption(prod_plan: Plan) -> None:
    keys = by_arn(prod_plan, "aws:kms/key:Key")
    clusters = prod_plan.of_type("aws:eks/cluster:Cluster")
    assert {c["region"] for c in clusters} == {"us-east-1", "us-west-2"}
    for cluster in clusters:
        inputs = cluster["inputs"]
        assert inputs["version"] == "1.31"
        assert set(inputs["enabledClusterLogTypes"]) == set(CONTROL_PLANE_LOG_TYPES) == {
            "api", "audit", "authenticator", "controllerManager", "scheduler"}
        assert inputs["encryptionConfig"]["resources"] == ["secrets"]
        key = keys[inputs["encryptionConfig"]["provider"]["keyArn"]]
        assert key["inputs"]["enableKeyRotation"] is True and key["region"] == cluster["region"]
        assert inputs["vpcConfig"]["endpointPrivateAccess"] is True
        # The public endpoint admits only hastack:kubernetesApiAccessCidrs (never the whole internet).
        assert inputs["vpcConfig"]["endpointPublicAccess"] is True
        assert inputs["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24", "198.51.100.16/28"]
        assert len(inputs["vpcConfig"]["subnetIds"]) == 3


def test_nodes_require_imdsv2_and_encrypt_volumes_with_kms(prod_plan: Plan) -> None:
    templates = by_id(prod_plan, "aws:ec2/launchTemplate:LaunchTemplate")
    keys = by_arn(prod_plan, "aws:kms/key:Key")
    for group in prod_plan.of_type(NODE_GROUP):
        template = templates[group["inputs"]["launchTemplate"]["id"]]["inputs"]
        # Hop limit 1: pods (one hop behind the node) can't reach IMDS and the node role; they use Pod Identity.
        assert template["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                               "httpPutResponseHopLimit": 1}
        [root] = template["blockDeviceMappings"]
        assert root["ebs"]["encrypted"] == "true"
        assert keys[root["ebs"]["kmsKeyId"]]["inputs"]["enableKeyRotation"] is True
        assert root["ebs"]["volumeSize"] == 100
        assert "diskSize" not in group["inputs"], "disk size belongs in the launch template when one is used"


def test_node_role_has_the_managed_policies(prod_plan: Plan) -> None:
    attached = {(a["inputs"]["role"], a["inputs"]["policyArn"].rsplit("/", 1)[-1])
                for a in in_role(prod_plan, "primary", "aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    roles = {r["name"]: r["outputs"]["name"] for r in in_role(prod_plan, "primary", "aws:iam/role:Role")}
    node_role, cluster_role = roles["primary-cluster-node-role"], roles["primary-cluster-cluster-role"]
    for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"):
        assert (node_role, policy) in attached
    assert (cluster_role, "AmazonEKSClusterPolicy") in attached


def test_dr_node_groups_are_pilot_light_in_the_dr_region(prod_plan: Plan) -> None:
    groups = in_role(prod_plan, "dr", NODE_GROUP)
    assert len(groups) == 3
    assert {g["region"] for g in groups} == {"us-west-2"}
    assert all(g["inputs"]["scalingConfig"] == DR_SIZE for g in groups)
    assert {subnet_az(prod_plan)[g["inputs"]["subnetIds"][0]] for g in groups} == {
        "us-west-2a", "us-west-2b", "us-west-2c"}


def test_failed_over_render_puts_dr_node_groups_at_prod_size(failed_over_plan: Plan) -> None:
    for role in ("dr", "primary"):
        groups = in_role(failed_over_plan, role, NODE_GROUP)
        assert [g["inputs"]["scalingConfig"] for g in groups] == [PRIMARY_SIZE] * 3, role
    outputs = failed_over_plan.outputs["nodeGroups"]["us-west-2"]
    assert [(g["minSize"], g["desiredSize"], g["maxSize"]) for g in outputs] == [(1, 2, 6)] * 3
    # Serving from DR: Pulumi waits for the DR rollouts again.
    dr_deployments = [d for d in failed_over_plan.of_type("kubernetes:apps/v1:Deployment")
                      if d["homeRegion"] == "us-west-2"]
    assert dr_deployments and all("annotations" not in d["inputs"]["metadata"] for d in dr_deployments)


def test_node_group_size_per_role() -> None:
    raw = {k.split(":", 1)[1]: v for k, v in read_stack_config("prod").items() if k.startswith("hastack:")}
    config = parse_config(raw)
    assert _sizes(node_group_size(config.nodes, config.topology, "primary")) == (1, 2, 6)
    assert _sizes(node_group_size(config.nodes, config.topology, "dr")) == (0, 0, 6)
    raw["activeRegion"] = raw["drRegion"]
    failed_over = parse_config(raw).topology
    assert _sizes(node_group_size(config.nodes, failed_over, "dr")) == (1, 2, 6)
    assert _sizes(node_group_size(config.nodes, failed_over, "primary")) == (1, 2, 6)


def _sizes(size: NodeGroupSize) -> tuple[int, int, int]:
    return (size.min_size, size.desired_size, size.max_size)


@pytest.mark.parametrize(("region", "cluster"),
                         [("us-east-1", "hastack-prod-primary"), ("us-west-2", "hastack-prod-dr")])
def test_kubernetes_provider_authenticates_with_eks_get_token(prod_plan: Plan, region: str, cluster: str) -> None:
    [provider] = [p for p in prod_plan.of_type("pulumi:providers:kubernetes") if p["homeRegion"] == region]
    kubeconfig = json.loads(provider["inputs"]["kubeconfig"])
    [eks] = [c for c in prod_plan.of_type("aws:eks/cluster:Cluster") if c["region"] == region]
    assert kubeconfig["clusters"][0]["cluster"]["server"] == eks["outputs"]["endpoint"]
    [user] = kubeconfig["users"]
    assert user["user"]["exec"]["command"] == "aws"
    assert user["user"]["exec"]["args"] == ["eks", "get-token", "--region", region, "--cluster-name", cluster,
                                            "--output", "json"]


def test_cluster_and_node_group_outputs_follow_the_contract(prod_plan: Plan) -> None:
    outputs = prod_plan.outputs
    assert outputs["clusters"] == {
        "us-east-1": {"name": "hastack-prod-primary",
                      "arn": "arn:aws:eks:us-east-1:123456789012:cluster/hastack-prod-primary"},
        "us-west-2": {"name": "hastack-prod-dr", "arn": "arn:aws:eks:us-west-2:123456789012:cluster/hastack-prod-dr"},
    }
    names = {g["outputs"]["nodeGroupName"] for g in prod_plan.of_type(NODE_GROUP)}
    for region, cluster, size in (("us-east-1", "hastack-prod-primary", PRIMARY_SIZE),
                                  ("us-west-2", "hastack-prod-dr", DR_SIZE)):
        groups = outputs["nodeGroups"][region]
        assert sorted(g["az"] for g in groups) == [f"{region}a", f"{region}b", f"{region}c"]
        for g in groups:
            assert g["clusterName"] == cluster and g["name"] in names
            assert {k: g[k] for k in size} == size and all(isinstance(g[k], int) for k in size)
    dr_groups = outputs["drNodeGroups"]
    dr_now = outputs["nodeGroups"]["us-west-2"]
    assert [(g["name"], g["az"]) for g in dr_groups] == [(g["name"], g["az"]) for g in dr_now]
    for g in dr_groups:
        prod_size = (g["prodMinSize"], g["prodDesiredSize"], g["prodMaxSize"])
        assert g["clusterName"] == "hastack-prod-dr" and prod_size == (1, 2, 6)


def _cluster_args(**overrides: Any) -> ClusterArgs:
    size = NodeGroupSize(min_size=1, desired_size=2, max_size=6)
    base: dict[str, Any] = dict(
        cluster_name="hastack-test-primary", region="us-east-1", kubernetes_version="1.31", vpc_id="vpc-1",
        azs=["us-east-1a", "us-east-1b", "us-east-1c"], private_subnet_ids=["s1", "s2", "s3"],
        instance_types=["m6i.large"], disk_size_gb=50, node_size=size, tags={},
        public_access_cidrs=["203.0.113.0/24"])
    return ClusterArgs(**{**base, **overrides})


def test_cluster_args_report_every_bad_argument_at_once() -> None:
    _cluster_args()
    problems = invalid_arguments(lambda: _cluster_args(public_access_cidrs=["203.0.113.0/24", "0.0.0.0/0"],
                                                       private_subnet_ids=["s1"], instance_types=[], disk_size_gb=8))
    assert problems == [
        ("public_access_cidrs[1]", "'0.0.0.0/0' is invalid: a range narrower than the whole internet"),
        ("private_subnet_ids", "['s1'] is invalid: one private subnet per AZ: 3 for ['us-east-1a', 'us-east-1b', "
                               "'us-east-1c'] (a node group per AZ)"),
        ("instance_types", "[] is invalid: at least one EC2 instance type"),
        ("disk_size_gb", "8 is invalid: at least 20 (GiB)"),
    ]
    [(path, reason)] = invalid_arguments(lambda: _cluster_args(public_access_cidrs=[]))
    assert path == "public_access_cidrs" and "never open to everyone" in reason


def test_every_cluster_runs_the_pod_identity_agent_after_its_node_groups(prod_plan: Plan) -> None:
    clusters = {c["inputs"]["name"]: c for c in prod_plan.of_type("aws:eks/cluster:Cluster")}
    addons = prod_plan.of_type("aws:eks/addon:Addon")
    assert sorted(a["inputs"]["clusterName"] for a in addons) == sorted(clusters)
    for addon in addons:
        assert addon["inputs"]["addonName"] == "eks-pod-identity-agent"
        assert addon["region"] == clusters[addon["inputs"]["clusterName"]]["region"]
        groups = [g["urn"] for g in prod_plan.of_type(NODE_GROUP)
                  if g["inputs"]["clusterName"] == addon["inputs"]["clusterName"]]
        assert len(groups) == 3 and set(groups) <= set(addon["dependencies"])
