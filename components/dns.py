"""DNS: Route 53 failover between the two regions' load balancers, gated by the traffic switches.

Records: one name (`dns.recordName`) with two failover alias records — PRIMARY to the primary
region's ALB, SECONDARY to the DR region's ALB. Route 53 answers PRIMARY while its health check is
healthy, else SECONDARY while its check is healthy, else PRIMARY (its documented last resort when
every record is unhealthy).

Health checks:

* per region, an HTTPS check on the ALB's DNS name and the first service's readiness path, every
  10 s from several checker regions, unhealthy after 3 failures (~30 s) — it sees what a client
  sees: the load balancer, the target group and a ready pod behind it;
* the **primary gate**: CALCULATED [primary ALB check, primary-switch] with threshold 2 (all
  children) — it guards PRIMARY: healthy only while the primary answers and is not fenced;
* the **secondary gate**: CALCULATED [DR ALB check, dr-ready], threshold 2 — it guards SECONDARY:
  healthy only once the DR region answers *and* the DR command declared it ready.

The switches (`primary-switch`, `dr-ready`) are built by components/traffic.py and flipped by the DR
command through the DR region's data plane. What a regional outage does with this: the primary ALB
check fails, PRIMARY turns unhealthy; the pilot-light DR ALB may turn healthy by itself, but dr-ready
is not, so SECONDARY is unhealthy too and Route 53 keeps answering PRIMARY: **traffic stays on the
failed primary until the DR command declares the DR region ready.** Then SECONDARY is healthy and is
answered. Failback turns primary-switch healthy again: PRIMARY is preferred once its ALB answers.

The program holds no switch state: a failed-over render (activeRegion = drRegion) declares exactly
what a pilot-light render does here, so the reconciling `pulumi up` changes nothing in Route 53.

Route 53 is a global service: everything here goes through the primary region's provider (its
control plane is served from us-east-1 whatever the provider's region), and its data plane keeps
answering and health-checking during a regional outage.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from components.arguments import ArgProblem, require_valid
from hastack.topology import ROLES, Topology

if TYPE_CHECKING:
    from components.region import Region

#: Route 53 health checks for an HTTPS endpoint: fast interval, unhealthy after 3 failures.
REQUEST_INTERVAL = 10
FAILURE_THRESHOLD = 3
#: Route 53 checker regions (at least 3 are required); one per continent-ish, spread out so one
#: region's network trouble cannot fail the check alone.
CHECKER_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1")
RECORD_TYPE = "A"


@dataclass(frozen=True)
class DnsTarget:
    """One region's load balancer as DNS sees it."""

    region: str
    alb_dns_name: pulumi.Input[str]
    alb_zone_id: pulumi.Input[str]
    #: Readiness path of the first service (the ALB's default action serves it).
    health_path: str


@dataclass
class FailoverDnsArgs:
    """Inputs of `FailoverDns`."""

    zone_name: str
    record_name: str
    primary: DnsTarget
    dr: DnsTarget
    #: The primary region's provider (Route 53 is global; one provider for all of it).
    provider: aws.Provider
    #: Which region is which (the targets must match it). Not which one is active: see the module docstring.
    topology: Topology
    #: The traffic switches' health checks (components/traffic.py): primary-switch and dr-ready.
    primary_switch_id: pulumi.Input[str]
    dr_ready_id: pulumi.Input[str]
    #: Resolvers the DR command verifies a cutover through (hastack:dr.dnsResolvers; exported only).
    resolvers: Sequence[str] = ()
    checker_regions: Sequence[str] = CHECKER_REGIONS

    def __post_init__(self) -> None:
        require_valid("FailoverDnsArgs", self.problems())

    def problems(self) -> Iterator[ArgProblem]:
        if len(set(self.checker_regions)) < 3:
            yield ArgProblem("checker_regions", list(self.checker_regions),
                             "at least 3 distinct regions (Route 53 needs 3 checker regions)")
        if not (self.record_name == self.zone_name or self.record_name.endswith("." + self.zone_name)):
            yield ArgProblem("record_name", self.record_name, f"a name inside zone {self.zone_name!r}")
        for role, target in zip(ROLES, (self.primary, self.dr), strict=True):
            if target.region != self.topology.region_of(role):
                yield ArgProblem(f"{role}.region", target.region,
                                 f"the topology's {role} region ({self.topology.region_of(role)})")
            if not target.health_path.startswith("/"):
                yield ArgProblem(f"{role}.health_path", target.health_path, "an absolute HTTP path")


