"""The stack's configuration: pydantic models of `Pulumi.<stack>.yaml`'s `hastack:` keys, validated once.

Why one typed model at the boundary: every component takes typed values, never a raw dict, and an
operator fixing a config wants every mistake at once, each naming the key, the bad value and what
is allowed — not one traceback per `pulumi up`.

Every rule lives on the models: a constrained type (`Region`, `VpcCidr`, ...), a `Field` (default,
bounds, description) or a validator. `parse_config` validates plain data (tested without the
engine) and `explain` turns each pydantic error into one line:

    hastack:<key path> = <bad value> is invalid: <what is allowed>

"What is allowed" is worded by `hastack.validation` (shared with the stack outputs): the `Kind` text
on the value's type, or else derived from the type and its bounds ("an integer >= 3 and <= 6"); a
validator that checks more than one value raises `_invalid(<what is allowed>)`. The same texts
document the keys (`reference`).

Adding a key is one line in its model: `name: <type> = Field(<default>, <bounds>, description=...)`,
for instance `traffic_control: Literal["switch", "arc"] = Field("switch", description=...)` in
`DrConfig`. Its camelCase alias (`hastack:dr.trafficControl`), its validation and its error lines
follow; `python -m tests.config_docs --write` then regenerates its Pulumi.yaml entry and README row
(tests/test_config_docs.py fails until it is run). A rule on the value's type goes on the type
(AWS-aware region checks: an `AfterValidator` on `Region`); a rule across keys is a field
validator reading earlier keys from `info.data` (fields validate in declaration order).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError, PydanticUndefined

from hastack import coordination, timings
from hastack.catalog.capacity import allocatable, cores, cpu_cores, gib, memory_bytes
from hastack.catalog.instance_types import Service, catalog
from hastack.catalog.regions import RegionDataError, aws_regions, close_regions
from hastack.errors import UserError
from hastack.topology import Topology
from hastack.validation import Kind, allowed, annotation_at, fields_of, is_model, key_path, unwrap, validate_with

NAMESPACE = "hastack"


class ConfigError(pulumi.RunError, UserError):
    """Every problem found in a stack's config, reported together.

    A `pulumi.RunError`, so that `pulumi up` prints the message without a Python traceback, and a
    `UserError`, so that the CLI prints it as one paragraph and exits 2.
    """

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.errors)
        head = f"invalid stack config ({count} error{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  - {e}" for e in self.errors)])


# ---------------------------------------------------------------------------------------------
# Rules that validators check
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Derived:
    """Where a key's value comes from when it is not set (its validator computes it from earlier keys)."""

    text: str


def _invalid(what: str) -> PydanticCustomError:
    """A broken rule, as a validator raises it: the error line ends with `what` is allowed."""
    return PydanticCustomError("contract", what)


def _problem(loc: tuple[str | int, ...], value: Any, what: str) -> InitErrorDetails:
    """A broken rule at `loc` (relative to the value a validator checks)."""
    return InitErrorDetails(type=_invalid(what), loc=loc, input=value)


# ---------------------------------------------------------------------------------------------
# Constrained types
# ---------------------------------------------------------------------------------------------

#: Integers and numbers are taken as written: YAML `"3"` or `true` is not a count.
Integer = Annotated[int, Strict()]
Number = Annotated[float, Strict()]



def _known_region(region: str) -> str:
    """A region AWS has: the providers skip region validation, so `us-east-9` would render and preview."""
    try:
        known = aws_regions()
    except RegionDataError as exc:
        raise _invalid(str(exc)) from None
    if region not in known:
        close = close_regions(region)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise _invalid(f"an AWS region (botocore's endpoint data has no {region!r}){hint}")
    return region


Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$"), AfterValidator(_known_region),
                   Kind("region", "an AWS region name such as 'us-east-1'")]

DR_MODES = ("pilot-light",)
#: EKS versions in standard or extended support that kubernetes-validate ships schemas for.
KUBERNETES_VERSIONS = ("1.29", "1.30", "1.31", "1.32", "1.33")
CACHE_ENGINES = ("valkey", "redis")
SUBSCRIPTION_PROTOCOLS = ("email", "https", "sms")

KubernetesVersion = Annotated[Literal[KUBERNETES_VERSIONS],  # type: ignore[valid-type]
                              Kind("version", f"one of {', '.join(KUBERNETES_VERSIONS)} (quote it in YAML)")]

DrMode = Annotated[Literal[DR_MODES], Kind("mode", f"one of {', '.join(DR_MODES)}")]  # type: ignore[valid-type]

_CIDR_FORM = "a valid IPv4 network in CIDR form such as '10.10.0.0/16'"
_VPC_CIDR = "a private (RFC 1918) network between /16 and /20"


def _ipv4_network(value: str, allowed: str) -> ipaddress.IPv4Network:
    """`value` as an IPv4 network with no host bits set, or the error line ending with `allowed`."""
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        raise _invalid(allowed) from None


