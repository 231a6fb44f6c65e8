"""Every rule of the policy pack, through the real pack process over gRPC (the engine's protocol).

Scenario tables: take the rendered prod plan, change one thing, run the pack, expect the named rule
to fire with a message naming the resource and the setting; and passing variants, which must not
fire. The unchanged prod and staging plans pass every mandatory rule.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from hastack.paths import REPO_ROOT
from hastack.plan.render import Plan
from hastack.policy.runner import PolicyPackProcess, PolicyReport
from tests import (
    test_policy_capacity,
    test_policy_detection,
    test_policy_durability,
    test_policy_secrets,
    test_policy_security,
    test_policy_traffic,
    test_policy_workload,
)
from tests.policy_helpers import (
    DELETE,
    Mutation,
    drops,
    mutated,
    only,
    resource,
    set_prop,
    sets,
    stack_config,
    violations_of,
)


@pytest.fixture(scope="module")
def pack(policy_pack: PolicyPackProcess) -> PolicyPackProcess:
    return policy_pack


@pytest.fixture(scope="module")
def prod(prod_plan: Plan) -> dict[str, Any]:
    return prod_plan.to_json()


@pytest.fixture(scope="module")
def prod_report(pack: PolicyPackProcess, prod: dict[str, Any]) -> PolicyReport:
    return pack.check(prod, stack_config("prod"))


@pytest.fixture(scope="module")
def staging_report(pack: PolicyPackProcess, staging_plan: Plan) -> PolicyReport:
    return pack.check(staging_plan.to_json(), stack_config("staging"))


def run(pack: PolicyPackProcess, plan: dict[str, Any], policy: str, *mutations: Mutation,
        config: dict[str, Any] | None = None) -> PolicyReport:
    base = stack_config("prod")
    if config:
        base = {k: {**base.get(k, {}), **config.get(k, {})} for k in {*base, *config}}
    return pack.check(mutated(plan, *mutations), only(pack, policy, base))


#: The per-module scenario tables of the newer rules (each module runs its own).
SCENARIO_TABLES = (test_policy_workload, test_policy_capacity, test_policy_durability, test_policy_detection,
                   test_policy_security, test_policy_secrets, test_policy_traffic)

# ---------------------------------------------------------------------------------------------
# The shipped stacks pass
# ---------------------------------------------------------------------------------------------

#: Advisory rules (they report, never block) and what the shipped stacks report through them: the
#: pilot-light DR tiers, the placeholder images, which are tags (README: Container images), no VPC
#: flow logs, and no ALB access logs (hastack:ingress.accessLogBuckets is optional).
ADVISORY = {"standby-data-tier-redundancy", "image-pinned-by-digest", "vpc-flow-logs", "alb-access-logs"}
ADVISORY_ON_PROD = ADVISORY


def test_prod_passes_every_mandatory_rule(prod_report: PolicyReport) -> None:
    assert prod_report.passed, [v.to_json() for v in prod_report.mandatory]
    assert prod_report.verdict().startswith("PASS: stack 'prod'")
    assert {v.policy for v in prod_report.violations} <= ADVISORY_ON_PROD
    assert all(v.enforcement_level == "advisory" for v in prod_report.violations)


def test_staging_passes_every_mandatory_rule(staging_report: PolicyReport) -> None:
    assert staging_report.passed, [v.to_json() for v in staging_report.mandatory]
    assert {v.policy for v in staging_report.violations} <= ADVISORY_ON_PROD


#: Settings a reviewer would call at least as safe as the shipped ones; every rule must let them through.
SAFER_VARIANTS: list[Mutation] = [
    # a private-only EKS API endpoint (deployers inside the VPC)
    *(m for c in ("primary-cluster-eks", "dr-cluster-eks") for m in (
        sets(c, "vpcConfig.endpointPublicAccess", False), sets(c, "vpcConfig.publicAccessCidrs", DELETE))),
    # TLS 1.3 only on both HTTPS listeners
    *(sets(listener, "sslPolicy", "ELBSecurityPolicy-TLS13-1-3-2021-06")
      for listener in ("primary-ingress-https", "dr-ingress-https")),
    # PDBs as maxUnavailable: 1, and as percentages
    sets("primary-workload-predictor-pdb", "spec.minAvailable", DELETE),
    sets("primary-workload-predictor-pdb", "spec.maxUnavailable", 1),
    sets("primary-workload-embedder-pdb", "spec.minAvailable", "60%"),
    sets("dr-workload-predictor-pdb", "spec.minAvailable", DELETE),
    sets("dr-workload-predictor-pdb", "spec.maxUnavailable", "34%"),
    # rollouts written as percentages
    sets("primary-workload-embedder-deployment", "spec.strategy.rollingUpdate", {"maxUnavailable": "0%",
                                                                                 "maxSurge": "25%"}),
]


def test_safer_variants_pass_every_rule(pack: PolicyPackProcess, prod: dict[str, Any],
                                        prod_report: PolicyReport) -> None:
    """No false positive: the whole pack, at its default levels, on prod with every safer variant applied."""
    report = pack.check(mutated(prod, *SAFER_VARIANTS), stack_config("prod"))
    assert report.passed, [v.to_json() for v in report.mandatory]
    assert {(v.policy, v.urn) for v in report.violations} == {(v.policy, v.urn) for v in prod_report.violations}


def test_every_rule_is_described_and_mandatory_by_default(pack: PolicyPackProcess) -> None:
    policies = pack.policies()
    assert len(policies) >= 20
    for p in policies:
        assert p.name == p.name.lower() and " " not in p.name and "_" not in p.name
        assert p.description and p.remediation and p.severity
        assert p.enforcement_level == ("advisory" if p.name in ADVISORY else "mandatory")


# ---------------------------------------------------------------------------------------------
# One flip -> the named rule fires
# ---------------------------------------------------------------------------------------------


def _id(plan: dict[str, Any], name: str) -> str:
    return str(resource(plan, name)["id"])


def _one_nat(plan: dict[str, Any]) -> None:
    nat_a = _id(plan, "primary-net-nat-a")
    for rt in ("primary-net-private-b-rt", "primary-net-private-c-rt"):
        set_prop(plan, rt, "routes.0.natGatewayId", nat_a)


def _node_groups_in_one_az(plan: dict[str, Any]) -> None:
    subnet_a = _id(plan, "primary-net-private-a")
    for ng in ("primary-cluster-ng-b", "primary-cluster-ng-c"):
        set_prop(plan, ng, "subnetIds", [subnet_a])


def _alb_in_two_azs(plan: dict[str, Any]) -> None:
    subnets = resource(plan, "primary-ingress-alb")["inputs"]["subnets"]
    set_prop(plan, "primary-ingress-alb", "subnets", subnets[:2])


def _secondary_to_primary_alb(plan: dict[str, Any]) -> None:
    primary_alias = resource(plan, "dns-primary")["inputs"]["aliases"]
    set_prop(plan, "dns-secondary", "aliases", primary_alias)


def _plaintext_auth_token(plan: dict[str, Any]) -> None:
    set_prop(plan, "cache-primary", "authToken", "hunter2-hunter2-hunter2")
    resource(plan, "cache-primary")["propertyDependencies"].pop("authToken", None)


def _env_password(plan: dict[str, Any]) -> None:
    name = "primary-workload-predictor-deployment"
    container = resource(plan, name)["inputs"]["spec"]["template"]["spec"]["containers"][0]
    env = [*container.get("env", []), {"name": "DB_PASSWORD", "value": "s3cr3t"}]
    set_prop(plan, name, "spec.template.spec.containers.0.env", env)


def _k8s_secret(plan: dict[str, Any]) -> None:
    template = resource(plan, "primary-workload-predictor-pdb")
    secret = {**template, "urn": template["urn"].replace("PodDisruptionBudget::primary-workload-predictor-pdb",
                                                           "Secret::primary-api-key").replace("policy/v1", "core/v1"),
              "type": "kubernetes:core/v1:Secret", "name": "primary-api-key",
              "inputs": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api-key", "namespace": "hastack"},
                         "stringData": {"key": "AKIA-not-a-real-key"}}}
    secret["outputs"] = dict(secret["inputs"])
    plan["resources"].append(secret)


def _open_node_port_to_world(plan: dict[str, Any]) -> None:
    name = "primary-ingress-nodes-from-alb-predictor"
    set_prop(plan, name, "referencedSecurityGroupId", DELETE)
    set_prop(plan, name, "cidrIpv4", "0.0.0.0/0")


def _inline_ssh_from_world(plan: dict[str, Any]) -> None:
    set_prop(plan, "primary-net-endpoints-sg", "ingress", [
        {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"], "description": "ssh"}])


def _legacy_rule_v6(plan: dict[str, Any]) -> None:
    sg = resource(plan, "primary-cluster-node-sg")
    rule = {"urn": sg["urn"].replace("aws:ec2/securityGroup:SecurityGroup::primary-cluster-node-sg",
                                     "aws:ec2/securityGroupRule:SecurityGroupRule::nodes-admin"),
            "type": "aws:ec2/securityGroupRule:SecurityGroupRule", "name": "nodes-admin", "id": "sgrule-1",
            "parent": sg["parent"], "provider": sg["provider"], "dependencies": [sg["urn"]], "custom": True,
            "region": sg["region"], "homeRegion": sg["homeRegion"], "propertyDependencies": {},
            "inputs": {"type": "ingress", "protocol": "tcp", "fromPort": 10250, "toPort": 10250,
                       "ipv6CidrBlocks": ["::/0"], "securityGroupId": sg["id"]}}
    rule["outputs"] = dict(rule["inputs"])
    plan["resources"].append(rule)


def _alb_ssh(plan: dict[str, Any]) -> None:
    set_prop(plan, "primary-ingress-alb-443-v4", "fromPort", 22)
    set_prop(plan, "primary-ingress-alb-443-v4", "toPort", 22)


# (id, policy, mutations, fragments the message must contain)
FAILING: list[tuple[str, str, list[Mutation], list[str]]] = [
    ("multi-az-off", "rds-multi-az", [sets("db-primary", "multiAz", False)],
     ["Instance 'db-primary' has multiAz=False", "Set multiAz=True"]),
    ("backups-3-days", "rds-backup-retention", [sets("db-primary", "backupRetentionPeriod", 3)],
     ["'db-primary' keeps automated backups for 3 day(s); at least 7"]),
    ("no-deletion-protection", "rds-deletion-protection", [sets("db-primary", "deletionProtection", False)],
     ["'db-primary' has deletionProtection=False"]),
    ("replica-no-deletion-protection", "rds-deletion-protection", [sets("db-dr", "deletionProtection", False)],
     ["'db-dr'"]),
    ("cache-no-failover", "elasticache-automatic-failover",
     [sets("cache-primary", "automaticFailoverEnabled", False)],
     ["'cache-primary' has automaticFailoverEnabled=False"]),
    ("cache-single-az", "elasticache-automatic-failover", [sets("cache-primary", "multiAzEnabled", False)],
     ["multiAzEnabled=False"]),
    ("cache-one-node", "elasticache-automatic-failover", [sets("cache-primary", "numCacheClusters", 1)],
     ["has 1 node(s) per shard"]),
    ("no-db-replica", "cross-region-replica", [drops("db-dr")],
     ["'db-primary' (us-east-1) has no cross-region read replica in us-west-2"]),
    ("no-cache-secondary", "cross-region-replica", [drops("cache-dr")],
     ["'cache-primary' (us-east-1) has no Global Datastore secondary"]),
    ("node-groups-one-az", "eks-node-groups-span-azs", [_node_groups_in_one_az],
     ["'primary-cluster-eks' (us-east-1) has node groups in 1 AZ(s) (us-east-1a); at least 3"]),
    ("node-group-min-0", "eks-node-groups-span-azs", [sets("primary-cluster-ng-b", "scalingConfig.minSize", 0)],
     ["keeps no node in us-east-1b"]),
    ("dr-node-group-max-0", "eks-node-groups-span-azs", [sets("dr-cluster-ng-c", "scalingConfig.maxSize", 0)],
     ["pilot-light) can never run a node in us-west-2c"]),
    ("one-nat-for-all-azs", "nat-gateway-per-az", [_one_nat],
     ["'primary-net-private-b' (us-east-1b) routes 0.0.0.0/0 through NatGateway 'primary-net-nat-a' in us-east-1a",
      ]),
    ("alb-two-azs-in-prod", "alb-multi-az", [_alb_in_two_azs],
     ["'primary-ingress-alb' (us-east-1) spans 2 AZ(s)", "at least 3"]),
    ("tg-no-health-check", "target-group-health-check", [sets("primary-ingress-predictor", "healthCheck", DELETE)],
     ["'primary-ingress-predictor' has no healthCheck"]),
    ("tg-health-check-disabled", "target-group-health-check",
     [sets("primary-ingress-predictor", "healthCheck.enabled", False)], ["healthCheck.enabled=False"]),
    ("tg-health-check-no-path", "target-group-health-check",
     [sets("primary-ingress-embedder", "healthCheck.path", DELETE)],
     ["'primary-ingress-embedder' has no healthCheck.path"]),
    ("primary-record-no-health-check", "dns-failover-pair", [sets("dns-primary", "healthCheckId", DELETE)],
     ["'dns-primary' (api.example.com) is a PRIMARY failover record without healthCheckId"]),
    ("no-secondary-record", "dns-failover-pair", [drops("dns-secondary")], ["has no SECONDARY failover record"]),
    ("secondary-same-region", "dns-failover-pair", [_secondary_to_primary_alb],
     ["targets us-east-1 and its SECONDARY targets us-east-1"]),
    ("replicas-1", "deployment-replicas", [sets("primary-workload-predictor-deployment", "spec.replicas", 1)],
     ["Deployment 'predictor' (us-east-1) may run 1 pod(s) (replicas); at least 3 are required in production"]),
    ("hpa-min-2", "deployment-replicas", [sets("primary-workload-embedder-hpa", "spec.minReplicas", 2)],
     ["Deployment 'embedder' (us-east-1) may run 2 pod(s) (HPA 'embedder' minReplicas)"]),
    ("max-unavailable-1", "deployment-rollout-max-unavailable",
     [sets("primary-workload-predictor-deployment", "spec.strategy.rollingUpdate.maxUnavailable", 1)],
     ["Deployment 'predictor' (us-east-1) has rollingUpdate.maxUnavailable=1"]),
    ("recreate", "deployment-rollout-max-unavailable",
     [sets("primary-workload-predictor-deployment", "spec.strategy", {"type": "Recreate"})],
     ["uses strategy Recreate"]),
    ("no-readiness-probe", "deployment-probes",
     [sets("primary-workload-predictor-deployment", "spec.template.spec.containers.0.readinessProbe", DELETE)],
     ["container 'predictor' has no readinessProbe"]),
    ("no-liveness-probe", "deployment-probes",
     [sets("dr-workload-embedder-deployment", "spec.template.spec.containers.0.livenessProbe", DELETE)],
     ["Deployment 'embedder' (us-west-2) container 'embedder' has no livenessProbe"]),
    ("no-zone-spread", "deployment-zone-spread",
     [sets("primary-workload-predictor-deployment", "spec.template.spec.topologySpreadConstraints", DELETE)],
     ["no topologySpreadConstraint on topology.kubernetes.io/zone"]),
    ("pdb-removed", "deployment-pod-disruption-budget", [drops("primary-workload-predictor-pdb")],
     ["Deployment 'predictor' (us-east-1) is selected by no PodDisruptionBudget"]),
    ("pdb-blocks-drains", "deployment-pod-disruption-budget",
     [sets("primary-workload-predictor-pdb", "spec.minAvailable", 3)], ["minAvailable=3", "below the replica count"]),
    ("pdb-selects-nothing", "deployment-pod-disruption-budget",
     [sets("primary-workload-embedder-pdb", "spec.selector.matchLabels", {"app.kubernetes.io/name": "nope"})],
     ["Deployment 'embedder' (us-east-1) is selected by no PodDisruptionBudget"]),
    ("rds-unencrypted", "encryption-at-rest", [sets("db-primary", "storageEncrypted", False)],
     ["'db-primary' has storageEncrypted=False"]),
    ("cache-unencrypted", "encryption-at-rest", [sets("cache-primary", "atRestEncryptionEnabled", False)],
     ["'cache-primary' has atRestEncryptionEnabled=False"]),
    ("ebs-unencrypted", "encryption-at-rest",
     [sets("primary-cluster-nodes-lt", "blockDeviceMappings.0.ebs.encrypted", "false")], ["ebs.encrypted='false'"]),
    ("eks-secrets-unencrypted", "encryption-at-rest", [sets("primary-cluster-eks", "encryptionConfig", DELETE)],
     ["does not encrypt Kubernetes secrets with KMS"]),
    ("node-group-no-launch-template", "encryption-at-rest", [sets("primary-cluster-ng-a", "launchTemplate", DELETE)],
     ["'primary-cluster-ng-a' uses no launch template"]),
    ("cache-plaintext", "encryption-in-transit", [sets("cache-primary", "transitEncryptionEnabled", False)],
     ["transitEncryptionEnabled=False"]),
    ("http-listener-forwards", "encryption-in-transit",
     [sets("primary-ingress-http", "defaultActions", [{"type": "fixed-response"}])],
     ["'primary-ingress-http' listens with HTTP on port 80 without redirecting to HTTPS"]),
    ("proxy-without-tls", "encryption-in-transit", [sets("db-primary-proxy", "requireTls", False)],
     ["'db-primary-proxy' has requireTls=False"]),
    ("force-ssl-off", "rds-force-ssl", [sets("db-primary-params", "parameters.0.value", "0")],
     ["does not set rds.force_ssl=1"]),
    ("default-parameter-group", "rds-force-ssl", [sets("db-dr", "parameterGroupName", DELETE)],
     ["'db-dr' uses the default parameter group"]),
    ("public-db", "no-public-access", [sets("db-primary", "publiclyAccessible", True)],
     ["'db-primary' is publiclyAccessible"]),
    ("public-ips-on-subnet", "no-public-access", [sets("primary-net-private-a", "mapPublicIpOnLaunch", True)],
     ["'primary-net-private-a' gives every instance a public IP"]),
    ("node-port-from-anywhere", "no-open-ingress", [_open_node_port_to_world],
     ["'primary-ingress-nodes-from-alb-predictor' opens tcp", "to the internet"]),
    ("inline-ssh-from-anywhere", "no-open-ingress", [_inline_ssh_from_world],
     ["inline ingress rule of SecurityGroup 'primary-net-endpoints-sg' opens tcp 22"]),
    ("legacy-rule-ipv6", "no-open-ingress", [_legacy_rule_v6], ["'nodes-admin' opens tcp 10250"]),
    ("alb-ssh-from-anywhere", "no-open-ingress", [_alb_ssh],
     ["opens tcp 22 of SecurityGroup 'primary-ingress-alb-sg'"]),
    ("imdsv1", "imdsv2-required", [sets("primary-cluster-nodes-lt", "metadataOptions.httpTokens", "optional")],
     ["'primary-cluster-nodes-lt' has metadataOptions.httpTokens='optional'"]),
    ("auth-token-literal", "no-plaintext-secrets", [_plaintext_auth_token],
     ["'cache-primary' has a plaintext value in 'authToken'"]),
    ("env-password", "no-plaintext-secrets", [_env_password], ["(DB_PASSWORD).value"]),
    ("k8s-secret-literal", "no-plaintext-secrets", [_k8s_secret], ["'primary-api-key' has a plaintext value in "
                                                                   "'stringData.key'"]),
    ("eks-api-open-to-internet", "eks-endpoint-restricted",
     [sets("primary-cluster-eks", "vpcConfig.publicAccessCidrs", ["203.0.113.0/24", "0.0.0.0/0"])],
     ["'primary-cluster-eks' opens the Kubernetes API's public endpoint to the whole internet (publicAccessCidrs "
      "contains 0.0.0.0/0)", "hastack:kubernetesApiAccessCidrs"]),
    ("eks-api-public-without-cidrs", "eks-endpoint-restricted",
     [sets("dr-cluster-eks", "vpcConfig.publicAccessCidrs", DELETE)],
     ["'dr-cluster-eks' serves the Kubernetes API on a public endpoint without publicAccessCidrs, which EKS "
      "opens to 0.0.0.0/0"]),
    ("eks-api-public-by-default", "eks-endpoint-restricted",
     [sets("dr-cluster-eks", "vpcConfig.publicAccessCidrs", DELETE),
      sets("dr-cluster-eks", "vpcConfig.endpointPublicAccess", DELETE)], ["without publicAccessCidrs"]),
    ("eks-api-range-not-configured", "eks-endpoint-restricted",
     [sets("primary-cluster-eks", "vpcConfig.publicAccessCidrs", ["203.0.113.0/24", "192.0.2.0/24"])],
     ["admits 192.0.2.0/24 on the Kubernetes API's public endpoint, outside the stack's kubernetesApiAccessCidrs "
      "(203.0.113.0/24, 198.51.100.16/28)"]),
    ("availability-single-az-db", "availability-budget", [sets("db-primary", "multiAz", False)],
     ["below the SLO of 99.95%", "Weakest tier: database (db-primary (single-AZ))"]),
    ("availability-one-nat", "availability-budget", [_one_nat], ["Weakest tier: NAT per AZ"]),
    ("availability-no-dr-path", "availability-budget", [drops("dns-secondary")],
     ["No DR credit: no health-checked PRIMARY record with a SECONDARY in us-west-2"]),
]


@pytest.mark.parametrize(("policy", "mutations", "fragments"), [c[1:] for c in FAILING], ids=[c[0] for c in FAILING])
def test_one_flip_fires_the_named_rule(pack: PolicyPackProcess, prod: dict[str, Any], policy: str,
                                       mutations: list[Mutation], fragments: list[str]) -> None:
    report = run(pack, prod, policy, *mutations)
    messages = violations_of(report, policy)
    assert any(all(f in m for f in fragments) for m in messages), messages
    assert not report.passed and {v.policy for v in report.mandatory} == {policy}


def test_rds_multi_az_message_is_exact(pack: PolicyPackProcess, prod: dict[str, Any]) -> None:
    report = run(pack, prod, "rds-multi-az", sets("db-primary", "multiAz", False))
    assert violations_of(report, "rds-multi-az") == [
        "Instance 'db-primary' has multiAz=False: a single DB instance is a single point of failure. Set multiAz=True "
        "so RDS keeps a synchronous standby in another AZ and fails over to it automatically (typically 60-120 s)."]


def test_availability_message_gives_numbers(pack: PolicyPackProcess, prod: dict[str, Any]) -> None:
    report = run(pack, prod, "availability-budget", sets("db-primary", "multiAz", False))
    (message,) = violations_of(report, "availability-budget")
    assert message.startswith("The serving path in us-east-1 reaches 99.9")
    assert "of downtime per year against 4.4 h allowed" in message
    assert report.violations[0].resource == "Stack::hastack-prod"


# ---------------------------------------------------------------------------------------------
# Passing variants: what the rules deliberately allow
# ---------------------------------------------------------------------------------------------

PASSING: list[tuple[str, str, list[Mutation], dict[str, Any] | None]] = [
    ("pilot-light-replica-single-az", "rds-multi-az", [sets("db-dr", "multiAz", False)], None),
    ("pilot-light-dr-replicas-1", "deployment-replicas",
     [sets("dr-workload-predictor-deployment", "spec.replicas", 1)], None),
    ("pilot-light-dr-nodes-0", "eks-node-groups-span-azs", [sets("dr-cluster-ng-a", "scalingConfig.minSize", 0)], None),
    ("staging-needs-2-replicas", "deployment-replicas",
     [sets("primary-workload-predictor-deployment", "spec.replicas", 2),
      sets("primary-workload-predictor-hpa", "spec.minReplicas", 2)],
     {"deployment-replicas": {"production": False}}),
    ("non-prod-alb-two-azs", "alb-multi-az", [_alb_in_two_azs], {"alb-multi-az": {"production": False}}),
    ("pdb-max-unavailable-1", "deployment-pod-disruption-budget",
     [sets("primary-workload-predictor-pdb", "spec.minAvailable", DELETE),
      sets("primary-workload-predictor-pdb", "spec.maxUnavailable", 1)], None),
    ("pdb-percent", "deployment-pod-disruption-budget",
     [sets("primary-workload-predictor-pdb", "spec.minAvailable", "60%")], None),
    ("max-unavailable-0-percent", "deployment-rollout-max-unavailable",
     [sets("primary-workload-predictor-deployment", "spec.strategy.rollingUpdate.maxUnavailable", "0%")], None),
    ("backups-7-days", "rds-backup-retention", [sets("db-primary", "backupRetentionPeriod", 7)], None),
    ("alb-https-from-anywhere", "no-open-ingress", [], None),
    ("generated-auth-token", "no-plaintext-secrets", [], None),
    ("inline-ingress-from-vpc", "no-open-ingress", [
        sets("primary-net-endpoints-sg", "ingress.0.fromPort", 8443),
        sets("primary-net-endpoints-sg", "ingress.0.toPort", 8443)], None),
    ("secondary-inherits-encryption", "encryption-at-rest",
     [sets("cache-dr", "atRestEncryptionEnabled", DELETE)], None),
    ("eks-api-narrower-range", "eks-endpoint-restricted", [
        sets("primary-cluster-eks", "vpcConfig.publicAccessCidrs", ["203.0.113.128/25"])], None),
    ("eks-api-private-only", "eks-endpoint-restricted", [
        sets("dr-cluster-eks", "vpcConfig.endpointPublicAccess", False),
        sets("dr-cluster-eks", "vpcConfig.publicAccessCidrs", DELETE)], None),
    ("eks-api-any-range-without-allow-list", "eks-endpoint-restricted", [
        sets("primary-cluster-eks", "vpcConfig.publicAccessCidrs", ["192.0.2.0/24"])],
     {"eks-endpoint-restricted": {"kubernetesApiAccessCidrs": []}}),
    ("standby-replica-multi-az", "standby-data-tier-redundancy", [sets("db-dr", "multiAz", True)], None),
]


@pytest.mark.parametrize(("policy", "mutations", "config"), [c[1:] for c in PASSING], ids=[c[0] for c in PASSING])
def test_allowed_variant_passes(pack: PolicyPackProcess, prod: dict[str, Any], policy: str,
                                mutations: list[Mutation], config: dict[str, Any] | None) -> None:
    report = run(pack, prod, policy, *mutations, config=config)
    assert violations_of(report, policy) == []


def test_pilot_light_exemption_is_config_not_code(pack: PolicyPackProcess, prod: dict[str, Any]) -> None:
    """Without the pilot-light settings the DR region must meet the full rules."""
    config = {"rds-multi-az": {"drMode": "warm-standby"}, "deployment-replicas": {"pilotLightRegions": []}}
    report = run(pack, prod, "rds-multi-az", config=config)
    assert any("'db-dr' has multiAz" in m for m in violations_of(report, "rds-multi-az"))
    report = run(pack, prod, "deployment-replicas", sets("dr-workload-predictor-deployment", "spec.replicas", 1),
                 config=config)
    assert any("(us-west-2) may run 1 pod(s)" in m for m in violations_of(report, "deployment-replicas"))


def test_advisory_rules_report_without_blocking(prod_report: PolicyReport) -> None:
    advisory = {v.policy: v for v in prod_report.violations}
    assert advisory["standby-data-tier-redundancy"].enforcement_level == "advisory"
    assert "'db-dr' is a single-AZ cross-region replica" in advisory["standby-data-tier-redundancy"].message


def test_every_rule_has_a_failing_and_a_passing_case(pack: PolicyPackProcess) -> None:
    names = {p.name for p in pack.policies()}
    tables = [s for module in SCENARIO_TABLES for s in module.SCENARIOS]
    failing = {c[1] for c in FAILING} | {s.policy for s in tables if s.expected}
    # every rule passes on the shipped prod plan (test_prod_passes_every_mandatory_rule) and fails here
    assert names - failing <= {"standby-data-tier-redundancy"}
    assert {"standby-data-tier-redundancy", "eks-endpoint-restricted"} <= {c[1] for c in PASSING}
    # the scenario tables hold a passing variant of each of their rules too
    assert {s.policy for s in tables if s.expected} <= {s.policy for s in tables if not s.expected}


def test_docs_rule_table_and_readme_count_match_the_pack(pack: PolicyPackProcess) -> None:
    """docs/policy-pack.md lists every rule as the pack declares it; the README counts them."""
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (\w+) \| (\w+) \| (\w+) \| (.+) \|$",
                      (REPO_ROOT / "docs" / "policy-pack.md").read_text(), re.MULTILINE)
    declared = [(p.name, p.kind, p.enforcement_level, p.severity, p.description) for p in pack.policies()]
    assert sorted(rows) == sorted(declared)
    readme = (REPO_ROOT / "README.md").read_text()
    assert f" {len(declared)} rules:" in readme
