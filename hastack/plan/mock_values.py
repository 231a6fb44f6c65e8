"""Realistic values the offline plan's mocks return for AWS resources and invokes.

The offline plan is only useful if every output resolves to something shaped like what AWS
returns (a subnet id that looks like `subnet-…`, an ALB ARN whose suffix CloudWatch dimensions can
use, an RDS endpoint), so that the rest of the program — and the policy pack and DR command that
read the plan — see the same shapes as after a real `pulumi up`.  Values are derived from a hash
of the resource's type and name, so two renders of the same config produce the same plan.

Per-type extras live in `RESOURCE_EXTRAS`; add an entry when a component starts using a type
whose outputs matter (a type without an entry still gets `id`, `arn` and its inputs echoed back).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

ACCOUNT_ID = "123456789012"

#: AZ names per region as AWS reports them (a subset is enough; `azCount` picks the first ones).
REGION_AZS: dict[str, list[str]] = {
    "us-east-1": ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"],
    "us-east-2": ["us-east-2a", "us-east-2b", "us-east-2c"],
    "us-west-2": ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"],
    "eu-west-1": ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
    "eu-central-1": ["eu-central-1a", "eu-central-1b", "eu-central-1c"],
}

#: Route 53 hosted-zone ids of ALBs per region (what `zoneId` of an ALB returns).
ALB_ZONE_IDS = {
    "us-east-1": "Z35SXDOTRQ7X7K",
    "us-east-2": "Z3AADJGX6KTTL2",
    "us-west-2": "Z1H1FL5HABSF5",
    "eu-west-1": "Z32O12XQLNTSW2",
    "eu-central-1": "Z215JYRZR1TBD5",
}


def digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def azs_for(region: str) -> list[str]:
    return REGION_AZS.get(region, [f"{region}{s}" for s in "abc"])


# ---------------------------------------------------------------------------------------------
# Resources
# ---------------------------------------------------------------------------------------------

#: Short id prefixes AWS uses, per Pulumi type.
ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc-",
    "aws:ec2/route:Route": "r-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt-",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr-",
}


def _arn(service: str, region: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{resource}"


def _physical_name(inputs: dict[str, Any], name: str, key: str = "name") -> str:
    """The name Pulumi's auto-naming would give (`<logical>-<7 hex>`) unless one is set."""
    given = inputs.get(key)
    return given if isinstance(given, str) and given else f"{name}-{digest(name, length=7)}"


