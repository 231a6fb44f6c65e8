"""What is read from and done to a PostgreSQL server over SQL: schema, lag, replay control, promotion.

Each function opens one short connection with a bounded connect time and statement time, so a hung
server (or a hung link to it) costs at most that bound, never a hang. Lag is read the way RDS for
PostgreSQL computes `ReplicaLag`: `now() - pg_last_xact_replay_timestamp()` on the replica, and NULL
(a fresh replica that has replayed no transaction yet, or a server that is not a replica) is returned
as None: no datapoint, never 0.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from hastack.local.dataplane.errors import DataPlaneError
from hastack.local.dataplane.postgres_server import DATABASE, SUPERUSER
from hastack.local.dataplane.processes import Endpoint

#: The prediction log the write workload appends to (one row per write, keyed by the ledger's id).
PREDICTIONS_TABLE = "hastack_predictions"
#: One row the primary region's heartbeat writer updates every few seconds (keeps replica lag honest).
HEARTBEAT_TABLE = "hastack_heartbeat"
SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {PREDICTIONS_TABLE} (id bigint PRIMARY KEY, writer text NOT NULL, "
    "written_at timestamptz NOT NULL DEFAULT clock_timestamp())",
    f"CREATE TABLE IF NOT EXISTS {HEARTBEAT_TABLE} (id int PRIMARY KEY, seq bigint NOT NULL, "
    "beat_at timestamptz NOT NULL DEFAULT clock_timestamp(), writer text NOT NULL)",
)


def conninfo(endpoint: Endpoint, connect_timeout: float = 2.0, statement_timeout: float = 5.0,
             application_name: str = "hastack") -> str:
    """A libpq connection string for `endpoint` with bounded connect and statement times."""
    return (f"host={endpoint.host} port={endpoint.port} user={SUPERUSER} dbname={DATABASE} "
            f"connect_timeout={max(1, round(connect_timeout))} application_name={application_name} "
            f"options='-c statement_timeout={int(statement_timeout * 1000)}'")


@contextmanager
def connection(endpoint: Endpoint, timeout: float = 5.0) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection; any failure to reach `endpoint` becomes a DataPlaneError naming it."""
    try:
        conn = psycopg.connect(conninfo(endpoint, connect_timeout=min(timeout, 2.0), statement_timeout=timeout),
                               autocommit=True)
    except psycopg.OperationalError as exc:
        raise DataPlaneError(f"PostgreSQL {endpoint} is unreachable: {str(exc).strip().splitlines()[-1]}") from exc
    try:
        yield conn
    finally:
        conn.close()


def query_one(endpoint: Endpoint, sql: str, params: tuple[Any, ...] = (), timeout: float = 5.0) -> tuple[Any, ...]:
    with connection(endpoint, timeout) as conn:
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
    if row is None:
        raise DataPlaneError(f"PostgreSQL {endpoint} returned no row for {sql!r}")
    return tuple(row)


def create_schema(endpoint: Endpoint) -> None:
    with connection(endpoint) as conn:
        for statement in SCHEMA:
            conn.execute(statement)  # type: ignore[arg-type]


def in_recovery(endpoint: Endpoint) -> bool:
    return bool(query_one(endpoint, "SELECT pg_is_in_recovery()")[0])


def replica_lag_seconds(endpoint: Endpoint) -> float | None:
    """`now() - pg_last_xact_replay_timestamp()` in seconds on a replica; None when PostgreSQL says NULL."""
    (lag,) = query_one(endpoint, "SELECT CASE WHEN pg_is_in_recovery() THEN "
                                 "extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END")
    return None if lag is None else float(lag)


def wal_receiver_status(endpoint: Endpoint) -> str | None:
    """The replica's WAL receiver state (`streaming` once WAL flows), None when there is none."""
    (status,) = query_one(endpoint, "SELECT (SELECT status FROM pg_stat_wal_receiver LIMIT 1)")
    return None if status is None else str(status)


def pause_replay(endpoint: Endpoint) -> None:
    """Stop applying received WAL (it keeps arriving): the replica falls behind, its lag grows."""
    query_one(endpoint, "SELECT pg_wal_replay_pause()")


def resume_replay(endpoint: Endpoint) -> None:
    query_one(endpoint, "SELECT pg_wal_replay_resume()")


def current_lsn(endpoint: Endpoint) -> str:
    """The primary's current WAL write position."""
    return str(query_one(endpoint, "SELECT pg_current_wal_lsn()")[0])


def replayed_up_to(endpoint: Endpoint, lsn: str) -> bool:
    """Whether the replica has replayed WAL up to `lsn` (False while it has not, or replays nothing)."""
    (done,) = query_one(endpoint, "SELECT coalesce(pg_last_wal_replay_lsn() >= %s::pg_lsn, false)", (lsn,))
    return bool(done)


def wait_replayed(replica: Endpoint, lsn: str, timeout: float) -> float:
    """Wait until `replica` has replayed `lsn`; return the seconds it took (DataPlaneError after `timeout`)."""
    start = time.monotonic()
    while not replayed_up_to(replica, lsn):
        if time.monotonic() - start > timeout:
            raise DataPlaneError(f"replica {replica} had not replayed {lsn} after {timeout:.1f} s")
        time.sleep(0.01)
    return time.monotonic() - start


def promote(endpoint: Endpoint, timeout: float = 30.0) -> str:
    """Promote a replica (`pg_promote`, waiting for the end of recovery); the sentence says what happened."""
    if not in_recovery(endpoint):
        return f"PostgreSQL {endpoint.server} is already a primary: nothing to promote"
    (done,) = query_one(endpoint, "SELECT pg_promote(true, %s)", (max(1, int(timeout)),), timeout=timeout + 5)
    if not done:
        raise DataPlaneError(f"PostgreSQL {endpoint.server} did not finish promotion within {timeout:.0f} s")
    return f"promoted PostgreSQL {endpoint.server} to primary (pg_promote)"


def row_ids(endpoint: Endpoint, timeout: float = 30.0) -> set[int]:
    """Every id in the prediction log of `endpoint`."""
    with connection(endpoint, timeout) as conn:
        return {row[0] for row in conn.execute(f"SELECT id FROM {PREDICTIONS_TABLE}")}  # type: ignore[arg-type]


def ids_written_after(endpoint: Endpoint, after_epoch: float, timeout: float = 10.0) -> set[int]:
    """Ids committed on `endpoint` after `after_epoch` (the server's clock_timestamp at insert)."""
    with connection(endpoint, timeout) as conn:
        rows = conn.execute(f"SELECT id FROM {PREDICTIONS_TABLE} WHERE written_at > to_timestamp(%s)",  # type: ignore[arg-type]
                            (after_epoch,))
        return {row[0] for row in rows}
