"""The heartbeat writer (hastack/heartbeat.py) against real PostgreSQL and moto's RDS + Secrets Manager.

What could break: writing on a replica (or failing there instead of standing by), not writing on a
promoted replica, a second beat not advancing the row, a beat not reaching the replica (then the lag
it is meant to keep honest stays dishonest), a rotated password never re-read, the loop dying on one
failure, the probes' file never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from moto import mock_aws

from components.heartbeat import HeartbeatArgs
from hastack import heartbeat
from hastack.heartbeat import DbLogin, Heartbeat, NotAWriterError, alive_age, rds_login
from hastack.local.dataplane import DataPlane
from hastack.local.dataplane.postgres_server import DATABASE, SUPERUSER
from hastack.paths import REPO_ROOT
from hastack.plan.render import Plan
from tests.arg_helpers import invalid_arguments
from tests.dataplane_helpers import eventually, plane_config
from tests.tier_helpers import one


@pytest.fixture(scope="module")
def plane() -> Iterator[DataPlane]:
    data_plane = DataPlane(plane_config("heartbeat"))
    data_plane.start()
    yield data_plane
    data_plane.stop()


def login_to(plane: DataPlane, region: str) -> heartbeat.Login:
    def login(fresh: bool = False) -> DbLogin:
        endpoint = plane.endpoint("postgres", region, client_region=region)
        return DbLogin(host=endpoint.host, port=endpoint.port, user=SUPERUSER, password="", dbname=DATABASE)
    return login


def row(plane: DataPlane, region: str) -> tuple[int, str] | None:
    endpoint = plane.direct("postgres", region)
    with psycopg.connect(host=endpoint.host, port=endpoint.port, user=SUPERUSER, dbname=DATABASE,
                         connect_timeout=3) as conn:
        if not conn.execute("SELECT to_regclass(%s)", (heartbeat.TABLE,)).fetchone()[0]:
            return None
        found = conn.execute(f"SELECT seq, writer FROM {heartbeat.TABLE} WHERE id = 1").fetchone()  # type: ignore[arg-type]
    return None if found is None else (int(found[0]), str(found[1]))


def test_writes_only_where_the_database_is_not_in_recovery_and_reaches_the_replica(plane: DataPlane) -> None:
    primary, dr = plane.regions
    writer, standby = Heartbeat(login_to(plane, primary), primary), Heartbeat(login_to(plane, dr), dr)
    try:
        first = writer.beat()
        assert first.startswith(f"{primary}: heartbeat ") and first.endswith(" written")
        second = writer.beat()
        seq = int(second.split()[2])
        assert seq == int(first.split()[2]) + 1, (first, second)
        assert standby.beat() == f"{dr}: the database is in recovery (a replica): not writing"
        assert row(plane, primary) == (seq, primary)
        # The beat replicates: what makes the DR replica's lag a measure of data.
        eventually(lambda: row(plane, dr) == (seq, primary), timeout=15)

        # After the promotion the DR region's writer beats, and the old primary's is not consulted.
        plane.promote("postgres", dr)
        eventually(lambda: standby.beat().endswith(" written"), timeout=15)
        assert row(plane, dr)[1] == dr  # type: ignore[index]
    finally:
        writer.close()
        standby.close()


def test_the_loop_beats_every_interval_survives_failures_and_touches_the_probe_file(tmp_path: Path) -> None:
    calls: list[bool] = []
    outcomes: list[Any] = [RuntimeError("database unreachable"), NotAWriterError("a replica"), "written"]

    class Scripted(Heartbeat):
        def beat(self) -> str:
            calls.append(True)
            outcome = outcomes[min(len(calls) - 1, len(outcomes) - 1)]
            if isinstance(outcome, Exception):
                raise outcome
            return str(outcome)

    stop = threading.Event()
    alive = tmp_path / "alive"
    assert alive_age(alive) is None
    beat = Scripted(lambda fresh: DbLogin("h", 1, "u", "p"), "us-east-1")
    thread = threading.Thread(target=beat.run, args=(0.05, stop, alive), kwargs={"backoff": 0.2})
    thread.start()
    eventually(lambda: len(calls) >= 4, timeout=5)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive(), "stop must end the loop within one interval"
    age = alive_age(alive)
    assert age is not None and age < 5


def test_a_failed_password_reads_the_secret_again() -> None:
    fresh: list[bool] = []

    def login(refresh: bool = False) -> DbLogin:
        fresh.append(refresh)
        return DbLogin("127.0.0.1", 1, "hastack", "old" if len(fresh) == 1 else "new")

    def connect(**kwargs: Any) -> Any:
        if kwargs["password"] == "old":
            raise psycopg.OperationalError('FATAL:  password authentication failed for user "hastack"')
        raise psycopg.OperationalError("connection refused")

    beat = Heartbeat(login, "us-east-1", connect=connect)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        beat.beat()
    with pytest.raises(psycopg.OperationalError, match="connection refused"):
        beat.beat()
    assert fresh == [False, True]


def test_rds_login_reads_the_instances_endpoint_and_master_secret_and_refuses_a_replica() -> None:
    with mock_aws():
        rds = boto3.client("rds", region_name="us-east-1")
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        db = rds.create_db_instance(DBInstanceIdentifier="hastack-prod-db", Engine="postgres",
                                    DBInstanceClass="db.r6g.large", AllocatedStorage=20, MasterUsername="hastack",
                                    ManageMasterUserPassword=True, DBName="hastack")["DBInstance"]
        rds.create_db_instance_read_replica(DBInstanceIdentifier="hastack-prod-db-dr",
                                            SourceDBInstanceIdentifier="hastack-prod-db")
        arn = db["MasterUserSecret"]["SecretArn"]
        secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": "hastack", "password": "one"}))
        login = rds_login(rds, secrets, "hastack-prod-db")
        got = login(False)
        assert (got.host, got.port, got.user, got.password, got.dbname) == (
            db["Endpoint"]["Address"], 5432, "hastack", "one", "hastack")
        secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": "hastack", "password": "two"}))
        assert login(False).password == "one", "cached until a login fails"
        assert login(True).password == "two", "re-read after a failed login (rotation)"
        with pytest.raises(NotAWriterError, match="hastack-prod-db-dr is a read replica of hastack-prod-db"):
            rds_login(rds, secrets, "hastack-prod-db-dr")(False)


def test_check_command_reads_the_probe_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alive = tmp_path / "alive"
    monkeypatch.setattr(heartbeat, "ALIVE_FILE", alive)
    assert heartbeat.main(["check", "--max-age", "30"]) == 1, "no pass yet: not alive"
    alive.touch()
    assert heartbeat.main(["check", "--max-age", "30"]) == 0
    assert heartbeat.main(["check", "--max-age", "-1"]) == 1


# ------------------------------------------------------------------------------- in the plan

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"


@pytest.mark.parametrize(("role", "region"), [("primary", "us-east-1"), ("dr", "us-west-2")])
def test_each_region_runs_one_heartbeat_pod_per_az_on_its_own_database(prod_plan: Plan, role: str,
                                                                       region: str) -> None:
    d = one(prod_plan, DEPLOYMENT, f"{role}-heartbeat-deployment")
    spec = d["inputs"]["spec"]
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    instance = one(prod_plan, "aws:rds/instance:Instance", f"db-{role}")
    assert d["homeRegion"] == region and spec["replicas"] == 3
    assert {e["name"]: e["value"] for e in container["env"]} == {
        "AWS_REGION": region, "HASTACK_DB_INSTANCE": instance["inputs"]["identifier"], "HASTACK_HEARTBEAT_SECONDS": "5"}
    assert container["command"] == ["python", "-m", "hastack.heartbeat", "run"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"][-3:] == ["check", "--max-age", "90"], probe
    assert pod["serviceAccountName"] == "heartbeat" and pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    zone = [c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"]
    assert zone and zone[0]["whenUnsatisfiable"] == "DoNotSchedule"
    pdb = one(prod_plan, "kubernetes:policy/v1:PodDisruptionBudget", f"{role}-heartbeat-pdb")
    assert pdb["inputs"]["spec"]["minAvailable"] == 2
    # Pilot-light DR: no nodes yet, so `pulumi up` must not wait for these pods.
    skip = (d["inputs"]["metadata"].get("annotations") or {}).get("pulumi.com/skipAwait")
    assert skip == ("true" if role == "dr" else None)


@pytest.mark.parametrize("role", ["primary", "dr"])
def test_heartbeat_role_reads_only_its_instance_and_its_rds_managed_secret(prod_plan: Plan, role: str) -> None:
    instance = one(prod_plan, "aws:rds/instance:Instance", f"db-{role}")
    region = instance["region"]
    key = one(prod_plan, "aws:kms/key:Key", f"db-{role}-kms")
    policy = json.loads(one(prod_plan, ROLE_POLICY, f"{role}-heartbeat-policy")["inputs"]["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["FindTheInstance"]["Resource"] == instance["outputs"]["arn"]
    secret = statements["ReadItsMasterSecret"]
    assert secret["Action"] == "secretsmanager:GetSecretValue"
    assert secret["Resource"] == f"arn:aws:secretsmanager:{region}:123456789012:secret:rds!db-*"
    assert secret["Condition"] == {"StringEquals": {
        "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn": instance["outputs"]["arn"]}}
    kms = statements["DecryptItThroughSecretsManager"]
    assert kms["Resource"] == key["outputs"]["arn"]
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}
    assert all(s["Effect"] == "Allow" and "*" not in str(s["Action"]) for s in policy["Statement"])
    association = one(prod_plan, POD_IDENTITY, f"{role}-heartbeat-pod-identity")["inputs"]
    assert (association["namespace"], association["serviceAccount"]) == ("hastack", "heartbeat")
    role_resource = one(prod_plan, "aws:iam/role:Role", f"{role}-heartbeat-role")
    assert association["roleArn"] == role_resource["outputs"]["arn"]
    trust = json.loads(role_resource["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}


def test_heartbeat_output(prod_plan: Plan) -> None:
    assert prod_plan.outputs["heartbeat"] == {
        "writer": "kubernetes-deployment", "namespace": "hastack", "deploymentName": "heartbeat",
        "regions": ["us-east-1", "us-west-2"], "table": heartbeat.TABLE,
        "intervalSeconds": prod_plan.outputs["drTimeouts"]["heartbeatSeconds"]}


def test_args_report_every_bad_argument_at_once() -> None:
    base: dict[str, Any] = {"region": "us-east-1", "namespace": "hastack", "cluster_name": "c",
                            "db_instance_identifier": "db", "db_instance_arn": "arn", "db_kms_key_arn": "key",
                            "kubernetes_version": "1.31", "await_rollout": True}
    HeartbeatArgs(image="registry/heartbeat:1.0", interval_seconds=5, replicas=3, **base)
    assert invalid_arguments(lambda: HeartbeatArgs(image="registry/heartbeat:latest", interval_seconds=0,
                                                   replicas=1, **base)) == [
        ("replicas", "1 is invalid: at least 2 (one per AZ: an AZ loss must not stop the beat)"),
        ("interval_seconds", "0 is invalid: between 1 and 60 seconds"),
        ("image", "'registry/heartbeat:latest' is invalid: a pinned image reference (tag or digest, not 'latest')")]


def test_the_image_holds_everything_the_program_needs_with_the_tested_pins(tmp_path: Path) -> None:
    """images/heartbeat/Dockerfile copies two files and pins boto3 and psycopg as requirements.txt does."""
    dockerfile = (REPO_ROOT / "images" / "heartbeat" / "Dockerfile").read_text()
    pins = dict(re.findall(r"([a-z0-9]+(?:\[binary\])?)==([0-9.]+)", dockerfile))
    required = dict(re.findall(r"^([a-z0-9]+(?:\[binary\])?)==([0-9.]+)$", (REPO_ROOT / "requirements.txt").read_text(),
                               flags=re.M))
    assert pins == {name: required[name] for name in ("boto3", "psycopg[binary]")}
    copied = re.search(r"^COPY (.+) /app/hastack/$", dockerfile, flags=re.M)
    assert copied is not None
    app = tmp_path / "app" / "hastack"
    app.mkdir(parents=True)
    for name in copied.group(1).split():
        shutil.copy(REPO_ROOT / name, app)
    done = subprocess.run([sys.executable, "-m", "hastack.heartbeat", "check", "--max-age", "1"], cwd=app.parent,
                          capture_output=True, text=True, timeout=60, env={"PATH": os.environ["PATH"]}, check=False)
    assert done.returncode in (0, 1) and "Error" not in done.stderr, done.stderr
    assert "hastack.heartbeat" in subprocess.run(
        [sys.executable, "-m", "hastack.heartbeat", "--help"], cwd=app.parent, capture_output=True, text=True,
        timeout=60, env={"PATH": os.environ["PATH"]}, check=False).stdout
