"""Config validation that knows AWS: regions, instance types, and pods that must fit the nodes.

Regions are checked against botocore's endpoint data, instance types against the dated list in
hastack/catalog/aws-instance-types.json; each scenario mutates prod's config and names the line the
operator reads. Warnings (a listed family, an unlisted size) must reach the user without failing:
through `pulumi.log.warn` in the program, which `hastack plan` prints.
"""

from __future__ import annotations

import copy
import gzip
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hastack.catalog.capacity import allocatable, kube_reserved_cpu
from hastack.catalog.instance_types import CATALOG_PATH, catalog
from hastack.catalog.regions import aws_regions
from hastack.config import ConfigError, config_warnings, parse_config
from hastack.paths import REPO_ROOT
from hastack.plan.render import read_stack_config, render

LIST = "the instance-type list of 2026-10-20 (hastack/catalog/aws-instance-types.json)"


@pytest.fixture(scope="module")
def prod_raw() -> dict[str, Any]:
    return {k.split(":", 1)[1]: v for k, v in read_stack_config("prod").items() if k.startswith("hastack:")}


def _changed(raw: dict[str, Any], mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    changed = copy.deepcopy(raw)
    mutate(changed)
    return changed


def _errors(raw: dict[str, Any], mutate: Callable[[dict[str, Any]], None]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(_changed(raw, mutate))
    return caught.value.errors


def _dr_in(region: str) -> Callable[[dict[str, Any]], None]:
    """Move the DR region (its CIDR and certificate follow)."""
    def mutate(raw: dict[str, Any]) -> None:
        old = raw["drRegion"]
        raw["drRegion"] = region
        raw["vpcCidrs"][region] = raw["vpcCidrs"].pop(old)
        arn = raw["ingress"]["certificateArns"].pop(old)
        raw["ingress"]["certificateArns"][region] = arn.replace(f":acm:{old}:", f":acm:{region}:")
    return mutate


# -- regions ------------------------------------------------------------------------------------


def test_a_region_aws_does_not_have_is_an_error_with_a_did_you_mean(prod_raw: dict[str, Any]) -> None:
    errors = _errors(prod_raw, lambda r: r.update(primaryRegion="us-east-9"))
    assert errors[0] == ("hastack:primaryRegion = 'us-east-9' is invalid: an AWS region (botocore's endpoint data "
                         "has no 'us-east-9'); did you mean 'us-east-2' or 'us-east-1' or 'us-west-2'?")


def test_every_region_of_the_aws_partition_is_accepted_and_the_list_is_botocores(prod_raw: dict[str, Any]) -> None:
    spec = importlib.util.find_spec("botocore")
    assert spec is not None and spec.origin is not None
    partitions = json.loads((Path(spec.origin).parent / "data" / "partitions.json").read_text())
    aws = next(p for p in partitions["partitions"] if p["id"] == "aws")
    assert {r for r in aws["regions"] if not r.endswith("-global")} == {
        r for r, partition in aws_regions().items() if partition == "aws"}
    for region in ("eu-south-2", "mx-central-1", "ap-southeast-7"):
        assert parse_config(_changed(prod_raw, _dr_in(region))).dr_region == region


def test_the_dr_region_must_be_in_the_primarys_partition(prod_raw: dict[str, Any]) -> None:
    errors = _errors(prod_raw, _dr_in("cn-north-1"))
    assert errors == ["hastack:drRegion = 'cn-north-1' is invalid: a region of the aws partition, as "
                      "hastack:primaryRegion (us-east-1) is: data does not replicate across partitions"]


# -- instance types -----------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value", "line"), [
    ("nodes", {"instanceTypes": ["m6x.large"]},
     f"hastack:nodes.instanceTypes[0] = 'm6x.large' is invalid: one of a known family of EC2 instance types: {LIST} "
     "has no 'm6x' family; did you mean 'm6i.large' or 'm6g.large' or 'm6a.large'?"),
    ("database", {"instanceClass": "db.r6q.large"},
     f"hastack:database.instanceClass = 'db.r6q.large' is invalid: one of a known family of RDS for PostgreSQL DB "
     f"instance classes: {LIST} has no 'r6q' family; did you mean 'db.r6i.large' or 'db.r6g.large' or "
     "'db.r6in.large'?"),
    ("database", {"drInstanceClass": "db.x2iezn.2xlarge"},
     f"hastack:database.drInstanceClass = 'db.x2iezn.2xlarge' is invalid: one of a known family of RDS for PostgreSQL "
     f"DB instance classes: {LIST} has no 'x2iezn' family; did you mean 'db.x2iedn.2xlarge' or "
     "'db.x2iedn.32xlarge' or 'db.x2iedn.24xlarge'?"),
    ("cache", {"nodeType": "cache.r9g.large"},
     f"hastack:cache.nodeType = 'cache.r9g.large' is invalid: one of a known family of ElastiCache node types: {LIST} "
     "has no 'r9g' family; did you mean 'cache.r8g.large' or 'cache.r7g.large' or 'cache.r6g.large'?"),
    ("nodes", {"instanceTypes": ["m6i.xlarge", "m7g.xlarge"]},
     "hastack:nodes.instanceTypes[1] = 'm7g.xlarge' is invalid: an x86_64 instance type: the node groups run the "
     "AL2023 x86_64 AMI, and m7g.xlarge is arm64"),
], ids=["ec2-family", "rds-family", "rds-class-not-for-postgres", "cache-family", "arm64-node"])
def test_an_instance_type_of_an_unknown_family_is_an_error(prod_raw: dict[str, Any], key: str,
                                                          value: dict[str, Any], line: str) -> None:
    assert _errors(prod_raw, lambda r: r[key].update(value)) == [line]


