"""The pack's durability rules through the real pack process: RDS final snapshot and backups kept on
delete, Performance Insights and enhanced monitoring, cache snapshots, the Global Datastore's
automatic failover, the DR lock table's PITR / deletion protection / encryption, KMS rotation.

Rows: one setting of the rendered prod plan changed (inputs and outputs together) and the exact
messages the rule reports on that resource; rows without messages must pass.
"""

from __future__ import annotations

import pytest

from tests.policy_helpers import DELETE, Scenario, ScenarioRunner, assert_scenario, scenario, sets

SCENARIOS: list[Scenario] = [
    # rds-final-snapshot
    scenario("skip-final-snapshot", "rds-final-snapshot", sets("db-primary", "skipFinalSnapshot", True),
             on="db-primary",
             expect=["Instance 'db-primary' has skipFinalSnapshot=True: deleting or replacing it (a `pulumi destroy`, "
              "a change that forces replacement) drops the data without a snapshot. Set skipFinalSnapshot=False"
              " and a finalSnapshotIdentifier."]),
    scenario("no-final-snapshot-name", "rds-final-snapshot", sets("db-primary", "finalSnapshotIdentifier", DELETE),
             on="db-primary",
             expect=["Instance 'db-primary' keeps a final snapshot (skipFinalSnapshot=False) but names none: the "
              "deletion then fails halfway instead of taking it. Set finalSnapshotIdentifier."]),
    scenario("backups-deleted-with-instance", "rds-final-snapshot",
             sets("db-primary", "deleteAutomatedBackups", True), on="db-primary",
             expect=["Instance 'db-primary' has deleteAutomatedBackups=True: deleting the instance also deletes its "
              "automated backups, and the point-in-time recovery window with them. Set "
              "deleteAutomatedBackups=False."]),
    scenario("replica-without-final-snapshot", "rds-final-snapshot", sets("db-dr", "skipFinalSnapshot", True),
             on="db-dr"),
    # rds-monitoring
    scenario("no-performance-insights", "rds-monitoring", sets("db-primary", "performanceInsightsEnabled", False),
             on="db-primary",
             expect=["Instance 'db-primary' has performanceInsightsEnabled=False: after a failover nobody can see "
              "which queries stalled. Set performanceInsightsEnabled=True (with performanceInsightsKmsKeyId)."]),
    scenario("no-enhanced-monitoring", "rds-monitoring", sets("db-dr", "monitoringInterval", 0), on="db-dr",
             expect=["Instance 'db-dr' has monitoringInterval=0 (enhanced monitoring off): the OS-level view of a "
              "failover's I/O stall is missing. Set monitoringInterval (e.g. 15) and monitoringRoleArn."]),
    scenario("monitoring-without-role", "rds-monitoring", sets("db-primary", "monitoringRoleArn", DELETE),
             on="db-primary",
             expect=["Instance 'db-primary' has monitoringInterval=15 but no monitoringRoleArn: RDS can't publish the "
              "metrics. Set monitoringRoleArn to a role with AmazonRDSEnhancedMonitoringRole."]),
    scenario("monitoring-every-60s", "rds-monitoring", sets("db-dr", "monitoringInterval", 60), on="db-dr"),
    # elasticache-snapshots
    scenario("no-cache-snapshots", "elasticache-snapshots", sets("cache-primary", "snapshotRetentionLimit", 0),
             on="cache-primary",
             expect=["ReplicationGroup 'cache-primary' keeps automatic snapshots for 0 day(s); at least 1 are required"
              " so a corrupted or flushed cache can be restored. Set snapshotRetentionLimit >= 1."]),
    scenario("no-cache-final-snapshot", "elasticache-snapshots",
             sets("cache-primary", "finalSnapshotIdentifier", DELETE), on="cache-primary",
             expect=["ReplicationGroup 'cache-primary' names no finalSnapshotIdentifier: deleting or replacing it "
              "drops the data without a snapshot. Set finalSnapshotIdentifier."]),
    scenario("secondary-without-snapshots", "elasticache-snapshots", sets("cache-dr", "snapshotRetentionLimit", 0),
             on="cache-dr"),
    # global-datastore-automatic-failover
    scenario("global-failover-off", "global-datastore-automatic-failover",
             sets("cache-global", "automaticFailoverEnabled", False), on="cache-global",
             expect=["GlobalReplicationGroup 'cache-global' has automaticFailoverEnabled=False: a member whose primary"
              " node fails waits for an operator instead of promoting its replica in seconds. Set "
              "automaticFailoverEnabled=True."]),
    scenario("global-failover-inherited", "global-datastore-automatic-failover",
             sets("cache-global", "automaticFailoverEnabled", DELETE), on="cache-global"),
    # dynamodb-table-durability
    scenario("lock-table-no-pitr", "dynamodb-table-durability",
             sets("coordination-table", "pointInTimeRecovery.enabled", False), on="coordination-table",
             expect=["Table 'coordination-table' has no point-in-time recovery: a bad write (or a wrong delete) can't "
              "be rolled back. Set pointInTimeRecovery={enabled: True}."]),
    scenario("lock-table-unprotected", "dynamodb-table-durability",
             sets("coordination-table", "deletionProtectionEnabled", False), on="coordination-table",
             expect=["Table 'coordination-table' has deletionProtectionEnabled=False: one mistaken `pulumi destroy` "
              "deletes it. Set deletionProtectionEnabled=True."]),
    scenario("lock-table-aws-owned-key", "dynamodb-table-durability",
             sets("coordination-table", "serverSideEncryption", DELETE), on="coordination-table",
             expect=["Table 'coordination-table' is encrypted with an AWS-owned key only (serverSideEncryption."
                     "enabled is not True): nobody can audit or revoke access to its data. Set "
                     "serverSideEncryption={enabled: True} (and kmsKeyArn for a customer key)."]),
    scenario("replica-without-pitr", "dynamodb-table-durability",
             sets("coordination-table", "replicas.0.pointInTimeRecovery", False), on="coordination-table",
             expect=["Table 'coordination-table' has no point-in-time recovery on replicas[0] (us-east-1): after a "
              "failover to that region its writes can't be rolled back. Set pointInTimeRecovery=True on every "
              "replica."]),
    scenario("lock-table-customer-key", "dynamodb-table-durability",
             sets("coordination-table", "serverSideEncryption",
                  {"enabled": True, "kmsKeyArn": "arn:aws:kms:us-west-2:123456789012:key/lock"}),
             on="coordination-table"),
    # kms-key-rotation
    scenario("key-rotation-off", "kms-key-rotation", sets("db-primary-kms", "enableKeyRotation", False),
             on="db-primary-kms",
             expect=["Key 'db-primary-kms' has enableKeyRotation=False: its key material never changes, so one leaked "
              "data key stays useful for ever. Set enableKeyRotation=True."]),
    scenario("signing-key-cannot-rotate", "kms-key-rotation",
             sets("cache-dr-kms", "enableKeyRotation", False), sets("cache-dr-kms", "customerMasterKeySpec",
                                                                     "ECC_NIST_P256"),
             sets("cache-dr-kms", "keyUsage", "SIGN_VERIFY"), on="cache-dr-kms"),
]


@pytest.mark.parametrize("case", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_durability_rule(scenario_runner: ScenarioRunner, case: Scenario) -> None:
    assert_scenario(scenario_runner, case)