def _private_network(value: str) -> str:
    net = _ipv4_network(value, _CIDR_FORM)
    if not net.is_private or not 16 <= net.prefixlen <= 20:
        raise _invalid(_VPC_CIDR)
    return str(net)


VpcCidr = Annotated[str, AfterValidator(_private_network),
                    Kind("cidr", "a private IPv4 CIDR between /16 and /20 for each region, such as '10.10.0.0/16'")]

#: EKS accepts at most 40 publicAccessCidrs per cluster.
MAX_API_ACCESS_CIDRS = 40
#: The widest range accepted: anything broader is "the internet" in all but name (0.0.0.0/1 + 128.0.0.0/1).
MIN_API_ACCESS_PREFIX = 8
_RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_IPV4_NETWORK = "an IPv4 network in CIDR form with no host bits set, such as '203.0.113.0/24'"


def _public_range(value: str) -> str:
    """One entry of `kubernetesApiAccessCidrs`: a public range, never (close to) the whole internet."""
    net = _ipv4_network(value, _IPV4_NETWORK)
    if net.prefixlen < MIN_API_ACCESS_PREFIX:
        raise _invalid(f"a range of /{MIN_API_ACCESS_PREFIX} or narrower: 0.0.0.0/0 and other internet-wide ranges "
                       "expose the Kubernetes API to everyone; list your egress ranges")
    if any(net.subnet_of(private) for private in _RFC1918):
        raise _invalid("a public range: the public endpoint sees public source addresses (traffic from inside the "
                       "VPC uses the private endpoint)")
    return str(net)


ApiAccessCidr = Annotated[str, AfterValidator(_public_range), Kind("cidr", _IPV4_NETWORK)]
ApiAccessCidrs = Annotated[
    tuple[ApiAccessCidr, ...], Field(min_length=1, max_length=MAX_API_ACCESS_CIDRS),
    Kind("cidrs", f"a non-empty list (at most {MAX_API_ACCESS_CIDRS}) of public IPv4 networks in CIDR form, "
            f"/{MIN_API_ACCESS_PREFIX} or narrower, such as ['203.0.113.0/24'] (your deployers' and operators' "
            "egress ranges; never 0.0.0.0/0)")]

#: What the node groups' AMI runs on (components/cluster.py: amiType AL2023_x86_64_STANDARD).
NODE_ARCHITECTURE = "x86_64"


def _listed(service: Service) -> Callable[[str], str]:
    """An instance type whose family the dated list has (an unlisted size is only a warning: `config_warnings`)."""
    def check(name: str) -> str:
        problem = catalog().unknown_family(service, name)
        if problem:
            raise _invalid(problem)
        return name
    return check


def _node_architecture(name: str) -> str:
    spec = catalog().ec2_capacity.get(name)
    if spec is not None and spec.architecture != NODE_ARCHITECTURE:
        raise _invalid(f"an {NODE_ARCHITECTURE} instance type: the node groups run the AL2023 {NODE_ARCHITECTURE} "
                       f"AMI, and {name} is {spec.architecture}")
    return name


InstanceType = Annotated[str, Field(pattern=r"^[a-z0-9-]+\.[a-z0-9]+$"), AfterValidator(_listed("ec2")),
                         AfterValidator(_node_architecture),
                         Kind("instance type", "an x86_64 EC2 instance type such as 'm6i.xlarge'")]
ServiceName = Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$"),
                        Kind("name", "a DNS label: lowercase letters, digits and '-', at most 32 characters")]
_IMAGE = ("a container image reference such as 'registry/repo:tag' (pin a tag or digest, not 'latest')")


def _pinned(image: str) -> str:
    if image.endswith(":latest"):
        raise _invalid("pin a tag or digest, not 'latest' (a rollout must be reproducible)")
    return image


Image = Annotated[str, Field(pattern=r"^[^\s:]+(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$"), AfterValidator(_pinned),
                  Kind("image", _IMAGE)]
HttpPath = Annotated[str, Field(pattern=r"^/[\w./-]*$"), Kind("path", "an absolute HTTP path such as '/health/ready'")]

_CPU = "a positive Kubernetes CPU quantity such as '500m' or '2'"
_MEMORY = "a positive Kubernetes memory quantity such as '512Mi' or '2Gi'"


