"""Security baseline: encryption at rest and in transit, no public exposure, IMDSv2, no plaintext secrets.

An HA stack that leaks is not available to anyone for long; these rules hold the line the data and
cluster tiers were built on:

* at rest: RDS storage, ElastiCache, EBS volumes of the nodes (via their launch templates), EKS secrets;
* in transit: ElastiCache TLS, HTTPS listeners (HTTP only as a redirect), RDS Proxy TLS, and the RDS
  parameter group forcing SSL (`rds.force_ssl=1` / `require_secure_transport=ON`);
* exposure: nothing public but the ALBs; no security-group ingress from 0.0.0.0/0 or ::/0 except the
  ALBs' 80/443 — inline `ingress` blocks, `aws.ec2.SecurityGroupRule` and
  `aws.vpc.SecurityGroupIngressRule` alike;
* IMDSv2 required on every launch template and instance, with a hop limit of 1;
* no secret in plain text: the value of a config key declared secret, or of anything held as a
  Pulumi secret (generated passwords and tokens included), must not appear unencrypted in any
  resource's properties, whatever the property is called; and no secret-looking property
  (password, token, secret key, ...) holds a literal.

How the secrets rule knows what is secret: the engine sends every property with its secret marker
and `ConfigureStack` the stack config with the keys declared secret; `_protocol.py` keeps both
(pulumi-policy drops them before a rule runs). A secret is then any marked value anywhere in the
stack, or a secret config value; a plain (unmarked) string containing one is a leak. Secrets shorter
than `minSecretLength` (8) are not searched for inside other strings (too many false matches).
The offline plan replaces every secret by "[secret]" and the runner sends it marked, so offline
only the key-name check and tests that give secrets real values exercise the value check.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

import _protocol
from _util import (
    CACHE_GROUP,
    EBS_VOLUME,
    EC2_INSTANCE,
    EKS_CLUSTER,
    EKS_NODE_GROUP,
    K8S_SECRET,
    LAUNCH_TEMPLATE,
    LISTENERS,
    LOAD_BALANCERS,
    RDS_CLUSTER,
    RDS_CLUSTER_PARAMETER_GROUP,
    RDS_INSTANCE,
    RDS_PARAMETER_GROUP,
    RDS_PROXY,
    SECRET_PLACEHOLDER,
    SECURITY_GROUP,
    SECURITY_GROUP_INGRESS_RULE,
    SECURITY_GROUP_RULE,
    SUBNET,
    VPC,
    VPC_ENDPOINT,
    Graph,
    Node,
    Resource,
    as_int,
    as_list,
    display,
    get,
    is_unknown,
    resource_rule,
    setting_schema,
    stack_rule,
    truthy,
)
from pulumi_policy import Severity

ANYWHERE_V4 = "0.0.0.0/0"
ANYWHERE_V6 = "::/0"

# ---------------------------------------------------------------------------------------------
# Encryption at rest
# ---------------------------------------------------------------------------------------------


def _is_global_secondary(r: Resource) -> bool:
    return r.type == CACHE_GROUP and bool(get(r.props, "globalReplicationGroupId"))


def check_encryption_at_rest(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if r.type in (RDS_INSTANCE, RDS_CLUSTER):
        if not truthy(get(r.props, "storageEncrypted")):
            yield (f"{display(r)} has storageEncrypted={get(r.props, 'storageEncrypted')!r}. Set storageEncrypted=True "
                   "with a customer KMS key (kmsKeyId); an existing instance must be re-created from an encrypted "
                   "snapshot.")
    elif r.type == CACHE_GROUP:
        value = get(r.props, "atRestEncryptionEnabled")
        if value is None and _is_global_secondary(r):
            return  # a Global Datastore secondary inherits the primary's encryption
        if not truthy(value):
            yield (f"{display(r)} has atRestEncryptionEnabled={value!r}. Set atRestEncryptionEnabled=True "
                   "(and kmsKeyId).")
    elif r.type == EBS_VOLUME:
        if not truthy(get(r.props, "encrypted")):
            yield f"{display(r)} is not encrypted. Set encrypted=True (and kmsKeyId)."
    elif r.type == LAUNCH_TEMPLATE:
        mappings = [m for m in as_list(get(r.props, "blockDeviceMappings")) if isinstance(m, dict)]
        if not mappings:
            yield (f"{display(r)} declares no blockDeviceMappings, so the root volume's encryption depends on the "
                   "account default. Map the root device with ebs={encrypted: 'true', kmsKeyId: ...}.")
        for m in mappings:
            ebs = m.get("ebs")
            if isinstance(ebs, dict) and not truthy(get(ebs, "encrypted")):
                yield (f"{display(r)} maps {m.get('deviceName')} with ebs.encrypted={ebs.get('encrypted')!r}. "
                       "Set ebs.encrypted='true'.")
    elif r.type == EKS_CLUSTER:
        configs = [c for c in as_list(get(r.props, "encryptionConfig")) if isinstance(c, dict)]
        ok = any("secrets" in as_list(c.get("resources")) and get(c, "provider", "keyArn") for c in configs)
        if not ok:
            yield (f"{display(r)} does not encrypt Kubernetes secrets with KMS. Set encryptionConfig="
                   "{resources: ['secrets'], provider: {keyArn: <KMS key ARN>}}.")
    elif r.type == EKS_NODE_GROUP and not get(r.props, "launchTemplate"):
        yield (f"{display(r)} uses no launch template, so its volumes' encryption (and IMDS settings) are EKS "
               "defaults. Give it a launch template with encrypted block devices.")


# ---------------------------------------------------------------------------------------------
# Encryption in transit
# ---------------------------------------------------------------------------------------------


def _redirects_to_https(actions: list[Any]) -> bool:
    return bool(actions) and all(isinstance(a, dict) and a.get("type") == "redirect"
                                 and str(get(a, "redirect", "protocol", default="")).upper() == "HTTPS"
                                 for a in actions)


def check_encryption_in_transit(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if r.type == CACHE_GROUP:
        value = get(r.props, "transitEncryptionEnabled")
        if value is None and _is_global_secondary(r):
            return
        if not truthy(value):
            yield (f"{display(r)} has transitEncryptionEnabled={value!r}: clients talk to the cache in plaintext. "
                   "Set transitEncryptionEnabled=True (transitEncryptionMode 'required').")
        elif get(r.props, "transitEncryptionMode") == "preferred":
            yield (f"{display(r)} has transitEncryptionMode='preferred', which still accepts plaintext clients. "
                   "Set it to 'required' once clients use TLS.")
    elif r.type in LISTENERS:
        protocol = str(get(r.props, "protocol", default="HTTP")).upper()
        if protocol in ("HTTP", "TCP", "UDP", "TCP_UDP") and not _redirects_to_https(
                as_list(get(r.props, "defaultActions"))):
            yield (f"{display(r)} listens with {protocol} on port {get(r.props, 'port')} without redirecting to HTTPS. "
                   "Serve HTTPS (certificateArn, a TLS 1.2+ sslPolicy) and make port 80 a redirect to HTTPS.")
    elif r.type == RDS_PROXY and not truthy(get(r.props, "requireTls")):
        yield f"{display(r)} has requireTls={get(r.props, 'requireTls')!r}. Set requireTls=True."


_FORCE_SSL = {"rds.force_ssl": {"1", "true", "on"}, "require_secure_transport": {"1", "on", "true"}}


def _forces_ssl(group: Node) -> bool:
    for p in as_list(group.props.get("parameters")):
        if isinstance(p, dict) and str(p.get("name")) in _FORCE_SSL:
            if str(p.get("value", "")).strip().lower() in _FORCE_SSL[str(p["name"])]:
                return True
    return False


def check_rds_force_ssl(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    groups = graph.of_type(RDS_PARAMETER_GROUP, RDS_CLUSTER_PARAMETER_GROUP)
    for db in graph.of_type(RDS_INSTANCE, RDS_CLUSTER):
        key = "parameterGroupName" if db.type == RDS_INSTANCE else "dbClusterParameterGroupName"
        wanted = db.props.get(key)
        if not wanted:
            yield (f"{display(db)} uses the default parameter group, which doesn't force SSL. Attach a parameter "
                   "group with rds.force_ssl=1 (PostgreSQL) or require_secure_transport=ON (MySQL).", db.urn)
            continue
        group = next((g for g in groups if wanted in (g.props.get("name"), g.id)), None)
        if group is None:
            yield (f"{display(db)} uses parameter group {wanted!r}, which is not part of this stack, so nothing "
                   "proves it forces SSL. Manage the parameter group in the stack with rds.force_ssl=1.", db.urn)
        elif not _forces_ssl(group):
            yield (f"{display(db)} uses {display(group)}, which does not set rds.force_ssl=1 / "
                   "require_secure_transport=ON: clients may connect without TLS.", group.urn)


# ---------------------------------------------------------------------------------------------
# Public exposure and security groups
# ---------------------------------------------------------------------------------------------


def check_public_access(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if r.type in (RDS_INSTANCE, RDS_CLUSTER) and truthy(get(r.props, "publiclyAccessible")):
        yield f"{display(r)} is publiclyAccessible. Set publiclyAccessible=False; clients reach it inside the VPC."
    elif r.type in LOAD_BALANCERS:
        kind = get(r.props, "loadBalancerType", default="application")
        if kind != "application" and not truthy(get(r.props, "internal")):
            yield (f"{display(r)} is an internet-facing {kind} load balancer; only the ALBs may face the internet. "
                   "Set internal=True.")
    elif r.type == SUBNET and truthy(get(r.props, "mapPublicIpOnLaunch")):
        yield (f"{display(r)} gives every instance a public IP (mapPublicIpOnLaunch=True). Set it to False; the ALB "
               "is the only public entry point.")
    elif r.type == EC2_INSTANCE and truthy(get(r.props, "associatePublicIpAddress")):
        yield f"{display(r)} has a public IP. Set associatePublicIpAddress=False."
    elif r.type == LAUNCH_TEMPLATE:
        for ni in as_list(get(r.props, "networkInterfaces")):
            if isinstance(ni, dict) and truthy(ni.get("associatePublicIpAddress")):
                yield (f"{display(r)} gives its nodes public IPs. Set "
                       "networkInterfaces[].associatePublicIpAddress=false.")


def _ipv4(cidr: Any) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(str(cidr), strict=False)
    except ValueError:
        return None


def check_eks_endpoint(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    """The API's public endpoint is off, or on with an allow-list that is neither empty nor the internet.

    EKS defaults an omitted `endpointPublicAccess` to true and omitted `publicAccessCidrs` to
    0.0.0.0/0, so "not said" counts as "open". With `kubernetesApiAccessCidrs` set (derived from the
    stack config) every listed range must also lie inside one of those.
    """
    public = get(r.props, "vpcConfig", "endpointPublicAccess")
    if public is not None and not truthy(public):
        return
    cidrs = as_list(get(r.props, "vpcConfig", "publicAccessCidrs"))
    for i in range(len(cidrs)):
        get(r.props, "vpcConfig", "publicAccessCidrs", i)  # an unknown entry: no verdict before `pulumi up`
    fix = ("Set vpcConfig.publicAccessCidrs to the deployers' and operators' egress ranges "
           "(hastack:kubernetesApiAccessCidrs), or endpointPublicAccess=False and deploy from inside the VPC.")
    if not cidrs:
        yield (f"{display(r)} serves the Kubernetes API on a public endpoint without publicAccessCidrs, which EKS "
               f"opens to 0.0.0.0/0 (IAM still authenticates every call). {fix}")
        return
    nets = [(c, _ipv4(c)) for c in cidrs]
    wide = [str(c) for c, n in nets if n is not None and n.prefixlen == 0]
    if wide:
        yield (f"{display(r)} opens the Kubernetes API's public endpoint to the whole internet (publicAccessCidrs "
               f"contains {', '.join(wide)}). {fix}")
    allowed = [n for n in (_ipv4(c) for c in as_list(cfg.get("kubernetesApiAccessCidrs"))) if n is not None]
    if allowed:
        outside = [str(c) for c, n in nets
                   if (n is None or not any(n.subnet_of(a) for a in allowed)) and str(c) not in wide]
        if outside:
            yield (f"{display(r)} admits {', '.join(outside)} on the Kubernetes API's public endpoint, outside the "
                   f"stack's kubernetesApiAccessCidrs ({', '.join(str(a) for a in allowed)}). Add the range to "
                   "hastack:kubernetesApiAccessCidrs (and regenerate the policy config) or remove it.")


def _port_range(rule: dict[str, Any]) -> tuple[int, int, str]:
    protocol = str(rule.get("protocol") or rule.get("ipProtocol") or "tcp").lower()
    low = as_int(rule.get("fromPort"), 0) or 0
    high = as_int(rule.get("toPort"), low) or low
    return low, high, protocol


def _web_only(rule: dict[str, Any], ports: set[int]) -> bool:
    low, high, protocol = _port_range(rule)
    return protocol in ("tcp", "6") and low == high and low in ports


def alb_security_groups(graph: Graph) -> set[str]:
    """URNs of the security groups attached to internet-facing application load balancers."""
    out: set[str] = set()
    for lb in graph.of_type(*("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")):
        if lb.props.get("loadBalancerType", "application") != "application" or truthy(lb.props.get("internal")):
            continue
        for sg_id in as_list(lb.props.get("securityGroups")):
            sg = graph.by_id(sg_id)
            if sg is not None:
                out.add(sg.urn)
        out.update(d for d in lb.dependencies if d in graph.by_urn and graph.by_urn[d].type == SECURITY_GROUP
                   and not as_list(lb.props.get("securityGroups")))
    return out


def check_open_ingress(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    allowed_ports = {as_int(p, 0) for p in cfg["albPublicPorts"]}
    alb_sgs = alb_security_groups(graph)

    def verdict(owner: Node | None, rule: dict[str, Any], where: str, urn: str) -> Iterator[tuple[str, str]]:
        low, high, protocol = _port_range(rule)
        ports = "all ports" if protocol in ("-1", "all") else f"{protocol} {low}-{high}" if low != high else \
            f"{protocol} {low}"
        if owner is not None and owner.urn in alb_sgs and _web_only(rule, allowed_ports):
            return
        whose = display(owner) if owner is not None else "a security group outside this stack"
        yield (f"{where} opens {ports} of {whose} to the internet. Only the ALBs' security group may take "
               f"{'/'.join(str(p) for p in sorted(allowed_ports))} from anywhere; admit other traffic from a "
               "security group (e.g. the ALB's) or a VPC CIDR.", urn)

    for sg in graph.of_type(SECURITY_GROUP):
        for rule in as_list(sg.props.get("ingress")):
            if not isinstance(rule, dict):
                continue
            if ANYWHERE_V4 in as_list(rule.get("cidrBlocks")) or ANYWHERE_V6 in as_list(rule.get("ipv6CidrBlocks")):
                yield from verdict(sg, rule, f"An inline ingress rule of {display(sg)}", sg.urn)
    for rule in graph.of_type(SECURITY_GROUP_RULE):
        if rule.props.get("type") != "ingress":
            continue
        if ANYWHERE_V4 in as_list(rule.props.get("cidrBlocks")) or ANYWHERE_V6 in as_list(
                rule.props.get("ipv6CidrBlocks")):
            yield from verdict(graph.by_id(rule.props.get("securityGroupId")), rule.props, display(rule), rule.urn)
    for rule in graph.of_type(SECURITY_GROUP_INGRESS_RULE):
        if rule.props.get("cidrIpv4") == ANYWHERE_V4 or rule.props.get("cidrIpv6") == ANYWHERE_V6:
            yield from verdict(graph.by_id(rule.props.get("securityGroupId")), rule.props, display(rule), rule.urn)


# ---------------------------------------------------------------------------------------------
# TLS policies and ALB hardening
# ---------------------------------------------------------------------------------------------

#: ALB/NLB security policies whose lowest protocol is TLS 1.2 (Elastic Load Balancing "Security
#: policies" pages, 2025): the TLS13-1-2 and TLS13-1-3 families (FIPS and post-quantum variants
#: included), the forward-secrecy FS-1-2 policies and the TLS-1-2 ones.
TLS12_POLICIES = [
    "ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-FS-1-2-2019-08", "ELBSecurityPolicy-FS-1-2-Res-2019-08",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10", "ELBSecurityPolicy-TLS-1-2-2017-01",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
]
#: What AWS applies to an HTTPS/TLS listener created through the API without an sslPolicy.
API_DEFAULT_TLS_POLICY = "ELBSecurityPolicy-2016-08"


def check_tls_policy(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    protocol = str(get(r.props, "protocol", default="HTTP")).upper()
    if protocol not in ("HTTPS", "TLS"):
        return
    policy = get(r.props, "sslPolicy")
    allowed = [str(p) for p in cfg["allowedTlsPolicies"] or []]
    if policy in allowed:
        return
    said = f"sslPolicy {policy!r}" if policy else f"no sslPolicy (AWS applies {API_DEFAULT_TLS_POLICY})"
    yield (f"{display(r)} ({r.region}) serves {protocol} on port {get(r.props, 'port')} with {said}, which is not "
           "in the allowed TLS 1.2+ policies: clients may negotiate TLS 1.0/1.1 and weak ciphers. Set sslPolicy to "
           "ELBSecurityPolicy-TLS13-1-2-2021-06 (or another policy of allowedTlsPolicies).")


def check_alb_hardening(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if get(r.props, "loadBalancerType", default="application") != "application":
        return
    where = f"{display(r)} ({r.region})"
    if not truthy(get(r.props, "enableDeletionProtection")):
        yield (f"{where} has enableDeletionProtection={get(r.props, 'enableDeletionProtection')!r}: one mistaken "
               "`pulumi destroy` or replacement removes the region's entry point (and its DNS name, which the "
               "failover records alias). Set enableDeletionProtection=True.")
    if not truthy(get(r.props, "dropInvalidHeaderFields")):
        yield (f"{where} has dropInvalidHeaderFields={get(r.props, 'dropInvalidHeaderFields')!r}: malformed headers "
               "reach the targets (request smuggling). Set dropInvalidHeaderFields=True.")
    mode = get(r.props, "desyncMitigationMode", default="defensive")
    if mode not in ("defensive", "strictest"):
        yield (f"{where} has desyncMitigationMode={mode!r}: ambiguous requests (HTTP desync) are forwarded. Set "
               "desyncMitigationMode='defensive' or 'strictest'.")


# ---------------------------------------------------------------------------------------------
# Cache authentication
# ---------------------------------------------------------------------------------------------


def check_cache_auth(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    token = get(r.props, "authToken")
    groups = as_list(get(r.props, "userGroupIds"))
    if not token and not groups:
        yield (f"{display(r)} requires no authentication (no authToken, no userGroupIds): anything that reaches "
               "port 6379 inside the VPC can read and overwrite the cache. Set authToken to a generated secret "
               "(or RBAC userGroupIds).")


# ---------------------------------------------------------------------------------------------
# VPC endpoints the network design promises
# ---------------------------------------------------------------------------------------------


def _endpoint_service(endpoint: Node) -> str:
    """`com.amazonaws.<region>.ecr.dkr` -> `ecr.dkr`."""
    name = str(endpoint.props.get("serviceName") or "")
    parts = name.split(".")
    return ".".join(parts[3:]) if len(parts) > 3 and parts[0] == "com" else name


def check_vpc_endpoints(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    required = [str(s) for s in cfg["requiredVpcEndpoints"] or []]
    endpoints = graph.of_type(VPC_ENDPOINT)
    for vpc in graph.of_type(VPC):
        where = f"{display(vpc)} ({graph.region(vpc)})"
        mine = {_endpoint_service(e): e for e in endpoints if e.props.get("vpcId") == vpc.id}
        private = [s for s in graph.of_type(SUBNET) if s.props.get("vpcId") == vpc.id and graph.subnet_nat(s)]
        private_azs = {str(s.props.get("availabilityZone")) for s in private}
        private_tables = {t.id for t in (graph.subnet_route_table(s) for s in private) if t is not None and t.id}
        for service in required:
            endpoint = mine.get(service)
            if endpoint is None:
                yield (f"{where} has no {service} VPC endpoint: that traffic (image pulls from the account's ECR, "
                       "their S3 layers) depends on the NAT gateways and the internet. Add the endpoint the network "
                       f"design promises (com.amazonaws.<region>.{service}).", vpc.urn)
                continue
            kind = str(endpoint.props.get("vpcEndpointType") or "Gateway")
            if kind == "Gateway":
                missing = sorted(private_tables - {str(t) for t in as_list(endpoint.props.get("routeTableIds"))})
                if missing:
                    yield (f"{display(endpoint)} ({service}) is not on the route tables {', '.join(missing)} of "
                           "the private subnets: their traffic to it still takes the NAT gateway. Add every "
                           "private route table to routeTableIds.", endpoint.urn)
            else:
                if not truthy(endpoint.props.get("privateDnsEnabled")):
                    yield (f"{display(endpoint)} ({service}) has privateDnsEnabled="
                           f"{endpoint.props.get('privateDnsEnabled')!r}: the service's public name still resolves "
                           "to the internet, so nothing uses the endpoint. Set privateDnsEnabled=True.", endpoint.urn)
                covered = graph.subnet_azs(as_list(endpoint.props.get("subnetIds")))
                lost = sorted(private_azs - covered)
                if lost:
                    yield (f"{display(endpoint)} ({service}) has no network interface in {', '.join(lost)}: it is "
                           "reached across AZs from there and fails with the AZ it lives in. Give it a private "
                           "subnet in every AZ.", endpoint.urn)


# ---------------------------------------------------------------------------------------------
# IMDSv2
# ---------------------------------------------------------------------------------------------


def check_imdsv2(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if r.type in (LAUNCH_TEMPLATE, EC2_INSTANCE):
        tokens = get(r.props, "metadataOptions", "httpTokens")
        endpoint = get(r.props, "metadataOptions", "httpEndpoint", default="enabled")
        if endpoint != "disabled" and tokens != "required":
            yield (f"{display(r)} has metadataOptions.httpTokens={tokens!r}: IMDSv1 lets any SSRF read the node's "
                   "credentials. Set metadataOptions={httpTokens: 'required', httpPutResponseHopLimit: 1}.")
    elif r.type == EKS_NODE_GROUP and not get(r.props, "launchTemplate"):
        yield (f"{display(r)} uses no launch template, so IMDSv2 is not enforced on its nodes. Give it a launch "
               "template with metadataOptions.httpTokens='required'.")


def check_imds_hop_limit(r: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if get(r.props, "metadataOptions", "httpEndpoint", default="enabled") == "disabled":
        return
    limit = as_int(get(r.props, "metadataOptions", "httpPutResponseHopLimit"))
    if limit != 1:
        said = f"httpPutResponseHopLimit={limit}" if limit is not None else "no httpPutResponseHopLimit (the " \
            "AMI's default applies; EKS AL2023 AMIs use 2)"
        yield (f"{display(r)} has {said}: pods one network hop behind the node can fetch an IMDS token and act "
               "with the node role (ECR, the VPC CNI's network permissions). Set metadataOptions."
               "httpPutResponseHopLimit=1 and give the pods that need AWS their own role through EKS Pod "
               "Identity.")


# ---------------------------------------------------------------------------------------------
# Plaintext secrets
# ---------------------------------------------------------------------------------------------

#: Keys whose value is the secret itself (by how the key ends: `masterPassword`, `authToken`, `secretString`,
#: `clientSecret`, `privateKeyPem`, ...). Keys merely mentioning one (`secretArn`, `httpTokens`,
#: `manageMasterUserPassword`, `skipCredentialsValidation`) hold references or switches and don't match.
_SENSITIVE = re.compile(r"(password|passwd|passphrase|secret|secretstring|secretbinary|secretkey|token|apikey|"
                        r"api_key|privatekey|private_key|privatekeypem|accesskey|credentials?)(wo)?$", re.IGNORECASE)
_ENV_PATH = re.compile(r"^(?P<env>.*\.env)\[(?P<i>\d+)\]\.value$")


def _literal(value: Any) -> bool:
    return isinstance(value, str) and value not in ("", SECRET_PLACEHOLDER) and not is_unknown(value)


def _marked_props(graph: Graph) -> dict[str, dict[str, Any]]:
    """URN -> properties with the engine's secret markers (without the protocol hook: markers lost,
    every value counts as plain)."""
    raw = _protocol.stack_properties()
    return raw if raw is not None else {n.urn: n.props for n in graph.nodes}


def known_secrets(graph: Graph, props: dict[str, dict[str, Any]], min_length: int) -> dict[str, str]:
    """Secret value -> where it comes from: secret config values, then every marked value in the stack."""
    out: dict[str, str] = {}
    for key, value in sorted(_protocol.secret_config().items()):
        if _literal(value) and len(value) >= min_length:
            out.setdefault(value, f"the value of config key '{key}' (declared secret)")
    for urn, values in props.items():
        node = graph.by_urn.get(urn)
        for path, value, secret in _protocol.leaves(values):
            if secret and _literal(value) and len(value) >= min_length:
                out.setdefault(value, f"the secret '{path}' of {display(node) if node else urn}")
    return out


def _name_heuristic(values: dict[str, Any], node: Node) -> Iterator[str]:
    """Paths of plain literals under secret-looking keys, env vars named like secrets, Secret data."""
    env_names: dict[str, Any] = {}
    for path, value, secret in _protocol.leaves(values):
        if secret or not _literal(value):
            continue
        key = path.rsplit(".", 1)[-1].split("[")[0]
        env = _ENV_PATH.match(path)
        if env is not None:
            if env_names.get(env["env"]) is None:
                env_names[env["env"]] = _env_names(values, env["env"])
            name = env_names[env["env"]].get(int(env["i"]), "")
            if _SENSITIVE.search(name):
                yield f"{env['env']}[{env['i']}]({name}).value"
        elif _SENSITIVE.search(key) and "[" not in path.rsplit(".", 1)[-1]:
            yield path
        elif node.type == K8S_SECRET and path.split(".")[0] in ("data", "stringData"):
            yield path


def _env_names(values: dict[str, Any], env_path: str) -> dict[int, str]:
    current: Any = values
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", env_path):
        if part.startswith("["):
            current = current[int(part[1:-1])] if isinstance(current, list) else None
        else:
            current = current.get(part) if isinstance(current, dict) else None
        if _protocol.is_secret(current):
            current = current.get("value")
    return {i: str(e.get("name", "")) for i, e in enumerate(current or []) if isinstance(e, dict)}


def check_plaintext_secrets(graph: Graph, cfg: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    props = _marked_props(graph)
    secrets = known_secrets(graph, props, as_int(cfg["minSecretLength"], 8) or 8)
    for urn, values in props.items():
        node = graph.by_urn.get(urn)
        if node is None:
            continue
        reported: set[str] = set()
        for path, value, secret in _protocol.leaves(values):
            if secret or not _literal(value):
                continue
            for known, source in secrets.items():
                if known in value:
                    reported.add(path)
                    yield (f"{display(node)} holds {source} in plain text at '{path}': it ends up unencrypted in "
                           "the state, the plan and every preview. Pass the secret Output itself (config."
                           "require_secret, the generator's result) instead of its value, or let the service manage "
                           "it (RDS manageMasterUserPassword).", urn)
                    break
        for path in _name_heuristic(values, node):
            if path in reported:
                continue
            yield (f"{display(node)} has a plaintext value in '{path}': it ends up in the program, the state and the "
                   "plan. Let the service manage it (RDS manageMasterUserPassword), generate it with a resource "
                   "(random.RandomPassword into Secrets Manager), or mark it secret (pulumi.Output.secret / "
                   "`pulumi config set --secret`).", urn)


# ---------------------------------------------------------------------------------------------
# The policies
# ---------------------------------------------------------------------------------------------

POLICIES = [
    resource_rule(
        "encryption-at-rest",
        "Data at rest is encrypted: RDS storage, ElastiCache, node EBS volumes (launch templates), EKS secrets.",
        "RDS: storageEncrypted=True + kmsKeyId. ElastiCache: atRestEncryptionEnabled=True. Launch templates: every "
        "blockDeviceMappings[].ebs.encrypted='true'. EKS: encryptionConfig for 'secrets' with a KMS key.",
        [RDS_INSTANCE, RDS_CLUSTER, CACHE_GROUP, EBS_VOLUME, LAUNCH_TEMPLATE, EKS_CLUSTER, EKS_NODE_GROUP],
        check_encryption_at_rest, severity=Severity.CRITICAL),
    resource_rule(
        "encryption-in-transit",
        "Traffic is encrypted in transit: ElastiCache TLS, HTTPS listeners (HTTP only redirects), RDS Proxy TLS.",
        "ElastiCache: transitEncryptionEnabled=True (mode 'required'). Listeners: protocol HTTPS with a "
        "certificate; port 80 only as a redirect to HTTPS. RDS Proxy: requireTls=True.",
        [CACHE_GROUP, *LISTENERS, RDS_PROXY], check_encryption_in_transit, severity=Severity.CRITICAL),
    stack_rule(
        "rds-force-ssl",
        "Every RDS database uses a parameter group of this stack that forces SSL.",
        "Create an aws.rds.ParameterGroup with parameters [{name: 'rds.force_ssl', value: '1'}] (PostgreSQL) or "
        "require_secure_transport=ON (MySQL) and set parameterGroupName on every instance, replicas included.",
        check_rds_force_ssl),
    resource_rule(
        "no-public-access",
        "Nothing is publicly reachable except the application load balancers.",
        "RDS: publiclyAccessible=False. Subnets: mapPublicIpOnLaunch=False. Instances and launch templates: no "
        "public IPs. Non-ALB load balancers: internal=True.",
        [RDS_INSTANCE, RDS_CLUSTER, *LOAD_BALANCERS, SUBNET, EC2_INSTANCE, LAUNCH_TEMPLATE],
        check_public_access, severity=Severity.CRITICAL),
    resource_rule(
        "eks-endpoint-restricted",
        "The EKS API endpoint is private, or public only to listed CIDRs (never 0.0.0.0/0) within the stack's "
        "kubernetesApiAccessCidrs.",
        "Set vpcConfig.publicAccessCidrs to the deployers' and operators' egress ranges (hastack:"
        "kubernetesApiAccessCidrs) with endpointPrivateAccess=True, or endpointPublicAccess=False with a deployer "
        "inside the VPC.",
        [EKS_CLUSTER], check_eks_endpoint,
        setting_schema(kubernetesApiAccessCidrs={
            "type": "array", "items": {"type": "string"}, "default": [],
            "description": "The stack's hastack:kubernetesApiAccessCidrs: every publicAccessCidrs entry must lie "
                           "inside one of them (empty: only 0.0.0.0/0 and a missing list are refused)."}),
        Severity.HIGH),
    stack_rule(
        "no-open-ingress",
        "No security group admits 0.0.0.0/0 or ::/0, except the ALBs' security group on 80/443.",
        "Replace the internet CIDR by the source security group (e.g. the ALB's for the nodes) or the VPC CIDR; "
        "only the ALB security group may take 80/443 from anywhere.",
        check_open_ingress,
        setting_schema(albPublicPorts={"type": "array", "items": {"type": "integer"}, "default": [80, 443],
                                       "description": "Ports the ALBs' security group may open to the internet."}),
        Severity.CRITICAL),
    resource_rule(
        "imdsv2-required",
        "Instances and launch templates require IMDSv2 (session tokens) for the instance metadata service.",
        "Set metadataOptions={httpEndpoint: 'enabled', httpTokens: 'required', httpPutResponseHopLimit: 1} on "
        "every launch template and instance; give every node group a launch template.",
        [LAUNCH_TEMPLATE, EC2_INSTANCE, EKS_NODE_GROUP], check_imdsv2),
    resource_rule(
        "imds-hop-limit",
        "Nodes answer instance-metadata requests only from the node itself (hop limit 1), so pods can't use the "
        "node role.",
        "Set metadataOptions.httpPutResponseHopLimit=1 on every launch template and instance; give pods that need "
        "AWS access a role through EKS Pod Identity (the eks-pod-identity-agent add-on and a "
        "PodIdentityAssociation per service account).",
        [LAUNCH_TEMPLATE, EC2_INSTANCE], check_imds_hop_limit, severity=Severity.HIGH),
    resource_rule(
        "https-listener-tls-policy",
        "HTTPS and TLS listeners use a TLS 1.2+ security policy from the allowed list.",
        "Set sslPolicy to ELBSecurityPolicy-TLS13-1-2-2021-06 (TLS 1.3 and 1.2) or another policy of "
        "allowedTlsPolicies; a listener without sslPolicy gets ELBSecurityPolicy-2016-08 (TLS 1.0).",
        list(LISTENERS), check_tls_policy,
        setting_schema(allowedTlsPolicies={
            "type": "array", "items": {"type": "string"}, "default": TLS12_POLICIES,
            "description": "Security policies HTTPS/TLS listeners may use (all with TLS 1.2 or newer as the "
                           "lowest protocol)."}),
        Severity.HIGH),
    resource_rule(
        "alb-hardening",
        "Application load balancers have deletion protection, drop invalid header fields and mitigate HTTP desync.",
        "Set enableDeletionProtection=True, dropInvalidHeaderFields=True and desyncMitigationMode 'defensive' or "
        "'strictest'.",
        list(LOAD_BALANCERS), check_alb_hardening, severity=Severity.MEDIUM),
    resource_rule(
        "elasticache-auth-required",
        "ElastiCache replication groups require authentication (AUTH token or RBAC user groups).",
        "Set authToken to a generated secret (random.RandomPassword, kept in Secrets Manager) with "
        "transitEncryptionEnabled=True, or userGroupIds for RBAC.",
        [CACHE_GROUP], check_cache_auth, severity=Severity.HIGH),
    stack_rule(
        "vpc-endpoints-present",
        "Every VPC has the endpoints the network design promises (S3 gateway, ECR API and registry), on every "
        "private route table and in every AZ.",
        "Add the missing aws.ec2.VpcEndpoint: S3 as a Gateway endpoint on every private route table, ecr.api and "
        "ecr.dkr as Interface endpoints with privateDnsEnabled=True and a private subnet in every AZ.",
        check_vpc_endpoints,
        setting_schema(requiredVpcEndpoints={
            "type": "array", "items": {"type": "string"}, "default": ["s3", "ecr.api", "ecr.dkr"],
            "description": "Endpoint services (after com.amazonaws.<region>.) every VPC must have."}),
        Severity.MEDIUM),
    stack_rule(
        "no-plaintext-secrets",
        "No secret appears in plain text in any resource: not the value of a config key declared secret, not a "
        "value held as a Pulumi secret (generated passwords and tokens included), whatever the property is "
        "called; and no password/token/secret-key property holds a literal.",
        "Pass secrets as secret Outputs (config.require_secret, random.RandomPassword's result, "
        "pulumi.Output.secret) all the way into the resource, never their unwrapped value; use RDS "
        "manageMasterUserPassword; keep generated secrets in Secrets Manager.",
        check_plaintext_secrets,
        setting_schema(minSecretLength={
            "type": "integer", "minimum": 1, "default": 8,
            "description": "Shortest secret value searched for inside other strings."}),
        Severity.CRITICAL),
]
