"""A Pulumi mock runtime backed by moto: the real program, deployed into a local AWS.

`MotoMocks` plugs into the same offline plan engine as `make plan` (`hastack.plan.render(...,
mocks=...)`), so the program, config and recording are identical; only the answers differ. Each
AWS resource the engine registers is created in moto through boto3 from the engine's inputs
(`hastack.local.aws_resources`), in the engine's dependency order, and the ids, ARNs and endpoints
moto returns become the resource's outputs. Invokes (AZs, caller identity, the hosted-zone lookup)
are answered by moto too.

What moto cannot model falls back to the offline plan's values and is listed with the reason
(`fallbacks`); a resource moto refused is an error (`failures`), reported all at once after the
run — a partial local world must not pass for a deployed one.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import boto3
import pulumi
from botocore.config import Config

from hastack.local import aws_resources
from hastack.plan.render import PlanMocks

#: Why a type (or type prefix) is not created in moto. Anything else without a handler gets the
#: generic reason; `docs/local.md` repeats this table.
UNMODELLED: dict[str, str] = {
    "kubernetes:": "no Kubernetes API server in the local AWS: the object is kept as a manifest "
                   "(build/manifests/<region>/)",
    "random:": "not an AWS resource: the pulumi-random provider computes it itself (offline value)",
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": "moto 5.2.5 does not route PutCompositeAlarm (its "
                                                    "describe_alarms would show none); not on the DR path",
    "aws:route53recoverycontrol/": "moto has no Route 53 ARC (trafficControl: arc is rendered and unit-tested; "
                                   "the local world runs the cloudwatch-alarm switches)",
    "aws:eks/addon:Addon": "moto's EKS has no add-on API (CreateAddon); the Pod Identity agent is not on the DR path",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": "moto's EKS has no pod-identity API; the pods' AWS "
                                                             "role is not on the DR path",
}
GENERIC_REASON = "no moto handler for this type in hastack/local/aws_resources.py (offline value used)"

#: Credentials moto accepts; never real ones, and never sent anywhere but 127.0.0.1.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def unmodelled_reason(typ: str) -> str:
    for prefix, reason in UNMODELLED.items():
        if typ.startswith(prefix):
            return reason
    return GENERIC_REASON


class AwsClients:
    """boto3 clients for the local AWS, one per (service, region), built once and shared by threads."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._session = boto3.session.Session(**LOCAL_CREDENTIALS)
        self._cache: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, service: str, region: str) -> Any:
        key = (service, region)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._session.client(
                    service, region_name=region, endpoint_url=self.endpoint,
                    config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5,
                                  read_timeout=30, max_pool_connections=32))
            return self._cache[key]


@dataclass(frozen=True)
class Fallback:
    """A resource or invoke answered with offline values, and why."""

    type: str
    name: str
    region: str | None
    reason: str


@dataclass(frozen=True)
class Failure:
    """A resource moto refused (an error of the local deploy)."""

    type: str
    name: str
    region: str | None
    error: str


def _default_tags(inputs: dict[str, Any]) -> dict[str, str]:
    value = inputs.get("defaultTags")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    if isinstance(value, dict):
        tags = value.get("tags") or {}
        return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {}
    return {}


_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def unwrap_secrets(value: Any) -> Any:
    """Inputs with Pulumi's secret envelopes opened: AWS gets the value (the plan still shows "[secret]")."""
    if isinstance(value, dict):
        if value.get(_SIG) == _SECRET_SIG:
            return unwrap_secrets(value.get("value"))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


