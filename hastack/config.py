"""The stack's configuration: one typed, validated model read once per program run.

Why a hand-written validator rather than letting each component fail on its own: an operator
fixing a config wants every mistake at once, each naming the key, the bad value and what is
allowed — not one traceback per `pulumi up`.  Validation is a pure function over plain data
(`parse_config`), so it is tested without the Pulumi engine; `load_config` only reads the values
through `pulumi.Config` and hands them to it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi

NAMESPACE = "hastack"

#: Every top-level key the program understands (namespace `hastack`). Unknown keys are errors:
#: a typo such as `hastack:drRegoin` must not silently fall back to a default.
KNOWN_KEYS = (
    "primaryRegion",
    "drRegion",
    "drMode",
    "activeRegion",
    "azCount",
    "vpcCidrs",
    "kubernetesVersion",
    "kubernetesApiAccessCidrs",
    "nodes",
    "services",
    "slo",
    "database",
    "cache",
    "ingress",
    "dns",
    "alerting",
    "dr",
)

DR_MODES = ("pilot-light",)
#: EKS versions in standard or extended support that kubernetes-validate ships schemas for.
KUBERNETES_VERSIONS = ("1.29", "1.30", "1.31", "1.32", "1.33")
CACHE_ENGINES = ("valkey", "redis")
SUBSCRIPTION_PROTOCOLS = ("email", "https", "sms")
DEFAULT_HEALTH_PATHS = {"live": "/health/live", "ready": "/health/ready", "startup": "/health/startup"}

_REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")
_CPU_RE = re.compile(r"^(\d+(\.\d+)?|\d+m)$")
_MEMORY_RE = re.compile(r"^\d+(Ki|Mi|Gi|Ti|K|M|G|T)?$")
_ACM_ARN_RE = re.compile(r"^arn:aws[-a-z]*:acm:([a-z0-9-]+):\d{12}:certificate/[-0-9a-f]+$")


class ConfigError(pulumi.RunError):
    """Every problem found in a stack's config, reported together.

    A `pulumi.RunError`, so that `pulumi up` prints the message without a Python traceback.
    """

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.errors)
        head = f"invalid stack config ({count} error{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  - {e}" for e in self.errors)])


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeGroupSize:
    """Per-AZ size of one managed node group (each AZ has its own group and scales on its own)."""

    min_size: int
    desired_size: int
    max_size: int


@dataclass(frozen=True)
class NodesConfig:
    instance_types: tuple[str, ...]
    disk_size_gb: int
    primary: NodeGroupSize
    dr: NodeGroupSize


@dataclass(frozen=True)
class HealthPaths:
    live: str
    ready: str
    startup: str


@dataclass(frozen=True)
class ResourceAmounts:
    cpu: str
    memory: str


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    image: str
    port: int
    replicas: int
    max_replicas: int
    health_paths: HealthPaths
    requests: ResourceAmounts
    limits: ResourceAmounts


@dataclass(frozen=True)
class SloConfig:
    availability: float  # percent, e.g. 99.95
    latency_threshold_ms: int
    rto_minutes: float
    rpo_seconds: float

    @property
    def error_budget(self) -> float:
        """Allowed failure ratio, e.g. 0.0005 for 99.95 %."""
        return 1.0 - self.availability / 100.0


@dataclass(frozen=True)
class DatabaseConfig:
    engine_version: str
    instance_class: str
    dr_instance_class: str
    allocated_storage_gb: int
    backup_retention_days: int


@dataclass(frozen=True)
class CacheConfig:
    engine: str
    engine_version: str
    node_type: str
    snapshot_retention_days: int


@dataclass(frozen=True)
class Subscription:
    protocol: str
    endpoint: str


@dataclass(frozen=True)
class DrTimeouts:
    fence_timeout_seconds: int
    wait_timeout_seconds: int


@dataclass(frozen=True)
class StackConfig:
    primary_region: str
    dr_region: str
    dr_mode: str
    active_region: str
    az_count: int
    vpc_cidrs: dict[str, str]
    kubernetes_version: str
    nodes: NodesConfig
    services: tuple[ServiceConfig, ...]
    slo: SloConfig
    database: DatabaseConfig
    cache: CacheConfig
    certificate_arns: dict[str, str]
    zone_name: str
    record_name: str
    subscriptions: tuple[Subscription, ...]
    dr: DrTimeouts
    #: Per region, an existing S3 bucket (same region) for the ALB's access logs; none: no access logs.
    access_log_buckets: dict[str, str] = field(default_factory=dict)
    #: Source ranges allowed to reach the EKS API's public endpoint (deployers, operators, the DR runner).
    kubernetes_api_access_cidrs: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def regions(self) -> tuple[str, str]:
        return (self.primary_region, self.dr_region)

    @property
    def failed_over(self) -> bool:
        """True once `hastack dr scale-up` ran and the operator set activeRegion to the DR region."""
        return self.active_region == self.dr_region


# ---------------------------------------------------------------------------------------------
# Validation helpers: each records an error and returns a usable fallback so that validation
# can go on and report everything at once.
# ---------------------------------------------------------------------------------------------


class _Collector:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, key: str, value: Any, allowed: str) -> None:
        self.errors.append(f"hastack:{key} = {_show(value)} is invalid: {allowed}")

    def missing(self, key: str, allowed: str) -> None:
        self.errors.append(f"hastack:{key} is required: {allowed}")

    def mapping(self, key: str, value: Any, required: bool = True) -> dict[str, Any]:
        if value is None:
            if required:
                self.missing(key, "expected an object")
            return {}
        if not isinstance(value, dict):
            self.add(key, value, "expected an object")
            return {}
        return value

    def unknown(self, key: str, data: dict[str, Any], allowed: tuple[str, ...]) -> None:
        for extra in sorted(set(data) - set(allowed)):
            self.errors.append(f"hastack:{key}.{extra} is not a known key: allowed are {', '.join(allowed)}")

    def string(self, key: str, value: Any, allowed: str, pattern: re.Pattern[str] | None = None,
               default: str | None = None) -> str:
        if value is None:
            if default is not None:
                return default
            self.missing(key, allowed)
            return ""
        if not isinstance(value, str) or not value or (pattern is not None and not pattern.match(value)):
            self.add(key, value, allowed)
            return str(value)
        return value

    def integer(self, key: str, value: Any, minimum: int, default: int | None = None,
                maximum: int | None = None) -> int:
        allowed = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        if value is None:
            if default is not None:
                return default
            self.missing(key, allowed)
            return minimum
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(key, value, allowed)
            return minimum
        if value < minimum or (maximum is not None and value > maximum):
            self.add(key, value, allowed)
        return value

    def number(self, key: str, value: Any, allowed: str, ok: Any, default: float | None = None) -> float:
        if value is None:
            if default is not None:
                return default
            self.missing(key, allowed)
            return 0.0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(float(value)):
            self.add(key, value, allowed)
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
        return float(value)


def _show(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def _node_size(c: _Collector, key: str, data: Any, min_floor: int) -> NodeGroupSize:
    d = c.mapping(key, data)
    c.unknown(key, d, ("minSize", "desiredSize", "maxSize"))
    mn = c.integer(f"{key}.minSize", d.get("minSize"), min_floor)
    ds = c.integer(f"{key}.desiredSize", d.get("desiredSize"), min_floor)
    mx = c.integer(f"{key}.maxSize", d.get("maxSize"), 1)
    if d and all(isinstance(v, int) for v in (mn, ds, mx)) and not (mn <= ds <= mx):
        c.add(key, {"minSize": mn, "desiredSize": ds, "maxSize": mx},
              "sizes must be ordered minSize <= desiredSize <= maxSize")
    return NodeGroupSize(mn, ds, mx)


def _nodes(c: _Collector, data: Any) -> NodesConfig:
    d = c.mapping("nodes", data)
    c.unknown("nodes", d, ("instanceTypes", "diskSizeGb", "primary", "dr"))
    types = d.get("instanceTypes")
    if not isinstance(types, list) or not types or not all(isinstance(t, str) and "." in t for t in types):
        c.add("nodes.instanceTypes", types, "a non-empty list of EC2 instance types such as ['m6i.xlarge']")
        types = []
    disk = c.integer("nodes.diskSizeGb", d.get("diskSizeGb"), 20, default=100)
    # The primary region serves traffic: every AZ keeps at least one node. The DR region is
    # pilot-light and may scale to zero until `hastack dr scale-up` brings it to the primary's size.
    primary = _node_size(c, "nodes.primary", d.get("primary"), 1)
    dr = _node_size(c, "nodes.dr", d.get("dr"), 0)
    return NodesConfig(tuple(types), disk, primary, dr)


def _resources(c: _Collector, key: str, data: Any) -> ResourceAmounts:
    d = c.mapping(key, data)
    c.unknown(key, d, ("cpu", "memory"))
    cpu = d.get("cpu")
    mem = d.get("memory")
    if cpu is not None and not isinstance(cpu, str):
        cpu = str(cpu)
    if not isinstance(cpu, str) or not _CPU_RE.match(cpu) or cpu in ("0", "0m"):
        c.add(f"{key}.cpu", d.get("cpu"), "a positive Kubernetes CPU quantity such as '500m' or '2'")
    if not isinstance(mem, str) or not _MEMORY_RE.match(mem) or mem.startswith("0"):
        c.add(f"{key}.memory", mem, "a positive Kubernetes memory quantity such as '512Mi' or '2Gi'")
    return ResourceAmounts(str(cpu), str(mem))


def _services(c: _Collector, data: Any, az_count: int) -> tuple[ServiceConfig, ...]:
    if not isinstance(data, list) or not data:
        c.add("services", data, "a non-empty list of services") if data is not None else c.missing(
            "services", "a non-empty list of services")
        return ()
    out: list[ServiceConfig] = []
    names: set[str] = set()
    ports: set[int] = set()
    for i, raw in enumerate(data):
        key = f"services[{i}]"
        d = c.mapping(key, raw)
        c.unknown(key, d, ("name", "image", "port", "replicas", "maxReplicas", "healthPaths", "resources"))
        name = c.string(f"{key}.name", d.get("name"), "a DNS label: lowercase letters, digits and '-', "
                        "at most 32 characters", _NAME_RE)
        if name in names:
            c.add(f"{key}.name", name, "service names must be unique")
        names.add(name)
        image = c.string(f"{key}.image", d.get("image"), "a container image reference such as "
                         "'registry/repo:tag' (pin a tag or digest, not 'latest')",
                         re.compile(r"^[^\s:]+(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$"))
        if image.endswith(":latest"):
            c.add(f"{key}.image", image, "pin a tag or digest, not 'latest' (a rollout must be reproducible)")
        port = c.integer(f"{key}.port", d.get("port"), 1024, maximum=65535)
        if port in ports:
            c.add(f"{key}.port", port, "each service needs its own port")
        ports.add(port)
        replicas = c.integer(f"{key}.replicas", d.get("replicas"), 2)
        max_replicas = c.integer(f"{key}.maxReplicas", d.get("maxReplicas"), max(replicas, 2),
                                 default=max(replicas, 2) * 3)
        paths = c.mapping(f"{key}.healthPaths", d.get("healthPaths"), required=False)
        c.unknown(f"{key}.healthPaths", paths, tuple(DEFAULT_HEALTH_PATHS))
        resolved: dict[str, str] = {}
        for probe, default in DEFAULT_HEALTH_PATHS.items():
            resolved[probe] = c.string(f"{key}.healthPaths.{probe}", paths.get(probe),
                                       "an absolute HTTP path such as '/health/ready'",
                                       re.compile(r"^/[\w./-]*$"), default=default)
        res = c.mapping(f"{key}.resources", d.get("resources"))
        c.unknown(f"{key}.resources", res, ("requests", "limits"))
        requests = _resources(c, f"{key}.resources.requests", res.get("requests"))
        limits = _resources(c, f"{key}.resources.limits", res.get("limits"))
        out.append(ServiceConfig(name, image, port, replicas, max_replicas, HealthPaths(**resolved),
                                 requests, limits))
    return tuple(out)


def _slo(c: _Collector, data: Any) -> SloConfig:
    d = c.mapping("slo", data)
    c.unknown("slo", d, ("availability", "latencyThresholdMs", "rtoMinutes", "rpoSeconds"))
    availability = c.number("slo.availability", d.get("availability"),
                            "a percentage strictly between 0 and 100, such as 99.95", lambda v: 0 < v < 100)
    latency = c.integer("slo.latencyThresholdMs", d.get("latencyThresholdMs"), 1, default=300)
    rto = c.number("slo.rtoMinutes", d.get("rtoMinutes"), "a positive number of minutes", lambda v: v > 0)
    rpo = c.number("slo.rpoSeconds", d.get("rpoSeconds"), "a positive number of seconds", lambda v: v > 0)
    return SloConfig(availability, latency, rto, rpo)


def _database(c: _Collector, data: Any) -> DatabaseConfig:
    d = c.mapping("database", data)
    c.unknown("database", d, ("engineVersion", "instanceClass", "drInstanceClass", "allocatedStorageGb",
                              "backupRetentionDays"))
    version = c.string("database.engineVersion", d.get("engineVersion"),
                       "a PostgreSQL major.minor version such as '16.4'", re.compile(r"^\d{2}(\.\d+)?$"))
    klass_re = re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$")
    klass = c.string("database.instanceClass", d.get("instanceClass"), "an RDS class such as 'db.r6g.large'",
                     klass_re)
    dr_klass = c.string("database.drInstanceClass", d.get("drInstanceClass"),
                        "an RDS class such as 'db.r6g.large'", klass_re, default=klass)
    storage = c.integer("database.allocatedStorageGb", d.get("allocatedStorageGb"), 20, default=100)
    retention = c.integer("database.backupRetentionDays", d.get("backupRetentionDays"), 7, default=7,
                          maximum=35)
    return DatabaseConfig(version, klass, dr_klass, storage, retention)


def _cache(c: _Collector, data: Any) -> CacheConfig:
    d = c.mapping("cache", data)
    c.unknown("cache", d, ("engine", "engineVersion", "nodeType", "snapshotRetentionDays"))
    engine = d.get("engine", "valkey")
    if engine not in CACHE_ENGINES:
        c.add("cache.engine", engine, f"one of {', '.join(CACHE_ENGINES)}")
    version = c.string("cache.engineVersion", d.get("engineVersion"), "an engine version such as '8.0'",
                       re.compile(r"^\d+\.\d+$"))
    node_type = c.string("cache.nodeType", d.get("nodeType"), "an ElastiCache node type such as "
                         "'cache.r7g.large' (Global Datastore needs r/m families or t4g.small and larger)",
                         re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$"))
    snapshots = c.integer("cache.snapshotRetentionDays", d.get("snapshotRetentionDays"), 1, default=7,
                          maximum=35)
    return CacheConfig(str(engine), version, node_type, snapshots)


def _cidrs(c: _Collector, data: Any, regions: tuple[str, str]) -> dict[str, str]:
    d = c.mapping("vpcCidrs", data)
    out: dict[str, str] = {}
    nets: dict[str, ipaddress.IPv4Network] = {}
    for region in regions:
        if region and region not in d:
            c.missing(f"vpcCidrs.{region}", "a private IPv4 CIDR between /16 and /20 for each region")
    for region, cidr in d.items():
        if region not in regions and regions[0] != regions[1]:
            c.add(f"vpcCidrs.{region}", cidr, f"keys must be the primary or DR region ({', '.join(regions)})")
            continue
        try:
            net = ipaddress.IPv4Network(str(cidr), strict=True)
        except ValueError:
            c.add(f"vpcCidrs.{region}", cidr, "a valid IPv4 network in CIDR form such as '10.10.0.0/16'")
            continue
        if not net.is_private or not 16 <= net.prefixlen <= 20:
            c.add(f"vpcCidrs.{region}", cidr, "a private (RFC 1918) network between /16 and /20")
            continue
        out[region] = str(net)
        nets[region] = net
    if len(nets) == 2:
        (ra, na), (rb, nb) = nets.items()
        if na.overlaps(nb):
            c.add("vpcCidrs", {ra: str(na), rb: str(nb)},
                  "the regions' CIDRs must not overlap (cross-region peering and replication need both routable)")
    return out


#: EKS accepts at most 40 publicAccessCidrs per cluster.
MAX_API_ACCESS_CIDRS = 40
#: The widest range accepted: anything broader is "the internet" in all but name (0.0.0.0/1 + 128.0.0.0/1).
MIN_API_ACCESS_PREFIX = 8
_RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _api_access_cidrs(c: _Collector, data: Any) -> tuple[str, ...]:
    """`kubernetesApiAccessCidrs`: who may reach the EKS API's public endpoint (nodes use the private one).

    Required and never the whole internet: the endpoint is authenticated by IAM, but an API server open
    to 0.0.0.0/0 is one credential leak or one API-server CVE away from the cluster.
    """
    key = "kubernetesApiAccessCidrs"
    rule = (f"a non-empty list (at most {MAX_API_ACCESS_CIDRS}) of public IPv4 networks in CIDR form, /"
            f"{MIN_API_ACCESS_PREFIX} or narrower, such as ['203.0.113.0/24'] (your deployers' and operators' "
            "egress ranges; never 0.0.0.0/0)")
    if data is None:
        c.missing(key, rule)
        return ()
    if not isinstance(data, list) or not data or len(data) > MAX_API_ACCESS_CIDRS:
        c.add(key, data, rule)
        return ()
    out: list[str] = []
    for i, cidr in enumerate(data):
        try:
            net = ipaddress.IPv4Network(str(cidr), strict=True) if isinstance(cidr, str) else None
        except ValueError:
            net = None
        if net is None:
            c.add(f"{key}[{i}]", cidr, "an IPv4 network in CIDR form with no host bits set, such as "
                  "'203.0.113.0/24'")
        elif net.prefixlen < MIN_API_ACCESS_PREFIX:
            c.add(f"{key}[{i}]", cidr, f"a range of /{MIN_API_ACCESS_PREFIX} or narrower: 0.0.0.0/0 and other "
                  "internet-wide ranges expose the Kubernetes API to everyone; list your egress ranges")
        elif any(net.subnet_of(private) for private in _RFC1918):
            c.add(f"{key}[{i}]", cidr, "a public range: the public endpoint sees public source addresses "
                  "(traffic from inside the VPC uses the private endpoint)")
        elif str(net) in out:
            c.add(f"{key}[{i}]", cidr, "each range once")
        else:
            out.append(str(net))
    return tuple(out)


def _certificates(c: _Collector, data: Any, regions: tuple[str, str]) -> dict[str, str]:
    d = c.mapping("ingress", data)
    c.unknown("ingress", d, ("certificateArns", "accessLogBuckets"))
    arns = c.mapping("ingress.certificateArns", d.get("certificateArns"))
    out: dict[str, str] = {}
    for region in regions:
        arn = arns.get(region)
        m = _ACM_ARN_RE.match(arn) if isinstance(arn, str) else None
        if arn is None:
            c.missing(f"ingress.certificateArns.{region}", "the ARN of an ACM certificate in that region")
        elif m is None or m.group(1) != region:
            c.add(f"ingress.certificateArns.{region}", arn, f"an ACM certificate ARN in region {region}")
        else:
            out[region] = arn
    return out


_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _access_log_buckets(c: _Collector, data: Any, regions: tuple[str, str]) -> dict[str, str]:
    """Optional `ingress.accessLogBuckets: {<region>: <bucket>}` (ALB logs go to a bucket in the ALB's region)."""
    ingress = data if isinstance(data, dict) else {}
    buckets = c.mapping("ingress.accessLogBuckets", ingress.get("accessLogBuckets"), required=False)
    out: dict[str, str] = {}
    for region, bucket in buckets.items():
        if region not in regions:
            c.add(f"ingress.accessLogBuckets.{region}", bucket, f"keys must be the primary or DR region "
                  f"({', '.join(regions)})")
        elif not isinstance(bucket, str) or not _BUCKET_RE.match(bucket):
            c.add(f"ingress.accessLogBuckets.{region}", bucket, "an S3 bucket name (3-63 lowercase letters, "
                  "digits, '.' and '-') of a bucket in that region")
        else:
            out[region] = bucket
    return out


def parse_config(raw: dict[str, Any]) -> StackConfig:
    """Validate the stack config (keys without the `hastack:` namespace) and build the model.

    Raises `ConfigError` listing every problem found.
    """
    c = _Collector()
    for key in sorted(set(raw) - set(KNOWN_KEYS)):
        c.errors.append(f"hastack:{key} is not a known key: allowed are {', '.join(KNOWN_KEYS)}")

    region_rule = "an AWS region name such as 'us-east-1'"
    primary = c.string("primaryRegion", raw.get("primaryRegion"), region_rule, _REGION_RE)
    dr = c.string("drRegion", raw.get("drRegion"), region_rule, _REGION_RE)
    if primary and dr and primary == dr:
        c.add("drRegion", dr, f"the DR region must differ from hastack:primaryRegion ({primary}); a DR "
              "replica in the same region does not survive a regional outage")
    dr_mode = c.string("drMode", raw.get("drMode"), f"one of {', '.join(DR_MODES)}", default="pilot-light")
    if dr_mode not in DR_MODES:
        c.add("drMode", dr_mode, f"one of {', '.join(DR_MODES)}")
    active = c.string("activeRegion", raw.get("activeRegion"), region_rule, default=primary)
    if active not in (primary, dr):
        c.add("activeRegion", active, f"either hastack:primaryRegion ({primary}) or hastack:drRegion ({dr})")
    az_count = c.integer("azCount", raw.get("azCount"), 3, default=3, maximum=6)
    cidrs = _cidrs(c, raw.get("vpcCidrs"), (primary, dr))
    api_cidrs = _api_access_cidrs(c, raw.get("kubernetesApiAccessCidrs"))
    k8s = raw.get("kubernetesVersion")
    if k8s not in KUBERNETES_VERSIONS:
        if k8s is None:
            c.missing("kubernetesVersion", f"one of {', '.join(KUBERNETES_VERSIONS)}")
        else:
            c.add("kubernetesVersion", k8s, f"one of {', '.join(KUBERNETES_VERSIONS)} (quote it in YAML)")
    nodes = _nodes(c, raw.get("nodes"))
    services = _services(c, raw.get("services"), az_count)
    slo = _slo(c, raw.get("slo"))
    database = _database(c, raw.get("database"))
    cache = _cache(c, raw.get("cache"))
    certs = _certificates(c, raw.get("ingress"), (primary, dr))
    log_buckets = _access_log_buckets(c, raw.get("ingress"), (primary, dr))

    dns = c.mapping("dns", raw.get("dns"))
    c.unknown("dns", dns, ("zoneName", "recordName"))
    host_re = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$")
    zone = c.string("dns.zoneName", dns.get("zoneName"), "an existing Route 53 public zone such as "
                    "'example.com'", host_re).rstrip(".")
    record = c.string("dns.recordName", dns.get("recordName"), "a host name inside dns.zoneName", host_re)
    if zone and record and not (record == zone or record.endswith("." + zone)):
        c.add("dns.recordName", record, f"a host name inside dns.zoneName ({zone})")

    alerting = c.mapping("alerting", raw.get("alerting"), required=False)
    c.unknown("alerting", alerting, ("subscriptions",))
    subs_raw = alerting.get("subscriptions", [])
    subs: list[Subscription] = []
    if not isinstance(subs_raw, list):
        c.add("alerting.subscriptions", subs_raw, "a list of {protocol, endpoint}")
        subs_raw = []
    for i, s in enumerate(subs_raw):
        d = c.mapping(f"alerting.subscriptions[{i}]", s)
        proto = d.get("protocol")
        if proto not in SUBSCRIPTION_PROTOCOLS:
            c.add(f"alerting.subscriptions[{i}].protocol", proto, f"one of {', '.join(SUBSCRIPTION_PROTOCOLS)}")
        endpoint = c.string(f"alerting.subscriptions[{i}].endpoint", d.get("endpoint"),
                            "an e-mail address, phone number or https URL")
        subs.append(Subscription(str(proto), endpoint))

    drd = c.mapping("dr", raw.get("dr"), required=False)
    c.unknown("dr", drd, ("fenceTimeoutSeconds", "waitTimeoutSeconds"))
    timeouts = DrTimeouts(
        c.integer("dr.fenceTimeoutSeconds", drd.get("fenceTimeoutSeconds"), 1, default=20, maximum=300),
        c.integer("dr.waitTimeoutSeconds", drd.get("waitTimeoutSeconds"), 60, default=2700, maximum=14400),
    )

    if c.errors:
        raise ConfigError(c.errors)
    return StackConfig(
        primary_region=primary, dr_region=dr, dr_mode=dr_mode, active_region=active, az_count=az_count,
        vpc_cidrs=cidrs, kubernetes_version=str(k8s), nodes=nodes, services=services, slo=slo,
        database=database, cache=cache, certificate_arns=certs, zone_name=zone, record_name=record,
        subscriptions=tuple(subs), dr=timeouts, access_log_buckets=log_buckets,
        kubernetes_api_access_cidrs=api_cidrs, raw=dict(raw),
    )


def load_config() -> StackConfig:
    """Read every `hastack:*` key through `pulumi.Config` and validate it (raises `ConfigError`)."""
    from pulumi.runtime.config import get_config_env

    cfg = pulumi.Config(NAMESPACE)
    from pulumi.runtime.config import CONFIG

    present = {k.split(":", 1)[1] for k in (*get_config_env(), *CONFIG.get()) if k.startswith(NAMESPACE + ":")}
    raw: dict[str, Any] = {}
    for key in sorted(present | set(KNOWN_KEYS)):
        value = cfg.get(key)
        if value is None:
            continue
        raw[key] = _decode(key, value)
    return parse_config(raw)


def _decode(key: str, value: str) -> Any:
    """Pulumi hands structured config over as JSON text and scalars as plain text."""
    if value[:1] in ("{", "[") or key in _NUMERIC_KEYS:
        try:
            return json.loads(value)
        except ValueError:
            return value  # left as text: validation then names the key and the value
    return value


_NUMERIC_KEYS = frozenset({"azCount"})