def test_an_unlisted_size_of_a_known_family_is_a_warning_not_an_error(prod_raw: dict[str, Any]) -> None:
    config = parse_config(_changed(prod_raw, lambda r: (r["database"].update(instanceClass="db.r6g.larg"),
                                                         r["cache"].update(nodeType="cache.r7g.xxlarge"))))
    assert config_warnings(config) == [
        f"hastack:database.instanceClass = 'db.r6g.larg': not in {LIST}; did you mean 'db.r6g.large' or "
        "'db.r6g.xlarge' or 'db.r6g.8xlarge'? (rendered as written: AWS refuses a type that does not exist)",
        f"hastack:cache.nodeType = 'cache.r7g.xxlarge': not in {LIST}; did you mean 'cache.r7g.xlarge' or "
        "'cache.r7g.8xlarge' or 'cache.r7g.4xlarge'? (rendered as written: AWS refuses a type that does not exist)",
        # drInstanceClass defaults to instanceClass: checked once, in both regions
    ]


def test_a_family_the_dr_region_does_not_offer_is_a_warning(prod_raw: dict[str, Any]) -> None:
    assert "m6i" not in catalog().regions["ap-southeast-4"]["ec2"]  # the list's own statement, checked below
    config = parse_config(_changed(prod_raw, lambda r: (_dr_in("ap-southeast-4")(r),
                                                         r["nodes"].update(instanceTypes=["m6i.xlarge"]))))
    assert config_warnings(config) == [
        f"hastack:nodes.instanceTypes[0] = 'm6i.xlarge': per {LIST}, ap-southeast-4 does not offer the m6i family; "
        "check before a failover needs it"]


def test_the_shipped_stacks_use_listed_types_offered_in_their_regions() -> None:
    for stack in ("prod", "staging"):
        raw = {k.split(":", 1)[1]: v for k, v in read_stack_config(stack).items() if k.startswith("hastack:")}
        assert config_warnings(parse_config(raw)) == [], stack


