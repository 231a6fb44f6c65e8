"""Plumbing shared by every rule of the pack: property access, policy config, rule builders, the graph.

Why a module of its own: the rules must read the same way whether the Pulumi engine or our offline
runner calls them, and whether a property is set, missing, or still unknown during a preview.

* Properties arrive wrapped in `pulumi_policy`'s unknown-checking proxies. `unwrap` turns them into
  plain dicts once (cheap), and `get` raises the SDK's `UnknownValueError` only when a rule reads a
  value that really is unknown — the engine then reports "can't run during preview" instead of a
  false violation.
* Policy config: every rule declares its settings as a JSON schema with defaults (the engine fills
  the defaults in, `pulumi preview --policy-pack-config` overrides them); `settings()` applies the
  same defaults again so a rule never depends on who called it.
* `Graph` indexes the stack's resources (by URN, type, id) and resolves what single resources can't
  say: the AWS region of a Kubernetes object, the AZ behind a subnet id, the route of a subnet.

This module must not import the stack's code (`hastack`, `components`): the CLI loads the pack alone.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

# ---------------------------------------------------------------------------------------------
# Resource types (pulumi-aws v7, pulumi-kubernetes v4)
# ---------------------------------------------------------------------------------------------

AWS_PROVIDER = "pulumi:providers:aws"
K8S_PROVIDER = "pulumi:providers:kubernetes"
STACK = "pulumi:pulumi:Stack"

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
RDS_CLUSTER_PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
RDS_PROXY = "aws:rds/proxy:Proxy"
CACHE_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_GLOBAL = "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EC2_INSTANCE = "aws:ec2/instance:Instance"
EBS_VOLUME = "aws:ebs/volume:Volume"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SECURITY_GROUP_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
TARGET_GROUPS = ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
R53_RECORD = "aws:route53/record:Record"
R53_HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
VPC = "aws:ec2/vpc:Vpc"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
KMS_KEY = "aws:kms/key:Key"
DYNAMODB_TABLE = "aws:dynamodb/table:Table"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
SNS_TOPIC = "aws:sns/topic:Topic"
SNS_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
K8S_DEPLOYMENT = "kubernetes:apps/v1:Deployment"
K8S_PDB = "kubernetes:policy/v1:PodDisruptionBudget"
K8S_HPAS = ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:autoscaling/v1:HorizontalPodAutoscaler")
K8S_SECRET = "kubernetes:core/v1:Secret"
K8S_SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
K8S_SERVICE = "kubernetes:core/v1:Service"
#: Kubernetes objects whose `spec.template.spec` is a pod spec.
K8S_POD_CONTROLLERS = (K8S_DEPLOYMENT, "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet")

#: How the offline plan writes a value the program marked secret (the engine's own redaction).
SECRET_PLACEHOLDER = "[secret]"
ZONE_TOPOLOGY_KEY = "topology.kubernetes.io/zone"

_UNKNOWNS = frozenset({UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
                       UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE})
_REGION_RE = re.compile(r"\b([a-z]{2}(?:-gov)?-[a-z]+-\d)\b")

# ---------------------------------------------------------------------------------------------
# Reading properties
# ---------------------------------------------------------------------------------------------


def unwrap(value: Any) -> Any:
    """The plain dict/list behind `pulumi_policy`'s proxies (unknown sentinels are kept as they are)."""
    if isinstance(value, Mapping):
        target = value["__target"] if _is_proxy(value) else value
        return {k: unwrap(v) for k, v in target.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        target = value["__target"] if _is_proxy(value) else value  # type: ignore[call-overload]
        return [unwrap(v) for v in target]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Structs carry every number as a double; 80.0 is the port 80
    return value


def _is_proxy(value: Any) -> bool:
    return type(value).__name__ in ("_DictProxy", "_ListProxy", "_DictSecretsProxy", "_ListSecretsProxy")


def peek(data: Any, key: str) -> Any:
    """A top-level value without unwrapping the rest (unknown sentinels returned as they are)."""
    if _is_proxy(data):
        data = data["__target"]
    return data.get(key) if isinstance(data, Mapping) else None


def is_unknown(value: Any) -> bool:
    """True for the engine's placeholder of a value that is only known after `pulumi up`."""
    return isinstance(value, str) and value in _UNKNOWNS


def get(data: Any, *path: str | int, default: Any = None) -> Any:
    """`data[path[0]][path[1]]...`, `default` when missing; raises `UnknownValueError` on an unknown.

    Raising (rather than returning a placeholder) is what makes the engine report "can't run this
    policy during preview" instead of a wrong verdict on a value nobody knows yet.
    """
    current = data
    for i, key in enumerate(path):
        if isinstance(key, int):
            if not isinstance(current, list) or key >= len(current):
                return default
            current = current[key]
        else:
            if not isinstance(current, dict) or key not in current:
                return default
            current = current[key]
        if is_unknown(current):
            raise UnknownValueError(current, [str(p) for p in path[: i + 1]])
    return default if current is None else current


def truthy(value: Any) -> bool:
    """Booleans as providers write them: `True`, or the string "true" (EBS `encrypted` is a string)."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def as_int(value: Any, default: int | None = None) -> int | None:
    """An integer from a number or numeric string (policy config arrives as floats over gRPC)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return default


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


_QUANTITY_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_QUANTITY_FACTORS = {None: 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
                     "P": 1e15, "E": 1e18, "Ki": 2.0 ** 10, "Mi": 2.0 ** 20, "Gi": 2.0 ** 30, "Ti": 2.0 ** 40,
                     "Pi": 2.0 ** 50, "Ei": 2.0 ** 60}


def quantity(value: Any) -> float | None:
    """A Kubernetes resource quantity ("500m", "2", 1.5, "2Gi", "1e9") as a plain number; None if invalid.

    CPU comes out in cores (0.5 for "500m"), memory in bytes (2147483648 for "2Gi").
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    match = _QUANTITY_RE.match(value.strip())
    if match is None:
        return None
    return float(match.group(1)) * _QUANTITY_FACTORS[match.group(2)]


def region_in(text: Any) -> str | None:
    """An AWS region name inside a string (an ALB DNS name, an ARN, a kubeconfig), if any."""
    if not isinstance(text, str):
        return None
    match = _REGION_RE.search(text)
    return match.group(1) if match else None


# ---------------------------------------------------------------------------------------------
# Policy config and rule builders
# ---------------------------------------------------------------------------------------------

#: Settings several rules share; each rule picks the ones it needs into its own config schema.
COMMON_SETTINGS: dict[str, dict[str, Any]] = {
    "production": {"type": "boolean", "default": True,
                   "description": "The stack serves production traffic (stricter minimums apply)."},
    "primaryRegion": {"type": "string", "default": "",
                      "description": "Region built as the primary (empty: not checked)."},
    "drRegion": {"type": "string", "default": "", "description": "Region built as the DR region (empty: none)."},
    "activeRegion": {"type": "string", "default": "",
                     "description": "Region serving traffic now (the primary, or the DR region after a failover)."},
    "drMode": {"type": "string", "enum": ["pilot-light", "warm-standby", "active-active", "none"],
               "default": "pilot-light", "description": "How the DR region is kept (the stack's hastack:drMode)."},
    "pilotLightRegions": {"type": "array", "items": {"type": "string"}, "default": [],
                          "description": "Standby regions kept at pilot-light size: capacity minimums "
                                         "(node-group min size, replica counts) are waived there."},
}


def setting_schema(*common: str, **own: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A rule's config schema: some of `COMMON_SETTINGS` by name plus its own properties."""
    spec = {name: COMMON_SETTINGS[name] for name in common}
    spec.update(own)
    return spec


def settings(config: Mapping[str, Any] | None, spec: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The rule's effective settings: schema defaults overridden by the policy config it was given."""
    out = {k: v.get("default") for k, v in spec.items()}
    if config:
        out.update({k: unwrap(v) for k, v in config.items() if k != "enforcementLevel"})
    return out


@dataclass
class Resource:
    """One resource as a rule sees it: plain properties and the AWS region it lives in."""

    type: str
    name: str
    urn: str
    props: dict[str, Any]
    region: str | None = None


ResourceCheck = Callable[[Resource, dict[str, Any]], Iterable[str]]
StackCheck = Callable[["Graph", dict[str, Any]], Iterable[tuple[str, str | None]]]


def resource_rule(name: str, description: str, remediation: str, types: Sequence[str], check: ResourceCheck,
                  config: dict[str, dict[str, Any]] | None = None, severity: Severity = Severity.HIGH,
                  enforcement: EnforcementLevel | None = None) -> ResourceValidationPolicy:
    """A `ResourceValidationPolicy` calling `check(resource, settings)` for each resource of `types`.

    `check` yields one message per violation; each message names the property and says how to fix it.
    """
    spec = config or {}
    wanted = frozenset(types)

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type not in wanted:
            return
        region = None
        if args.provider is not None and args.provider.resource_type == AWS_PROVIDER:
            region = peek(args.provider.props, "region")
        elif args.provider is not None and args.provider.resource_type == K8S_PROVIDER:
            region = region_in(peek(args.provider.props, "kubeconfig"))
        resource = Resource(args.resource_type, args.name, args.urn, unwrap(args.props), region)
        for message in check(resource, settings(args.get_config(), spec)):
            report(message, None)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=enforcement,
        config_schema=PolicyConfigSchema(properties=dict(spec)) if spec else None,
        severity=severity, remediation_steps=remediation, tags=["hastack"],
    )


def stack_rule(name: str, description: str, remediation: str, check: StackCheck,
               config: dict[str, dict[str, Any]] | None = None, severity: Severity = Severity.HIGH,
               enforcement: EnforcementLevel | None = None) -> StackValidationPolicy:
    """A `StackValidationPolicy` calling `check(graph, settings)`, which yields `(message, urn)` pairs."""
    spec = config or {}

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        graph = Graph.from_policy_resources(args.resources)
        for message, urn in check(graph, settings(args.get_config(), spec)):
            report(message, urn)

    return StackValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=enforcement,
        config_schema=PolicyConfigSchema(properties=dict(spec)) if spec else None,
        severity=severity, remediation_steps=remediation, tags=["hastack"],
    )


