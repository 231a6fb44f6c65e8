"""Cache tier: one node per AZ, failover, encryption, generated AUTH token, Global Datastore; no secret in the plan."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from components.cache import CacheTierArgs
from components.placement import Site
from hastack.config import CacheConfig
from hastack.plan import mock_values
from hastack.plan.render import SECRET, Plan, write_plan
from hastack.topology import Topology
from tests.arg_helpers import invalid_arguments
from tests.tier_helpers import (
    SECURITY_GROUP,
    ingress_rules,
    kms_key_by_arn,
    node_security_group_id,
    one,
    private_subnets,
)

GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
GLOBAL = "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup"
TOKEN = "random:index/randomPassword:RandomPassword"


def group(plan: Plan, role: str) -> dict[str, Any]:
    return one(plan, GROUP, f"cache-{role}")


def region_of(config: dict[str, Any], role: str) -> str:
    return config["hastack:primaryRegion" if role == "primary" else "hastack:drRegion"]


@pytest.mark.parametrize("role", ["primary", "dr"])
def test_one_node_per_az_with_automatic_multi_az_failover(prod_plan: Plan, prod_config: dict[str, Any],
                                                          role: str) -> None:
    g = group(prod_plan, role)
    i = g["inputs"]
    region = region_of(prod_config, role)
    azs = sorted(set(private_subnets(prod_plan, region).values()))
    assert g["region"] == region
    assert i["numCacheClusters"] == prod_config["hastack:azCount"] >= 3
    assert sorted(i["preferredCacheClusterAzs"]) == azs and len(set(i["preferredCacheClusterAzs"])) == 3
    assert i["automaticFailoverEnabled"] is True and i["multiAzEnabled"] is True
    assert len(g["outputs"]["memberClusters"]) == 3
    subnet_group = one(prod_plan, "aws:elasticache/subnetGroup:SubnetGroup", f"cache-{role}-subnets")
    assert sorted(subnet_group["inputs"]["subnetIds"]) == sorted(private_subnets(prod_plan, region))
    assert i["subnetGroupName"] == subnet_group["outputs"]["name"]


@pytest.mark.parametrize("role", ["primary", "dr"])
def test_encrypted_at_rest_with_regional_customer_key_and_in_transit(prod_plan: Plan, role: str) -> None:
    g = group(prod_plan, role)
    i = g["inputs"]
    assert i["atRestEncryptionEnabled"] is True and i["transitEncryptionEnabled"] is True
    key = kms_key_by_arn(prod_plan, i["kmsKeyId"])
    assert key["region"] == g["region"] and key["inputs"]["enableKeyRotation"] is True
    assert i["authToken"] == SECRET


@pytest.mark.parametrize("role", ["primary", "dr"])
def test_cache_admits_only_the_nodes(prod_plan: Plan, role: str) -> None:
    [sg_id] = group(prod_plan, role)["inputs"]["securityGroupIds"]
    [rule] = ingress_rules(prod_plan, sg_id)
    i = rule["inputs"]
    assert i["referencedSecurityGroupId"] == node_security_group_id(prod_plan, role)
    assert (i["ipProtocol"], i["fromPort"], i["toPort"]) == ("tcp", 6379, 6379)
    sg = next(s for s in prod_plan.of_type(SECURITY_GROUP) if s["id"] == sg_id)
    assert not sg["inputs"].get("ingress")


def test_primary_takes_engine_and_snapshots_from_config(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    cache = prod_config["hastack:cache"]
    i = group(prod_plan, "primary")["inputs"]
    assert i["engine"] == cache["engine"] == "valkey"
    assert i["engineVersion"] == cache["engineVersion"]
    assert i["nodeType"] == cache["nodeType"]
    for role in ("primary", "dr"):
        assert group(prod_plan, role)["inputs"]["snapshotRetentionLimit"] == cache["snapshotRetentionDays"]


def test_global_datastore_joins_the_primary_and_the_dr_secondary(prod_plan: Plan) -> None:
    primary, dr = group(prod_plan, "primary"), group(prod_plan, "dr")
    datastore = one(prod_plan, GLOBAL, "cache-global")
    gid = datastore["outputs"]["globalReplicationGroupId"]
    assert re.fullmatch(r"ldgnf-[a-z0-9-]+", gid)
    assert datastore["region"] == primary["region"]
    assert datastore["inputs"]["primaryReplicationGroupId"] == primary["outputs"]["replicationGroupId"]
    assert dr["inputs"]["globalReplicationGroupId"] == gid and dr["region"] != primary["region"]
    # The DR command moves the primary role; the program must never recreate the datastore for it.
    assert "primaryReplicationGroupId" in datastore["ignoreChanges"]
    # A secondary inherits engine, version and node type from the datastore.
    assert not {"engineVersion", "nodeType", "parameterGroupName"} & set(dr["inputs"])


def test_auth_token_is_generated_into_replicated_secrets_manager(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    token = one(prod_plan, TOKEN, "cache-auth-token")
    assert token["inputs"]["length"] >= 16 and token["inputs"]["special"] is False
    assert token["outputs"]["result"] == SECRET
    secret = one(prod_plan, "aws:secretsmanager/secret:Secret", "cache-auth")
    assert secret["region"] == prod_config["hastack:primaryRegion"]
    [replica] = secret["inputs"]["replicas"]
    assert replica["region"] == prod_config["hastack:drRegion"]
    assert kms_key_by_arn(prod_plan, replica["kmsKeyId"])["region"] == replica["region"]
    assert kms_key_by_arn(prod_plan, secret["inputs"]["kmsKeyId"])["region"] == secret["region"]
    version = one(prod_plan, "aws:secretsmanager/secretVersion:SecretVersion", "cache-auth-value")
    assert version["inputs"]["secretString"] == SECRET
    assert version["inputs"]["secretId"] == secret["id"]


_SECRET_KEY = re.compile(r"(password|authtoken|secretstring|token)$", re.IGNORECASE)


def _plaintext_secret_keys(value: Any, path: str = "") -> list[str]:
    """Paths of keys that name a secret and hold something other than "[secret]" (booleans/lengths are fine)."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{path}.{k}" if path else k
            if _SECRET_KEY.search(k) and isinstance(v, str) and v != SECRET:
                found.append(here)
            found += _plaintext_secret_keys(v, here)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _plaintext_secret_keys(v, f"{path}[{i}]")
    return found


