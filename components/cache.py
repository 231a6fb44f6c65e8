"""Cache tier: an ElastiCache (Valkey or Redis OSS) replication group per region, joined in a Global Datastore.

In the primary region: one node per AZ (the primary and a replica in each other AZ), Multi-AZ with
automatic failover, so losing the primary's AZ promotes a replica in seconds and the primary
endpoint follows it. In the DR region: a secondary replication group of the same shape, kept in
sync by the Global Datastore (asynchronous, typically sub-second lag) and promoted by `hastack dr`
(`FailoverGlobalReplicationGroup`).

Who is primary inside the Global Datastore is run-time state owned by the DR command, like the DNS
switch: the program creates the datastore from the primary region's group once and never moves the
primary role itself (see the `ignore_changes` on the datastore), so a `pulumi up` after a failover
converges instead of recreating the datastore.

Each group sends its events (automatic failover, node replacement) to its region's paging topic,
which is why that topic is created before this tier (`components/observability.paging_topics`).

Encryption at rest (a customer KMS key per region) and in transit (TLS required) are on, and
clients authenticate with an AUTH token that the stack generates: it exists only as a Pulumi secret
(encrypted in state, "[secret]" in any plan or preview) and in Secrets Manager, replicated to the DR
region so the DR clients can read it while the primary region is down. It is never in config.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.arguments import ArgProblem, require_valid
from components.placement import Site, bounded_name, name_prefix_problems, site_problems
from hastack.config import CacheConfig
from hastack.topology import Topology

PORT = 6379
SNAPSHOT_WINDOW = "05:00-06:00"
MAINTENANCE_WINDOW = "sun:06:30-sun:07:30"
#: AUTH tokens are 16-128 printable characters without '@', '"' or '/': alphanumerics only.
AUTH_TOKEN_LENGTH = 64
#: One node per AZ over at least three AZs: a primary and a replica in two other AZs.
MIN_PROD_NODES = 3


def auth_secret_name(name_prefix: str) -> str:
    """Secrets Manager name of the cache AUTH token (the same in both regions: the DR copy is a replica)."""
    return f"{name_prefix}/cache/auth-token"


@dataclass
class CacheTierArgs:
    """Inputs of `CacheTier`."""

    cache: CacheConfig
    primary: Site
    dr: Site
    #: Nodes per replication group: one per AZ.
    az_count: int
    #: Once it has failed over, the DR group is the Global Datastore's primary.
    topology: Topology
    #: Prefix of physical names (replication group ids, secret name), e.g. "hastack-prod".
    name_prefix: str
    #: Region -> the SNS topic each region's replication group sends its events to (automatic
    #: failovers, node replacements): the region's paging topic. A region missing here sends none.
    notification_topic_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_valid("CacheTierArgs", self.problems())

    def problems(self) -> Iterator[ArgProblem]:
        if self.az_count < MIN_PROD_NODES:
            yield ArgProblem("az_count", self.az_count, f"at least {MIN_PROD_NODES}: one node per AZ, a primary and "
                             "two replicas in other AZs")
        yield from site_problems(self.primary, self.dr, self.topology, min_azs=max(self.az_count, MIN_PROD_NODES))
        yield from name_prefix_problems(self.name_prefix)
        for region in self.notification_topic_arns:
            if region not in self.topology.regions:
                yield ArgProblem(f"notification_topic_arns.{region}", region,
                                 f"a key of the topology's regions ({', '.join(self.topology.regions)})")


@dataclass
class _SiteParts:
    site: Site
    group_id: str
    key: aws.kms.Key
    subnet_group: aws.elasticache.SubnetGroup
    security_group: aws.ec2.SecurityGroup


class CacheTier(pulumi.ComponentResource):
    """The regional replication groups, the Global Datastore joining them, and their AUTH token."""

    primary_group: aws.elasticache.ReplicationGroup
    dr_group: aws.elasticache.ReplicationGroup
    global_datastore: aws.elasticache.GlobalReplicationGroup
    auth_secret: aws.secretsmanager.Secret

    def __init__(self, name: str, args: CacheTierArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hastack:cache:CacheTier", name, None, opts)
        self._name, self._args = name, args
        primary, dr = self._site_parts(args.primary), self._site_parts(args.dr)
        self.auth_token = self._auth_token(primary, dr)

        self.primary_group = aws.elasticache.ReplicationGroup(
            f"{name}-primary",
            description=f"hastack cache, {args.primary.region} (created as Global Datastore primary)",
            engine=args.cache.engine,
            engine_version=args.cache.engine_version,
            node_type=args.cache.node_type,
            **self._group_common(primary),  # type: ignore[arg-type]
            opts=args.primary.opts(self),
        )
        self.global_datastore = aws.elasticache.GlobalReplicationGroup(
            f"{name}-global",
            global_replication_group_id_suffix=args.name_prefix,
            global_replication_group_description=f"{args.name_prefix}: {args.primary.region} <-> {args.dr.region}",
            primary_replication_group_id=self.primary_group.replication_group_id,
            automatic_failover_enabled=True,
            opts=args.primary.opts(
                self,
                # The primary member moves with `FailoverGlobalReplicationGroup` (hastack dr); the
                # attribute forces replacement, so a refresh after a failover must not be "fixed"
                # by deleting and recreating the datastore.
                ignore_changes=["primaryReplicationGroupId"],
            ),
        )
        # Engine, version and node type are inherited from the Global Datastore: a secondary may
        # not set them (the group would fail to join).
        self.dr_group = aws.elasticache.ReplicationGroup(
            f"{name}-dr",
            description=f"hastack cache, {args.dr.region} (Global Datastore secondary)",
            global_replication_group_id=self.global_datastore.global_replication_group_id,
            **self._group_common(dr),  # type: ignore[arg-type]
            opts=args.dr.opts(self),
        )

        # Which member is the Global Datastore's primary is run-time state (see the module docstring);
        # the program's view of it follows the topology's active region.
        groups, sites = {"primary": self.primary_group, "dr": self.dr_group}, {"primary": args.primary, "dr": args.dr}
        active, standby = args.topology.active_role, args.topology.standby_role
        self.writer_group, self.reader_group = groups[active], groups[standby]
        self.writer_site, self.reader_site = sites[active], sites[standby]
        # Stack outputs name members by the region they were built in (`primary` = primaryRegion's group,
        # `secondary` = drRegion's), never by current role: the DR command relies on the names not flipping.
        self.outputs = {
            "globalDatastoreId": self.global_datastore.global_replication_group_id,
            "primary": {"region": args.primary.region, "replicationGroupId": self.primary_group.replication_group_id},
            "secondary": {"region": args.dr.region, "replicationGroupId": self.dr_group.replication_group_id},
        }
        self.register_outputs({**self.outputs, "authSecretArn": self.auth_secret.arn,
                               "writerRegion": self.writer_site.region,
                               "writerEndpoint": self.writer_group.primary_endpoint_address})

    def _site_parts(self, site: Site) -> _SiteParts:
        name = f"{self._name}-{site.role}"
        group_id = bounded_name(self._args.name_prefix, site.region, limit=40)
        key = site.encryption_key(self, f"{name}-kms", f"ElastiCache at-rest encryption and AUTH secret of {group_id}")
        subnet_group = aws.elasticache.SubnetGroup(
            f"{name}-subnets",
            description=f"Private subnets of all {len(site.azs)} AZs ({', '.join(site.azs)})",
            subnet_ids=list(site.private_subnet_ids),
            opts=site.opts(self),
        )
        security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=site.vpc_id,
            description="ElastiCache: from the cluster nodes only",
            tags={"Name": f"{name}-cache"},
            opts=site.opts(self),
        )
        site.admit(self, f"{name}-sg-from-nodes", security_group.id, PORT, "Valkey/Redis (TLS) from the cluster nodes")
        return _SiteParts(site, group_id, key, subnet_group, security_group)

    def _auth_token(self, primary: _SiteParts, dr: _SiteParts) -> pulumi.Output[str]:
        """Generate the AUTH token and keep it in Secrets Manager (primary region, replicated to DR)."""
        token = random.RandomPassword(
            f"{self._name}-auth-token",
            length=AUTH_TOKEN_LENGTH,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # RandomPassword already marks `result` secret; saying it again here keeps it secret even if
        # the provider's schema changed.
        secret_token = pulumi.Output.secret(token.result)
        self.auth_secret = aws.secretsmanager.Secret(
            f"{self._name}-auth",
            name=auth_secret_name(self._args.name_prefix),
            description="AUTH token of the hastack ElastiCache Global Datastore (both regions)",
            kms_key_id=primary.key.arn,
            recovery_window_in_days=30,
            replicas=[aws.secretsmanager.SecretReplicaArgs(region=dr.site.region, kms_key_id=dr.key.arn)],
            opts=primary.site.opts(self),
        )
        aws.secretsmanager.SecretVersion(
            f"{self._name}-auth-value",
            secret_id=self.auth_secret.id,
            secret_string=secret_token,
            opts=primary.site.opts(self),
        )
        return secret_token

    def _group_common(self, parts: _SiteParts) -> dict[str, object]:
        """What both members share: one node per AZ, failover, encryption, AUTH, snapshots."""
        args = self._args
        return dict(
            replication_group_id=parts.group_id,
            num_cache_clusters=args.az_count,
            preferred_cache_cluster_azs=list(parts.site.azs[:args.az_count]),
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            at_rest_encryption_enabled=True,
            kms_key_id=parts.key.arn,
            transit_encryption_enabled=True,
            auth_token=self.auth_token,
            port=PORT,
            subnet_group_name=parts.subnet_group.name,
            security_group_ids=[parts.security_group.id],
            snapshot_retention_limit=args.cache.snapshot_retention_days,
            snapshot_window=SNAPSHOT_WINDOW,
            maintenance_window=MAINTENANCE_WINDOW,
            auto_minor_version_upgrade=True,
            final_snapshot_identifier=f"{parts.group_id}-final",
            # Automatic failovers ("Failover from primary node ... completed") page through the
            # region's topic; the API-started ones also come through EventBridge (observability).
            notification_topic_arn=args.notification_topic_arns.get(parts.site.region),
            tags={"Name": parts.group_id, "hastack:region-role": parts.site.role},
        )