def _vpc(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    return {"arn": _arn("ec2", region, f"vpc/{rid}"), "defaultSecurityGroupId": "sg-" + digest(rid),
            "mainRouteTableId": "rtb-" + digest(rid)}


def _subnet(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    return {"arn": _arn("ec2", region, f"subnet/{rid}"),
            "availabilityZoneId": f"{region[:3]}{region.split('-')[-1]}-az"
                                  f"{'abcdef'.index(str(inputs.get('availabilityZone', 'a'))[-1]) + 1}"}


_FAKE_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1PQ0sKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="


def _eks_cluster(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    cluster = _physical_name(inputs, name)
    host = digest(cluster, length=32).upper()
    return {
        "name": cluster,
        "arn": _arn("eks", region, f"cluster/{cluster}"),
        "endpoint": f"https://{host}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": _FAKE_CA},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{host}"}]}],
        "status": "ACTIVE",
        "platformVersion": "eks.10",
        "clusterId": digest(cluster, length=36),
    }


def _node_group(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    ng = _physical_name(inputs, name, "nodeGroupName")
    cluster = inputs.get("clusterName", "cluster")
    return {
        "nodeGroupName": ng,
        "arn": _arn("eks", region, f"nodegroup/{cluster}/{ng}/{digest(ng, length=8)}"),
        "status": "ACTIVE",
        "resources": [{"autoscalingGroups": [{"name": f"eks-{ng}-{digest(ng, length=8)}"}]}],
    }


def _iam_role(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    role = _physical_name(inputs, name)
    return {"name": role, "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{role}", "uniqueId": "AROA" + digest(role).upper()}


def _kms_key(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    return {"keyId": rid, "arn": _arn("kms", region, f"key/{rid}")}


def _launch_template(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    return {"name": _physical_name(inputs, name), "latestVersion": 1, "defaultVersion": 1,
            "arn": _arn("ec2", region, f"launch-template/{rid}")}


def _security_group(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    return {"name": _physical_name(inputs, name), "arn": _arn("ec2", region, f"security-group/{rid}")}


def _log_group(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    group = _physical_name(inputs, name)
    return {"name": group, "arn": _arn("logs", region, f"log-group:{group}")}


def _role_policy(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    return {"name": _physical_name(inputs, name)}


#: type -> function(name, region, inputs, id) returning the outputs AWS adds to the inputs.
RESOURCE_EXTRAS: dict[str, Callable[[str, str, dict[str, Any], str], dict[str, Any]]] = {
    "aws:ec2/vpc:Vpc": _vpc,
    "aws:ec2/subnet:Subnet": _subnet,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:iam/role:Role": _iam_role,
    "aws:kms/key:Key": _kms_key,
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:ec2/securityGroup:SecurityGroup": _security_group,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
}


# Paging and alarms (components/observability.py): SNS topics and CloudWatch alarms are addressed by
# ARN and name, exactly as AWS returns them.


def _sns_topic(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    topic = _physical_name(inputs, name)
    return {"name": topic, "arn": _arn("sns", region, topic), "owner": ACCOUNT_ID}


def _sns_subscription(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    topic = str(inputs.get("topic") or _arn("sns", region, "topic"))
    h = digest("subscription", name, length=32)
    return {"arn": f"{topic}:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}", "ownerId": ACCOUNT_ID,
            "pendingConfirmation": inputs.get("protocol") == "email"}


def _metric_alarm(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    alarm = _physical_name(inputs, name)
    return {"name": alarm, "arn": _arn("cloudwatch", region, f"alarm:{alarm}")}


def _composite_alarm(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    alarm = _physical_name(inputs, name, "alarmName")
    return {"alarmName": alarm, "arn": _arn("cloudwatch", region, f"alarm:{alarm}")}


def _rds_event_subscription(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    sub = _physical_name(inputs, name)
    return {"name": sub, "arn": _arn("rds", region, f"es:{sub}"), "customerAwsId": ACCOUNT_ID}


def _event_rule(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    rule = _physical_name(inputs, name)
    return {"name": rule, "arn": _arn("events", region, f"rule/{rule}")}


RESOURCE_EXTRAS.update({
    "aws:sns/topic:Topic": _sns_topic,
    "aws:sns/topicSubscription:TopicSubscription": _sns_subscription,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": _composite_alarm,
    "aws:rds/eventSubscription:EventSubscription": _rds_event_subscription,
    "aws:cloudwatch/eventRule:EventRule": _event_rule,
})


# Data and traffic tiers (components/database.py, cache.py, ingress.py, dns.py, traffic.py, coordination.py): the ids,
# ARNs and endpoints the DR command and the policy pack read, shaped as AWS returns them.

#: Route 53 ids that are UUIDs (health checks) rather than `<name>-<hash>`.
UUID_ID_TYPES = ("aws:route53/healthCheck:HealthCheck",)


def _uuid(*parts: str) -> str:
    h = digest(*parts, length=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _region_code(region: str) -> str:
    """`us-east-1` -> `use1`, the short form ElastiCache endpoints carry."""
    geo, area, number = region.split("-")
    return f"{geo}{area[0]}{number}"


def _rds_instance(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    ident = _physical_name(inputs, name, "identifier")
    address = f"{ident}.c{digest('rds', region, length=12)}.{region}.rds.amazonaws.com"
    out: dict[str, Any] = {
        "identifier": ident, "address": address, "endpoint": f"{address}:{int(inputs.get('port', 5432))}",
        "port": int(inputs.get("port", 5432)), "arn": _arn("rds", region, f"db:{ident}"), "resourceId": rid,
        "hostedZoneId": "Z2R2ITUGPM61AM", "status": "available", "masterUserSecrets": [],
    }
    if inputs.get("manageMasterUserPassword"):
        out["masterUserSecrets"] = [{
            "secretArn": _arn("secretsmanager", region, f"secret:rds!db-{_uuid('rds-secret', ident)}-"
                                                        f"{digest('suffix', ident, length=6)}"),
            "kmsKeyId": inputs.get("masterUserSecretKmsKeyId", ""), "secretStatus": "active"}]
    if inputs.get("replicateSourceDb"):
        out["replicaMode"] = ""
    return out


def _rds_proxy(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    proxy = _physical_name(inputs, name)
    return {"name": proxy, "arn": _arn("rds", region, f"db-proxy:prx-{digest('proxy', proxy)}"),
            "endpoint": f"{proxy}.proxy-c{digest('rds', region, length=12)}.{region}.rds.amazonaws.com"}


def _named(key: str = "name") -> Callable[[str, str, dict[str, Any], str], dict[str, Any]]:
    def extra(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
        return {key: _physical_name(inputs, name, key).lower()}
    return extra


def _replication_group(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    group = _physical_name(inputs, name, "replicationGroupId")
    host = f"{group}.{digest('cache', group, length=6)}.{_region_code(region)}.cache.amazonaws.com"
    count = int(inputs.get("numCacheClusters") or 1)
    return {"replicationGroupId": group, "arn": _arn("elasticache", region, f"replicationgroup:{group}"),
            "primaryEndpointAddress": f"master.{host}", "readerEndpointAddress": f"replica.{host}",
            "memberClusters": [f"{group}-{i + 1:03d}" for i in range(count)], "clusterEnabled": False,
            "engine": inputs.get("engine", "valkey")}


def _global_replication_group(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    gid = f"ldgnf-{inputs.get('globalReplicationGroupIdSuffix') or name}"
    return {"globalReplicationGroupId": gid, "arn": f"arn:aws:elasticache::{ACCOUNT_ID}:globalreplicationgroup:{gid}",
            "clusterEnabled": False}


def _load_balancer(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    lb = _physical_name(inputs, name)
    suffix = f"app/{lb}/{digest('alb', region, lb, length=16)}"
    digits = int(digest("dns", region, lb, length=8), 16) % 10**10
    return {"name": lb, "arn": _arn("elasticloadbalancing", region, f"loadbalancer/{suffix}"), "arnSuffix": suffix,
            "dnsName": f"{lb}-{digits}.{region}.elb.amazonaws.com",
            "zoneId": ALB_ZONE_IDS.get(region, "Z" + digest("albzone", region, length=13).upper())}


def _target_group(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    tg = _physical_name(inputs, name)
    suffix = f"targetgroup/{tg}/{digest('tg', region, tg, length=16)}"
    return {"name": tg, "arn": _arn("elasticloadbalancing", region, suffix), "arnSuffix": suffix}


def _lb_child(kind: str, parent_key: str) -> Callable[[str, str, dict[str, Any], str], dict[str, Any]]:
    """Listener (`listener/app/NAME/HEX/ID`) or rule (`listener-rule/app/NAME/HEX/LID/RID`) ARNs."""
    def extra(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
        parent = str(inputs.get(parent_key) or "")
        tail = parent.split(":", 5)[-1].split("/", 1)[-1] if "/" in parent else f"app/{name}/{digest(name)}"
        return {"arn": _arn("elasticloadbalancing", region, f"{kind}/{tail}/{digest(kind, name, length=16)}")}
    return extra


def _health_check(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    return {"arn": f"arn:aws:route53:::healthcheck/{rid}"}


def _record(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    return {"fqdn": inputs.get("name", name)}


def _dynamodb_table(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    table = _physical_name(inputs, name)
    return {"name": table, "arn": _arn("dynamodb", region, f"table/{table}")}


#: Regions of an ARC cluster's five data-plane endpoints, as AWS lists them for a new cluster.
ARC_ENDPOINT_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "ap-southeast-2")


def _arc_arn(resource: str) -> str:
    return f"arn:aws:route53-recovery-control::{ACCOUNT_ID}:{resource}"


def _arc_cluster(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    h = digest("arc", name, length=8)
    return {"arn": _arc_arn(f"cluster/{rid}"), "status": "DEPLOYED",
            "clusterEndpoints": [{"region": r, "endpoint": f"https://{h}.route53-recovery-cluster.{r}.amazonaws.com/v1"}
                                 for r in ARC_ENDPOINT_REGIONS]}


def _arc_control_panel(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    return {"arn": _arc_arn(f"controlpanel/{rid}"), "status": "DEPLOYED", "defaultControlPanel": False,
            "routingControlCount": 2}


def _arc_routing_control(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    panel = str(inputs.get("controlPanelArn") or _arc_arn("controlpanel/panel"))
    return {"arn": f"{panel}/routingcontrol/{rid}", "status": "DEPLOYED"}


def _secret(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    secret = _physical_name(inputs, name)
    return {"name": secret, "arn": _arn("secretsmanager", region, f"secret:{secret}-{digest('sm', secret, length=6)}")}


def _random_password(name: str, region: str, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    """A deterministic stand-in value; the program must only ever handle it as a secret."""
    length = int(inputs.get("length") or 32)
    value = (digest("random-password", name, length=64) * (length // 64 + 1))[:length]
    return {"result": value, "bcryptHash": "$2a$10$" + digest("bcrypt", name, length=53)}


RESOURCE_EXTRAS.update({
    "aws:rds/instance:Instance": _rds_instance,
    "aws:rds/proxy:Proxy": _rds_proxy,
    "aws:rds/subnetGroup:SubnetGroup": _named(),
    "aws:rds/parameterGroup:ParameterGroup": _named(),
    "aws:elasticache/subnetGroup:SubnetGroup": _named(),
    "aws:elasticache/replicationGroup:ReplicationGroup": _replication_group,
    "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup": _global_replication_group,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:lb/listener:Listener": _lb_child("listener", "loadBalancerArn"),
    "aws:lb/listenerRule:ListenerRule": _lb_child("listener-rule", "listenerArn"),
    "aws:route53/healthCheck:HealthCheck": _health_check,
    "aws:route53/record:Record": _record,
    "aws:dynamodb/table:Table": _dynamodb_table,
    "aws:route53recoverycontrol/cluster:Cluster": _arc_cluster,
    "aws:route53recoverycontrol/controlPanel:ControlPanel": _arc_control_panel,
    "aws:route53recoverycontrol/routingControl:RoutingControl": _arc_routing_control,
    "aws:secretsmanager/secret:Secret": _secret,
    "random:index/randomPassword:RandomPassword": _random_password,
})


def resource_id(typ: str, name: str) -> str:
    if typ in ID_PREFIX:
        return ID_PREFIX[typ] + digest(typ, name)
    if typ == "aws:kms/key:Key" or typ in UUID_ID_TYPES:
        h = digest(typ, name, length=32)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
    if typ == "aws:rds/instance:Instance":  # the DbiResourceId
        return "db-" + digest(typ, name, length=26).upper()
    return f"{name}-{digest(typ, name, length=8)}"


def resource_outputs(typ: str, name: str, region: str | None, inputs: dict[str, Any], rid: str) -> dict[str, Any]:
    """Inputs echoed back (as the engine does) plus what AWS computes for this type."""
    outputs = dict(inputs)
    if typ.startswith("aws:") and region:
        service = typ.split(":")[1].split("/")[0]
        outputs.setdefault("arn", _arn(service, region, f"{typ.rsplit(':', 1)[-1].lower()}/{rid}"))
        extra = RESOURCE_EXTRAS.get(typ)
        if extra is not None:
            outputs.update(extra(name, region, inputs, rid))
        outputs.setdefault("tagsAll", inputs.get("tags", {}))
    elif not typ.startswith("aws:") and typ in RESOURCE_EXTRAS:  # e.g. random: no region, no ARN
        outputs.update(RESOURCE_EXTRAS[typ](name, "", inputs, rid))
    return outputs


# ---------------------------------------------------------------------------------------------
# Invokes
# ---------------------------------------------------------------------------------------------


def invoke_result(token: str, args: dict[str, Any], region: str) -> dict[str, Any]:
    """What an AWS data source returns, or KeyError for an invoke the plan does not model."""
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        names = azs_for(region)
        return {"names": names, "zoneIds": [f"{region}-az{i + 1}" for i in range(len(names))],
                "id": region, "groupNames": [region], "state": "available"}
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/deployer",
                "id": ACCOUNT_ID, "userId": "AIDA" + digest("deployer").upper()}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}
    if token == "aws:index/getRegion:getRegion":
        return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}
    if token == "aws:route53/getZone:getZone":
        zone = str(args.get("name", "example.com")).rstrip(".")
        return {"zoneId": "Z" + digest("zone", zone, length=20).upper(), "name": zone,
                "id": "Z" + digest("zone", zone, length=20).upper(), "privateZone": False,
                "nameServers": [f"ns-{i}.awsdns-0{i}.net" for i in range(1, 5)]}
    raise KeyError(token)