def _number_as_text(value: Any) -> Any:
    """YAML reads `cpu: 2` as a number; Kubernetes quantities are text."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _not_zero(allowed: str) -> Callable[[str], str]:
    def check(quantity: str) -> str:
        if quantity.startswith("0") and quantity.rstrip("m").strip("0.") == "":
            raise _invalid(allowed)
        return quantity
    return check


Cpu = Annotated[str, BeforeValidator(_number_as_text), Field(pattern=r"^(\d+(\.\d+)?|\d+m)$"),
                AfterValidator(_not_zero(_CPU)), Kind("cpu", _CPU)]
Memory = Annotated[str, Field(pattern=r"^[1-9]\d*(Ki|Mi|Gi|Ti|K|M|G|T)?$"), Kind("memory", _MEMORY)]
PostgresVersion = Annotated[str, Field(pattern=r"^\d{2}(\.\d+)?$"),
                            Kind("version", "a PostgreSQL major.minor version such as '16.4'")]
DbInstanceClass = Annotated[str, Field(pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$"), AfterValidator(_listed("rds")),
                            Kind("class", "an RDS for PostgreSQL class such as 'db.r6g.large'")]
CacheNodeType = Annotated[str, Field(pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$"), AfterValidator(_listed("elasticache")),
                          Kind("node type", "an ElastiCache node type such as 'cache.r7g.large' (Global Datastore "
                                            "needs r/m families or t4g.small and larger)")]
_ACM_ARN = re.compile(r"^arn:aws[-a-z]*:acm:([a-z0-9-]+):\d{12}:certificate/[-0-9a-f]+$")
CertificateArn = Annotated[str, Field(pattern=_ACM_ARN.pattern),
                           Kind("arn", "the ARN of an ACM certificate in that region")]
BucketName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
                       Kind("bucket", "an S3 bucket name (3-63 lowercase letters, digits, '.' and '-') of a bucket in "
                               "that region")]
_HostName = Annotated[str, Field(pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$")]


# ---------------------------------------------------------------------------------------------
# The models
# ---------------------------------------------------------------------------------------------


class _Model(BaseModel):
    """camelCase keys in YAML, snake_case attributes in Python; unknown keys refused; immutable."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                              extra="forbid", frozen=True)


class NodeGroupSize(_Model):
    """Per-AZ size of one managed node group (each AZ has its own group and scales on its own).

    The DR region is pilot-light and may scale to zero until `hastack dr scale-up` brings it to the
    primary's size.
    """

    min_size: Integer = Field(ge=0)
    desired_size: Integer = Field(ge=0)
    max_size: Integer = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> NodeGroupSize:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise _invalid("sizes must be ordered minSize <= desiredSize <= maxSize")
        return self


class ServingNodeGroupSize(NodeGroupSize):
    """The primary region serves traffic: every AZ keeps at least one node."""

    min_size: Integer = Field(ge=1)
    desired_size: Integer = Field(ge=1)


class NodesConfig(_Model):
    instance_types: Annotated[tuple[InstanceType, ...], Field(min_length=1),
                              Kind("instance types", "a non-empty list of EC2 instance types such as ['m6i.xlarge']")]
    disk_size_gb: Integer = Field(100, ge=20)
    primary: ServingNodeGroupSize
    dr: NodeGroupSize


class HealthPaths(_Model):
    live: HttpPath = "/health/live"
    ready: HttpPath = "/health/ready"
    startup: HttpPath = "/health/startup"


class ResourceAmounts(_Model):
    cpu: Cpu
    memory: Memory


class Resources(_Model):
    requests: ResourceAmounts
    limits: ResourceAmounts

    @model_validator(mode="after")
    def _limits_not_below_requests(self) -> Resources:
        problems = [_problem(("limits", resource), getattr(self.limits, resource),
                             f"a limit >= the request ({getattr(self.requests, resource)}): the scheduler places "
                             "the pod by its request, and a limit below it is refused by Kubernetes")
                    for resource, size in (("cpu", cpu_cores), ("memory", memory_bytes))
                    if size(getattr(self.limits, resource)) < size(getattr(self.requests, resource))]
        if problems:
            raise ValidationError.from_exception_data("resources", problems)
        return self


class ServiceConfig(_Model):
    name: ServiceName
    image: Image
    port: Integer = Field(ge=1024, le=65535)
    replicas: Integer = Field(ge=2)
    max_replicas: Annotated[Integer, Derived("3 x replicas"), Kind("count", "an integer >= replicas")] = Field(
        None, ge=2, validate_default=True)
    health_paths: HealthPaths = Field(default_factory=HealthPaths)
    resources: Resources

    @field_validator("max_replicas", mode="wrap")
    @classmethod
    def _at_least_replicas(cls, value: Any, handler: Callable[[Any], int], info: ValidationInfo) -> int:
        floor = max(info.data.get("replicas", 2), 2)
        if value is None:
            return floor * 3
        checked = handler(value)
        if checked < floor:
            raise _invalid(f"an integer >= {floor}")
        return checked


Services = Annotated[tuple[ServiceConfig, ...], Field(min_length=1), Kind("services", "a non-empty list of services")]


class SloConfig(_Model):
    availability: Annotated[Number, Field(gt=0, lt=100),
                            Kind("percent", "a percentage strictly between 0 and 100, such as 99.95")]
    latency_threshold_ms: Integer = Field(300, ge=1)
    rto_minutes: Annotated[Number, Field(gt=0), Kind("minutes", "a positive number of minutes")]
    rpo_seconds: Annotated[Number, Field(gt=0), Kind("seconds", "a positive number of seconds")]

    @property
    def error_budget(self) -> float:
        """Allowed failure ratio, e.g. 0.0005 for 99.95 %."""
        return 1.0 - self.availability / 100.0


