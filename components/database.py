"""Database tier: RDS for PostgreSQL, Multi-AZ in the writer region, a cross-region replica in the other.

Why RDS Multi-AZ rather than Patroni on the cluster: it is the managed equivalent — a synchronous
standby in another AZ, automatic promotion within a minute or two, one DNS endpoint that follows the
writer — without a consensus store, fencing agents or volume management to operate ourselves. RDS
Proxy sits in front so clients keep one endpoint, their connections are pooled, and a Multi-AZ
failover shows up as a short stall instead of a storm of broken connections.

Across regions the DR site holds an asynchronous cross-region read replica (the RPO budget is its
replication lag). `hastack dr` promotes it; afterwards the operator sets `activeRegion` to the DR
region (the topology has failed over: hastack/topology.py) and this component renders the DR
instance as the standalone, Multi-AZ writer (see
`DatabaseTier._old_writer_opts` for what happens to the old primary, which may be unreachable).

No password exists anywhere in config, code, plan or state: RDS generates the master password and
keeps it in Secrets Manager (`manage_master_user_password`), encrypted with our key; the proxy reads
that secret through its IAM role.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.arguments import ArgProblem, require_valid
from components.placement import Site, bounded_name, name_prefix_problems, site_problems
from hastack.config import DatabaseConfig
from hastack.topology import Topology

PORT = 5432
MASTER_USERNAME = "hastack_admin"
DATABASE_NAME = "hastack"
#: Enhanced monitoring granularity (seconds). 15 s shows a failover's I/O stall; 1 s costs more than it tells.
MONITORING_INTERVAL = 15
PERFORMANCE_INSIGHTS_RETENTION_DAYS = 7
BACKUP_WINDOW = "03:00-04:00"
MAINTENANCE_WINDOW = "sun:04:30-sun:05:30"
ENHANCED_MONITORING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"


@dataclass
class DatabaseTierArgs:
    """Inputs of `DatabaseTier`."""

    database: DatabaseConfig
    #: The region built as primary and the region built as DR.
    primary: Site
    dr: Site
    #: Once it has failed over, the DR instance has been promoted and is the writer.
    topology: Topology
    #: Prefix of physical names (identifiers, proxy names), e.g. "hastack-prod".
    name_prefix: str

    def __post_init__(self) -> None:
        require_valid("DatabaseTierArgs", self.problems())

    def problems(self) -> Iterator[ArgProblem]:
        """Bounds on the engine, classes and retention are the config's (`DatabaseConfig`); these are the tier's."""
        # A subnet group spans at least two AZs: Multi-AZ needs a standby AZ.
        yield from site_problems(self.primary, self.dr, self.topology, min_azs=2)
        yield from name_prefix_problems(self.name_prefix)


def parameter_group_family(engine_version: str) -> str:
    """`16.4` -> `postgres16` (PostgreSQL 10+ parameter groups are per major version)."""
    return f"postgres{engine_version.split('.')[0]}"


@dataclass
class _SiteParts:
    """What one region of the tier is made of (children shared by the writer and the replica shapes)."""

    site: Site
    identifier: str
    key: aws.kms.Key
    subnet_group: aws.rds.SubnetGroup
    db_security_group: aws.ec2.SecurityGroup
    proxy_security_group: aws.ec2.SecurityGroup
    parameter_group: aws.rds.ParameterGroup


class DatabaseTier(pulumi.ComponentResource):
    """The PostgreSQL writer (Multi-AZ, behind RDS Proxy) and its cross-region replica."""

    writer: aws.rds.Instance
    replica: aws.rds.Instance
    proxy: aws.rds.Proxy
    writer_site: Site
    replica_site: Site

    def __init__(self, name: str, args: DatabaseTierArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:database:DatabaseTier", name, None, opts)
        self._name = name
        self._args = args
        # IAM is global: one enhanced-monitoring role serves both regions.
        self.monitoring_role = aws.iam.Role(
            f"{name}-monitoring",
            assume_role_policy=_assume_role("monitoring.rds.amazonaws.com"),
            description="Lets RDS publish enhanced-monitoring metrics to CloudWatch Logs",
            opts=args.primary.opts(self),
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-monitoring-policy",
            role=self.monitoring_role.name,
            policy_arn=ENHANCED_MONITORING_POLICY,
            opts=args.primary.opts(self),
        )

        primary = self._site_parts(args.primary)
        dr = self._site_parts(args.dr)

        # The instance built in the primary region: the writer until a failover, and never
        # re-declared with other inputs afterwards (see _old_writer_opts).
        failed_over = args.topology.failed_over
        primary_instance = self._writer_instance(primary, extra=self._old_writer_opts() if failed_over else None)
        if failed_over:
            # Promoted by `hastack dr`: the same resource (same logical name, same identifier), now
            # declared as a standalone Multi-AZ writer. Dropping replicate_source_db on an existing
            # replica is an update that promotes it, which the DR command has already done, so
            # this converges instead of replacing.
            dr_instance = self._writer_instance(dr)
        else:
            dr_instance = self._replica_instance(dr, source_arn=primary_instance.arn)
        self.primary_instance, self.dr_instance = primary_instance, dr_instance
        instances, sites = {"primary": primary_instance, "dr": dr_instance}, {"primary": args.primary, "dr": args.dr}
        #: Each role's instance and the KMS key of its storage and RDS-managed master secret.
        self.instances: dict[str, aws.rds.Instance] = instances
        self.keys: dict[str, aws.kms.Key] = {"primary": primary.key, "dr": dr.key}
        self.writer, self.replica = instances[args.topology.active_role], instances[args.topology.standby_role]
        self.writer_site, self.replica_site = sites[args.topology.active_role], sites[args.topology.standby_role]

        # A proxy needs a writer and the writer's RDS-managed secret in its own region. The DR
        # replica has neither while pilot-light, so the DR proxy appears with the promotion; until
        # then clients in the DR region use the instance endpoint (its SG admits the nodes).
        primary_proxy = self._proxy(primary, primary_instance,
                                    extra=self._old_writer_opts() if failed_over else None)
        self.proxy = self._proxy(dr, dr_instance) if failed_over else primary_proxy

        # Stack outputs name members by the region they were *built* in, never by current role:
        # `primary` is always the primaryRegion instance, `replica` the drRegion one (promoted or not).
        # Which one takes writes is the topology's active region; the DR command relies on the names not flipping.
        self.outputs = {
            "primary": {
                "region": args.primary.region,
                "identifier": primary_instance.identifier,
                "arn": primary_instance.arn,
                "endpoint": primary_instance.address,
                "proxyEndpoint": primary_proxy.endpoint,
            },
            "replica": {
                "region": args.dr.region,
                "identifier": dr_instance.identifier,
                "arn": dr_instance.arn,
                "endpoint": dr_instance.address,
            },
            "prodInstanceClass": args.database.instance_class,
        }
        self.register_outputs({**self.outputs, "writerRegion": self.writer_site.region,
                               "writerProxyEndpoint": self.proxy.endpoint})

    # -- per-region parts -----------------------------------------------------------------------

    def _site_parts(self, site: Site) -> _SiteParts:
        name, args = f"{self._name}-{site.role}", self._args
        identifier = bounded_name(args.name_prefix, site.region, limit=63)
        key = site.encryption_key(self, f"{name}-kms",
                                  f"RDS storage, Performance Insights and master secret of {identifier}")
        subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            description=f"Private subnets of all {len(site.azs)} AZs ({', '.join(site.azs)})",
            subnet_ids=list(site.private_subnet_ids),
            opts=site.opts(self),
        )
        proxy_sg = aws.ec2.SecurityGroup(
            f"{name}-proxy-sg",
            vpc_id=site.vpc_id,
            description="RDS Proxy: PostgreSQL from the cluster nodes only",
            tags={"Name": f"{name}-proxy"},
            opts=site.opts(self),
        )
        db_sg = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=site.vpc_id,
            description="RDS PostgreSQL: from the cluster nodes and the RDS Proxy only",
            tags={"Name": f"{name}-db"},
            opts=site.opts(self),
        )
        # No CIDR anywhere: the database admits exactly the node SG (direct connections, e.g. in
        # the DR region before its proxy exists) and its proxy's SG.
        site.admit(self, f"{name}-sg-from-nodes", db_sg.id, PORT, "PostgreSQL from the cluster nodes")
        site.admit(self, f"{name}-sg-from-proxy", db_sg.id, PORT, "PostgreSQL from the RDS Proxy",
                   source_security_group_id=proxy_sg.id)
        site.admit(self, f"{name}-proxy-sg-from-nodes", proxy_sg.id, PORT, "PostgreSQL from the cluster nodes")
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-proxy-sg-to-db", security_group_id=proxy_sg.id, referenced_security_group_id=db_sg.id,
            ip_protocol="tcp", from_port=PORT, to_port=PORT, description="PostgreSQL to the database",
            opts=site.opts(self))
        parameter_group = aws.rds.ParameterGroup(
            f"{name}-params",
            family=parameter_group_family(args.database.engine_version),
            description="hastack PostgreSQL: TLS required for every connection",
            parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1",
                                                            apply_method="immediate")],
            opts=site.opts(self),
        )
        return _SiteParts(site, identifier, key, subnet_group, db_sg, proxy_sg, parameter_group)

    def _common(self, parts: _SiteParts) -> dict[str, object]:
        """Inputs every instance of the tier shares, whether writer or replica."""
        return dict(
            identifier=parts.identifier,
            storage_encrypted=True,
            kms_key_id=parts.key.arn,
            db_subnet_group_name=parts.subnet_group.name,
            vpc_security_group_ids=[parts.db_security_group.id],
            parameter_group_name=parts.parameter_group.name,
            publicly_accessible=False,
            port=PORT,
            deletion_protection=True,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{parts.identifier}-final",
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=parts.key.arn,
            performance_insights_retention_period=PERFORMANCE_INSIGHTS_RETENTION_DAYS,
            monitoring_interval=MONITORING_INTERVAL,
            monitoring_role_arn=self.monitoring_role.arn,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            storage_type="gp3",
            tags={"Name": parts.identifier, "hastack:region-role": parts.site.role},
        )

    def _writer_instance(self, parts: _SiteParts, extra: pulumi.ResourceOptions | None = None) -> aws.rds.Instance:
        db = self._args.database
        opts = parts.site.opts(self)
        return aws.rds.Instance(
            f"{self._name}-{parts.site.role}",
            engine="postgres",
            engine_version=db.engine_version,
            instance_class=db.instance_class,
            allocated_storage=db.allocated_storage_gb,
            max_allocated_storage=db.allocated_storage_gb * 4,
            multi_az=True,
            username=MASTER_USERNAME,
            db_name=DATABASE_NAME,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=parts.key.arn,
            iam_database_authentication_enabled=True,
            backup_retention_period=db.backup_retention_days,
            backup_window=BACKUP_WINDOW,
            maintenance_window=MAINTENANCE_WINDOW,
            delete_automated_backups=False,
            **self._common(parts),  # type: ignore[arg-type]
            opts=pulumi.ResourceOptions.merge(opts, extra) if extra else opts,
        )

    def _replica_instance(self, parts: _SiteParts, source_arn: pulumi.Input[str]) -> aws.rds.Instance:
        """The pilot-light cross-region replica: single-AZ and DR-sized until it is promoted.

        Single-AZ is a cost choice that is safe here: the replica is not serving, it is re-created
        from the writer if its AZ fails, and promotion turns it Multi-AZ (see `Topology.failed_over`).
        Engine, version, user and backups are inherited from the source and may not be set.
        """
        return aws.rds.Instance(
            f"{self._name}-{parts.site.role}",
            # Cross-region replicas name their source by ARN (an identifier is only valid in-region).
            replicate_source_db=source_arn,
            instance_class=self._args.database.dr_instance_class,
            multi_az=False,
            **self._common(parts),  # type: ignore[arg-type]
            opts=parts.site.opts(self),
        )

    def _old_writer_opts(self) -> pulumi.ResourceOptions:
        """Options of the old primary-region instance (and proxy) once the DR region took over.

        The old primary may be unreachable (that is why we failed over) and holds the only copy of
        any write the replica had not received (up to the RPO budget) — evidence and data to
        reconcile, never something a `pulumi up` may delete or rewrite. So it stays declared with
        exactly the inputs it had (no diff, hence no API call into a region that may be down) and is
        marked `protect` (an up/destroy that would delete it fails) and `retain_on_delete` (even
        removing it from the program only forgets it). Re-protecting the primary region — a new
        replica of the DR writer there — is the failback step, done once that region is healthy.
        """
        return pulumi.ResourceOptions(protect=True, retain_on_delete=True)

    def _proxy(self, parts: _SiteParts, instance: aws.rds.Instance,
               extra: pulumi.ResourceOptions | None = None) -> aws.rds.Proxy:
        """RDS Proxy in front of `instance`, authenticating with the RDS-managed master secret."""
        name, site = f"{self._name}-{parts.site.role}-proxy", parts.site
        opts = site.opts(self)
        if extra:
            opts = pulumi.ResourceOptions.merge(opts, extra)
        secret_arn = instance.master_user_secrets.apply(lambda s: s[0].secret_arn if s else None)
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=_assume_role("rds.amazonaws.com"),
            description=f"RDS Proxy of {parts.identifier}: read the RDS-managed master secret",
            opts=opts,
        )
        aws.iam.RolePolicy(
            f"{name}-secret",
            role=role.id,
            policy=pulumi.Output.all(secret_arn, parts.key.arn).apply(lambda a: json.dumps({
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [a[0]]},
                    {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [a[1]],
                     "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{site.region}.amazonaws.com"}}},
                ],
            })),
            opts=opts,
        )
        proxy = aws.rds.Proxy(
            name,
            name=bounded_name(parts.identifier, limit=60),
            engine_family="POSTGRESQL",
            require_tls=True,
            idle_client_timeout=1800,
            role_arn=role.arn,
            vpc_subnet_ids=list(site.private_subnet_ids),
            vpc_security_group_ids=[parts.proxy_security_group.id],
            auths=[aws.rds.ProxyAuthArgs(auth_scheme="SECRETS", secret_arn=secret_arn, iam_auth="DISABLED",
                                         client_password_auth_type="POSTGRES_SCRAM_SHA_256",
                                         description="RDS-managed master user secret")],
            tags={"Name": name},
            opts=opts,
        )
        target_group = aws.rds.ProxyDefaultTargetGroup(
            f"{name}-pool",
            db_proxy_name=proxy.name,
            connection_pool_config=aws.rds.ProxyDefaultTargetGroupConnectionPoolConfigArgs(
                max_connections_percent=90, max_idle_connections_percent=50, connection_borrow_timeout=120),
            opts=opts,
        )
        aws.rds.ProxyTarget(
            f"{name}-target",
            db_proxy_name=proxy.name,
            target_group_name=target_group.name,
            db_instance_identifier=instance.identifier,
            opts=opts,
        )
        return proxy


def _assume_role(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