def test_no_password_or_token_anywhere_in_the_written_plan(prod_plan: Plan, tmp_path: Path) -> None:
    paths = write_plan(prod_plan, tmp_path)
    text = paths["plan"].read_text() + paths["outputs"].read_text()
    # The value the mock provider generated for the token (what `random` would put in state).
    generated = mock_values.RESOURCE_EXTRAS[TOKEN]("cache-auth-token", "", {"length": 64}, "")["result"]
    assert len(generated) == 64
    assert generated not in text, "the AUTH token leaked into the plan"
    assert generated[:16] not in text
    assert _plaintext_secret_keys(json.loads(paths["plan"].read_text())) == []
    assert not re.search(r'"(masterPassword|password)"\s*:\s*"(?!\[secret\])', text)


def test_secret_scan_would_catch_a_plaintext_password() -> None:
    assert _plaintext_secret_keys({"inputs": {"password": "hunter2", "manageMasterUserPassword": True}}) == [
        "inputs.password"]


def test_cache_outputs_follow_the_contract(prod_plan: Plan, prod_config: dict[str, Any]) -> None:
    datastore = one(prod_plan, GLOBAL, "cache-global")
    assert prod_plan.outputs["cache"] == {
        "globalDatastoreId": datastore["outputs"]["globalReplicationGroupId"],
        "primary": {"region": prod_config["hastack:primaryRegion"],
                    "replicationGroupId": group(prod_plan, "primary")["outputs"]["replicationGroupId"]},
        "secondary": {"region": prod_config["hastack:drRegion"],
                      "replicationGroupId": group(prod_plan, "dr")["outputs"]["replicationGroupId"]},
    }


def test_failed_over_changes_no_cache_resource_and_no_output(failed_over_plan: Plan, prod_plan: Plan) -> None:
    """The Global Datastore's primary moves at run time (hastack dr); the program converges without a diff."""
    assert failed_over_plan.outputs["cache"] == prod_plan.outputs["cache"]
    for name in ("cache-primary", "cache-dr", "cache-global"):
        typ = GLOBAL if name == "cache-global" else GROUP
        assert one(failed_over_plan, typ, name)["inputs"] == one(prod_plan, typ, name)["inputs"], name


def test_args_need_one_node_in_each_of_three_azs_and_report_every_problem() -> None:
    site = Site(role="primary", region="us-east-1", provider=None, vpc_id="v", azs=["a", "b"],  # type: ignore[arg-type]
                private_subnet_ids=["s1", "s2"], client_security_group_id="sg")
    dr = Site(role="dr", region="us-west-2", provider=None, vpc_id="v", azs=["a", "b"],  # type: ignore[arg-type]
              private_subnet_ids=["s1", "s2"], client_security_group_id="sg")
    cache = CacheConfig(engine="valkey", engine_version="8.0", node_type="cache.r7g.large")
    topology = Topology("us-east-1", "us-west-2", "us-east-1")
    problems = invalid_arguments(lambda: CacheTierArgs(cache, site, dr, 2, topology, "hastack-test",
                                                       notification_topic_arns={"eu-west-1": "arn"}))
    assert problems == [
        ("az_count", "2 is invalid: at least 3: one node per AZ, a primary and two replicas in other AZs"),
        ("primary.azs", "['a', 'b'] is invalid: at least 3 AZs"),
        ("dr.azs", "['a', 'b'] is invalid: at least 3 AZs"),
        ("notification_topic_arns.eu-west-1", "'eu-west-1' is invalid: a key of the topology's regions "
                                              "(us-east-1, us-west-2)"),
    ]


@pytest.mark.parametrize("role", ["primary", "dr"])
def test_failover_events_go_to_the_regions_paging_topic(prod_plan: Plan, prod_config: dict[str, Any],
                                                        role: str) -> None:
    """Automatic failovers page: each group notifies its own region's topic (the alarms' topic)."""
    g = group(prod_plan, role)
    region = region_of(prod_config, role)
    topic_arn = prod_plan.outputs["alarmTopicArns"][region]
    assert g["inputs"]["notificationTopicArn"] == topic_arn
    [topic] = [r for r in prod_plan.of_type("aws:sns/topic:Topic") if r["outputs"]["arn"] == topic_arn]
    assert topic["urn"] in g["propertyDependencies"]["notificationTopicArn"], "the topic exists before the group"
