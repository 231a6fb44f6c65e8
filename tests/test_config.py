"""Config validation: every rule the issue lists, checked on the pure `parse_config` and through the CLI.

Each scenario mutates a copy of prod's config and names the exact error line expected: the
message is the user interface here (key, bad value, what is allowed).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

from hastack.config import KNOWN_KEYS, ConfigError, parse_config
from hastack.errors import UserError
from hastack.paths import REPO_ROOT
from hastack.plan.render import read_stack_config

BAD_CONFIGS = Path(__file__).parent / "bad_configs"


@pytest.fixture(scope="module")
def prod_raw() -> dict[str, Any]:
    """Prod's config keys without the `hastack:` namespace, as `parse_config` takes them."""
    return {k.split(":", 1)[1]: v for k, v in read_stack_config("prod").items() if k.startswith("hastack:")}


def _errors(raw: dict[str, Any], mutate: Callable[[dict[str, Any]], None]) -> list[str]:
    changed = copy.deepcopy(raw)
    mutate(changed)
    with pytest.raises(ConfigError) as caught:
        parse_config(changed)
    return caught.value.errors


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting `a.b[0].c` to value."""

    def mutate(raw: dict[str, Any]) -> None:
        node: Any = raw
        parts = path.replace("[", ".").replace("]", "").split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        node[parts[-1]] = value

    return mutate


ORDER = "sizes must be ordered minSize <= desiredSize <= maxSize"
API_CIDRS = ("a non-empty list (at most 40) of public IPv4 networks in CIDR form, /8 or narrower, such as "
             "['203.0.113.0/24'] (your deployers' and operators' egress ranges; never 0.0.0.0/0)")
IPV4_NETWORK = "an IPv4 network in CIDR form with no host bits set, such as '203.0.113.0/24'"

SCENARIOS = [
    ("dr-region-equals-primary", _set("drRegion", "us-east-1"),
     "hastack:drRegion = 'us-east-1' is invalid: the DR region must differ from hastack:primaryRegion (us-east-1); "
     "a DR replica in the same region does not survive a regional outage"),
    ("fewer-than-3-azs", _set("azCount", 2), "hastack:azCount = 2 is invalid: an integer >= 3 and <= 6"),
    ("cidr-not-a-network", _set("vpcCidrs.us-east-1", "10.10.0.0/33"),
     "hastack:vpcCidrs.us-east-1 = '10.10.0.0/33' is invalid: a valid IPv4 network in CIDR form such as "
     "'10.10.0.0/16'"),
    ("cidr-host-bits-set", _set("vpcCidrs.us-west-2", "10.20.1.0/16"),
     "hastack:vpcCidrs.us-west-2 = '10.20.1.0/16' is invalid: a valid IPv4 network in CIDR form such as "
     "'10.10.0.0/16'"),
    ("cidr-public", _set("vpcCidrs.us-east-1", "8.8.0.0/16"),
     "hastack:vpcCidrs.us-east-1 = '8.8.0.0/16' is invalid: a private (RFC 1918) network between /16 and /20"),
    ("cidrs-overlap", _set("vpcCidrs.us-west-2", "10.10.128.0/17"),
     'hastack:vpcCidrs = {"us-east-1": "10.10.0.0/16", "us-west-2": "10.10.128.0/17"} is invalid: the regions\' '
     "CIDRs must not overlap (cross-region peering and replication need both routable)"),
    ("replicas-below-2", _set("services[0].replicas", 1),
     "hastack:services[0].replicas = 1 is invalid: an integer >= 2"),
    ("slo-100", _set("slo.availability", 100),
     "hastack:slo.availability = 100 is invalid: a percentage strictly between 0 and 100, such as 99.95"),
    ("slo-0", _set("slo.availability", 0),
     "hastack:slo.availability = 0 is invalid: a percentage strictly between 0 and 100, such as 99.95"),
    ("slo-above-100", _set("slo.availability", 100.5),
     "hastack:slo.availability = 100.5 is invalid: a percentage strictly between 0 and 100, such as 99.95"),
    ("primary-min-zero", _set("nodes.primary.minSize", 0), "hastack:nodes.primary.minSize = 0 is invalid: "
     "an integer >= 1"),
    ("primary-max-zero", _set("nodes.primary.maxSize", 0), "hastack:nodes.primary.maxSize = 0 is invalid: "
     "an integer >= 1"),
    ("dr-max-zero", _set("nodes.dr.maxSize", 0), "hastack:nodes.dr.maxSize = 0 is invalid: an integer >= 1"),
    ("dr-desired-negative", _set("nodes.dr.desiredSize", -1),
     "hastack:nodes.dr.desiredSize = -1 is invalid: an integer >= 0"),
    ("min-above-desired", _set("nodes.primary.minSize", 3),
     f'hastack:nodes.primary = {{"minSize": 3, "desiredSize": 2, "maxSize": 6}} is invalid: {ORDER}'),
    ("desired-above-max", _set("nodes.dr.desiredSize", 7),
     f'hastack:nodes.dr = {{"minSize": 0, "desiredSize": 7, "maxSize": 6}} is invalid: {ORDER}'),
    ("backup-retention-short", _set("database.backupRetentionDays", 3),
     "hastack:database.backupRetentionDays = 3 is invalid: an integer >= 7 and <= 35"),
    ("api-cidrs-missing", lambda raw: raw.pop("kubernetesApiAccessCidrs"),
     f"hastack:kubernetesApiAccessCidrs is required: {API_CIDRS}"),
    ("api-cidrs-empty", _set("kubernetesApiAccessCidrs", []),
     f"hastack:kubernetesApiAccessCidrs = [] is invalid: {API_CIDRS}"),
    ("api-cidrs-not-a-list", _set("kubernetesApiAccessCidrs", "203.0.113.0/24"),
     f"hastack:kubernetesApiAccessCidrs = '203.0.113.0/24' is invalid: {API_CIDRS}"),
    ("api-cidrs-internet", _set("kubernetesApiAccessCidrs", ["203.0.113.0/24", "0.0.0.0/0"]),
     "hastack:kubernetesApiAccessCidrs[1] = '0.0.0.0/0' is invalid: a range of /8 or narrower: 0.0.0.0/0 and other "
     "internet-wide ranges expose the Kubernetes API to everyone; list your egress ranges"),
    ("api-cidrs-half-internet", _set("kubernetesApiAccessCidrs", ["0.0.0.0/1"]),
     "hastack:kubernetesApiAccessCidrs[0] = '0.0.0.0/1' is invalid: a range of /8 or narrower: 0.0.0.0/0 and other "
     "internet-wide ranges expose the Kubernetes API to everyone; list your egress ranges"),
    ("api-cidrs-invalid", _set("kubernetesApiAccessCidrs", ["203.0.113.0/33"]),
     f"hastack:kubernetesApiAccessCidrs[0] = '203.0.113.0/33' is invalid: {IPV4_NETWORK}"),
    ("api-cidrs-host-bits", _set("kubernetesApiAccessCidrs", ["203.0.113.7/24"]),
     f"hastack:kubernetesApiAccessCidrs[0] = '203.0.113.7/24' is invalid: {IPV4_NETWORK}"),
    ("api-cidrs-ipv6", _set("kubernetesApiAccessCidrs", ["2001:db8::/32"]),
     f"hastack:kubernetesApiAccessCidrs[0] = '2001:db8::/32' is invalid: {IPV4_NETWORK}"),
    ("api-cidrs-private", _set("kubernetesApiAccessCidrs", ["10.0.0.0/8"]),
     "hastack:kubernetesApiAccessCidrs[0] = '10.0.0.0/8' is invalid: a public range: the public endpoint sees "
     "public source addresses (traffic from inside the VPC uses the private endpoint)"),
    ("api-cidrs-duplicate", _set("kubernetesApiAccessCidrs", ["203.0.113.0/24", "203.0.113.0/24"]),
     "hastack:kubernetesApiAccessCidrs[1] = '203.0.113.0/24' is invalid: each range once"),
    ("unknown-key-did-you-mean", _set("drRegoin", "us-west-2"),
     f"hastack:drRegoin is not a known key: did you mean 'drRegion'? allowed are {', '.join(KNOWN_KEYS)}"),
    ("unknown-nested-key-did-you-mean", _set("nodes.primry", {}),
     "hastack:nodes.primry is not a known key: did you mean 'primary'? allowed are instanceTypes, diskSizeGb, "
     "primary, dr"),
    ("count-as-text", _set("azCount", "three"), "hastack:azCount = 'three' is invalid: an integer >= 3 and <= 6"),
    ("count-as-bool", _set("nodes.diskSizeGb", True), "hastack:nodes.diskSizeGb = true is invalid: an integer >= 20"),
    ("section-not-an-object", _set("nodes", "big"),
     "hastack:nodes = 'big' is invalid: an object {instanceTypes: [instance type], diskSizeGb, primary: {minSize, "
     "desiredSize, maxSize}, dr: {minSize, desiredSize, maxSize}}"),
    ("section-missing", lambda raw: raw.pop("dns"),
     "hastack:dns is required: an object {zoneName, recordName}"),
    ("active-region-elsewhere", _set("activeRegion", "eu-west-1"),
     "hastack:activeRegion = 'eu-west-1' is invalid: either hastack:primaryRegion (us-east-1) or hastack:drRegion "
     "(us-west-2)"),
    ("cidr-for-another-region", _set("vpcCidrs", {"us-east-1": "10.10.0.0/16", "eu-west-1": "10.30.0.0/16"}),
     "hastack:vpcCidrs.eu-west-1 = '10.30.0.0/16' is invalid: keys must be the primary or DR region "
     "(us-east-1, us-west-2)"),
    ("cidr-missing-for-a-region", _set("vpcCidrs", {"us-east-1": "10.10.0.0/16"}),
     "hastack:vpcCidrs.us-west-2 is required: a private IPv4 CIDR between /16 and /20 for each region, such as "
     "'10.10.0.0/16'"),
    ("certificate-from-another-region",
     _set("ingress.certificateArns.us-east-1", "arn:aws:acm:us-west-2:123456789012:certificate/abc"),
     "hastack:ingress.certificateArns.us-east-1 = 'arn:aws:acm:us-west-2:123456789012:certificate/abc' is invalid: "
     "an ACM certificate ARN in region us-east-1"),
    ("record-outside-zone", _set("dns.recordName", "api.example.org"),
     "hastack:dns.recordName = 'api.example.org' is invalid: a host name inside dns.zoneName (example.com)"),
    ("duplicate-service-name", _set("services[1].name", "predictor"),
     "hastack:services[1].name = 'predictor' is invalid: service names must be unique"),
    ("duplicate-service-port", _set("services[1].port", 8080),
     "hastack:services[1].port = 8080 is invalid: each service needs its own port"),
    ("max-replicas-below-replicas", _set("services[0].maxReplicas", 2),
     "hastack:services[0].maxReplicas = 2 is invalid: an integer >= 3"),
    ("image-latest", _set("services[0].image", "registry/predictor:latest"),
     "hastack:services[0].image = 'registry/predictor:latest' is invalid: pin a tag or digest, not 'latest' (a "
     "rollout must be reproducible)"),
    ("cpu-zero", _set("services[0].resources.requests.cpu", "0m"),
     "hastack:services[0].resources.requests.cpu = '0m' is invalid: a positive Kubernetes CPU quantity such as "
     "'500m' or '2'"),
    ("kubernetes-version-unquoted", _set("kubernetesVersion", 1.3),
     "hastack:kubernetesVersion = 1.3 is invalid: one of 1.29, 1.30, 1.31, 1.32, 1.33 (quote it in YAML)"),
    ("cache-engine", _set("cache.engine", "memcached"),
     "hastack:cache.engine = 'memcached' is invalid: one of \"valkey\", \"redis\""),
    ("traffic-control-mode", _set("dr", {"trafficControl": "dns-api"}),
     "hastack:dr.trafficControl = 'dns-api' is invalid: one of \"cloudwatch-alarm\", \"arc\""),
    ("lease-renewed-too-rarely", _set("dr", {"leaseSeconds": 15, "leaseRenewSeconds": 6}),
     "hastack:dr.leaseRenewSeconds = 6 is invalid: an integer >= 1 and <= leaseSeconds / 3 (5): a writer must be "
     "able to miss two renewals before its lease runs out"),
    ("witness-is-the-dr-region", _set("dr", {"leaseWitnessRegion": "us-west-2"}),
     "hastack:dr.leaseWitnessRegion = 'us-west-2' is invalid: a third region, not the primary (us-east-1) or the "
     "DR region (us-west-2)"),
    ("witness-outside-the-set", _set("dr", {"leaseWitnessRegion": "eu-west-2"}),
     "hastack:dr.leaseWitnessRegion = 'eu-west-2' is invalid: a region of the MRSC set of us-east-1 and "
     "us-west-2: one of us-east-2"),
    ("witness-without-a-set", lambda raw: (raw.update(drRegion="eu-west-1", dr={"leaseWitnessRegion": "us-east-2"}),
                                          raw["vpcCidrs"].update({"eu-west-1": raw["vpcCidrs"].pop("us-west-2")})),
     "hastack:dr.leaseWitnessRegion = 'us-east-2' is invalid: us-east-1 and eu-west-1 are in no common DynamoDB "
     "MRSC region set, so the lease table is a single-region table in eu-west-1 and has no witness: remove the "
     "key (MRSC sets: us-east-1, us-east-2, us-west-2; eu-west-1, eu-west-2, eu-west-3, eu-central-1; "
     "ap-northeast-1, ap-northeast-2, ap-northeast-3)"),
    ("resolver-not-an-address", _set("dr", {"dnsResolvers": ["10.0.0.2", "resolver.local"]}),
     "hastack:dr.dnsResolvers[1] = 'resolver.local' is invalid: a DNS resolver address: an IPv4 or IPv6 address "
     "with an optional port, such as '10.0.0.2' or '[fd00::2]:53'"),
    ("resolver-port-out-of-range", _set("dr", {"dnsResolvers": ["10.0.0.2:70000"]}),
     "hastack:dr.dnsResolvers[0] = '10.0.0.2:70000' is invalid: a port between 1 and 65535 after the address"),
    ("heartbeat-too-slow", _set("dr", {"heartbeatSeconds": 120}),
     "hastack:dr.heartbeatSeconds = 120 is invalid: an integer >= 1 and <= 60"),
    ("api-cidrs-too-many", _set("kubernetesApiAccessCidrs", [f"198.51.{i}.0/24" for i in range(41)]),
     'hastack:kubernetesApiAccessCidrs = ["198.51.0.0/24", "198.51.1.0/24", "198.51.2.0/24", "198.51.3.0/24", '
     f'"198.51.... is invalid: {API_CIDRS}'),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in SCENARIOS],
                         ids=[name for name, _, _ in SCENARIOS])
def test_invalid_config_names_key_value_and_rule(prod_raw: dict[str, Any], mutate: Callable[..., None],
                                                 expected: str) -> None:
    assert expected in _errors(prod_raw, mutate)


def test_every_error_is_reported_at_once(prod_raw: dict[str, Any]) -> None:
    def many(raw: dict[str, Any]) -> None:
        for _, mutate, _ in (SCENARIOS[0], SCENARIOS[1], SCENARIOS[6], SCENARIOS[7], SCENARIOS[14]):
            mutate(raw)

    errors = _errors(prod_raw, many)
    for i in (0, 1, 6, 7, 14):
        assert SCENARIOS[i][2] in errors
    assert ConfigError(errors).render().startswith(f"invalid stack config ({len(errors)} errors):")


def test_config_error_is_a_run_error_and_a_user_error() -> None:
    """`pulumi up` prints a RunError without a traceback; the CLI exits 2 on a UserError."""
    error = ConfigError(["hastack:azCount = 2 is invalid: an integer >= 3 and <= 6"])
    assert isinstance(error, pulumi.RunError) and isinstance(error, UserError) and error.exit_code == 2
    assert str(error) == "invalid stack config (1 error):\n  - hastack:azCount = 2 is invalid: an integer >= 3 and <= 6"


def test_valid_configs_parse(prod_raw: dict[str, Any]) -> None:
    config = parse_config(copy.deepcopy(prod_raw))
    assert config.regions == ("us-east-1", "us-west-2")
    assert config.az_count == 3 and not config.topology.failed_over
    assert [s.health_paths.startup for s in config.services] == ["/health/startup"] * 2  # default applied
    staging = {k.split(":", 1)[1]: v for k, v in read_stack_config("staging").items() if k.startswith("hastack:")}
    assert parse_config(staging).nodes.dr.desired_size == 0
    assert config.kubernetes_api_access_cidrs == ("203.0.113.0/24", "198.51.100.16/28")
    assert parse_config(staging).kubernetes_api_access_cidrs == ("198.51.100.0/24",)


def test_dr_defaults_and_derived_values(prod_raw: dict[str, Any]) -> None:
    dr = parse_config(copy.deepcopy(prod_raw)).dr
    assert dr.traffic_control == "cloudwatch-alarm" and dr.dns_resolvers == () and dr.lease_witness_region is None
    assert (dr.lease_seconds, dr.lease_renew_seconds, dr.heartbeat_seconds) == (15, 5, 5)
    assert set(dr.timeouts()) == {"fence_timeout_seconds", "wait_timeout_seconds", "call_timeout_seconds",
                                  "status_timeout_seconds", "lease_seconds", "lease_renew_seconds",
                                  "lock_ttl_seconds", "lag_evidence_max_age_seconds", "dns_ttl_seconds",
                                  "dns_propagation_seconds", "heartbeat_seconds"}
    raw = copy.deepcopy(prod_raw)
    raw["dr"] = {"leaseSeconds": 30, "leaseWitnessRegion": "us-east-2", "trafficControl": "arc",
                 "dnsResolvers": ["10.0.0.2", "10.0.0.3:5353", "fd00::2", "[fd00::3]:53", "[fd00::4]"]}
    dr = parse_config(raw).dr
    assert dr.lease_renew_seconds == 10, "derived: leaseSeconds / 3"
    assert dr.dns_resolvers == ("10.0.0.2", "10.0.0.3:5353", "fd00::2", "[fd00::3]:53", "fd00::4")
    assert (dr.traffic_control, dr.lease_witness_region) == ("arc", "us-east-2")


def test_dr_may_scale_to_zero_and_failover_flag(prod_raw: dict[str, Any]) -> None:
    raw = copy.deepcopy(prod_raw)
    raw["nodes"]["dr"] = {"minSize": 0, "desiredSize": 0, "maxSize": 1}
    raw["activeRegion"] = raw["drRegion"]
    assert parse_config(raw).topology.failed_over


def test_plan_with_bad_config_exits_nonzero_with_one_paragraph_and_no_traceback(tmp_path: Path) -> None:
    bad = BAD_CONFIGS / "dr-region-equals-primary.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "hastack", "plan", "--config", str(bad), "--build-dir", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0, result.stdout
    message = result.stderr.strip()
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert "hastack:drRegion = 'us-east-1' is invalid" in message
    assert "\n\n" not in message, f"expected one paragraph, got:\n{message}"
    assert not list(tmp_path.iterdir()), "a refused config must not write plan files"