class DatabaseConfig(_Model):
    engine_version: PostgresVersion
    instance_class: DbInstanceClass
    dr_instance_class: Annotated[DbInstanceClass, Derived("instanceClass")] = Field(None, validate_default=True)
    allocated_storage_gb: Integer = Field(100, ge=20)
    backup_retention_days: Integer = Field(7, ge=7, le=35)

    @field_validator("dr_instance_class", mode="wrap")
    @classmethod
    def _defaults_to_instance_class(cls, value: Any, handler: Callable[[Any], str], info: ValidationInfo) -> str:
        return info.data.get("instance_class") if value is None else handler(value)  # type: ignore[return-value]


class CacheConfig(_Model):
    engine: Literal[CACHE_ENGINES] = "valkey"  # type: ignore[valid-type]
    engine_version: Annotated[str, Field(pattern=r"^\d+\.\d+$"), Kind("version", "an engine version such as '8.0'")]
    node_type: CacheNodeType
    snapshot_retention_days: Integer = Field(7, ge=1, le=35)


class IngressConfig(_Model):
    #: Region -> ACM certificate in that region (keys: the primary and the DR region, checked by `StackConfig`).
    certificate_arns: dict[str, CertificateArn]
    #: Optional, region -> an existing S3 bucket in that region for the ALB's access logs (none: no access logs).
    access_log_buckets: dict[str, BucketName] = Field(default_factory=dict)


class DnsConfig(_Model):
    zone_name: Annotated[_HostName, Kind("zone", "an existing Route 53 public zone such as 'example.com'")]
    record_name: Annotated[_HostName, Kind("host", "a host name inside dns.zoneName")]

    @field_validator("record_name")
    @classmethod
    def _inside_zone(cls, record: str, info: ValidationInfo) -> str:
        zone = info.data.get("zone_name")
        if zone and not (record == zone or record.endswith("." + zone)):
            raise _invalid(f"a host name inside dns.zoneName ({zone})")
        return record


class Subscription(_Model):
    protocol: Literal[SUBSCRIPTION_PROTOCOLS]  # type: ignore[valid-type]
    endpoint: Annotated[str, Field(min_length=1), Kind("endpoint", "an e-mail address, phone number or https URL")]


class AlertingConfig(_Model):
    subscriptions: tuple[Subscription, ...] = ()


TRAFFIC_CONTROL_MODES = ("cloudwatch-alarm", "arc")
_RESOLVER = ("a DNS resolver address: an IPv4 or IPv6 address with an optional port, such as '10.0.0.2' or "
             "'[fd00::2]:53'")


