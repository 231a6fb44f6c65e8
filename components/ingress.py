"""Ingress: one internet-facing Application Load Balancer per region, in front of the cluster's nodes.

The ALB spans the public subnets of all three AZs (cross-zone on), so losing an AZ removes one of
its nodes, not the entry point. HTTPS only: port 80 answers with a permanent redirect, the HTTPS
listener uses a TLS 1.3/1.2 policy and the certificate from config, invalid headers are dropped
(request-smuggling defence), deletion protection is on, and ARC zonal shift is enabled so an impaired
AZ can be shifted away from in one call.

Why instance targets on the services' NodePorts (not IP targets through the AWS Load Balancer
Controller's TargetGroupBinding): the target groups, their health checks and their registrations
are then ordinary AWS resources owned by this program. Nothing extra has to run inside the cluster
for traffic to flow — in particular not on the failover path, where the DR cluster has just scaled
from zero nodes: its new instances join the node-group Auto Scaling groups, which are attached to
the target groups, so they are registered by EC2 Auto Scaling itself, before any pod or controller
is up. kube-proxy (`externalTrafficPolicy: Cluster`) forwards from any node to a ready pod, and the
target health check on the readiness path takes a node out as soon as it cannot serve.

Routing: the first service is the default action (so `https://<record>/<its readiness path>` — what
Route 53 health-checks — reaches it); every service also answers under `/<name>/...` on the
record's host name, with the prefix stripped before it reaches the pod.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.arguments import ArgProblem, require_valid
from components.placement import bounded_name, name_prefix_problems
from components.workload import NODE_PORT_BASE, NODE_PORT_MAX
from hastack.topology import ROLES, Role

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
#: Target health check: a node leaves after 3 failures 10 s apart (~30 s), returns after 2 successes.
HEALTH_CHECK_INTERVAL = 10
HEALTH_CHECK_TIMEOUT = 5
HEALTHY_THRESHOLD = 2
UNHEALTHY_THRESHOLD = 3
HEALTH_CHECK_MATCHER = "200"
#: Seconds a deregistering node keeps its in-flight requests (the pods' preStop sleep is 15 s).
DEREGISTRATION_DELAY = 30
IDLE_TIMEOUT = 60
ALB_NAME_LIMIT = 32
INTERNET_V4, INTERNET_V6 = "0.0.0.0/0", "::/0"


@dataclass(frozen=True)
class IngressService:
    """One service as the load balancer routes to it."""

    name: str
    #: The fixed NodePort the service listens on, on every node.
    node_port: int
    #: The readiness path (target health check, and Route 53's check for the first service).
    health_path: str


@dataclass
class IngressArgs:
    """Inputs of `Ingress`."""

    #: "primary" or "dr" (the role the region was built for; part of the ALB's name).
    role: Role
    vpc_id: pulumi.Input[str]
    public_subnet_ids: Sequence[pulumi.Input[str]]
    certificate_arn: str
    #: The public host name (dns.recordName) the listener rules match.
    host_name: str
    services: Sequence[IngressService]
    #: The worker nodes' security group: the ALB may reach it on the NodePorts, nothing else may.
    node_security_group_id: pulumi.Input[str]
    #: The Auto Scaling groups of the per-AZ node groups (every one is attached to every target group).
    autoscaling_group_names: Sequence[pulumi.Input[str]]
    #: Prefix of physical names, e.g. "hastack-prod".
    name_prefix: str
    #: S3 bucket for access logs (None: no access logs).
    access_logs_bucket: str | None = None

    def __post_init__(self) -> None:
        require_valid("IngressArgs", self.problems())

    def problems(self) -> Iterator[ArgProblem]:
        if self.role not in ROLES:
            yield ArgProblem("role", self.role, f"one of {', '.join(ROLES)}")
        if len(self.public_subnet_ids) < 2:
            yield ArgProblem("public_subnet_ids", list(self.public_subnet_ids),
                             "subnets in at least two AZs (an ALB needs two; give it one per AZ)")
        if not self.services:
            yield ArgProblem("services", list(self.services), "at least one service (the default action)")
        if not self.autoscaling_group_names:
            yield ArgProblem("autoscaling_group_names", list(self.autoscaling_group_names),
                             "the node groups' Auto Scaling groups (the targets attach to them)")
        yield from name_prefix_problems(self.name_prefix)
        names: set[str] = set()
        ports: set[int] = set()
        for i, svc in enumerate(self.services):
            if svc.name in names:
                yield ArgProblem(f"services[{i}].name", svc.name, "a name no other service has (one target group each)")
            if svc.node_port in ports:
                yield ArgProblem(f"services[{i}].node_port", svc.node_port, "a node port no other service has")
            if not NODE_PORT_BASE <= svc.node_port <= NODE_PORT_MAX:
                yield ArgProblem(f"services[{i}].node_port", svc.node_port,
                                 f"a Kubernetes node port, {NODE_PORT_BASE}-{NODE_PORT_MAX}")
            if not svc.health_path.startswith("/"):
                yield ArgProblem(f"services[{i}].health_path", svc.health_path, "an absolute HTTP path")
            names.add(svc.name)
            ports.add(svc.node_port)


def listener_priority(index: int) -> int:
    """Listener-rule priority of the `index`-th service: spaced so a rule can be slotted in between."""
    return 100 + 10 * index


class Ingress(pulumi.ComponentResource):
    """ALB, its listeners and security group, one target group per service, ASG attachments, rules."""

    load_balancer: aws.lb.LoadBalancer
    target_groups: dict[str, aws.lb.TargetGroup]

    def __init__(self, name: str, args: IngressArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:ingress:Ingress", name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        alb_sg = self._security_groups(child)
        access_logs = (aws.lb.LoadBalancerAccessLogsArgs(bucket=args.access_logs_bucket, enabled=True,
                                                         prefix=f"{args.name_prefix}-{args.role}")
                       if args.access_logs_bucket else None)
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=bounded_name(args.name_prefix, args.role, limit=ALB_NAME_LIMIT),
            internal=False,
            load_balancer_type="application",
            ip_address_type="ipv4",
            security_groups=[alb_sg.id],
            subnets=list(args.public_subnet_ids),
            enable_cross_zone_load_balancing=True,
            # ARC zonal shift integration (off by default on ALBs): lets the on-call evacuate an
            # impaired AZ with one `start-zonal-shift` (runbooks/az-loss.md), cross-zone on or off.
            enable_zonal_shift=True,
            enable_deletion_protection=True,
            drop_invalid_header_fields=True,
            enable_http2=True,
            idle_timeout=IDLE_TIMEOUT,
            desync_mitigation_mode="defensive",
            access_logs=access_logs,
            tags={"Name": f"{args.name_prefix}-{args.role}"},
            opts=child,
        )
        self.target_groups = {svc.name: self._target_group(svc, child) for svc in args.services}

        aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=self.load_balancer.arn,
            port=80,
            protocol="HTTP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(
                type="redirect",
                redirect=aws.lb.ListenerDefaultActionRedirectArgs(protocol="HTTPS", port="443",
                                                                  status_code="HTTP_301"),
            )],
            opts=child,
        )
        first = args.services[0].name
        self.https_listener = aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=self.load_balancer.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=args.certificate_arn,
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward",
                                                              target_group_arn=self.target_groups[first].arn)],
            opts=child,
        )
        for index, svc in enumerate(args.services):
            self._listener_rule(index, svc, child)

        self.outputs = {
            "albArn": self.load_balancer.arn,
            "albDnsName": self.load_balancer.dns_name,
            "albZoneId": self.load_balancer.zone_id,
            "targetGroupArns": {svc: tg.arn for svc, tg in self.target_groups.items()},
        }
        self.register_outputs({**self.outputs, "albArnSuffix": self.load_balancer.arn_suffix})

    def _security_groups(self, child: pulumi.ResourceOptions) -> aws.ec2.SecurityGroup:
        """The ALB's SG (80/443 from anywhere, out only to the nodes' NodePorts) and the node-side rules."""
        args, name = self._args, self._name
        alb_sg = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            vpc_id=args.vpc_id,
            description="Internet-facing ALB: HTTP/HTTPS from anywhere, to the nodes' service ports only",
            tags={"Name": f"{args.name_prefix}-{args.role}-alb"},
            opts=child,
        )
        for port in (80, 443):
            for label, cidr in (("v4", INTERNET_V4), ("v6", INTERNET_V6)):
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-alb-{port}-{label}",
                    security_group_id=alb_sg.id,
                    ip_protocol="tcp", from_port=port, to_port=port,
                    cidr_ipv4=cidr if label == "v4" else None,
                    cidr_ipv6=cidr if label == "v6" else None,
                    description=f"{'HTTPS' if port == 443 else 'HTTP (redirected to HTTPS)'} from the internet",
                    opts=child,
                )
        for svc in args.services:
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-alb-to-{svc.name}",
                security_group_id=alb_sg.id,
                referenced_security_group_id=args.node_security_group_id,
                ip_protocol="tcp", from_port=svc.node_port, to_port=svc.node_port,
                description=f"{svc.name} NodePort on the worker nodes (traffic and health checks)",
                opts=child,
            )
            # The node side: only the ALB, only this service's NodePort.
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-nodes-from-alb-{svc.name}",
                security_group_id=args.node_security_group_id,
                referenced_security_group_id=alb_sg.id,
                ip_protocol="tcp", from_port=svc.node_port, to_port=svc.node_port,
                description=f"{svc.name} NodePort from the {args.role} ALB",
                opts=child,
            )
        return alb_sg

    def _target_group(self, svc: IngressService, child: pulumi.ResourceOptions) -> aws.lb.TargetGroup:
        """Instance targets on the service's NodePort, health-checked on its readiness path."""
        args = self._args
        group = aws.lb.TargetGroup(
            f"{self._name}-{svc.name}",
            name=bounded_name(args.name_prefix, args.role, svc.name, limit=ALB_NAME_LIMIT),
            target_type="instance",
            port=svc.node_port,
            protocol="HTTP",
            protocol_version="HTTP1",
            vpc_id=args.vpc_id,
            deregistration_delay=DEREGISTRATION_DELAY,
            load_balancing_cross_zone_enabled="true",
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTP",
                port="traffic-port",
                path=svc.health_path,
                interval=HEALTH_CHECK_INTERVAL,
                timeout=HEALTH_CHECK_TIMEOUT,
                healthy_threshold=HEALTHY_THRESHOLD,
                unhealthy_threshold=UNHEALTHY_THRESHOLD,
                matcher=HEALTH_CHECK_MATCHER,
            ),
            tags={"Name": f"{args.name_prefix}-{args.role}-{svc.name}", "hastack:service": svc.name},
            opts=child,
        )
        # Every node group's ASG registers its instances (any node can serve any service).
        for index, asg_name in enumerate(args.autoscaling_group_names):
            aws.autoscaling.Attachment(
                f"{self._name}-{svc.name}-asg-{index}",
                autoscaling_group_name=asg_name,
                lb_target_group_arn=group.arn,
                opts=child,
            )
        return group

    def _listener_rule(self, index: int, svc: IngressService, child: pulumi.ResourceOptions) -> None:
        """`https://<host>/<service>/...` -> the service, with `/<service>` stripped."""
        aws.lb.ListenerRule(
            f"{self._name}-{svc.name}-rule",
            listener_arn=self.https_listener.arn,
            priority=listener_priority(index),
            conditions=[
                aws.lb.ListenerRuleConditionArgs(
                    host_header=aws.lb.ListenerRuleConditionHostHeaderArgs(values=[self._args.host_name])),
                aws.lb.ListenerRuleConditionArgs(
                    path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=[f"/{svc.name}/*"])),
            ],
            actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=self.target_groups[svc.name].arn)],
            transforms=[aws.lb.ListenerRuleTransformArgs(
                type="url-rewrite",
                url_rewrite_config=aws.lb.ListenerRuleTransformUrlRewriteConfigArgs(
                    rewrite=aws.lb.ListenerRuleTransformUrlRewriteConfigRewriteArgs(
                        regex=f"^/{svc.name}/(.*)$", replace="/$1")),
            )],
            opts=child,
        )