class FailoverDns(pulumi.ComponentResource):
    """Per-region ALB health checks, the primary and secondary gates and the two failover alias records."""

    health_checks: dict[str, aws.route53.HealthCheck]
    gate: aws.route53.HealthCheck
    secondary_gate: aws.route53.HealthCheck

    def __init__(self, name: str, args: FailoverDnsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:dns:FailoverDns", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        zone = aws.route53.get_zone(name=args.zone_name, private_zone=False,
                                    opts=pulumi.InvokeOptions(parent=self, provider=args.provider))
        self.zone_id = zone.zone_id

        self.health_checks = {}
        for role, target in (("primary", args.primary), ("dr", args.dr)):
            self.health_checks[target.region] = aws.route53.HealthCheck(
                f"{name}-{role}-alb-check",
                type="HTTPS",
                fqdn=target.alb_dns_name,
                port=443,
                resource_path=target.health_path,
                # The ALB presents the record's certificate; SNI lets it pick it (Route 53 does not
                # validate certificates, it needs the TLS handshake and a 2xx/3xx answer).
                enable_sni=True,
                request_interval=REQUEST_INTERVAL,
                failure_threshold=FAILURE_THRESHOLD,
                regions=list(args.checker_regions),
                measure_latency=True,
                tags={"Name": f"{args.record_name} {role} ALB ({target.region})"},
                opts=child,
            )

        self.gate = self._gate(name, args, "primary-gate",
                               [self.health_checks[args.primary.region].id, args.primary_switch_id],
                               "primary ALB healthy AND not fenced", child)
        self.secondary_gate = self._gate(name, args, "secondary-gate",
                                         [self.health_checks[args.dr.region].id, args.dr_ready_id],
                                         "DR ALB healthy AND DR declared ready", child)

        self.primary_record = self._record(name, args, "PRIMARY", args.primary, self.gate, child)
        self.secondary_record = self._record(name, args, "SECONDARY", args.dr, self.secondary_gate, child)

        self.outputs = {
            "hostedZoneId": self.zone_id,
            "recordName": args.record_name,
            "healthCheckIds": {region: check.id for region, check in self.health_checks.items()},
            "resolvers": list(args.resolvers),
        }
        self.register_outputs({**self.outputs, "primaryGateHealthCheckId": self.gate.id,
                               "secondaryGateHealthCheckId": self.secondary_gate.id})

    @staticmethod
    def _gate(name: str, args: FailoverDnsArgs, role: str, children: list[pulumi.Input[str]], meaning: str,
              child: pulumi.ResourceOptions) -> aws.route53.HealthCheck:
        """A CALCULATED check healthy only while every child is (threshold = number of children)."""
        return aws.route53.HealthCheck(
            f"{name}-{role}",
            type="CALCULATED",
            child_healthchecks=children,
            child_health_threshold=len(children),
            tags={"Name": f"{args.record_name} {role.replace('-', ' ')} ({meaning})"},
            opts=child,
        )

    def _record(self, name: str, args: FailoverDnsArgs, failover: str, target: DnsTarget,
                check: aws.route53.HealthCheck, child: pulumi.ResourceOptions) -> aws.route53.Record:
        return aws.route53.Record(
            f"{name}-{failover.lower()}",
            zone_id=self.zone_id,
            name=args.record_name,
            type=RECORD_TYPE,
            set_identifier=f"{failover.lower()}-{target.region}",
            failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type=failover)],
            health_check_id=check.id,
            aliases=[aws.route53.RecordAliasArgs(name=target.alb_dns_name, zone_id=target.alb_zone_id,
                                                 evaluate_target_health=True)],
            opts=child,
        )


def dns_target(region: Region) -> DnsTarget:
    """The `DnsTarget` of a `components.region.Region`: its ALB and its first service's readiness path."""
    alb = region.ingress.load_balancer
    return DnsTarget(region=region.region, alb_dns_name=alb.dns_name, alb_zone_id=alb.zone_id,
                     health_path=region.workload.services[0].health_path)