def _resolver(value: str) -> str:
    """One of `dr.dnsResolvers`: `ip`, `ip:port`, `[ipv6]:port`; written back in one canonical form."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?|([0-9.]+)(?::(\d+))?|([0-9A-Fa-f:]*:[0-9A-Fa-f:.]*)", value)
    if not match:
        raise _invalid(_RESOLVER)
    host = match.group(1) or match.group(3) or match.group(5)
    port = match.group(2) or match.group(4)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise _invalid(_RESOLVER) from None
    if port is not None and not 1 <= int(port) <= 65535:
        raise _invalid("a port between 1 and 65535 after the address")
    if port is None:
        return str(ip)
    return f"[{ip}]:{int(port)}" if ip.version == 6 else f"{ip}:{int(port)}"


Resolver = Annotated[str, AfterValidator(_resolver), Kind("resolver", _RESOLVER)]


#: The `hastack:dr` keys exported in the `drTimeouts` output (the bounds; the rest says how, not how long).
TIMEOUT_KEYS = ("fence_timeout_seconds", "wait_timeout_seconds", "call_timeout_seconds", "status_timeout_seconds",
                "lease_seconds", "lease_renew_seconds", "lock_ttl_seconds", "lag_evidence_max_age_seconds",
                "dns_ttl_seconds", "dns_propagation_seconds", "heartbeat_seconds")


class DrConfig(_Model):
    """What bounds `hastack dr`: every call and wait it makes has a limit from here (exported as `drTimeouts`).

    Also how traffic moves (`trafficControl`), the writers' lease (`leaseSeconds`, its witness) and
    the heartbeat that keeps `ReplicaLag` honest. docs/traffic-control.md and docs/lease-contract.md
    say why each default is what it is.
    """

    #: How long the DR command tries to fence the old primary (best-effort extras; the lease is the fence).
    fence_timeout_seconds: Integer = Field(20, ge=1, le=300)
    #: How long each wait for an AWS change may last (promotion, node groups, alarms, DNS).
    wait_timeout_seconds: Integer = Field(2700, ge=60, le=14400)
    #: Connect + read timeout of every AWS call (at most 2 attempts on the failover's critical path).
    call_timeout_seconds: Integer = Field(10, ge=1, le=120)
    #: `hastack dr status` answers within this, marking what it could not read as unreachable.
    status_timeout_seconds: Integer = Field(30, ge=5, le=300)
    #: A writer's lease lasts this long after the read that renewed it; the fence waits it out.
    lease_seconds: Integer = Field(15, ge=3, le=300)
    #: How often writers renew the lease: at most leaseSeconds / 3, so two renewals may fail in a row.
    lease_renew_seconds: Annotated[Integer, Derived("leaseSeconds / 3, rounded down"),
                                   Kind("seconds", "an integer >= 1 and <= leaseSeconds / 3")] = Field(
        None, ge=1, validate_default=True)
    #: The DR command's lock expires this long after its last renewal (renewed every lockTtlSeconds / 3).
    lock_ttl_seconds: Integer = Field(60, ge=15, le=3600)
    #: A `ReplicaLag` datapoint older than this is no evidence (RDS publishes one a minute).
    lag_evidence_max_age_seconds: Integer = Field(180, ge=60, le=3600)
    #: How long resolvers may cache the failover record's answer (default: the fixed ALB alias TTL).
    dns_ttl_seconds: Integer = Field(int(timings.ALIAS_TTL.seconds), ge=1, le=3600)
    #: How long Route 53 takes to act on a change at every edge (default: its documented propagation).
    dns_propagation_seconds: Integer = Field(int(timings.ROUTE53_PROPAGATION.seconds), ge=1, le=600)
    #: The active region's heartbeat writer writes one row this often (keeps ReplicaLag meaningful).
    heartbeat_seconds: Integer = Field(5, ge=1, le=60)
    #: The heartbeat writer's image (images/heartbeat/Dockerfile); mirror it to private ECR and pin a digest.
    heartbeat_image: Image = "public.ecr.aws/hastack/heartbeat:0.1.0"
    #: How traffic moves: CloudWatch alarms in the DR region (default) or Route 53 ARC routing controls.
    traffic_control: Literal[TRAFFIC_CONTROL_MODES] = "cloudwatch-alarm"  # type: ignore[valid-type]
    #: The MRSC witness region of the lease table (default: the third region of the MRSC set).
    lease_witness_region: Annotated[Region | None, Kind("region", "an AWS region name such as 'us-east-2': a third "
                                                        "region of the DynamoDB MRSC set of primaryRegion and "
                                                        "drRegion"),
                                    Derived("the first region of the DynamoDB MRSC set of primaryRegion and drRegion "
                                            "that is neither (none when no set holds both)")] = None
    #: Resolvers the DR command asks to verify the cutover (none: the system resolver).
    dns_resolvers: Annotated[tuple[Resolver, ...], Kind("resolvers", f"a list of: {_RESOLVER}")] = ()

    def timeouts(self) -> dict[str, int]:
        """The `drTimeouts` stack output: every bound of the DR command's calls and waits."""
        return self.model_dump(include=set(TIMEOUT_KEYS))

    @field_validator("lease_renew_seconds", mode="wrap")
    @classmethod
    def _renew_a_third(cls, value: Any, handler: Callable[[Any], int], info: ValidationInfo) -> int:
        lease = info.data.get("lease_seconds") or 3
        ceiling = max(lease // 3, 1)
        if value is None:
            return ceiling
        checked = handler(value)
        if checked > ceiling:
            raise _invalid(f"an integer >= 1 and <= leaseSeconds / 3 ({ceiling}): a writer must be able to miss "
                           "two renewals before its lease runs out")
        return checked


class StackConfig(_Model):
    """Every `hastack:` key of one stack. Fields validate in this order: later rules may read earlier keys."""

    primary_region: Region = Field(description="AWS region that serves production traffic (three AZs).")
    dr_region: Region = Field(description="Pilot-light disaster-recovery region; must differ from primaryRegion.")
    dr_mode: DrMode = Field("pilot-light", description="DR strategy. Only `pilot-light` is implemented.")
    active_region: Annotated[Region, Derived("primaryRegion")] = Field(
        None, validate_default=True,
        description="Region currently serving traffic (defaults to primaryRegion). Set it to drRegion after "
                    "`hastack dr scale-up` so the next `pulumi up` keeps the failover instead of undoing it.")
    az_count: Integer = Field(3, ge=3, le=6, description="Availability Zones used per region (at least 3).")
    vpc_cidrs: dict[str, VpcCidr] = Field(
        description="Map region -> VPC CIDR, one per region, non-overlapping (e.g. {us-east-1: 10.10.0.0/16}).")
    kubernetes_version: KubernetesVersion = Field(description='EKS control-plane version, e.g. "1.31".')
    kubernetes_api_access_cidrs: ApiAccessCidrs = Field(
        description="Required. Public IPv4 CIDRs (/8 or narrower, at most 40, never 0.0.0.0/0) allowed to reach the "
                    "EKS API's public endpoint: the egress ranges of whoever runs `pulumi up`, kubectl and `hastack "
                    "dr`. Nodes and anything inside the VPC use the private endpoint.")
    nodes: NodesConfig = Field(
        description="Managed node groups, one per AZ (sizes are per AZ; DR may be 0 while pilot-light).")
    services: Services = Field(description="Model-serving services, each a Deployment behind the region's ALB.")
    slo: SloConfig = Field(description="Availability and latency objective, RTO and RPO budgets.")
    database: DatabaseConfig = Field(description="RDS PostgreSQL writer (Multi-AZ) and its cross-region replica.")
    cache: CacheConfig = Field(description="ElastiCache Global Datastore (one node per AZ in each region).")
    ingress: IngressConfig = Field(
        description="ALB per region: its ACM certificate and, optionally, an S3 bucket in that region (whose policy "
                    "lets the region's ELB account write) for access logs.")
    dns: DnsConfig = Field(description="Route 53 failover record; the hosted zone must already exist.")
    alerting: AlertingConfig = Field(default_factory=AlertingConfig,
                                     description="Who gets paged: SNS subscriptions of every paging topic.")
    dr: DrConfig = Field(default_factory=DrConfig,
                         description="The DR command (`hastack dr`): the bound of every call and wait, how traffic "
                                     "moves (docs/traffic-control.md), the writers' lease (docs/lease-contract.md), "
                                     "the heartbeat, the resolvers a cutover is verified through.")

    # -- rules across keys ---------------------------------------------------------------------

    @field_validator("dr_region")
    @classmethod
    def _dr_elsewhere(cls, dr: str, info: ValidationInfo) -> str:
        primary = info.data.get("primary_region")
        if dr == primary:
            raise _invalid(f"the DR region must differ from hastack:primaryRegion ({primary}); a DR replica in the "
                           "same region does not survive a regional outage")
        partitions = aws_regions()
        if primary and partitions.get(dr) != partitions.get(primary):
            raise _invalid(f"a region of the {partitions.get(primary)} partition, as hastack:primaryRegion ({primary}) "
                           "is: data does not replicate across partitions")
        return dr

    @field_validator("active_region", mode="wrap")
    @classmethod
    def _one_of_the_regions(cls, value: Any, handler: Callable[[Any], str], info: ValidationInfo) -> str:
        primary, dr = info.data.get("primary_region"), info.data.get("dr_region")
        if value is None:
            return primary  # type: ignore[return-value]  # None only when primaryRegion failed: reported there
        active = handler(value)
        if primary and dr and active not in (primary, dr):
            raise _invalid(f"either hastack:primaryRegion ({primary}) or hastack:drRegion ({dr})")
        return active

    @field_validator("dr")
    @classmethod
    def _witness_in_the_regions_set(cls, dr: DrConfig, info: ValidationInfo) -> DrConfig:
        primary, dr_region, witness = info.data.get("primary_region"), info.data.get("dr_region"), \
            dr.lease_witness_region
        if witness and primary and dr_region:
            problem = coordination.witness_problem(primary, dr_region, witness)
            if problem:
                raise ValidationError.from_exception_data("StackConfig", [
                    _problem(("leaseWitnessRegion",), witness, problem)])
        return dr

    @field_validator("vpc_cidrs", mode="wrap")
    @classmethod
    def _one_cidr_per_region(cls, value: Any, handler: Callable[[Any], dict[str, str]],
                             info: ValidationInfo) -> dict[str, str]:
        cidrs = validate_with(handler, value, _region_keys(value, info, required=True))
        nets = [ipaddress.IPv4Network(c) for c in cidrs.values()]
        if len(nets) == 2 and nets[0].overlaps(nets[1]):
            raise _invalid("the regions' CIDRs must not overlap (cross-region peering and replication need both "
                           "routable)")
        return cidrs

    @field_validator("kubernetes_api_access_cidrs", mode="wrap")
    @classmethod
    def _each_range_once(cls, value: Any, handler: Callable[[Any], tuple[str, ...]]) -> tuple[str, ...]:
        return validate_with(handler, value, _repeated(value, lambda item: item, "each range once"))

    @field_validator("services", mode="wrap")
    @classmethod
    def _unique_names_and_ports(cls, value: Any, handler: Callable[[Any], tuple[ServiceConfig, ...]]
                                ) -> tuple[ServiceConfig, ...]:
        def entry(key: str) -> Callable[[Any], Any]:
            return lambda service: service.get(key) if isinstance(service, dict) else None

        problems = [*_repeated(value, entry("name"), "service names must be unique", "name"),
                    *_repeated(value, entry("port"), "each service needs its own port", "port")]
        return validate_with(handler, value, problems)

    @field_validator("services")
    @classmethod
    def _pods_fit_the_nodes(cls, services: tuple[ServiceConfig, ...], info: ValidationInfo
                            ) -> tuple[ServiceConfig, ...]:
        nodes = info.data.get("nodes")
        if nodes is None:
            return services  # the node types are invalid: reported there
        problems = [_problem((i, "resources", "requests"), service.resources.requests.model_dump(), problem)
                    for i, service in enumerate(services)
                    if (problem := _too_big_for(service, nodes.instance_types))]
        if problems:
            raise ValidationError.from_exception_data("services", problems)
        return services

    @field_validator("ingress", mode="wrap")
    @classmethod
    def _certificates_per_region(cls, value: Any, handler: Callable[[Any], IngressConfig],
                                 info: ValidationInfo) -> IngressConfig:
        problems: list[InitErrorDetails] = []
        if isinstance(value, dict):
            arns = value.get("certificateArns")
            for p in _region_keys(arns, info, required=True):
                problems.append({**p, "loc": ("certificateArns", *p["loc"])})
            for region, arn in (arns.items() if isinstance(arns, dict) else ()):
                match = _ACM_ARN.match(arn) if isinstance(arn, str) else None
                if match and match.group(1) != region:
                    problems.append(_problem(("certificateArns", region), arn,
                                             f"an ACM certificate ARN in region {region}"))
            for p in _region_keys(value.get("accessLogBuckets"), info, required=False):
                problems.append({**p, "loc": ("accessLogBuckets", *p["loc"])})
        return validate_with(handler, value, problems)

    # -- derived -------------------------------------------------------------------------------

    @property
    def regions(self) -> tuple[str, str]:
        return (self.primary_region, self.dr_region)

    @property
    def topology(self) -> Topology:
        """Which region is which, and which one serves: what the components decide "who writes where" from."""
        return Topology(self.primary_region, self.dr_region, self.active_region)


def _too_big_for(service: ServiceConfig, instance_types: tuple[str, ...]) -> str | None:
    """Why one pod of `service` cannot be scheduled on a node of some listed type, or None.

    Every listed type must hold the pod: a node group may launch any of them. Allocatable capacity is
    EKS's (hastack/catalog/capacity.py states the formula); types without capacity figures are skipped
    (`config_warnings` says so).
    """
    cpu, memory = cpu_cores(service.resources.requests.cpu), memory_bytes(service.resources.requests.memory)
    short = []
    for name in instance_types:
        spec = catalog().ec2_capacity.get(name)
        if spec is None:
            continue
        room = allocatable(spec)
        if cpu > room.cpu or memory > room.memory:
            short.append(f"{name} offers {cores(room.cpu)} CPU and {gib(room.memory)} allocatable")
    if not short:
        return None
    return (f"requests that fit one node (service {service.name!r} asks {cores(cpu)} CPU and {gib(memory)} per pod; "
            f"{'; '.join(short)} after EKS's kube-reserved, eviction and system DaemonSet reservations): lower the "
            "requests or choose larger hastack:nodes.instanceTypes")


def _region_keys(mapping: Any, info: ValidationInfo, *, required: bool) -> list[InitErrorDetails]:
    """Problems with the keys of a region -> value map: exactly the stack's two regions (or a subset)."""
    primary, dr = info.data.get("primary_region"), info.data.get("dr_region")
    if not isinstance(mapping, dict) or not primary or not dr:
        return []  # not a map (reported by the map's own type) or regions unknown (reported there)
    problems = [_problem((key,), value, f"keys must be the primary or DR region ({primary}, {dr})")
                for key, value in mapping.items() if key not in (primary, dr)]
    if required:
        problems += [InitErrorDetails(type="missing", loc=(region,), input=mapping)
                     for region in (primary, dr) if region not in mapping]
    return problems


def _repeated(items: Any, key: Callable[[Any], Any], allowed: str, *field: str) -> list[InitErrorDetails]:
    """A problem for each entry of a list whose `key` an earlier entry already had."""
    if not isinstance(items, (list, tuple)):
        return []
    seen: set[Any] = set()
    problems: list[InitErrorDetails] = []
    for i, item in enumerate(items):
        value = key(item)
        if value is None or isinstance(value, (dict, list)):
            continue
        if value in seen:
            problems.append(_problem((i, *field), value, allowed))
        seen.add(value)
    return problems


#: Every top-level key the program understands (namespace `hastack`), in validation order.
KNOWN_KEYS = tuple(field.alias or name for name, field in StackConfig.model_fields.items())


# ---------------------------------------------------------------------------------------------
# Errors, in words: the lines an operator reads
# ---------------------------------------------------------------------------------------------


def parse_config(raw: dict[str, Any]) -> StackConfig:
    """Validate the stack config (keys without the `hastack:` namespace) and build the model.

    Raises `ConfigError` listing every problem found.
    """
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        # An invalid item is dropped before the list's length is checked: "too short" says nothing more.
        inner = {tuple(e["loc"][:n]) for e in errors for n in range(len(e["loc"]))}
        errors = [e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in inner)]
        raise ConfigError(list(dict.fromkeys(explain(error) for error in errors))) from None