# ---------------------------------------------------------------------------------------------
# The resource graph (stack rules and the availability model)
# ---------------------------------------------------------------------------------------------


class Node:
    """A resource of the stack: its final properties (outputs, with `id`) and its place in the graph.

    `props` is unwrapped from the SDK's proxies on first use only: a stack rule usually reads a few
    resource types, and the SDK already deserializes every resource once per stack policy.
    """

    __slots__ = ("urn", "type", "name", "_raw", "_props", "parent", "dependencies", "property_dependencies",
                 "provider", "provider_region")

    def __init__(self, urn: str, type: str, name: str, props: Any, parent: str | None = None,  # noqa: A002
                 dependencies: list[str] | None = None, property_dependencies: dict[str, list[str]] | None = None,
                 provider: str | None = None, provider_region: str | None = None) -> None:
        self.urn = urn
        self.type = type
        self.name = name
        self._raw = props
        self._props: dict[str, Any] | None = props if props.__class__ is dict else None
        self.parent = parent
        self.dependencies = dependencies or []
        self.property_dependencies = property_dependencies or {}
        self.provider = provider
        self.provider_region = provider_region

    @property
    def props(self) -> dict[str, Any]:
        if self._props is None:
            self._props = unwrap(self._raw)
        return self._props

    @property
    def id(self) -> str | None:
        value = peek(self._raw, "id")
        return value if isinstance(value, str) and not is_unknown(value) else None