class MotoMocks(PlanMocks):
    """Answers the program's resources and invokes from moto (see the module docstring)."""

    def __init__(self, default_region: str, clients: AwsClients) -> None:
        super().__init__(default_region)
        self.clients = clients
        self.provider_tags: dict[str, dict[str, str]] = {}
        self.created: list[tuple[str, str, str, str]] = []  # (type, name, region, id)
        self.fallbacks: list[Fallback] = []
        self.failures: list[Failure] = []
        self._lock = threading.Lock()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        typ = args.typ
        if typ == "pulumi:providers:aws":
            pid, outputs = super().new_resource(args)
            self.provider_tags[str(pid)] = _default_tags(args.inputs)
            return pid, outputs
        if typ.startswith("pulumi:providers:"):
            return super().new_resource(args)
        handler = aws_resources.HANDLERS.get(typ)
        region = self.region_of(args.provider) if typ.startswith("aws:") else None
        if handler is None:
            if not args.custom:  # a component: nothing to create anywhere
                return super().new_resource(args)
            with self._lock:
                self.fallbacks.append(Fallback(typ, args.name, region, unmodelled_reason(typ)))
            return super().new_resource(args)
        assert region is not None
        pid = (args.provider or "").split("::")[-1]
        tags = {**self.provider_tags.get(pid, {}), **(unwrap_secrets(args.inputs.get("tags")) or {})}
        ctx = aws_resources.Ctx(self.clients, region, args.name, unwrap_secrets(args.inputs), tags)
        try:
            rid, computed = handler(ctx)
        except Exception as exc:  # noqa: BLE001 - every refusal is collected and reported together
            with self._lock:
                self.failures.append(Failure(typ, args.name, region, f"{type(exc).__name__}: {exc}"))
            return super().new_resource(args)
        with self._lock:
            self.created.append((typ, args.name, region, rid))
        outputs = {**args.inputs, **{k: v for k, v in computed.items() if v is not None}, "tagsAll": tags}
        return rid, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
        region = self.region_of(args.provider)
        answer = self._invoke(args.token, args.args, region)
        if answer is not None:
            return answer, []
        with self._lock:
            self.fallbacks.append(Fallback(args.token, "(invoke)", region,
                                           "computed by the provider, not an AWS API call (offline value)"))
        return super().call(args)

    def _invoke(self, token: str, inputs: dict[str, Any], region: str) -> dict[str, Any] | None:
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            filters = [{"Name": "state", "Values": [inputs["state"]]}] if inputs.get("state") else []
            zones = self.clients.get("ec2", region).describe_availability_zones(Filters=filters)["AvailabilityZones"]
            return {"names": [z["ZoneName"] for z in zones], "zoneIds": [z["ZoneId"] for z in zones],
                    "groupNames": sorted({z.get("GroupName", region) for z in zones}), "id": region,
                    "state": inputs.get("state")}
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            who = self.clients.get("sts", region).get_caller_identity()
            return {"accountId": who["Account"], "arn": who["Arn"], "userId": who["UserId"], "id": who["Account"]}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}
        if token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com",
                    "description": region}
        if token == "aws:route53/getZone:getZone":
            return self._get_zone(inputs)
        if token == "aws:secretsmanager/getRandomPassword:getRandomPassword":
            params = {"PasswordLength": int(inputs.get("passwordLength", 32))}
            for key, param in (("excludePunctuation", "ExcludePunctuation"), ("excludeCharacters", "ExcludeCharacters"),
                               ("includeSpace", "IncludeSpace")):
                if inputs.get(key) is not None:
                    params[param] = inputs[key]
            password = self.clients.get("secretsmanager", region).get_random_password(**params)["RandomPassword"]
            return {**inputs, "randomPassword": password, "id": "random"}
        return None

    def _get_zone(self, inputs: dict[str, Any]) -> dict[str, Any]:
        r53 = self.clients.get("route53", "us-east-1")
        if inputs.get("zoneId"):
            zone = r53.get_hosted_zone(Id=inputs["zoneId"])["HostedZone"]
        else:
            wanted = str(inputs.get("name", "")).rstrip(".") + "."
            zones = [z for z in r53.list_hosted_zones_by_name(DNSName=wanted)["HostedZones"] if z["Name"] == wanted]
            private = bool(inputs.get("privateZone"))
            zones = [z for z in zones if bool(z.get("Config", {}).get("PrivateZone")) == private]
            if not zones:
                raise pulumi.RunError(f"no matching Route 53 hosted zone found for {wanted!r} in the local AWS "
                                      "(hastack local up creates the zone named by hastack:dns.zoneName)")
            zone = zones[0]
        zid = zone["Id"].split("/")[-1]
        full = r53.get_hosted_zone(Id=zid)
        return {"zoneId": zid, "id": zid, "name": zone["Name"].rstrip("."),
                "nameServers": full.get("DelegationSet", {}).get("NameServers", []),
                "privateZone": bool(zone.get("Config", {}).get("PrivateZone")),
                "resourceRecordSetCount": zone.get("ResourceRecordSetCount", 0),
                "arn": f"arn:aws:route53:::hostedzone/{zid}", "callerReference": zone.get("CallerReference")}