def explain(error: ErrorDetails) -> str:
    """One pydantic error as the line an operator reads: `hastack:` key path, bad value, what is allowed."""
    loc = tuple(error["loc"])
    key = f"{NAMESPACE}:{key_path(loc)}"
    if error["type"] == "extra_forbidden":
        parent = annotation_at(StackConfig, loc[:-1])
        known = [alias for alias, _, _ in fields_of(parent[0])] if parent and is_model(parent[0]) else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{key} is not a known key: {hint}allowed are {', '.join(known)}"
    if error["type"] == "contract":
        what = error["msg"]
    else:
        found = annotation_at(StackConfig, loc)
        what = allowed(*found) if found else error["msg"]
    if error["type"] == "missing":
        return f"{key} is required: {what}"
    return f"{key} = {_show(error['input'])} is invalid: {what}"


def _show(value: Any) -> str:
    """The bad value as written (a string quoted, anything else as JSON, keys in the order given)."""
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- the key reference (README table, Pulumi.yaml) -----------------------------------------------


@dataclass(frozen=True)
class KeyReference:
    """One documented key: its path, its default (text, JSON or a `Derived` text; None: required), what is allowed."""

    key: str
    default: str | None
    allowed: str


def reference() -> list[KeyReference]:
    """Every key of the model down to its leaves, in order, with its default and rule (the README's key table)."""
    return list(_leaves(StackConfig, ""))


