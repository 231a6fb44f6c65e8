"""The write workload: the model server's prediction log, written under the lease contract into a ledger.

`LeasedWriter` sends writes with unique ids, at a steady rate, to whichever endpoint its provider
names at the time (the writer of the moment, as DNS would answer), and records each in the ledger
as ok, failed or indeterminate. It keeps the lease contract (`lease` module): it never sends a write
unless its lease stays valid for the write's whole bound, and it stops writing when it cannot renew.
Every write is bounded: libpq has no client-side read timeout, so a `Watchdog` shuts the socket of a
write that outlives its bound (what a hung link needs), and the write is recorded as indeterminate.

`Heartbeat` is the primary region's heartbeat writer (one row updated every few seconds, so replica
lag stays honest on an idle primary); `CacheReader` reads the cache under the same lease contract.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import psycopg
import valkey

from hastack.local.dataplane import postgres_sql
from hastack.local.dataplane.lease import Lease
from hastack.local.dataplane.ledger import Ledger, LedgerEntry, Outcome
from hastack.local.dataplane.processes import Endpoint

EndpointProvider = Callable[[], Endpoint]
#: A writer that fell behind (a slow write, a busy machine) catches up at most this many seconds of writes.
MAX_BACKLOG = 0.25
#: Key prefix of the prediction log's entries in the cache.
CACHE_PREFIX = "hastack:prediction:"


class Watchdog:
    """One thread that runs an action when an armed deadline passes (closing a hung connection)."""

    def __init__(self, name: str) -> None:
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._action: Callable[[], None] | None = None
        self._fired = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"watchdog-{name}", daemon=True)
        self._thread.start()

    def arm(self, seconds: float, action: Callable[[], None]) -> None:
        with self._cond:
            self._deadline, self._action, self._fired = time.monotonic() + seconds, action, False
            self._cond.notify()

    def disarm(self) -> bool:
        """Disarm; True when the action ran (the operation outlived its bound)."""
        with self._cond:
            self._deadline = self._action = None
            return self._fired

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                action, self._deadline, self._action, self._fired = self._action, None, None, True
                if action is not None:
                    with contextlib.suppress(Exception):
                        action()


class BackgroundLoop(ABC):
    """A daemon thread running `_run` until `stop()`; usable as a context manager."""

    def __init__(self, thread_name: str) -> None:
        self.thread_name = thread_name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end and wait for it (its current step is bounded by its own timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @abstractmethod
    def _run(self) -> None: ...


class Sink(ABC):
    """How one kind of server takes a write (and how its errors read)."""

    kind: str

    @abstractmethod
    def connect(self, endpoint: Endpoint, timeout: float) -> Any: ...

    @abstractmethod
    def write(self, conn: Any, row_id: int, writer: str) -> None: ...

    @abstractmethod
    def abort(self, conn: Any) -> None:
        """Break the connection at once (from another thread): the blocked write returns with an error."""

    @abstractmethod
    def close(self, conn: Any) -> None: ...

    @abstractmethod
    def outcome_of(self, error: Exception) -> Outcome:
        """FAILED when the server surely did not apply the write, else INDETERMINATE."""


class PostgresSink(Sink):
    """One INSERT per write into the prediction log, in autocommit (the commit is the acknowledgement)."""

    kind = "postgres"

    def connect(self, endpoint: Endpoint, timeout: float) -> psycopg.Connection[Any]:
        return psycopg.connect(postgres_sql.conninfo(endpoint, connect_timeout=timeout, statement_timeout=timeout,
                                                     application_name="hastack-writer"), autocommit=True)

    def write(self, conn: psycopg.Connection[Any], row_id: int, writer: str) -> None:
        conn.execute(f"INSERT INTO {postgres_sql.PREDICTIONS_TABLE} (id, writer) VALUES (%s, %s)",  # type: ignore[arg-type]
                     (row_id, writer))

    def abort(self, conn: psycopg.Connection[Any]) -> None:
        shutdown_socket(conn.pgconn.socket)

    def close(self, conn: psycopg.Connection[Any]) -> None:
        with contextlib.suppress(Exception):
            conn.close()

    def outcome_of(self, error: Exception) -> Outcome:
        # An error the server reported (an SQLSTATE outside class 08, connection exception) means the
        # statement, and so its autocommit, did not happen: read-only replica, statement timeout, shutdown.
        state = getattr(error, "sqlstate", None)
        if isinstance(error, psycopg.Error) and state and not state.startswith("08"):
            return Outcome.FAILED
        return Outcome.INDETERMINATE


class ValkeySink(Sink):
    """One SET per write (`hastack:prediction:<id>` = the wall time of the write)."""

    kind = "valkey"

    def __init__(self, timeout: float = 1.0) -> None:
        self.timeout = timeout

    def connect(self, endpoint: Endpoint, timeout: float) -> valkey.Valkey:
        client = valkey.Valkey(host=endpoint.host, port=endpoint.port, socket_connect_timeout=timeout,
                               socket_timeout=self.timeout, single_connection_client=True)
        try:
            client.ping()
        except BaseException:
            client.close()
            raise
        return client

    def write(self, conn: valkey.Valkey, row_id: int, writer: str) -> None:
        conn.set(f"{CACHE_PREFIX}{row_id}", f"{time.time():.6f} {writer}")

    def abort(self, conn: valkey.Valkey) -> None:
        connection = conn.connection
        if connection is not None and connection._sock is not None:
            shutdown_socket(connection._sock.fileno())

    def close(self, conn: valkey.Valkey) -> None:
        with contextlib.suppress(Exception):
            conn.close()

    def outcome_of(self, error: Exception) -> Outcome:
        if isinstance(error, valkey.ResponseError):  # e.g. READONLY: a replica refused it
            return Outcome.FAILED
        return Outcome.INDETERMINATE


def shutdown_socket(fd: int) -> None:
    """Shut a socket down by descriptor without closing the descriptor (its owner still will)."""
    if fd < 0:
        return
    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


@dataclass
class WriterStats:
    """What a writer did; `rate` is acknowledged writes per second while it ran."""

    name: str
    ok: int = 0
    failed: int = 0
    indeterminate: int = 0
    lease_refusals: int = 0
    lease_problem: str = ""
    started: float = 0.0
    stopped: float = 0.0
    stopped_because: str = ""
    endpoints: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.ok + self.failed + self.indeterminate

    @property
    def rate(self) -> float:
        seconds = (self.stopped or time.monotonic()) - self.started
        return self.ok / seconds if seconds > 0 else 0.0


def lease_problem(lease: Lease, bound: float, margin: float) -> str | None:
    """Why an operation bounded by `bound` seconds may not start now (renewing first if needed), or None."""
    if lease.remaining() >= bound + margin:
        return None
    if not lease.renew():
        return "the lease could not be renewed"
    if lease.remaining() >= bound + margin:
        return None
    return (f"the lease was renewed but is valid for {lease.remaining():.2f} s, less than the operation's bound "
            f"({bound} s) plus the margin ({margin} s)")


class LeasedWriter(BackgroundLoop):
    """A writer thread: `rate` writes a second to `endpoint()`, each under a valid lease, into `ledger`.

    `write_timeout` bounds every write and every connection attempt; `lease_margin` is the safety margin
    the lease must outlast a write by. When a renewal fails the writer stops writing: it exits when
    `stop_on_lease_loss`, else it keeps asking every `lease_retry` seconds (a lease granted to it again,
    after a failback, lets it resume).
    """

    def __init__(self, name: str, sink: Sink, endpoint: EndpointProvider, lease: Lease, ledger: Ledger, *,
                 rate: float = 200.0, write_timeout: float = 1.0, lease_margin: float = 0.2,
                 lease_retry: float = 0.2, stop_on_lease_loss: bool = False) -> None:
        if rate <= 0 or write_timeout <= 0 or lease_margin < 0:
            raise ValueError("rate and write_timeout must be > 0 and lease_margin >= 0, got "
                             f"rate={rate}, write_timeout={write_timeout}, lease_margin={lease_margin}")
        super().__init__(f"writer-{name}")
        self.name = name
        self.sink = sink
        self.endpoint = endpoint
        self.lease = lease
        self.ledger = ledger
        self.rate = rate
        self.write_timeout = write_timeout
        self.lease_margin = lease_margin
        self.lease_retry = lease_retry
        self.stop_on_lease_loss = stop_on_lease_loss
        self.stats = WriterStats(name)
        self._conn: Any = None
        self._conn_endpoint: Endpoint | None = None

    def start(self) -> Self:
        self.stats.started = time.monotonic()
        return super().start()

    def stop(self, timeout: float = 10.0) -> WriterStats:  # type: ignore[override]
        """Stop after the write in flight (bounded by `write_timeout`); returns the stats."""
        super().stop(timeout)
        return self.stats

    def _lease_covers_a_write(self) -> bool:
        return self.lease.remaining() >= self.write_timeout + self.lease_margin

    def _hold_lease(self) -> bool:
        problem = lease_problem(self.lease, self.write_timeout, self.lease_margin)
        if problem is None:
            return True
        self.stats.lease_refusals += 1
        self.stats.lease_problem = problem
        return False

    def _disconnect(self) -> None:
        if self._conn is not None:
            self.sink.close(self._conn)
        self._conn = self._conn_endpoint = None

    def _record(self, row_id: int, target: str, sent_at: float, outcome: Outcome, error: str | None) -> None:
        self.ledger.record(LedgerEntry(row_id, self.name, target, sent_at, time.time(), outcome, error))
        if outcome == Outcome.OK:
            self.stats.ok += 1
        elif outcome == Outcome.FAILED:
            self.stats.failed += 1
        else:
            self.stats.indeterminate += 1

    def _run(self) -> None:
        watchdog = Watchdog(self.name)
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                if (pause := next_at - time.monotonic()) > 0 and self._stop.wait(pause):
                    break
                next_at = max(next_at + interval, time.monotonic() - MAX_BACKLOG)
                if not self._hold_lease():
                    self._disconnect()
                    if self.stop_on_lease_loss:
                        self.stats.stopped_because = f"writer {self.name} stopped: {self.stats.lease_problem}"
                        break
                    self._stop.wait(self.lease_retry)
                    continue
                self._write_once(watchdog)
            if not self.stats.stopped_because:
                self.stats.stopped_because = f"writer {self.name} stopped when asked"
        finally:
            self._disconnect()
            watchdog.close()
            self.stats.stopped = time.monotonic()

    def _write_once(self, watchdog: Watchdog) -> None:
        endpoint = self.endpoint()
        if self._conn is None or endpoint != self._conn_endpoint:
            self._disconnect()
            if endpoint.server not in self.stats.endpoints:
                self.stats.endpoints.append(endpoint.server)
            try:
                self._conn, self._conn_endpoint = self.sink.connect(endpoint, self.write_timeout), endpoint
            except Exception as exc:  # never sent: surely not applied
                self._record(self.ledger.new_id(), endpoint.server, time.time(), Outcome.FAILED, _line(exc))
                return
        if not self._lease_covers_a_write():  # connecting took time: check again where we act
            return
        row_id, sent_at = self.ledger.new_id(), time.time()
        conn = self._conn
        watchdog.arm(min(self.write_timeout, self.lease.remaining() - self.lease_margin),
                     lambda: self.sink.abort(conn))
        try:
            self.sink.write(conn, row_id, self.name)
        except Exception as exc:
            timed_out = watchdog.disarm()
            outcome = Outcome.INDETERMINATE if timed_out else self.sink.outcome_of(exc)
            self._record(row_id, endpoint.server, sent_at, outcome,
                         f"no answer within {self.write_timeout:.1f} s" if timed_out else _line(exc))
            if outcome == Outcome.INDETERMINATE:
                self._disconnect()
            return
        watchdog.disarm()
        self._record(row_id, endpoint.server, sent_at, Outcome.OK, None)


def _line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}"


class Heartbeat(BackgroundLoop):
    """The primary region's heartbeat: upsert one row (`seq`, `beat_at`) every `interval` seconds.

    A replica that replays it reports a lag that reflects data even when the primary is otherwise idle
    (RDS for PostgreSQL reports up to ~5 minutes on an idle primary). `seq` grows by one per committed
    beat; `last_seq` is the last one the primary acknowledged.
    """

    def __init__(self, endpoint: EndpointProvider, interval: float = 1.0, lease: Lease | None = None,
                 timeout: float = 1.0, writer: str = "heartbeat") -> None:
        super().__init__(f"heartbeat-{writer}")
        self.endpoint = endpoint
        self.interval = interval
        self.lease = lease
        self.timeout = timeout
        self.writer = writer
        self.last_seq = 0
        self.failures = 0

    def beat(self, seq: int) -> None:
        """One bounded upsert of the heartbeat row."""
        watchdog = Watchdog(self.writer)
        sink = PostgresSink()
        try:
            conn = sink.connect(self.endpoint(), self.timeout)
            try:
                watchdog.arm(self.timeout, lambda: sink.abort(conn))
                conn.execute(f"INSERT INTO {postgres_sql.HEARTBEAT_TABLE} (id, seq, writer) VALUES (1, %s, %s) "  # type: ignore[arg-type]
                             "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, beat_at = clock_timestamp(), "
                             "writer = excluded.writer", (seq, self.writer))
            finally:
                watchdog.disarm()
                sink.close(conn)
        finally:
            watchdog.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.lease is None or self.lease.remaining() > self.timeout or self.lease.renew():
                try:
                    self.beat(self.last_seq + 1)
                except Exception:
                    self.failures += 1
                else:
                    self.last_seq += 1
            self._stop.wait(self.interval)


def read_heartbeat(endpoint: Endpoint) -> tuple[int, float] | None:
    """(seq, beat_at as epoch seconds) of the heartbeat row `endpoint` holds, None when there is none."""
    with postgres_sql.connection(endpoint) as conn:
        row = conn.execute(f"SELECT seq, extract(epoch FROM beat_at) FROM {postgres_sql.HEARTBEAT_TABLE} "  # type: ignore[arg-type]
                           "WHERE id = 1").fetchone()
    return None if row is None else (int(row[0]), float(row[1]))


@dataclass
class ReaderStats:
    hits: int = 0
    misses: int = 0
    errors: int = 0
    lease_refusals: int = 0


class CacheReader(BackgroundLoop):
    """Reads recently acknowledged cache writes back, `rate` a second, under the same lease contract.

    A miss is an acknowledged write the cache of the moment does not hold (lost in a failover, or not
    yet replicated to it); an error is a read that failed or outlived its bound.
    """

    def __init__(self, name: str, endpoint: EndpointProvider, lease: Lease, ledger: Ledger, *, rate: float = 50.0,
                 timeout: float = 1.0, lease_margin: float = 0.2) -> None:
        super().__init__(f"reader-{name}")
        self.name = name
        self.endpoint = endpoint
        self.lease = lease
        self.ledger = ledger
        self.rate = rate
        self.timeout = timeout
        self.lease_margin = lease_margin
        self.stats = ReaderStats()

    def stop(self, timeout: float = 10.0) -> ReaderStats:  # type: ignore[override]
        super().stop(timeout)
        return self.stats

    def _run(self) -> None:
        client: valkey.Valkey | None = None
        current: Endpoint | None = None
        try:
            while not self._stop.wait(1.0 / self.rate):
                if lease_problem(self.lease, self.timeout, self.lease_margin) is not None:
                    self.stats.lease_refusals += 1
                    continue
                ok_ids = [entry.id for entry in self.ledger.entries()[-200:] if entry.outcome == Outcome.OK]
                if not ok_ids:
                    continue
                endpoint = self.endpoint()
                try:
                    if client is None or endpoint != current:
                        if client is not None:
                            client.close()
                            client = None
                        # A single-connection client connects here: in a hung region this is what times out.
                        client, current = valkey.Valkey(host=endpoint.host, port=endpoint.port,
                                                        socket_connect_timeout=self.timeout,
                                                        socket_timeout=self.timeout,
                                                        single_connection_client=True), endpoint
                    found = client.get(f"{CACHE_PREFIX}{random.choice(ok_ids)}")
                except valkey.ValkeyError:
                    self.stats.errors += 1
                    if client is not None:
                        client.close()
                    client = None
                    continue
                if found is None:
                    self.stats.misses += 1
                else:
                    self.stats.hits += 1
        finally:
            if client is not None:
                client.close()