class Graph:
    """The stack's resources with the lookups the stack rules need."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self.nodes = list(nodes)
        self.by_urn = {n.urn: n for n in self.nodes}
        self._by_type: dict[str, list[Node]] = defaultdict(list)
        self._by_id: dict[str, Node] = {}
        for n in self.nodes:
            self._by_type[n.type].append(n)
            if n.id:
                self._by_id.setdefault(n.id, n)
        self._regions: dict[str, str | None] = {}

    @classmethod
    def from_policy_resources(cls, resources: Iterable[PolicyResource]) -> Graph:
        nodes = []
        for r in resources:
            provider_region = None
            if r.provider is not None and r.provider.resource_type == AWS_PROVIDER:
                provider_region = peek(r.provider.props, "region")
            nodes.append(Node(
                urn=r.urn, type=r.resource_type, name=r.name, props=r.props,
                parent=r.parent.urn if r.parent is not None else None,
                dependencies=[d.urn for d in r.dependencies],
                property_dependencies={k: [d.urn for d in v] for k, v in r.property_dependencies.items()},
                provider=r.provider.urn if r.provider is not None else None,
                provider_region=provider_region,
            ))
        return cls(nodes)

    # -- lookups --------------------------------------------------------------------------------

    def of_type(self, *types: str) -> list[Node]:
        if len(types) == 1:
            return list(self._by_type.get(types[0], ()))
        return [n for t in types for n in self._by_type.get(t, ())]

    def by_id(self, rid: Any) -> Node | None:
        return self._by_id.get(rid) if isinstance(rid, str) else None

    def region(self, node: Node) -> str | None:
        """The AWS region a resource lives in.

        AWS resources: their provider's `region`. Kubernetes objects: the region of the EKS cluster
        their provider talks to (the provider depends on the cluster it was built from, or names it
        in its kubeconfig). Anything else: the nearest ancestor's region.
        """
        if node.urn in self._regions:
            return self._regions[node.urn]
        self._regions[node.urn] = None  # cycle guard
        region = self._resolve_region(node)
        self._regions[node.urn] = region
        return region

    def _resolve_region(self, node: Node) -> str | None:
        if node.type == AWS_PROVIDER:
            return node.props.get("region") if isinstance(node.props.get("region"), str) else None
        if node.provider_region:
            return node.provider_region
        if node.type == K8S_PROVIDER:
            for dep in node.dependencies:
                dn = self.by_urn.get(dep)
                if dn is not None and dn.type == EKS_CLUSTER:
                    return self.region(dn)
            found = region_in(str(node.props.get("kubeconfig", "")))
            if found:
                return found
        elif node.provider and node.provider in self.by_urn:
            found = self.region(self.by_urn[node.provider])
            if found:
                return found
        if node.parent and node.parent in self.by_urn:
            return self.region(self.by_urn[node.parent])
        return None

    def subnet_az(self, subnet_id: Any) -> str | None:
        subnet = self.by_id(subnet_id)
        if subnet is None or subnet.type != SUBNET:
            return None
        az = subnet.props.get("availabilityZone")
        return az if isinstance(az, str) else None

    def subnet_azs(self, subnet_ids: Iterable[Any]) -> set[str]:
        return {az for az in (self.subnet_az(s) for s in subnet_ids) if az}

    def cluster_node_groups(self, cluster: Node) -> list[Node]:
        """The managed node groups attached to an EKS cluster (by cluster name, or by dependency)."""
        name = cluster.props.get("name")
        return [ng for ng in self.of_type(EKS_NODE_GROUP)
                if (name and ng.props.get("clusterName") == name) or cluster.urn in ng.dependencies]

    def default_route_target(self, route_table: Node) -> dict[str, Any] | None:
        """The 0.0.0.0/0 route of a route table: inline `routes`, else an `aws.ec2.Route` resource."""
        for route in as_list(route_table.props.get("routes")):
            if isinstance(route, dict) and route.get("cidrBlock") == "0.0.0.0/0":
                return route
        rtid = route_table.id
        for route in self.of_type(ROUTE):
            if route.props.get("destinationCidrBlock") == "0.0.0.0/0" and (
                    (rtid and route.props.get("routeTableId") == rtid) or route_table.urn in route.dependencies):
                return route.props
        return None

    def subnet_route_table(self, subnet: Node) -> Node | None:
        sid = subnet.id
        for assoc in self.of_type(ROUTE_TABLE_ASSOCIATION):
            if sid and assoc.props.get("subnetId") == sid:
                return self.by_id(assoc.props.get("routeTableId"))
        return None

    def subnet_nat(self, subnet: Node) -> tuple[str, Node | None] | None:
        """For a subnet whose default route goes to a NAT gateway: (NAT id, the NAT resource or None)."""
        table = self.subnet_route_table(subnet)
        route = self.default_route_target(table) if table is not None else None
        nat_id = route.get("natGatewayId") if route else None
        if not isinstance(nat_id, str) or not nat_id:
            return None
        return nat_id, self.by_id(nat_id)

    def is_public_subnet(self, subnet: Node) -> bool:
        table = self.subnet_route_table(subnet)
        route = self.default_route_target(table) if table is not None else None
        gateway = route.get("gatewayId") if route else None
        return isinstance(gateway, str) and gateway.startswith("igw-")

    def nat_az(self, nat: Node) -> str | None:
        return self.subnet_az(nat.props.get("subnetId"))


def display(node: Node | Resource) -> str:
    """How a message names a resource: its type's short name and its logical name."""
    short = node.type.rsplit(":", 1)[-1]
    return f"{short} '{node.name}'"