def _leaves(model: type[BaseModel], path: str) -> Iterator[KeyReference]:
    for name, field in model.model_fields.items():
        key = f"{path}.{field.alias or name}" if path else (field.alias or name)
        tp, meta = unwrap(field.annotation, field.metadata)
        item = unwrap(get_args(tp)[0])[0] if get_origin(tp) in (list, tuple) else None
        if is_model(tp):
            yield from _leaves(tp, key)
        elif is_model(item):
            yield KeyReference(key, _default(field), allowed(tp, meta))
            yield from _leaves(item, f"{key}[]")
        elif get_origin(tp) is dict:
            yield KeyReference(f"{key}.<region>", _default(field), allowed(get_args(tp)[1]))
        else:
            yield KeyReference(key, _default(field), allowed(tp, meta))


def _default(field: FieldInfo) -> str | None:
    if field.default_factory is not None:
        default = _dump(field.default_factory())  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return None
    elif field.default is None:
        return next(m.text for m in field.metadata if isinstance(m, Derived))
    else:
        default = _dump(field.default)
    return default if isinstance(default, str) else json.dumps(default)


def _dump(value: Any) -> Any:
    return value.model_dump(by_alias=True) if isinstance(value, BaseModel) else value


# ---------------------------------------------------------------------------------------------
# Reading the config under Pulumi
# ---------------------------------------------------------------------------------------------


