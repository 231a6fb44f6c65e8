"""The heartbeat writer: one row in the writer database every few seconds, so `ReplicaLag` tells the truth.

Why: RDS for PostgreSQL computes a replica's `ReplicaLag` from the last transaction it replayed.
On an idle primary nothing is replayed and the lag reads up to ~5 minutes with nothing missing;
the DR command's RPO gate and failback's catch-up evidence (issue 12) would then judge noise. A
small write every `heartbeatSeconds` keeps the lag a measure of data.

Where it runs: a Deployment in each region's cluster (components/heartbeat.py), the same image in
both. Each pod asks its region's database whether it is in recovery and writes only where it is not:
before a failover the primary region's writer beats and the DR region's pods stay idle (their
database is a replica); after the promotion the DR region's pods beat. The heartbeat needs no lease
(docs/lease-contract.md): it writes only its own row, no client data.

What it writes: `hastack_heartbeat (id int primary key, seq bigint, beat_at timestamptz, writer
text)`, one row (id 1) upserted: `seq` +1 per beat, `beat_at` the database's clock, `writer` the
pod's region. The table is created on the first beat (`CREATE TABLE IF NOT EXISTS`).

Credentials and bounds: the region's RDS-managed master secret (DescribeDBInstances names it and the
endpoint; GetSecretValue reads it) with the pod's own role (EKS Pod Identity); re-read when
authentication fails (the secret rotates). Every AWS call has connect and read timeouts and at most
two attempts; every connection a connect timeout and every statement a statement timeout; a beat
that fails is logged and the next one tries again.

Run as `python -m hastack.heartbeat run` (the container's command); `python -m hastack.heartbeat
check --max-age N` exits non-zero when the loop has not completed a pass for N seconds (the
container's probes).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TABLE = "hastack_heartbeat"
SCHEMA = (f"CREATE TABLE IF NOT EXISTS {TABLE} (id int PRIMARY KEY, seq bigint NOT NULL, "
          "beat_at timestamptz NOT NULL DEFAULT clock_timestamp(), writer text NOT NULL)")
BEAT = (f"INSERT INTO {TABLE} (id, seq, writer) VALUES (1, 1, %s) ON CONFLICT (id) DO UPDATE "
        f"SET seq = {TABLE}.seq + 1, beat_at = clock_timestamp(), writer = excluded.writer RETURNING seq")
#: Touched after every pass of the loop (written or not): the container's probes read its age.
ALIVE_FILE = Path("/tmp/heartbeat-alive")
CONNECT_TIMEOUT_SECONDS = 3
STATEMENT_TIMEOUT_SECONDS = 3
AWS_TIMEOUT_SECONDS = 5
#: How long to wait before asking AWS again when the region has no writer to beat on.
NOT_A_WRITER_BACKOFF_SECONDS = 60

log = logging.getLogger("hastack.heartbeat")


class NotAWriterError(Exception):
    """This region's instance cannot take the heartbeat now (a replica, or no master secret yet)."""


@dataclass(frozen=True)
class DbLogin:
    """Where and as whom to connect."""

    host: str
    port: int
    user: str
    password: str
    dbname: str = "postgres"


Login = Callable[[bool], DbLogin]
Connect = Callable[..., Any]


def rds_login(rds: Any, secrets: Any, instance_id: str) -> Login:
    """A `Login` for `instance_id`: endpoint from DescribeDBInstances, credentials from its master secret.

    Called with `fresh=True` after an authentication failure: the secret is read again (rotation).
    Raises `NotAWriterError` while the instance is a read replica or has no RDS-managed secret (a
    pilot-light DR region before its promotion and the reconciling `pulumi up`).
    """
    cached: list[DbLogin] = []

    def login(fresh: bool = False) -> DbLogin:
        if cached and not fresh:
            return cached[0]
        db = rds.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]
        if db.get("ReadReplicaSourceDBInstanceIdentifier"):
            raise NotAWriterError(f"{instance_id} is a read replica of {db['ReadReplicaSourceDBInstanceIdentifier']}")
        secret = (db.get("MasterUserSecret") or {}).get("SecretArn")
        if not secret:
            raise NotAWriterError(f"{instance_id} has no RDS-managed master secret yet")
        value = json.loads(secrets.get_secret_value(SecretId=secret)["SecretString"])
        endpoint = db["Endpoint"]
        cached[:] = [DbLogin(host=endpoint["Address"], port=int(endpoint.get("Port", 5432)), user=value["username"],
                             password=value["password"], dbname=db.get("DBName") or "postgres")]
        return cached[0]

    return login


