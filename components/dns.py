"""DNS: Route 53 failover between the two regions' load balancers, with a switch the DR command flips.

Records: one name (`dns.recordName`) with two failover alias records — PRIMARY to the primary
region's ALB, SECONDARY to the DR region's ALB. Route 53 answers PRIMARY while its health check is
healthy and SECONDARY otherwise (and PRIMARY again if both are unhealthy: a last resort).

Health checks:

* per region, an HTTPS check on the ALB's DNS name and the first service's readiness path, every
  10 s from several checker regions, unhealthy after 3 failures (~30 s) — it sees what a client
  sees: the load balancer, the target group and a ready pod behind it;
* the **switch**: a CALCULATED check with no children and `disabled=true`, which Route 53 always
  considers healthy — until `hastack dr` sets `Inverted=true` on it, which makes it unhealthy;
* the **primary gate**: a CALCULATED check whose children are [primary ALB check, switch] with
  threshold 2 — healthy only while both are. It guards the PRIMARY record. Flipping the switch
  therefore moves traffic to the DR region even while the primary's own check is still green
  (a partial outage, a bad deploy, a drill), and failback is `Inverted=false`.

Route 53 is a global service: everything here goes through the primary region's provider (its
control plane is served from us-east-1 whatever the provider's region), and its data plane keeps
answering and health-checking during a regional outage.

After a failover (activeRegion = drRegion: `Topology.failed_over`) the program declares the switch
*inverted*: that is the state the DR command left it in, so the reconciling `pulumi up` changes
nothing in Route 53 — no window in which DNS could swing back. Swapping the records instead
(PRIMARY -> DR ALB) would take two Route 53 changes (records and switch) with traffic briefly
pointed at the old region between them, whichever came first. Failing back is setting
activeRegion to the primary again.
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
    #: Once it has failed over, the switch is declared inverted (traffic on DR).
    topology: Topology
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
    """Per-region ALB health checks, the switch, the primary gate and the two failover alias records."""

    health_checks: dict[str, aws.route53.HealthCheck]
    switch: aws.route53.HealthCheck
    gate: aws.route53.HealthCheck

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

        self.switch = aws.route53.HealthCheck(
            f"{name}-switch",
            type="CALCULATED",
            child_health_threshold=0,
            child_healthchecks=[],
            # Disabled: always healthy. Inverted (by `hastack dr`, or here once failed over): unhealthy.
            disabled=True,
            invert_healthcheck=args.topology.failed_over,
            tags={"Name": f"{args.record_name} DR switch (inverted = traffic on DR)"},
            opts=child,
        )
        primary_check = self.health_checks[args.primary.region]
        self.gate = aws.route53.HealthCheck(
            f"{name}-primary-gate",
            type="CALCULATED",
            child_healthchecks=[primary_check.id, self.switch.id],
            child_health_threshold=2,
            tags={"Name": f"{args.record_name} primary gate (primary ALB healthy AND switch not flipped)"},
            opts=child,
        )

        self.primary_record = self._record(name, args, "PRIMARY", args.primary, self.gate, child)
        self.secondary_record = self._record(name, args, "SECONDARY", args.dr,
                                             self.health_checks[args.dr.region], child)

        self.outputs = {
            "hostedZoneId": self.zone_id,
            "recordName": args.record_name,
            "healthCheckIds": {region: check.id for region, check in self.health_checks.items()},
            "switchHealthCheckId": self.switch.id,
        }
        self.register_outputs({**self.outputs, "primaryGateHealthCheckId": self.gate.id})

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