def config_warnings(config: StackConfig) -> list[str]:
    """What deserves a look but does not stop a deployment, one line each naming the key.

    The instance types the dated list does not have although their family is known (with a "did you
    mean"), families a region of the stack does not offer per the list, and node types without
    capacity figures (their pods' fit is not checked). `pulumi up` shows them as warnings
    (`load_config`), `hastack plan` as `warning:` lines.
    """
    listed = catalog()
    checks: list[tuple[str, str, Service, tuple[str, ...]]] = [
        *((f"nodes.instanceTypes[{i}]", name, "ec2", config.regions)
          for i, name in enumerate(config.nodes.instance_types)),
        ("database.instanceClass", config.database.instance_class, "rds", config.regions),
        ("cache.nodeType", config.cache.node_type, "elasticache", config.regions),
    ]
    if config.database.dr_instance_class != config.database.instance_class:
        checks.append(("database.drInstanceClass", config.database.dr_instance_class, "rds", (config.dr_region,)))
    lines: list[str] = []
    for key, name, service, regions in checks:
        head = f"{NAMESPACE}:{key} = {name!r}"
        unlisted = listed.unknown_size(service, name)
        if unlisted:
            lines.append(f"{head}: {unlisted} (rendered as written: AWS refuses a type that does not exist)")
            continue
        missing = [r for r in regions if listed.offered_in(service, name, r) is False]
        if missing:
            lines.append(f"{head}: per {listed.label}, {' and '.join(missing)} does not offer the "
                         f"{name.rsplit('.', 1)[0]} family; check before a failover needs it")
        if service == "ec2" and name not in listed.ec2_capacity:
            lines.append(f"{head}: {listed.label} has no capacity figures for it: whether the pods fit is not checked")
    return lines


def load_config() -> StackConfig:
    """Read every `hastack:*` key through `pulumi.Config` and validate it (raises `ConfigError`).

    What deserves a look without stopping the deployment (`config_warnings`) is logged as Pulumi
    warnings: `pulumi up` and `pulumi preview` show them in their diagnostics, `hastack plan` prints them.
    """
    from pulumi.runtime.config import CONFIG, get_config_env

    cfg = pulumi.Config(NAMESPACE)
    present = {k.split(":", 1)[1] for k in (*get_config_env(), *CONFIG.get()) if k.startswith(NAMESPACE + ":")}
    raw: dict[str, Any] = {}
    for key in sorted(present | set(KNOWN_KEYS)):
        value = cfg.get(key)
        if value is not None:
            raw[key] = _decode(key, value)
    config = parse_config(raw)
    for line in config_warnings(config):
        pulumi.log.warn(line)
    return config


#: Top-level keys whose value is a number: Pulumi hands them over as text.
_NUMERIC_KEYS = frozenset(alias for alias, tp, _ in fields_of(StackConfig) if tp in (int, float))


def _decode(key: str, value: str) -> Any:
    """Pulumi hands structured config over as JSON text and scalars as plain text."""
    if value[:1] in ("{", "[") or key in _NUMERIC_KEYS:
        try:
            return json.loads(value)
        except ValueError:
            return value  # left as text: validation then names the key and the value
    return value
