"""Database tier: Multi-AZ writer behind RDS Proxy, cross-region replica, no password anywhere, failed-over shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.database import DatabaseTierArgs, parameter_group_family
from components.placement import Site, bounded_name
from hastack.config import DatabaseConfig
from hastack.plan.render import Plan
from hastack.topology import Topology
from tests.arg_helpers import invalid_arguments
from tests.tier_helpers import (
    SECURITY_GROUP,
    arn_region,
    egress_rules,
    ingress_rules,
    kms_key_by_arn,
    node_security_group_id,
    one,
    private_subnets,
)

INSTANCE = "aws:rds/instance:Instance"
PROXY = "aws:rds/proxy:Proxy"


def instance(plan: Plan, role: str) -> dict[str, Any]:
    return one(plan, INSTANCE, f"db-{role}")


def test_primary_is_multi_az_postgres_from_config(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    db = prod_config["hastack:database"]
    primary = instance(prod_plan, "primary")
    i = primary["inputs"]
    assert primary["region"] == prod_config["hastack:primaryRegion"]
    assert i["engine"] == "postgres"
    assert i["engineVersion"] == db["engineVersion"]
    assert i["instanceClass"] == db["instanceClass"]
    assert i["multiAz"] is True, "the writer must have a synchronous standby in another AZ"
    assert i["publiclyAccessible"] is False


def test_primary_storage_encrypted_with_customer_key_in_its_region(prod_plan: Plan) -> None:
    primary = instance(prod_plan, "primary")
    i = primary["inputs"]
    assert i["storageEncrypted"] is True
    key = kms_key_by_arn(prod_plan, i["kmsKeyId"])
    assert key["region"] == primary["region"]
    assert key["inputs"]["enableKeyRotation"] is True
    assert i["performanceInsightsEnabled"] is True
    assert i["performanceInsightsKmsKeyId"] == i["kmsKeyId"]
    assert i["masterUserSecretKmsKeyId"] == i["kmsKeyId"]


def test_backups_deletion_protection_and_final_snapshot(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    i = instance(prod_plan, "primary")["inputs"]
    assert i["backupRetentionPeriod"] == prod_config["hastack:database"]["backupRetentionDays"]
    assert i["backupRetentionPeriod"] >= 7
    assert i["deletionProtection"] is True
    assert i["skipFinalSnapshot"] is False
    assert i["finalSnapshotIdentifier"] == f"{i['identifier']}-final"


def test_master_password_managed_by_rds(prod_plan: Plan) -> None:
    primary = instance(prod_plan, "primary")
    assert primary["inputs"]["manageMasterUserPassword"] is True
    assert "password" not in primary["inputs"] and "passwordWo" not in primary["inputs"]
    [secret] = primary["outputs"]["masterUserSecrets"]
    assert secret["secretArn"].startswith(f"arn:aws:secretsmanager:{primary['region']}:")


def test_parameter_group_forces_ssl(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    for role in ("primary", "dr"):
        group = one(prod_plan, "aws:rds/parameterGroup:ParameterGroup", f"db-{role}-params")
        assert group["inputs"]["family"] == parameter_group_family(prod_config["hastack:database"]["engineVersion"])
        params = {p["name"]: p["value"] for p in group["inputs"]["parameters"]}
        assert params["rds.force_ssl"] == "1"
        assert instance(prod_plan, role)["inputs"]["parameterGroupName"] == group["outputs"]["name"]


def test_subnet_groups_span_every_private_subnet_of_their_region(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    for role, region_key in (("primary", "hastack:primaryRegion"), ("dr", "hastack:drRegion")):
        region = prod_config[region_key]
        group = one(prod_plan, "aws:rds/subnetGroup:SubnetGroup", f"db-{role}-subnets")
        subnets = private_subnets(prod_plan, region)
        assert sorted(group["inputs"]["subnetIds"]) == sorted(subnets)
        assert len(set(subnets.values())) == prod_config["hastack:azCount"] == 3
        assert instance(prod_plan, role)["inputs"]["dbSubnetGroupName"] == group["outputs"]["name"]


@pytest.mark.parametrize("role", ["primary", "dr"])
def test_database_admits_only_the_nodes_and_its_proxy_on_5432(prod_plan: Plan, role: str) -> None:
    [sg_id] = instance(prod_plan, role)["inputs"]["vpcSecurityGroupIds"]
    proxy_sg = one(prod_plan, SECURITY_GROUP, f"db-{role}-proxy-sg")["id"]
    nodes = node_security_group_id(prod_plan, role)
    rules = ingress_rules(prod_plan, sg_id)
    assert {r["inputs"]["referencedSecurityGroupId"] for r in rules} == {nodes, proxy_sg}
    for rule in rules:
        i = rule["inputs"]
        assert (i["ipProtocol"], i["fromPort"], i["toPort"]) == ("tcp", 5432, 5432), rule["urn"]
        assert "cidrIpv4" not in i and "cidrIpv6" not in i, rule["urn"]
    sg = next(s for s in prod_plan.of_type(SECURITY_GROUP) if s["id"] == sg_id)
    assert not sg["inputs"].get("ingress"), "no inline rules beside the explicit ones"
    [proxy_in] = ingress_rules(prod_plan, proxy_sg)
    assert proxy_in["inputs"]["referencedSecurityGroupId"] == nodes
    [proxy_out] = egress_rules(prod_plan, proxy_sg)
    assert proxy_out["inputs"]["referencedSecurityGroupId"] == sg_id


def test_enhanced_monitoring_role_and_interval(prod_plan: Plan) -> None:
    role = one(prod_plan, "aws:iam/role:Role", "db-monitoring")
    policy = json.loads(role["inputs"]["assumeRolePolicy"])
    assert policy["Statement"][0]["Principal"]["Service"] == "monitoring.rds.amazonaws.com"
    attachment = one(prod_plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "db-monitoring-policy")
    assert attachment["inputs"]["policyArn"].endswith("service-role/AmazonRDSEnhancedMonitoringRole")
    for r in ("primary", "dr"):
        i = instance(prod_plan, r)["inputs"]
        assert i["monitoringInterval"] in (15, 60)
        assert i["monitoringRoleArn"] == role["outputs"]["arn"]


def test_proxy_fronts_the_writer_with_the_rds_managed_secret(prod_plan: Plan) -> None:
    primary = instance(prod_plan, "primary")
    proxy = one(prod_plan, PROXY, "db-primary-proxy")
    i = proxy["inputs"]
    assert proxy["region"] == primary["region"]
    assert i["engineFamily"] == "POSTGRESQL" and i["requireTls"] is True
    [auth] = i["auths"]
    assert auth["authScheme"] == "SECRETS"
    assert auth["secretArn"] == primary["outputs"]["masterUserSecrets"][0]["secretArn"]
    assert sorted(i["vpcSubnetIds"]) == sorted(private_subnets(prod_plan, primary["region"]))
    role = next(r for r in prod_plan.of_type("aws:iam/role:Role") if r["outputs"]["arn"] == i["roleArn"])
    assert json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]["Principal"]["Service"] == "rds.amazonaws.com"
    policy = json.loads(one(prod_plan, "aws:iam/rolePolicy:RolePolicy", "db-primary-proxy-secret")["inputs"]["policy"])
    read = next(s for s in policy["Statement"] if "secretsmanager:GetSecretValue" in s["Action"])
    assert read["Resource"] == [auth["secretArn"]], "the proxy may read exactly the master secret"
    target = one(prod_plan, "aws:rds/proxyTarget:ProxyTarget", "db-primary-proxy-target")
    assert target["inputs"]["dbInstanceIdentifier"] == primary["outputs"]["identifier"]
    assert target["inputs"]["dbProxyName"] == proxy["outputs"]["name"]
    # Pilot-light: no proxy in the DR region until the replica is promoted.
    assert [p["region"] for p in prod_plan.of_type(PROXY)] == [primary["region"]]


def test_dr_replica_replicates_the_primary_arn_from_the_other_region(prod_plan: Plan,
                                                                      prod_config: dict[str, Any]) -> None:
    primary, replica = instance(prod_plan, "primary"), instance(prod_plan, "dr")
    source = replica["inputs"]["replicateSourceDb"]
    assert source == primary["outputs"]["arn"]
    assert source.startswith("arn:aws:rds:") and source.endswith(f":db:{primary['outputs']['identifier']}")
    assert arn_region(source) == prod_config["hastack:primaryRegion"] != replica["region"]
    assert replica["region"] == prod_config["hastack:drRegion"]
    assert primary["urn"] in replica["dependencies"], "the replica must wait for its source"


def test_dr_replica_is_encrypted_with_a_dr_region_key_in_dr_subnets(prod_plan: Plan,
                                                                      prod_config: dict[str, Any]) -> None:
    replica = instance(prod_plan, "dr")
    i = replica["inputs"]
    key = kms_key_by_arn(prod_plan, i["kmsKeyId"])
    assert i["storageEncrypted"] is True
    assert key["region"] == arn_region(i["kmsKeyId"]) == replica["region"]
    assert i["instanceClass"] == prod_config["hastack:database"]["drInstanceClass"]
    assert i["multiAz"] is False, "pilot-light replica is single-AZ until promoted"
    assert i["deletionProtection"] is True and i["skipFinalSnapshot"] is False
    # Inherited from the source: a replica may not set them.
    for inherited in ("manageMasterUserPassword", "username", "password", "engineVersion", "backupRetentionPeriod"):
        assert inherited not in i, inherited


def test_database_outputs_follow_the_contract(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    out = prod_plan.outputs["database"]
    primary, replica = instance(prod_plan, "primary"), instance(prod_plan, "dr")
    proxy = one(prod_plan, PROXY, "db-primary-proxy")
    assert out == {
        "primary": {"region": primary["region"], "identifier": primary["outputs"]["identifier"],
                    "arn": primary["outputs"]["arn"], "endpoint": primary["outputs"]["address"],
                    "proxyEndpoint": proxy["outputs"]["endpoint"]},
        "replica": {"region": replica["region"], "identifier": replica["outputs"]["identifier"],
                    "arn": replica["outputs"]["arn"], "endpoint": replica["outputs"]["address"]},
        "prodInstanceClass": prod_config["hastack:database"]["instanceClass"],
    }
    assert out["replica"]["arn"] == f"arn:aws:rds:{replica['region']}:123456789012:db:{out['replica']['identifier']}"


# -- failed over (activeRegion = drRegion) -----------------------------------------------------


def test_failed_over_dr_database_is_the_standalone_multi_az_writer(failed_over_plan: Plan, prod_plan: Plan,
                                                                   prod_config: dict[str, Any]) -> None:
    dr = instance(failed_over_plan, "dr")
    i = dr["inputs"]
    assert "replicateSourceDb" not in i
    assert i["multiAz"] is True
    assert i["instanceClass"] == prod_config["hastack:database"]["instanceClass"]
    assert i["manageMasterUserPassword"] is True and "password" not in i
    assert i["backupRetentionPeriod"] == prod_config["hastack:database"]["backupRetentionDays"]
    # Same resource, same identifier and key: the promotion is an update, never a replacement.
    before = instance(prod_plan, "dr")
    assert dr["urn"] == before["urn"]
    for immutable in ("identifier", "kmsKeyId", "dbSubnetGroupName"):
        assert i[immutable] == before["inputs"][immutable], immutable
    proxies = {p["region"]: p for p in failed_over_plan.of_type(PROXY)}
    dr_secret = dr["outputs"]["masterUserSecrets"][0]["secretArn"]
    assert proxies[dr["region"]]["inputs"]["auths"][0]["secretArn"] == dr_secret


def test_failed_over_keeps_the_old_primary_untouched_and_protected(failed_over_plan: Plan, prod_plan: Plan) -> None:
    old, before = instance(failed_over_plan, "primary"), instance(prod_plan, "primary")
    assert old["inputs"] == before["inputs"], "no diff: nothing is sent to a region that may be down"
    assert old["protect"] is True and old["retainOnDelete"] is True
    assert before["protect"] is False
    old_proxy = one(failed_over_plan, PROXY, "db-primary-proxy")
    assert old_proxy["protect"] is True and old_proxy["retainOnDelete"] is True


def test_failed_over_outputs_keep_naming_members_by_their_built_region(failed_over_plan: Plan, prod_plan: Plan,
                                                                       prod_config: dict[str, Any]) -> None:
    """`primary`/`replica` never flip (the DR command reads them); activeRegion says who writes."""
    out = failed_over_plan.outputs["database"]
    assert out["primary"]["region"] == prod_config["hastack:primaryRegion"]
    assert out["replica"]["region"] == prod_config["hastack:drRegion"] == failed_over_plan.outputs["activeRegion"]
    for member in ("primary", "replica"):
        for key in ("identifier", "arn", "endpoint"):
            assert out[member][key] == prod_plan.outputs["database"][member][key], (member, key)
    assert arn_region(out["replica"]["arn"]) == out["replica"]["region"]


# -- argument validation (no engine) -----------------------------------------------------------


SERVING_EAST = Topology("us-east-1", "us-west-2", "us-east-1")


def _site(role: str, region: str, azs: tuple[str, ...] = ("a", "b", "c")) -> Site:
    return Site(role=role, region=region, provider=None, vpc_id="vpc-1", azs=list(azs),  # type: ignore[arg-type]
                private_subnet_ids=[f"s-{az}" for az in azs], client_security_group_id="sg-1")


def test_args_report_every_bad_argument_at_once() -> None:
    db = DatabaseConfig(engine_version="16.4", instance_class="db.r6g.large")
    DatabaseTierArgs(db, _site("primary", "us-east-1"), _site("dr", "us-west-2"), SERVING_EAST, "hastack-test")
    problems = invalid_arguments(lambda: DatabaseTierArgs(
        db, _site("dr", "us-east-1"), _site("dr", "us-east-1", azs=("a",)), SERVING_EAST, "1-hastack"))
    assert problems == [
        ("primary.role", "'dr' is invalid: 'primary': the site of the region built as primary"),
        ("dr.region", "'us-east-1' is invalid: the topology's dr region (us-west-2)"),
        ("dr.azs", "['a'] is invalid: at least 2 AZs"),
        ("name_prefix", "'1-hastack' is invalid: letters, digits and '-', starting with a letter (e.g. "
                        "'hastack-prod': RDS and ElastiCache names allow nothing else; rename the stack)"),
    ]


def test_site_needs_one_private_subnet_per_az() -> None:
    problems = invalid_arguments(lambda: Site(
        role="standby", region="us-west-2", provider=None, vpc_id="v", azs=["a", "b", "c"],  # type: ignore[arg-type]
        private_subnet_ids=["s1", "s2"], client_security_group_id="sg"))
    assert problems == [("role", "'standby' is invalid: one of primary, dr"),
                        ("private_subnet_ids", "['s1', 's2'] is invalid: one private subnet per AZ: 3 for "
                                               "['a', 'b', 'c']")]


def test_bounded_name_is_stable_unique_and_short() -> None:
    assert bounded_name("hastack-prod", "primary", limit=32) == "hastack-prod-primary"
    long_a = bounded_name("hastack-staging", "primary", "predictor-large", limit=32)
    long_b = bounded_name("hastack-staging", "primary", "predictor-small", limit=32)
    assert len(long_a) <= 32 and len(long_b) <= 32 and long_a != long_b
    assert long_a == bounded_name("hastack-staging", "primary", "predictor-large", limit=32)
