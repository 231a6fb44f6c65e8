"""How each Pulumi AWS resource type is created in moto: engine inputs (camelCase) -> boto3 calls.

One small function per type. It receives the inputs exactly as the Pulumi engine hands them to
the provider (references to other resources already resolved to moto's real ids) and returns the
id Pulumi would record plus the outputs AWS computes (ARNs, endpoints, DNS names...). Together
with the inputs echoed back, that is what the program, the exported stack outputs and the DR
command see — moto's real objects, not hashes.

Names follow the AWS provider's rules: an explicit `name` is used as is, otherwise Pulumi's
auto-name `<logical name>-<7 hex>` (kept to the service's length limit).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from hastack.local.world.nodegroups import auto_scaling_group_params

ACCOUNT_ID = "123456789012"  # moto's default account


@dataclass
class Ctx:
    """One resource to create: where, under which name, from which inputs, through which clients."""

    clients: Any  # hastack.local.moto_mocks.AwsClients
    region: str
    name: str
    inputs: dict[str, Any]
    tags: dict[str, str]

    def client(self, service: str) -> Any:
        return self.clients.get(service, self.region)

    def physical_name(self, key: str = "name", max_len: int = 255, prefix_key: str | None = "namePrefix") -> str:
        given = self.inputs.get(key)
        if isinstance(given, str) and given:
            return given
        prefix = self.inputs.get(prefix_key) if prefix_key else None
        suffix = hashlib.sha256(f"{self.region}/{self.name}".encode()).hexdigest()[:7]
        if isinstance(prefix, str) and prefix:
            return (prefix + suffix)[:max_len]
        return f"{self.name[: max_len - 8]}-{suffix}"

    def get(self, key: str, default: Any = None) -> Any:
        value = self.inputs.get(key, default)
        return default if value is None else value


Result = tuple[str, dict[str, Any]]
Handler = Callable[[Ctx], Result]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def ec2_tags(resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    if not tags:
        return []
    return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": str(v)} for k, v in tags.items()]}]


def tag_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: str(v)} for k, v in tags.items()]


def drop_none(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None and v != [] and v != {}}


def as_bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def as_int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def pascal(value: Any) -> Any:
    """camelCase keys -> PascalCase keys, recursively (the shape most AWS query APIs take)."""
    if isinstance(value, dict):
        return {(k[:1].upper() + k[1:]): pascal(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [pascal(v) for v in value]
    return value


def as_json_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def crc(*parts: Any) -> int:
    return zlib.crc32("/".join(str(p) for p in parts).encode())


# ---------------------------------------------------------------------------------------------
# EC2 / VPC
# ---------------------------------------------------------------------------------------------


def vpc(ctx: Ctx) -> Result:
    ec2 = ctx.client("ec2")
    vid = ec2.create_vpc(CidrBlock=ctx.get("cidrBlock", "10.0.0.0/16"),
                         TagSpecifications=ec2_tags("vpc", ctx.tags))["Vpc"]["VpcId"]
    for attr, key in (("EnableDnsSupport", "enableDnsSupport"), ("EnableDnsHostnames", "enableDnsHostnames")):
        if ctx.get(key) is not None:
            ec2.modify_vpc_attribute(VpcId=vid, **{attr: {"Value": as_bool(ctx.get(key))}})
    sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vid]},
                                               {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    rtb = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vid]},
                                             {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    return vid, {"arn": f"arn:aws:ec2:{ctx.region}:{ACCOUNT_ID}:vpc/{vid}", "ownerId": ACCOUNT_ID,
                 "defaultSecurityGroupId": sg[0]["GroupId"] if sg else None,
                 "mainRouteTableId": rtb[0]["RouteTableId"] if rtb else None}


def subnet(ctx: Ctx) -> Result:
    ec2 = ctx.client("ec2")
    sub = ec2.create_subnet(**drop_none({"VpcId": ctx.get("vpcId"), "CidrBlock": ctx.get("cidrBlock"),
                                         "AvailabilityZone": ctx.get("availabilityZone"),
                                         "TagSpecifications": ec2_tags("subnet", ctx.tags)}))["Subnet"]
    if as_bool(ctx.get("mapPublicIpOnLaunch")):
        ec2.modify_subnet_attribute(SubnetId=sub["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    return sub["SubnetId"], {"arn": sub.get("SubnetArn"), "availabilityZone": sub["AvailabilityZone"],
                             "availabilityZoneId": sub.get("AvailabilityZoneId"), "ownerId": ACCOUNT_ID}


def internet_gateway(ctx: Ctx) -> Result:
    ec2 = ctx.client("ec2")
    igw = ec2.create_internet_gateway(TagSpecifications=ec2_tags("internet-gateway", ctx.tags))
    gid = igw["InternetGateway"]["InternetGatewayId"]
    if ctx.get("vpcId"):
        ec2.attach_internet_gateway(InternetGatewayId=gid, VpcId=ctx.get("vpcId"))
    return gid, {"arn": f"arn:aws:ec2:{ctx.region}:{ACCOUNT_ID}:internet-gateway/{gid}", "ownerId": ACCOUNT_ID}


def eip(ctx: Ctx) -> Result:
    ec2 = ctx.client("ec2")
    addr = ec2.allocate_address(Domain="vpc", TagSpecifications=ec2_tags("elastic-ip", ctx.tags))
    return addr["AllocationId"], {"allocationId": addr["AllocationId"], "publicIp": addr["PublicIp"],
                                  "domain": "vpc",
                                  "publicDns": f"ec2-{addr['PublicIp'].replace('.', '-')}.compute-1.amazonaws.com"}


def nat_gateway(ctx: Ctx) -> Result:
    nat = ctx.client("ec2").create_nat_gateway(**drop_none({
        "SubnetId": ctx.get("subnetId"), "AllocationId": ctx.get("allocationId"),
        "ConnectivityType": ctx.get("connectivityType"),
        "TagSpecifications": ec2_tags("natgateway", ctx.tags)}))["NatGateway"]
    addrs = nat.get("NatGatewayAddresses") or [{}]
    return nat["NatGatewayId"], {"networkInterfaceId": addrs[0].get("NetworkInterfaceId"),
                                 "privateIp": addrs[0].get("PrivateIp"), "publicIp": addrs[0].get("PublicIp")}


_ROUTE_TARGETS = {"gatewayId": "GatewayId", "natGatewayId": "NatGatewayId", "vpcEndpointId": "VpcEndpointId",
                  "transitGatewayId": "TransitGatewayId", "networkInterfaceId": "NetworkInterfaceId",
                  "vpcPeeringConnectionId": "VpcPeeringConnectionId",
                  "egressOnlyGatewayId": "EgressOnlyInternetGatewayId"}


def _route_params(route: dict[str, Any]) -> dict[str, Any]:
    params = {"DestinationCidrBlock": route.get("cidrBlock") or route.get("destinationCidrBlock"),
              "DestinationIpv6CidrBlock": route.get("ipv6CidrBlock") or route.get("destinationIpv6CidrBlock"),
              "DestinationPrefixListId": route.get("destinationPrefixListId")}
    for key, param in _ROUTE_TARGETS.items():
        params[param] = route.get(key) or None
    return drop_none(params)


def route_table(ctx: Ctx) -> Result:
    ec2 = ctx.client("ec2")
    rid = ec2.create_route_table(VpcId=ctx.get("vpcId"),
                                 TagSpecifications=ec2_tags("route-table", ctx.tags))["RouteTable"]["RouteTableId"]
    for route in ctx.get("routes", []):
        ec2.create_route(RouteTableId=rid, **_route_params(route))
    return rid, {"arn": f"arn:aws:ec2:{ctx.region}:{ACCOUNT_ID}:route-table/{rid}", "ownerId": ACCOUNT_ID}



def route_table_association(ctx: Ctx) -> Result:
    assoc = ctx.client("ec2").associate_route_table(**drop_none({
        "RouteTableId": ctx.get("routeTableId"), "SubnetId": ctx.get("subnetId"), "GatewayId": ctx.get("gatewayId")}))
    return assoc["AssociationId"], {}


def _ip_permission(rule: dict[str, Any], protocol_key: str = "protocol") -> dict[str, Any]:
    protocol = str(rule.get(protocol_key, "-1"))
    perm: dict[str, Any] = {"IpProtocol": protocol}
    if protocol not in ("-1", "all"):
        perm["FromPort"] = as_int(rule.get("fromPort"))
        perm["ToPort"] = as_int(rule.get("toPort"))
    desc = rule.get("description")
    cidrs = list(rule.get("cidrBlocks") or []) + ([rule["cidrIpv4"]] if rule.get("cidrIpv4") else [])
    if cidrs:
        perm["IpRanges"] = [drop_none({"CidrIp": c, "Description": desc}) for c in cidrs]
    v6 = list(rule.get("ipv6CidrBlocks") or []) + ([rule["cidrIpv6"]] if rule.get("cidrIpv6") else [])
    if v6:
        perm["Ipv6Ranges"] = [drop_none({"CidrIpv6": c, "Description": desc}) for c in v6]
    groups = list(rule.get("securityGroups") or [])
    for key in ("sourceSecurityGroupId", "referencedSecurityGroupId"):
        if rule.get(key):
            groups.append(rule[key])
    if groups:
        perm["UserIdGroupPairs"] = [drop_none({"GroupId": g, "Description": desc}) for g in groups]
    prefixes = list(rule.get("prefixListIds") or []) + ([rule["prefixListId"]] if rule.get("prefixListId") else [])
    if prefixes:
        perm["PrefixListIds"] = [{"PrefixListId": p} for p in prefixes]
    return drop_none(perm)


def security_group(ctx: Ctx) -> Result:
    ec2 = ctx.client("ec2")
    name = ctx.physical_name()
    gid = ec2.create_security_group(**drop_none({
        "GroupName": name, "Description": ctx.get("description", "Managed by Pulumi"), "VpcId": ctx.get("vpcId"),
        "TagSpecifications": ec2_tags("security-group", ctx.tags)}))["GroupId"]
    ingress = ctx.get("ingress", [])
    if ingress:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[_self_rule(r, gid) for r in ingress])
    if ctx.get("vpcId"):
        # As the AWS provider does: AWS's default allow-all egress goes; only declared rules remain
        # (inline `egress` here, or separate egress-rule resources).
        ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[{"IpProtocol": "-1",
                                                                      "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    egress = ctx.get("egress", [])
    if egress:
        ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[_self_rule(r, gid) for r in egress])
    return gid, {"name": name, "arn": f"arn:aws:ec2:{ctx.region}:{ACCOUNT_ID}:security-group/{gid}",
                 "ownerId": ACCOUNT_ID}


def _self_rule(rule: dict[str, Any], gid: str) -> dict[str, Any]:
    perm = _ip_permission(rule)
    if as_bool(rule.get("self")):
        perm.setdefault("UserIdGroupPairs", []).append({"GroupId": gid})
    return perm


def _sg_rule_vpc(direction: str) -> Handler:
    def create(ctx: Ctx) -> Result:
        ec2 = ctx.client("ec2")
        call = ec2.authorize_security_group_ingress if direction == "ingress" else ec2.authorize_security_group_egress
        resp = call(GroupId=ctx.get("securityGroupId"), IpPermissions=[_ip_permission(ctx.inputs, "ipProtocol")])
        rules = resp.get("SecurityGroupRules") or []
        rid = rules[0]["SecurityGroupRuleId"] if rules else f"sgr-{crc(ctx.name, ctx.region):017x}"[:21]
        return rid, {"securityGroupRuleId": rid,
                     "arn": f"arn:aws:ec2:{ctx.region}:{ACCOUNT_ID}:security-group-rule/{rid}"}
    return create



def vpc_endpoint(ctx: Ctx) -> Result:
    ep = ctx.client("ec2").create_vpc_endpoint(**drop_none({
        "VpcId": ctx.get("vpcId"), "ServiceName": ctx.get("serviceName"),
        "VpcEndpointType": ctx.get("vpcEndpointType", "Gateway"), "SubnetIds": ctx.get("subnetIds"),
        "SecurityGroupIds": ctx.get("securityGroupIds"), "RouteTableIds": ctx.get("routeTableIds"),
        "PrivateDnsEnabled": as_bool(ctx.get("privateDnsEnabled")), "PolicyDocument": as_json_text(ctx.get("policy")),
        "TagSpecifications": ec2_tags("vpc-endpoint", ctx.tags)}))["VpcEndpoint"]
    return ep["VpcEndpointId"], {"arn": f"arn:aws:ec2:{ctx.region}:{ACCOUNT_ID}:vpc-endpoint/{ep['VpcEndpointId']}",
                                 "state": ep.get("State"), "dnsEntries": pascal_to_camel(ep.get("DnsEntries", [])),
                                 "networkInterfaceIds": ep.get("NetworkInterfaceIds", [])}


def pascal_to_camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {(k[:1].lower() + k[1:]): pascal_to_camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pascal_to_camel(v) for v in value]
    return value


def _launch_template_data(inputs: dict[str, Any]) -> dict[str, Any]:
    skip = {"name", "namePrefix", "tags", "tagsAll", "description", "updateDefaultVersion", "defaultVersion"}
    data = {k: v for k, v in inputs.items() if k not in skip and v is not None}
    if "vpcSecurityGroupIds" in data:
        data["securityGroupIds"] = data.pop("vpcSecurityGroupIds")
    out = pascal(data)
    for bdm in out.get("BlockDeviceMappings", []):
        ebs = bdm.get("Ebs", {})
        for key in ("Encrypted", "DeleteOnTermination"):
            if key in ebs:
                ebs[key] = as_bool(ebs[key])
        for key in ("VolumeSize", "Iops", "Throughput"):
            if key in ebs:
                ebs[key] = as_int(ebs[key])
    meta = out.get("MetadataOptions", {})
    if "HttpPutResponseHopLimit" in meta:
        meta["HttpPutResponseHopLimit"] = as_int(meta["HttpPutResponseHopLimit"])
    if "TagSpecifications" in out:
        out["TagSpecifications"] = [{"ResourceType": t.get("ResourceType"), "Tags": tag_list(t.get("Tags", {}))}
                                    for t in out["TagSpecifications"]]
    return out


def launch_template(ctx: Ctx) -> Result:
    name = ctx.physical_name(max_len=128)
    lt = ctx.client("ec2").create_launch_template(**drop_none({
        "LaunchTemplateName": name, "LaunchTemplateData": _launch_template_data(ctx.inputs),
        "TagSpecifications": ec2_tags("launch-template", ctx.tags)}))["LaunchTemplate"]
    return lt["LaunchTemplateId"], {"name": name, "latestVersion": lt.get("LatestVersionNumber", 1),
                                    "defaultVersion": lt.get("DefaultVersionNumber", 1),
                                    "arn": f"arn:aws:ec2:{ctx.region}:{ACCOUNT_ID}:launch-template/"
                                           f"{lt['LaunchTemplateId']}"}


# ---------------------------------------------------------------------------------------------
# KMS, IAM, Secrets Manager, CloudWatch Logs
# ---------------------------------------------------------------------------------------------


def kms_key(ctx: Ctx) -> Result:
    kms = ctx.client("kms")
    meta = kms.create_key(**drop_none({
        "Description": ctx.get("description"), "KeyUsage": ctx.get("keyUsage"),
        "KeySpec": ctx.get("customerMasterKeySpec"), "Policy": as_json_text(ctx.get("policy")),
        "MultiRegion": as_bool(ctx.get("multiRegion")),
        "Tags": tag_list(ctx.tags, "TagKey", "TagValue")}))["KeyMetadata"]
    if as_bool(ctx.get("enableKeyRotation")):
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    return meta["KeyId"], {"keyId": meta["KeyId"], "arn": meta["Arn"]}



def iam_role(ctx: Ctx) -> Result:
    iam = ctx.clients.get("iam", "us-east-1")
    name = ctx.physical_name(max_len=64)
    role = iam.create_role(**drop_none({
        "RoleName": name, "Path": ctx.get("path"), "Description": ctx.get("description"),
        "AssumeRolePolicyDocument": as_json_text(ctx.get("assumeRolePolicy")),
        "MaxSessionDuration": as_int(ctx.get("maxSessionDuration")), "Tags": tag_list(ctx.tags)}))["Role"]
    for arn in ctx.get("managedPolicyArns", []):
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    for policy in ctx.get("inlinePolicies", []):
        if policy.get("name") and policy.get("policy"):
            iam.put_role_policy(RoleName=name, PolicyName=policy["name"], PolicyDocument=policy["policy"])
    return name, {"name": name, "arn": role["Arn"], "uniqueId": role["RoleId"],
                  "createDate": role["CreateDate"].isoformat()}


def iam_role_policy_attachment(ctx: Ctx) -> Result:
    ctx.clients.get("iam", "us-east-1").attach_role_policy(RoleName=ctx.get("role"), PolicyArn=ctx.get("policyArn"))
    return f"{ctx.get('role')}-{crc(ctx.get('policyArn')):08x}", {}


def iam_role_policy(ctx: Ctx) -> Result:
    name = ctx.physical_name(max_len=128)
    ctx.clients.get("iam", "us-east-1").put_role_policy(RoleName=ctx.get("role"), PolicyName=name,
                                                        PolicyDocument=as_json_text(ctx.get("policy")))
    return f"{ctx.get('role')}:{name}", {"name": name}





def secret(ctx: Ctx) -> Result:
    name = ctx.physical_name(max_len=512)
    resp = ctx.client("secretsmanager").create_secret(**drop_none({
        "Name": name, "Description": ctx.get("description"), "KmsKeyId": ctx.get("kmsKeyId"),
        "Tags": tag_list(ctx.tags)}))
    return resp["ARN"], {"name": name, "arn": resp["ARN"]}


def secret_version(ctx: Ctx) -> Result:
    resp = ctx.client("secretsmanager").put_secret_value(**drop_none({
        "SecretId": ctx.get("secretId"), "SecretString": ctx.get("secretString")}))
    return f"{resp['ARN']}|{resp['VersionId']}", {"arn": resp["ARN"], "versionId": resp["VersionId"]}


def log_group(ctx: Ctx) -> Result:
    logs = ctx.client("logs")
    name = ctx.physical_name(max_len=512)
    logs.create_log_group(**drop_none({"logGroupName": name, "kmsKeyId": ctx.get("kmsKeyId"), "tags": ctx.tags}))
    if ctx.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(ctx.get("retentionInDays")))
    return name, {"name": name, "arn": f"arn:aws:logs:{ctx.region}:{ACCOUNT_ID}:log-group:{name}"}


# ---------------------------------------------------------------------------------------------
# EKS
# ---------------------------------------------------------------------------------------------


def eks_cluster(ctx: Ctx) -> Result:
    eks = ctx.client("eks")
    name = ctx.physical_name(max_len=100)
    vpc_cfg = ctx.get("vpcConfig", {})
    encryption = ctx.get("encryptionConfig")
    encryptions = encryption if isinstance(encryption, list) else ([encryption] if encryption else [])
    log_types = ctx.get("enabledClusterLogTypes", [])
    cluster = eks.create_cluster(**drop_none({
        "name": name, "version": ctx.get("version"), "roleArn": ctx.get("roleArn"),
        "resourcesVpcConfig": drop_none({
            "subnetIds": vpc_cfg.get("subnetIds"), "securityGroupIds": vpc_cfg.get("securityGroupIds"),
            "endpointPublicAccess": as_bool(vpc_cfg.get("endpointPublicAccess")),
            "endpointPrivateAccess": as_bool(vpc_cfg.get("endpointPrivateAccess")),
            "publicAccessCidrs": vpc_cfg.get("publicAccessCidrs")}),
        "logging": {"clusterLogging": [{"types": log_types, "enabled": True}]} if log_types else None,
        "encryptionConfig": [drop_none({"resources": e.get("resources"),
                                        "provider": {"keyArn": (e.get("provider") or {}).get("keyArn")}})
                             for e in encryptions] or None,
        "tags": ctx.tags or None}))["cluster"]
    issuer = ((cluster.get("identity") or {}).get("oidc") or {}).get("issuer")
    described_vpc = cluster.get("resourcesVpcConfig") or {}
    return name, {
        "name": name, "arn": cluster["arn"], "endpoint": cluster.get("endpoint"),
        "certificateAuthority": {"data": (cluster.get("certificateAuthority") or {}).get("data")},
        "identities": [{"oidcs": [{"issuer": issuer}]}] if issuer else [],
        "status": cluster.get("status"), "platformVersion": cluster.get("platformVersion"),
        "clusterId": hashlib.sha256(cluster["arn"].encode()).hexdigest()[:36],
        "vpcConfig": {**vpc_cfg, "vpcId": described_vpc.get("vpcId"),
                      "clusterSecurityGroupId": described_vpc.get("clusterSecurityGroupId")},
    }


def eks_node_group(ctx: Ctx) -> Result:
    eks = ctx.client("eks")
    name = ctx.physical_name("nodeGroupName", max_len=63, prefix_key="nodeGroupNamePrefix")
    scaling = ctx.get("scalingConfig", {})
    lt = ctx.get("launchTemplate")
    ng = eks.create_nodegroup(**drop_none({
        "clusterName": ctx.get("clusterName"), "nodegroupName": name, "nodeRole": ctx.get("nodeRoleArn"),
        "subnets": ctx.get("subnetIds"),
        "scalingConfig": drop_none({k: as_int(scaling.get(k)) for k in ("minSize", "maxSize", "desiredSize")}),
        "instanceTypes": ctx.get("instanceTypes"), "amiType": ctx.get("amiType"),
        "capacityType": ctx.get("capacityType"), "diskSize": as_int(ctx.get("diskSize")),
        "labels": ctx.get("labels"), "taints": pascal_to_camel(ctx.get("taints")) or None,
        "launchTemplate": drop_none({"id": lt.get("id"), "name": lt.get("name"),
                                     "version": str(lt["version"]) if lt.get("version") is not None else None})
        if lt else None,
        "updateConfig": drop_none({"maxUnavailable": as_int((ctx.get("updateConfig") or {}).get("maxUnavailable")),
                                   "maxUnavailablePercentage": as_int(
                                       (ctx.get("updateConfig") or {}).get("maxUnavailablePercentage"))}) or None,
        "version": ctx.get("version"), "releaseVersion": ctx.get("releaseVersion"),
        "tags": ctx.tags or None}))["nodegroup"]
    asgs = (ng.get("resources") or {}).get("autoScalingGroups") or []
    for asg in asgs:
        _node_group_asg(ctx, asg["name"], name, scaling, lt)
    return f"{ctx.get('clusterName')}:{name}", {
        "nodeGroupName": name, "arn": ng["nodegroupArn"], "status": ng.get("status"),
        "resources": [{"autoscalingGroups": [{"name": a.get("name")} for a in asgs],
                       "remoteAccessSecurityGroupId": None}],
    }


def _node_group_asg(ctx: Ctx, asg_name: str, nodegroup: str, scaling: dict[str, Any],
                    lt: dict[str, Any] | None) -> None:
    """The Auto Scaling group EKS runs behind a managed node group (moto's EKS only names it).

    Resized by the local world when the node group's scaling config changes (hastack.local.world.nodegroups).
    """
    ctx.client("autoscaling").create_auto_scaling_group(**auto_scaling_group_params(
        asg_name, ctx.get("clusterName"), nodegroup, ctx.get("subnetIds", []),
        as_int(scaling.get("minSize")) or 0, as_int(scaling.get("maxSize")) or 0,
        as_int(scaling.get("desiredSize")) or 0, lt))


def asg_attachment(ctx: Ctx) -> Result:
    asg = ctx.get("autoscalingGroupName")
    arn = ctx.get("lbTargetGroupArn")
    if arn:
        ctx.client("autoscaling").attach_load_balancer_target_groups(AutoScalingGroupName=asg, TargetGroupARNs=[arn])
    else:
        ctx.client("autoscaling").attach_load_balancers(AutoScalingGroupName=asg,
                                                        LoadBalancerNames=[ctx.get("elb")])
    return f"{asg}-{crc(arn or ctx.get('elb')):08x}", {}


# ---------------------------------------------------------------------------------------------
# RDS
# ---------------------------------------------------------------------------------------------


def db_subnet_group(ctx: Ctx) -> Result:
    name = ctx.physical_name(max_len=255).lower()
    group = ctx.client("rds").create_db_subnet_group(
        DBSubnetGroupName=name, DBSubnetGroupDescription=ctx.get("description", "Managed by Pulumi"),
        SubnetIds=ctx.get("subnetIds", []), Tags=tag_list(ctx.tags))["DBSubnetGroup"]
    return name, {"name": name, "arn": group["DBSubnetGroupArn"]}


def db_parameter_group(ctx: Ctx) -> Result:
    rds = ctx.client("rds")
    name = ctx.physical_name(max_len=255).lower()
    group = rds.create_db_parameter_group(
        DBParameterGroupName=name, DBParameterGroupFamily=ctx.get("family"),
        Description=ctx.get("description", "Managed by Pulumi"), Tags=tag_list(ctx.tags))["DBParameterGroup"]
    params = [drop_none({"ParameterName": p.get("name"), "ParameterValue": str(p.get("value")),
                         "ApplyMethod": p.get("applyMethod", "immediate")}) for p in ctx.get("parameters", [])]
    if params:
        rds.modify_db_parameter_group(DBParameterGroupName=name, Parameters=params)
    return name, {"name": name, "arn": group["DBParameterGroupArn"]}


def _db_outputs(db: dict[str, Any]) -> dict[str, Any]:
    endpoint = db.get("Endpoint") or {}
    secret_info = db.get("MasterUserSecret")
    return {
        "identifier": db["DBInstanceIdentifier"], "arn": db["DBInstanceArn"], "resourceId": db.get("DbiResourceId"),
        "address": endpoint.get("Address"), "port": endpoint.get("Port"),
        "endpoint": f"{endpoint.get('Address')}:{endpoint.get('Port')}" if endpoint else None,
        "hostedZoneId": endpoint.get("HostedZoneId", "Z2R2ITUGPM61AM"), "status": db.get("DBInstanceStatus"),
        "availabilityZone": db.get("AvailabilityZone"), "multiAz": db.get("MultiAZ"),
        "instanceClass": db.get("DBInstanceClass"),
        "masterUserSecrets": [{"secretArn": secret_info.get("SecretArn"), "kmsKeyId": secret_info.get("KmsKeyId"),
                               "secretStatus": secret_info.get("SecretStatus")}] if secret_info else [],
    }


def _db_common(ctx: Ctx) -> dict[str, Any]:
    return {
        "DBInstanceClass": ctx.get("instanceClass"), "DBSubnetGroupName": ctx.get("dbSubnetGroupName"),
        "VpcSecurityGroupIds": ctx.get("vpcSecurityGroupIds"), "MultiAZ": as_bool(ctx.get("multiAz")),
        "KmsKeyId": ctx.get("kmsKeyId"), "DBParameterGroupName": ctx.get("parameterGroupName"),
        "DeletionProtection": as_bool(ctx.get("deletionProtection")),
        "EnablePerformanceInsights": as_bool(ctx.get("performanceInsightsEnabled")),
        "PerformanceInsightsRetentionPeriod": as_int(ctx.get("performanceInsightsRetentionPeriod"))
        if as_bool(ctx.get("performanceInsightsEnabled")) else None,
        "PerformanceInsightsKMSKeyId": ctx.get("performanceInsightsKmsKeyId"),
        "MonitoringInterval": as_int(ctx.get("monitoringInterval")), "MonitoringRoleArn": ctx.get("monitoringRoleArn"),
        "PubliclyAccessible": as_bool(ctx.get("publiclyAccessible")),
        "AutoMinorVersionUpgrade": as_bool(ctx.get("autoMinorVersionUpgrade")),
        "EnableCloudwatchLogsExports": ctx.get("enabledCloudwatchLogsExports"),
        "CopyTagsToSnapshot": as_bool(ctx.get("copyTagsToSnapshot")), "StorageType": ctx.get("storageType"),
        "Port": as_int(ctx.get("port")), "Tags": tag_list(ctx.tags),
    }


def db_instance(ctx: Ctx) -> Result:
    rds = ctx.client("rds")
    identifier = ctx.physical_name("identifier", max_len=63, prefix_key="identifierPrefix").lower()
    source = ctx.get("replicateSourceDb")
    if source:
        params = {**_db_common(ctx), "DBInstanceIdentifier": identifier, "SourceDBInstanceIdentifier": source}
        cross_region = source.startswith("arn:") and source.split(":")[3] != ctx.region
        subnet_group = params.pop("DBSubnetGroupName", None) if cross_region else None
        if cross_region:
            params["SourceRegion"] = source.split(":")[3]
        db = rds.create_db_instance_read_replica(**drop_none(params))["DBInstance"]
        if subnet_group:
            # moto resolves a cross-region replica's subnet group in the source's region; AWS takes
            # it in the replica's. Set it once the replica exists, where moto looks it up correctly.
            db = rds.modify_db_instance(DBInstanceIdentifier=identifier, DBSubnetGroupName=subnet_group,
                                        ApplyImmediately=True)["DBInstance"]
    else:
        db = rds.create_db_instance(**drop_none({
            **_db_common(ctx), "DBInstanceIdentifier": identifier, "Engine": ctx.get("engine"),
            "EngineVersion": ctx.get("engineVersion"), "AllocatedStorage": as_int(ctx.get("allocatedStorage")),
            "MaxAllocatedStorage": as_int(ctx.get("maxAllocatedStorage")),
            "StorageEncrypted": as_bool(ctx.get("storageEncrypted")), "DBName": ctx.get("dbName"),
            "MasterUsername": ctx.get("username"), "MasterUserPassword": ctx.get("password"),
            "ManageMasterUserPassword": as_bool(ctx.get("manageMasterUserPassword")),
            "MasterUserSecretKmsKeyId": ctx.get("masterUserSecretKmsKeyId"),
            "BackupRetentionPeriod": as_int(ctx.get("backupRetentionPeriod")),
            "PreferredBackupWindow": ctx.get("backupWindow"),
            "PreferredMaintenanceWindow": ctx.get("maintenanceWindow"),
            "Iops": as_int(ctx.get("iops")), "StorageThroughput": as_int(ctx.get("storageThroughput")),
        }))["DBInstance"]
    return db.get("DbiResourceId") or identifier, _db_outputs(db)


def db_proxy(ctx: Ctx) -> Result:
    name = ctx.physical_name(max_len=60).lower()
    auth = [drop_none({"AuthScheme": a.get("authScheme", "SECRETS"), "SecretArn": a.get("secretArn"),
                       "IAMAuth": a.get("iamAuth"), "Description": a.get("description"),
                       "ClientPasswordAuthType": a.get("clientPasswordAuthType")}) for a in ctx.get("auths", [])]
    proxy = ctx.client("rds").create_db_proxy(**drop_none({
        "DBProxyName": name, "EngineFamily": ctx.get("engineFamily"), "Auth": auth, "RoleArn": ctx.get("roleArn"),
        "VpcSubnetIds": ctx.get("vpcSubnetIds"), "VpcSecurityGroupIds": ctx.get("vpcSecurityGroupIds"),
        "RequireTLS": as_bool(ctx.get("requireTls")), "IdleClientTimeout": as_int(ctx.get("idleClientTimeout")),
        "DebugLogging": as_bool(ctx.get("debugLogging")), "Tags": tag_list(ctx.tags)}))["DBProxy"]
    return name, {"name": name, "arn": proxy["DBProxyArn"], "endpoint": proxy.get("Endpoint")}


def db_proxy_default_target_group(ctx: Ctx) -> Result:
    rds = ctx.client("rds")
    proxy = ctx.get("dbProxyName")
    cfg = ctx.get("connectionPoolConfig") or {}
    pool = drop_none({"MaxConnectionsPercent": as_int(cfg.get("maxConnectionsPercent")),
                      "MaxIdleConnectionsPercent": as_int(cfg.get("maxIdleConnectionsPercent")),
                      "ConnectionBorrowTimeout": as_int(cfg.get("connectionBorrowTimeout"))})
    groups = rds.describe_db_proxy_target_groups(DBProxyName=proxy)["TargetGroups"]
    if pool:
        rds.modify_db_proxy_target_group(TargetGroupName="default", DBProxyName=proxy, ConnectionPoolConfig=pool)
    arn = groups[0]["TargetGroupArn"] if groups else f"arn:aws:rds:{ctx.region}:{ACCOUNT_ID}:target-group:{proxy}"
    return proxy, {"name": "default", "arn": arn}


def db_proxy_target(ctx: Ctx) -> Result:
    proxy, group, instance = ctx.get("dbProxyName"), ctx.get("targetGroupName", "default"), ctx.get(
        "dbInstanceIdentifier")
    ctx.client("rds").register_db_proxy_targets(**drop_none({
        "DBProxyName": proxy, "TargetGroupName": group,
        "DBInstanceIdentifiers": [instance] if instance else None,
        "DBClusterIdentifiers": [ctx.get("dbClusterIdentifier")] if ctx.get("dbClusterIdentifier") else None}))
    kind = "RDS_INSTANCE" if instance else "TRACKED_CLUSTER"
    return f"{proxy},{group},{kind},{instance or ctx.get('dbClusterIdentifier')}", {"type": kind,
                                                                                   "rdsResourceId": instance}


# ---------------------------------------------------------------------------------------------
# ElastiCache
# ---------------------------------------------------------------------------------------------


def cache_subnet_group(ctx: Ctx) -> Result:
    name = ctx.physical_name(max_len=255).lower()
    group = ctx.client("elasticache").create_cache_subnet_group(
        CacheSubnetGroupName=name, CacheSubnetGroupDescription=ctx.get("description", "Managed by Pulumi"),
        SubnetIds=ctx.get("subnetIds", []), Tags=tag_list(ctx.tags))["CacheSubnetGroup"]
    return name, {"name": name, "arn": group.get("ARN")}


def cache_replication_group(ctx: Ctx) -> Result:
    ec = ctx.client("elasticache")
    rgid = ctx.physical_name("replicationGroupId", max_len=40, prefix_key=None).lower()
    group = ec.create_replication_group(**drop_none({
        "ReplicationGroupId": rgid, "ReplicationGroupDescription": ctx.get("description", "Managed by Pulumi"),
        "GlobalReplicationGroupId": ctx.get("globalReplicationGroupId"),
        "Engine": ctx.get("engine"), "EngineVersion": ctx.get("engineVersion"), "CacheNodeType": ctx.get("nodeType"),
        "NumCacheClusters": as_int(ctx.get("numCacheClusters")), "NumNodeGroups": as_int(ctx.get("numNodeGroups")),
        "ReplicasPerNodeGroup": as_int(ctx.get("replicasPerNodeGroup")),
        "AutomaticFailoverEnabled": as_bool(ctx.get("automaticFailoverEnabled")),
        "MultiAZEnabled": as_bool(ctx.get("multiAzEnabled")),
        "AtRestEncryptionEnabled": as_bool(ctx.get("atRestEncryptionEnabled")),
        "TransitEncryptionEnabled": as_bool(ctx.get("transitEncryptionEnabled")),
        "AuthToken": ctx.get("authToken"), "KmsKeyId": ctx.get("kmsKeyId"),
        "CacheSubnetGroupName": ctx.get("subnetGroupName"), "SecurityGroupIds": ctx.get("securityGroupIds"),
        "CacheParameterGroupName": ctx.get("parameterGroupName"), "Port": as_int(ctx.get("port")),
        "SnapshotRetentionLimit": as_int(ctx.get("snapshotRetentionLimit")),
        "SnapshotWindow": ctx.get("snapshotWindow"), "PreferredMaintenanceWindow": ctx.get("maintenanceWindow"),
        "NotificationTopicArn": ctx.get("notificationTopicArn"), "Tags": tag_list(ctx.tags)}))["ReplicationGroup"]
    node_groups = group.get("NodeGroups") or [{}]
    primary = node_groups[0].get("PrimaryEndpoint") or {}
    reader = node_groups[0].get("ReaderEndpoint") or {}
    return rgid, {
        "replicationGroupId": rgid, "arn": group.get("ARN"),
        "primaryEndpointAddress": primary.get("Address") or f"master.{rgid}.cache.amazonaws.com",
        "readerEndpointAddress": reader.get("Address") or f"replica.{rgid}.cache.amazonaws.com",
        "memberClusters": group.get("MemberClusters", []),
        "engineVersionActual": ctx.get("engineVersion"),
        "globalReplicationGroupId": ctx.get("globalReplicationGroupId"),
    }


def cache_global_replication_group(ctx: Ctx) -> Result:
    """Served by the local world (hastack.local.world.global_datastore): moto has no Global Datastore."""
    suffix = ctx.get("globalReplicationGroupIdSuffix") or ctx.name
    group = ctx.client("elasticache").create_global_replication_group(**drop_none({
        "GlobalReplicationGroupIdSuffix": suffix, "PrimaryReplicationGroupId": ctx.get("primaryReplicationGroupId"),
        "GlobalReplicationGroupDescription": ctx.get("globalReplicationGroupDescription")}))["GlobalReplicationGroup"]
    gid = group["GlobalReplicationGroupId"]
    return gid, {"globalReplicationGroupId": gid, "arn": group.get("ARN"), "engine": group.get("Engine"),
                 "engineVersionActual": group.get("EngineVersion"), "cacheNodeType": group.get("CacheNodeType"),
                 "clusterEnabled": group.get("ClusterEnabled", False)}


# ---------------------------------------------------------------------------------------------
# Load balancing
# ---------------------------------------------------------------------------------------------


def _lb_name(ctx: Ctx) -> str:
    return ctx.physical_name(max_len=32)


def load_balancer(ctx: Ctx) -> Result:
    elb = ctx.client("elbv2")
    lb = elb.create_load_balancer(**drop_none({
        "Name": _lb_name(ctx), "Subnets": ctx.get("subnets"), "SecurityGroups": ctx.get("securityGroups"),
        "Scheme": "internal" if as_bool(ctx.get("internal")) else "internet-facing",
        "Type": ctx.get("loadBalancerType", "application"), "IpAddressType": ctx.get("ipAddressType"),
        "Tags": tag_list(ctx.tags)}))["LoadBalancers"][0]
    attrs = {"deletion_protection.enabled": ctx.get("enableDeletionProtection"),
             "routing.http.drop_invalid_header_fields.enabled": ctx.get("dropInvalidHeaderFields"),
             "idle_timeout.timeout_seconds": ctx.get("idleTimeout"),
             "routing.http2.enabled": ctx.get("enableHttp2"),
             "load_balancing.cross_zone.enabled": ctx.get("enableCrossZoneLoadBalancing"),
             "zonal_shift.config.enabled": ctx.get("enableZonalShift")}
    access = ctx.get("accessLogs") or {}
    if access.get("bucket"):
        attrs.update({"access_logs.s3.enabled": access.get("enabled", True), "access_logs.s3.bucket": access["bucket"],
                      "access_logs.s3.prefix": access.get("prefix")})
    pairs = [{"Key": k, "Value": str(v).lower() if isinstance(v, bool) else str(v)}
             for k, v in attrs.items() if v is not None]
    if pairs:
        try:
            elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=pairs)
        except ClientError:
            pass  # attributes moto rejects do not change what exists; the inputs still record them
    arn = lb["LoadBalancerArn"]
    return arn, {"arn": arn, "arnSuffix": arn.split(":loadbalancer/", 1)[-1], "dnsName": lb["DNSName"],
                 "zoneId": lb["CanonicalHostedZoneId"], "vpcId": lb.get("VpcId"), "name": lb["LoadBalancerName"]}


def target_group(ctx: Ctx) -> Result:
    elb = ctx.client("elbv2")
    hc = ctx.get("healthCheck") or {}
    tg = elb.create_target_group(**drop_none({
        "Name": _lb_name(ctx), "Protocol": ctx.get("protocol"), "Port": as_int(ctx.get("port")),
        "VpcId": ctx.get("vpcId"), "TargetType": ctx.get("targetType"), "ProtocolVersion": ctx.get("protocolVersion"),
        "HealthCheckEnabled": as_bool(hc.get("enabled")), "HealthCheckProtocol": hc.get("protocol"),
        "HealthCheckPort": _port_text(hc.get("port")),
        "HealthCheckPath": hc.get("path"), "HealthCheckIntervalSeconds": as_int(hc.get("interval")),
        "HealthCheckTimeoutSeconds": as_int(hc.get("timeout")),
        "HealthyThresholdCount": as_int(hc.get("healthyThreshold")),
        "UnhealthyThresholdCount": as_int(hc.get("unhealthyThreshold")),
        "Matcher": {"HttpCode": hc["matcher"]} if hc.get("matcher") else None,
        "Tags": tag_list(ctx.tags)}))["TargetGroups"][0]
    arn = tg["TargetGroupArn"]
    if ctx.get("deregistrationDelay") is not None:
        elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": str(as_int(ctx.get("deregistrationDelay")))}])
    return arn, {"arn": arn, "arnSuffix": arn.split(":", 5)[-1], "name": tg["TargetGroupName"]}


def _port_text(port: Any) -> str | None:
    """A health-check port as ELB takes it: a number as text, or "traffic-port"."""
    if port is None:
        return None
    return str(as_int(port)) if isinstance(port, (int, float)) or str(port).replace(".", "").isdigit() else str(port)


def _action(action: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Type": action.get("type"), "TargetGroupArn": action.get("targetGroupArn"),
                           "Order": as_int(action.get("order"))}
    if action.get("forward"):
        fwd = action["forward"]
        out["ForwardConfig"] = drop_none({
            "TargetGroups": [drop_none({"TargetGroupArn": t.get("arn"), "Weight": as_int(t.get("weight"))})
                             for t in fwd.get("targetGroups", [])],
            "TargetGroupStickinessConfig": pascal(fwd.get("stickiness")) if fwd.get("stickiness") else None})
    if action.get("redirect"):
        red = action["redirect"]
        out["RedirectConfig"] = drop_none({"Protocol": red.get("protocol"), "Port": red.get("port"),
                                           "Host": red.get("host"), "Path": red.get("path"),
                                           "Query": red.get("query"), "StatusCode": red.get("statusCode")})
    if action.get("fixedResponse"):
        fix = action["fixedResponse"]
        out["FixedResponseConfig"] = drop_none({"ContentType": fix.get("contentType"),
                                                "MessageBody": fix.get("messageBody"),
                                                "StatusCode": fix.get("statusCode")})
    return drop_none(out)


def listener(ctx: Ctx) -> Result:
    cert = ctx.get("certificateArn")
    lst = ctx.client("elbv2").create_listener(**drop_none({
        "LoadBalancerArn": ctx.get("loadBalancerArn"), "Protocol": ctx.get("protocol"),
        "Port": as_int(ctx.get("port")), "SslPolicy": ctx.get("sslPolicy"),
        "Certificates": [{"CertificateArn": cert}] if cert else None,
        "AlpnPolicy": [ctx.get("alpnPolicy")] if ctx.get("alpnPolicy") else None,
        "DefaultActions": [_action(a) for a in ctx.get("defaultActions", [])],
        "Tags": tag_list(ctx.tags)}))["Listeners"][0]
    return lst["ListenerArn"], {"arn": lst["ListenerArn"]}


_CONDITION_FIELDS = {"pathPattern": "path-pattern", "hostHeader": "host-header", "httpRequestMethod":
                     "http-request-method", "sourceIp": "source-ip"}


def listener_rule(ctx: Ctx) -> Result:
    conditions = []
    for cond in ctx.get("conditions", []):
        for key, field_name in _CONDITION_FIELDS.items():
            if cond.get(key):
                conditions.append({"Field": field_name, "Values": list(cond[key].get("values", []))})
    rule = ctx.client("elbv2").create_rule(ListenerArn=ctx.get("listenerArn"),
                                           Priority=as_int(ctx.get("priority")) or 1 + crc(ctx.name) % 49000,
                                           Conditions=conditions,
                                           Actions=[_action(a) for a in ctx.get("actions", [])])["Rules"][0]
    return rule["RuleArn"], {"arn": rule["RuleArn"]}



# ---------------------------------------------------------------------------------------------
# Route 53
# ---------------------------------------------------------------------------------------------



def health_check(ctx: Ctx) -> Result:
    r53 = ctx.clients.get("route53", "us-east-1")
    typ = ctx.get("type")
    config = drop_none({
        "Type": typ, "FullyQualifiedDomainName": ctx.get("fqdn"), "IPAddress": ctx.get("ipAddress"),
        "Port": as_int(ctx.get("port")), "ResourcePath": ctx.get("resourcePath"),
        "SearchString": ctx.get("searchString"), "RequestInterval": as_int(ctx.get("requestInterval")),
        "FailureThreshold": as_int(ctx.get("failureThreshold")), "MeasureLatency": as_bool(ctx.get("measureLatency")),
        "Inverted": as_bool(ctx.get("invertHealthcheck")), "Disabled": as_bool(ctx.get("disabled")),
        "EnableSNI": as_bool(ctx.get("enableSni")), "Regions": ctx.get("regions"),
        "ChildHealthChecks": ctx.get("childHealthchecks"),
        "HealthThreshold": as_int(ctx.get("childHealthThreshold")),
        "InsufficientDataHealthStatus": ctx.get("insufficientDataHealthStatus"),
    })
    if ctx.get("cloudwatchAlarmName"):
        config["AlarmIdentifier"] = {"Region": ctx.get("cloudwatchAlarmRegion") or ctx.region,
                                     "Name": ctx.get("cloudwatchAlarmName")}
    hc = r53.create_health_check(CallerReference=f"{ctx.name}-{crc(ctx.name, ctx.region)}",
                                 HealthCheckConfig=config)["HealthCheck"]
    if ctx.tags:
        r53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=hc["Id"], AddTags=tag_list(ctx.tags))
    return hc["Id"], {"arn": f"arn:aws:route53:::healthcheck/{hc['Id']}"}


def _fqdn(name: str, zone_name: str | None) -> str:
    name = name.rstrip(".")
    if zone_name and not (name == zone_name or name.endswith("." + zone_name)):
        name = f"{name}.{zone_name}"
    return name


def record(ctx: Ctx) -> Result:
    r53 = ctx.clients.get("route53", "us-east-1")
    zid = ctx.get("zoneId")
    zone_name = r53.get_hosted_zone(Id=zid)["HostedZone"]["Name"].rstrip(".")
    name = _fqdn(ctx.get("name"), zone_name)
    failover = (ctx.get("failoverRoutingPolicies") or [{}])[0].get("type")
    weighted = (ctx.get("weightedRoutingPolicies") or [{}])[0].get("weight")
    latency = (ctx.get("latencyRoutingPolicies") or [{}])[0].get("region")
    alias = (ctx.get("aliases") or [None])[0]
    rrset = drop_none({
        "Name": name, "Type": ctx.get("type"), "SetIdentifier": ctx.get("setIdentifier"), "Failover": failover,
        "Weight": as_int(weighted), "Region": latency, "HealthCheckId": ctx.get("healthCheckId"),
        "TTL": None if alias else as_int(ctx.get("ttl")),
        "ResourceRecords": [{"Value": v} for v in ctx.get("records", [])] or None,
        "AliasTarget": {"DNSName": alias.get("name"), "HostedZoneId": alias.get("zoneId"),
                        "EvaluateTargetHealth": bool(as_bool(alias.get("evaluateTargetHealth")))} if alias else None,
    })
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={
        "Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrset}]})
    rid = "_".join(p for p in (zid, name, ctx.get("type"), ctx.get("setIdentifier")) if p)
    return rid, {"fqdn": name, "name": name}


# ---------------------------------------------------------------------------------------------
# DynamoDB, CloudWatch, SNS
# ---------------------------------------------------------------------------------------------


def dynamodb_table(ctx: Ctx) -> Result:
    ddb = ctx.client("dynamodb")
    name = ctx.physical_name(max_len=255)
    keys = [{"AttributeName": ctx.get("hashKey"), "KeyType": "HASH"}]
    if ctx.get("rangeKey"):
        keys.append({"AttributeName": ctx.get("rangeKey"), "KeyType": "RANGE"})
    billing = ctx.get("billingMode", "PROVISIONED")
    sse = ctx.get("serverSideEncryption") or {}
    table = ddb.create_table(**drop_none({
        "TableName": name, "KeySchema": keys, "BillingMode": billing,
        "AttributeDefinitions": [{"AttributeName": a["name"], "AttributeType": a["type"]}
                                 for a in ctx.get("attributes", [])],
        "ProvisionedThroughput": {"ReadCapacityUnits": as_int(ctx.get("readCapacity")) or 1,
                                  "WriteCapacityUnits": as_int(ctx.get("writeCapacity")) or 1}
        if billing == "PROVISIONED" else None,
        "SSESpecification": drop_none({"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": sse.get("kmsKeyArn")})
        if as_bool(sse.get("enabled")) else None,
        "DeletionProtectionEnabled": as_bool(ctx.get("deletionProtectionEnabled")),
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": ctx.get("streamViewType")}
        if as_bool(ctx.get("streamEnabled")) else None,
        "Tags": tag_list(ctx.tags) or None}))["TableDescription"]
    if as_bool((ctx.get("pointInTimeRecovery") or {}).get("enabled")):
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True})
    ttl = ctx.get("ttl") or {}
    if ttl.get("attributeName") and as_bool(ttl.get("enabled")):
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": ttl["attributeName"]})
    # A global table: moto accepts the replica, witness and MRSC updates but keeps no replica and no
    # quorum (the local world emulates what the lease needs from them).
    replicas = [r for r in ctx.get("replicas", []) if r.get("regionName")]
    witness = (ctx.get("globalTableWitness") or {}).get("regionName")
    if replicas:
        strong = any(r.get("consistencyMode") == "STRONG" for r in replicas)
        ddb.update_table(**drop_none({
            "TableName": name, "ReplicaUpdates": [{"Create": {"RegionName": r["regionName"]}} for r in replicas],
            "GlobalTableWitnessUpdates": [{"Create": {"RegionName": witness}}] if witness else None,
            "MultiRegionConsistency": "STRONG" if strong else None}))
    return name, {"name": name, "arn": table["TableArn"], "streamArn": table.get("LatestStreamArn")}


def dynamodb_table_item(ctx: Ctx) -> Result:
    """PutItem of the item (DynamoDB JSON) into its table, as the provider does."""
    item = json.loads(as_json_text(ctx.get("item")))
    ctx.client("dynamodb").put_item(TableName=ctx.get("tableName"), Item=item)
    key = item[ctx.get("hashKey")]
    return f"{ctx.get('tableName')}|{ctx.get('hashKey')}|{next(iter(key.values()))}", {}


def _dimensions(dims: Any) -> list[dict[str, str]] | None:
    if not dims:
        return None
    return [{"Name": k, "Value": str(v)} for k, v in dims.items()]


def _metric_query(q: dict[str, Any]) -> dict[str, Any]:
    metric = q.get("metric")
    return drop_none({
        "Id": q.get("id"), "Expression": q.get("expression"), "Label": q.get("label"),
        "ReturnData": as_bool(q.get("returnData")), "Period": as_int(q.get("period")),
        "AccountId": q.get("accountId"),
        "MetricStat": drop_none({
            "Metric": drop_none({"Namespace": metric.get("namespace"), "MetricName": metric.get("metricName"),
                                 "Dimensions": _dimensions(metric.get("dimensions"))}),
            "Period": as_int(metric.get("period")), "Stat": metric.get("stat"), "Unit": metric.get("unit")})
        if metric else None})


def metric_alarm(ctx: Ctx) -> Result:
    name = ctx.physical_name(max_len=255)
    ctx.client("cloudwatch").put_metric_alarm(**drop_none({
        "AlarmName": name, "AlarmDescription": ctx.get("alarmDescription"),
        "ActionsEnabled": as_bool(ctx.get("actionsEnabled")), "OKActions": ctx.get("okActions"),
        "AlarmActions": ctx.get("alarmActions"), "InsufficientDataActions": ctx.get("insufficientDataActions"),
        "MetricName": ctx.get("metricName"), "Namespace": ctx.get("namespace"), "Statistic": ctx.get("statistic"),
        "ExtendedStatistic": ctx.get("extendedStatistic"), "Dimensions": _dimensions(ctx.get("dimensions")),
        "Period": as_int(ctx.get("period")), "Unit": ctx.get("unit"),
        "EvaluationPeriods": as_int(ctx.get("evaluationPeriods")),
        "DatapointsToAlarm": as_int(ctx.get("datapointsToAlarm")),
        "Threshold": float(ctx.get("threshold")) if ctx.get("threshold") is not None else None,
        "ComparisonOperator": ctx.get("comparisonOperator"), "TreatMissingData": ctx.get("treatMissingData"),
        "EvaluateLowSampleCountPercentile": ctx.get("evaluateLowSampleCountPercentiles"),
        "Metrics": [_metric_query(q) for q in ctx.get("metricQueries", [])] or None,
        "ThresholdMetricId": ctx.get("thresholdMetricId"), "Tags": tag_list(ctx.tags) or None}))
    return name, {"name": name, "arn": f"arn:aws:cloudwatch:{ctx.region}:{ACCOUNT_ID}:alarm:{name}"}



def db_event_subscription(ctx: Ctx) -> Result:
    name = ctx.physical_name(max_len=255)
    sub = ctx.client("rds").create_event_subscription(**drop_none({
        "SubscriptionName": name, "SnsTopicArn": ctx.get("snsTopic"), "SourceType": ctx.get("sourceType"),
        "EventCategories": ctx.get("eventCategories"), "SourceIds": ctx.get("sourceIds"),
        "Enabled": as_bool(ctx.get("enabled")), "Tags": tag_list(ctx.tags) or None}))["EventSubscription"]
    return name, {"name": name, "arn": sub.get("EventSubscriptionArn"), "customerAwsId": ACCOUNT_ID}


def event_rule(ctx: Ctx) -> Result:
    name = ctx.physical_name(max_len=64)
    arn = ctx.client("events").put_rule(**drop_none({
        "Name": name, "EventPattern": as_json_text(ctx.get("eventPattern")),
        "ScheduleExpression": ctx.get("scheduleExpression"), "Description": ctx.get("description"),
        "State": ctx.get("state") or ("DISABLED" if ctx.get("isEnabled") is False else "ENABLED"),
        "EventBusName": ctx.get("eventBusName"), "RoleArn": ctx.get("roleArn"),
        "Tags": tag_list(ctx.tags) or None}))["RuleArn"]
    return name, {"name": name, "arn": arn}


def event_target(ctx: Ctx) -> Result:
    target_id = ctx.get("targetId") or ctx.physical_name("targetId", max_len=64, prefix_key=None)
    ctx.client("events").put_targets(**drop_none({
        "Rule": ctx.get("rule"), "EventBusName": ctx.get("eventBusName"),
        "Targets": [drop_none({"Id": target_id, "Arn": ctx.get("arn"), "RoleArn": ctx.get("roleArn"),
                               "Input": ctx.get("input"), "InputPath": ctx.get("inputPath")})]}))
    return f"{ctx.get('rule')}-{target_id}", {"targetId": target_id}


def sns_topic(ctx: Ctx) -> Result:
    name = ctx.physical_name(max_len=256)
    attrs = drop_none({"KmsMasterKeyId": ctx.get("kmsMasterKeyId"), "DisplayName": ctx.get("displayName"),
                       "Policy": as_json_text(ctx.get("policy")),
                       "FifoTopic": "true" if as_bool(ctx.get("fifoTopic")) else None})
    arn = ctx.client("sns").create_topic(**drop_none({"Name": name, "Attributes": attrs or None,
                                                      "Tags": tag_list(ctx.tags) or None}))["TopicArn"]
    return arn, {"name": name, "arn": arn}


def sns_subscription(ctx: Ctx) -> Result:
    resp = ctx.client("sns").subscribe(TopicArn=ctx.get("topic"), Protocol=ctx.get("protocol"),
                                       Endpoint=ctx.get("endpoint"), ReturnSubscriptionArn=True)
    arn = resp["SubscriptionArn"]
    return arn, {"arn": arn, "pendingConfirmation": ctx.get("protocol") in ("email", "email-json", "http", "https")}


def sns_topic_policy(ctx: Ctx) -> Result:
    ctx.client("sns").set_topic_attributes(TopicArn=ctx.get("arn"), AttributeName="Policy",
                                           AttributeValue=as_json_text(ctx.get("policy")))
    return ctx.get("arn"), {"owner": ACCOUNT_ID}


#: Pulumi type -> how it is created in moto. Types absent here fall back to the offline values
#: (see moto_mocks.UNMODELLED for the reasons).
HANDLERS: dict[str, Handler] = {
    "aws:ec2/vpc:Vpc": vpc,
    "aws:ec2/subnet:Subnet": subnet,
    "aws:ec2/internetGateway:InternetGateway": internet_gateway,
    "aws:ec2/eip:Eip": eip,
    "aws:ec2/natGateway:NatGateway": nat_gateway,
    "aws:ec2/routeTable:RouteTable": route_table,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": route_table_association,
    "aws:ec2/securityGroup:SecurityGroup": security_group,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _sg_rule_vpc("ingress"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _sg_rule_vpc("egress"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": vpc_endpoint,
    "aws:ec2/launchTemplate:LaunchTemplate": launch_template,
    "aws:kms/key:Key": kms_key,
    "aws:iam/role:Role": iam_role,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": iam_role_policy_attachment,
    "aws:iam/rolePolicy:RolePolicy": iam_role_policy,
    "aws:secretsmanager/secret:Secret": secret,
    "aws:secretsmanager/secretVersion:SecretVersion": secret_version,
    "aws:cloudwatch/logGroup:LogGroup": log_group,
    "aws:eks/cluster:Cluster": eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": eks_node_group,
    "aws:autoscaling/attachment:Attachment": asg_attachment,
    "aws:rds/subnetGroup:SubnetGroup": db_subnet_group,
    "aws:rds/parameterGroup:ParameterGroup": db_parameter_group,
    "aws:rds/instance:Instance": db_instance,
    "aws:rds/proxy:Proxy": db_proxy,
    "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup": db_proxy_default_target_group,
    "aws:rds/proxyTarget:ProxyTarget": db_proxy_target,
    "aws:elasticache/subnetGroup:SubnetGroup": cache_subnet_group,
    "aws:elasticache/replicationGroup:ReplicationGroup": cache_replication_group,
    "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup": cache_global_replication_group,
    "aws:lb/loadBalancer:LoadBalancer": load_balancer,
    "aws:lb/targetGroup:TargetGroup": target_group,
    "aws:lb/listener:Listener": listener,
    "aws:lb/listenerRule:ListenerRule": listener_rule,
    "aws:route53/healthCheck:HealthCheck": health_check,
    "aws:route53/record:Record": record,
    "aws:dynamodb/table:Table": dynamodb_table,
    "aws:dynamodb/tableItem:TableItem": dynamodb_table_item,
    "aws:cloudwatch/metricAlarm:MetricAlarm": metric_alarm,
    "aws:rds/eventSubscription:EventSubscription": db_event_subscription,
    "aws:cloudwatch/eventRule:EventRule": event_rule,
    "aws:cloudwatch/eventTarget:EventTarget": event_target,
    "aws:sns/topic:Topic": sns_topic,
    "aws:sns/topicSubscription:TopicSubscription": sns_subscription,
    "aws:sns/topicPolicy:TopicPolicy": sns_topic_policy,
}