class Heartbeat:
    """One writer of the heartbeat row; `beat()` is one bounded attempt and returns what it did."""

    def __init__(self, login: Login, writer: str, connect: Connect | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
                 statement_timeout: float = STATEMENT_TIMEOUT_SECONDS) -> None:
        self.login, self.writer = login, writer
        self.connect_timeout, self.statement_timeout = connect_timeout, statement_timeout
        self._connect = connect
        self._conn: Any = None
        self._schema_ready = False
        self._fresh_login = False

    def beat(self) -> str:
        """Write the heartbeat if this region's database takes writes; the sentence that is logged."""
        import psycopg

        try:
            conn = self._connection()
            in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
            if in_recovery:
                return f"{self.writer}: the database is in recovery (a replica): not writing"
            if not self._schema_ready:
                conn.execute(SCHEMA)
                self._schema_ready = True
            seq = conn.execute(BEAT, (self.writer,)).fetchone()[0]
            return f"{self.writer}: heartbeat {seq} written"
        except psycopg.OperationalError as exc:
            self.close()
            # A rotated password: read the secret again before the next attempt.
            self._fresh_login = "password authentication failed" in str(exc)
            raise

    def _connection(self) -> Any:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        import psycopg

        login = self.login(self._fresh_login)
        self._fresh_login = False
        connect = self._connect or psycopg.connect
        self._conn = connect(host=login.host, port=login.port, user=login.user, password=login.password,
                             dbname=login.dbname, connect_timeout=max(1, round(self.connect_timeout)),
                             application_name=f"hastack-heartbeat-{self.writer}", autocommit=True,
                             options=f"-c statement_timeout={int(self.statement_timeout * 1000)}")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def run(self, interval: float, stop: threading.Event, alive_file: Path | None = ALIVE_FILE,
            backoff: float = NOT_A_WRITER_BACKOFF_SECONDS) -> None:
        """Beat every `interval` seconds until `stop` is set; never raises (each failure is logged)."""
        try:
            while not stop.is_set():
                started = time.monotonic()
                wait = interval
                try:
                    log.info(self.beat())
                except NotAWriterError as exc:
                    log.info("%s: no writer to beat on (%s); asking again in %.0f s", self.writer, exc, backoff)
                    wait = backoff
                except Exception as exc:  # noqa: BLE001 - the loop must survive anything a beat meets
                    log.warning("%s: heartbeat failed: %s", self.writer, exc)
                if alive_file is not None:
                    alive_file.touch()
                stop.wait(max(0.0, wait - (time.monotonic() - started)))
        finally:
            self.close()


def alive_age(alive_file: Path = ALIVE_FILE, now: float | None = None) -> float | None:
    """Seconds since the loop last completed a pass; None before its first pass."""
    try:
        mtime = alive_file.stat().st_mtime
    except FileNotFoundError:
        return None
    return (time.time() if now is None else now) - mtime


def _aws_clients(region: str) -> tuple[Any, Any]:
    import boto3
    from botocore.config import Config

    config = Config(region_name=region, connect_timeout=AWS_TIMEOUT_SECONDS, read_timeout=AWS_TIMEOUT_SECONDS,
                    retries={"max_attempts": 2, "mode": "standard"})
    return boto3.client("rds", config=config), boto3.client("secretsmanager", config=config)


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SystemExit(f"hastack.heartbeat: environment variable {name} is not set")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hastack.heartbeat", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="beat every HASTACK_HEARTBEAT_SECONDS on HASTACK_DB_INSTANCE in AWS_REGION")
    check = sub.add_parser("check", help="exit 1 when the loop has not completed a pass for --max-age seconds")
    check.add_argument("--max-age", type=float, required=True)
    args = parser.parse_args(argv)
    if args.command == "check":
        age = alive_age(ALIVE_FILE)
        return 0 if age is not None and age <= args.max_age else 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    region, instance = _env("AWS_REGION"), _env("HASTACK_DB_INSTANCE")
    interval = float(_env("HASTACK_HEARTBEAT_SECONDS"))
    rds, secrets = _aws_clients(region)
    stop = threading.Event()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    Heartbeat(rds_login(rds, secrets, instance), writer=region).run(interval, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