def test_warnings_reach_the_user_through_pulumi_and_hastack_plan(prod_config: dict[str, Any],
                                                                 tmp_path: Path) -> None:
    prod_config["hastack:nodes"]["instanceTypes"] = ["m6i.xxlarge", "m6a.xlarge"]
    expected = (f"hastack:nodes.instanceTypes[0] = 'm6i.xxlarge': not in {LIST}; did you mean 'm6i.xlarge' or "
                "'m6i.8xlarge' or 'm6i.4xlarge'? (rendered as written: AWS refuses a type that does not exist)")
    # In the program: logged through pulumi.log.warn (what `pulumi up` shows), rendered all the same.
    assert render("prod", config=prod_config).warnings == [expected]
    # Through the CLI: a `warning:` line on stderr, the plan written, exit 0.
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(yaml.safe_dump({"config": prod_config}))
    done = subprocess.run([sys.executable, "-m", "hastack", "plan", "--config", str(stack_file), "--quiet",
                           "--build-dir", str(tmp_path / "build")], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert f"warning: {expected}" in done.stderr.splitlines()
    assert (tmp_path / "build" / "plan-prod.json").is_file()


# -- pods and nodes -----------------------------------------------------------------------------


def test_a_pod_that_no_node_can_hold_is_an_error_naming_the_service(prod_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["nodes"]["instanceTypes"] = ["m6i.2xlarge", "m6i.xlarge"]
        raw["services"][1]["resources"] = {"requests": {"cpu": "3", "memory": "16Gi"},
                                           "limits": {"cpu": "4", "memory": "16Gi"}}

    assert _errors(prod_raw, mutate) == [
        "hastack:services[1].resources.requests = {\"cpu\": \"3\", \"memory\": \"16Gi\"} is invalid: requests that "
        "fit one node (service 'embedder' asks 3 CPU and 16.00 GiB per pod; m6i.xlarge offers 3.77 CPU and 13.95 GiB "
        "allocatable after EKS's kube-reserved, eviction and system DaemonSet reservations): lower the requests or "
        "choose larger hastack:nodes.instanceTypes"]


def test_a_pod_that_fits_every_listed_type_passes(prod_raw: dict[str, Any]) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["services"][1]["resources"] = {"requests": {"cpu": "3500m", "memory": "13Gi"},
                                           "limits": {"cpu": "4", "memory": "13Gi"}}

    assert parse_config(_changed(prod_raw, mutate)).services[1].resources.requests.cpu == "3500m"


def test_limits_below_requests_are_errors(prod_raw: dict[str, Any]) -> None:
    errors = _errors(prod_raw, lambda r: r["services"][0]["resources"].update(limits={"cpu": "500m",
                                                                                     "memory": "2000Mi"}))
    assert errors == [
        "hastack:services[0].resources.limits.cpu = '500m' is invalid: a limit >= the request (1): the scheduler "
        "places the pod by its request, and a limit below it is refused by Kubernetes",
        "hastack:services[0].resources.limits.memory = '2000Mi' is invalid: a limit >= the request (2Gi): the "
        "scheduler places the pod by its request, and a limit below it is refused by Kubernetes"]


def test_allocatable_capacity_follows_the_eks_ami_formula() -> None:
    spec = catalog().ec2_capacity["m6i.xlarge"]
    room = allocatable(spec)
    # kube-reserved CPU: 6 % + 1 % + 0.5 % + 0.5 % of the four cores; the system DaemonSets: 150m.
    assert kube_reserved_cpu(4) == pytest.approx(0.08)
    assert room.cpu == pytest.approx(4 - 0.08 - 0.15)
    # 94 % of 16 GiB, minus 255 MiB + 11 MiB x 58 pods, the 100 MiB eviction threshold and 128 MiB of DaemonSets.
    assert room.memory == pytest.approx((16384 * 0.94 - (255 + 11 * 58) - 100 - 128) * 2 ** 20)
    assert room.pods == 58 - 3


# -- the list itself ----------------------------------------------------------------------------


def test_the_list_names_its_sources_and_date() -> None:
    data = json.loads(CATALOG_PATH.read_text())
    assert data["dataDated"] == "2026-10-20" and data["retrieved"] == "2026-11-28"
    assert data["sources"]["offerings"].startswith("cfn-lint 1.58.0 (PyPI)")
    assert data["sources"]["ec2Capacity"].startswith("moto 5.2.5 (PyPI)")
    listed = catalog()
    assert {"db.r8g.large", "db.m8g.xlarge", "db.r7i.large"} <= listed.names["rds"]  # recent classes
    assert {"cache.r7g.large", "cache.t4g.small", "cache.m7g.large"} <= listed.names["elasticache"]


def test_the_listed_capacity_agrees_with_describe_instance_types_in_moto() -> None:
    """moto ships EC2's DescribeInstanceTypes answer: an independent copy of the figures the list took."""
    spec = importlib.util.find_spec("moto")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "ec2" / "resources" / "instance_types.json.gz"
    with gzip.open(path) as f:
        described = json.load(f)
    for name in ("m6i.large", "m6i.xlarge", "m6a.xlarge", "m5.4xlarge", "c7i.2xlarge", "m7g.xlarge"):
        ours, theirs = catalog().ec2_capacity[name], described[name]
        net = theirs["NetworkInfo"]
        assert (ours.vcpus, ours.memory_mib) == (theirs["VCpuInfo"]["DefaultVCpus"], theirs["MemoryInfo"]["SizeInMiB"])
        assert ours.max_pods == net["MaximumNetworkInterfaces"] * (net["Ipv4AddressesPerInterface"] - 1) + 2
    # amazon-eks-ami's eni-max-pods.txt figures for these types
    assert [catalog().ec2_capacity[n].max_pods for n in ("m6i.large", "m6i.xlarge", "m5.4xlarge")] == [29, 58, 234]


def test_the_architecture_the_config_requires_is_the_node_groups_ami(prod_plan: Any) -> None:
    from hastack.config import NODE_ARCHITECTURE

    groups = prod_plan.of_type("aws:eks/nodeGroup:NodeGroup")
    assert groups and {g["inputs"]["amiType"] for g in groups} == {f"AL2023_{NODE_ARCHITECTURE}_STANDARD"}


def test_config_validation_and_the_policy_pack_agree_on_what_a_node_offers() -> None:
    """The pack (self-contained: it cannot import hastack) keeps its own copy of the formula and table."""
    names = ["m6i.large", "m6i.xlarge", "m6a.xlarge", "m5.4xlarge", "c6i.2xlarge", "r6i.xlarge", "t3.medium"]
    probe = ("import json, sys, capacity as c; "
             "o = c.overhead({'nodeOverhead': c.CAPACITY_SETTINGS['nodeOverhead']['default']}); "
             "print(json.dumps({n: [c.allocatable(c.BUILTIN_TYPES[n], o).cpu, c.allocatable(c.BUILTIN_TYPES[n], "
             "o).memory, c.allocatable(c.BUILTIN_TYPES[n], o).pods] for n in sys.argv[1:]}))")
    done = subprocess.run([sys.executable, "-c", probe, *names], cwd=REPO_ROOT / "policies", capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    pack = json.loads(done.stdout)
    for name in names:
        ours = allocatable(catalog().ec2_capacity[name])
        assert pack[name] == [pytest.approx(ours.cpu), pytest.approx(ours.memory), ours.pods], name
