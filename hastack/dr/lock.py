"""The DR lock: one item per deployment in the coordination table, taken by compare-and-swap, renewed.

Why: two on-call engineers paged by the same outage must not both fail over (one promoting while
the other fails back would split the data). The lock's key comes from the outputs' deployment
identity (`dr-lock#<project>/<stack>`), never from the `--stack` spelling: two operators with the
same outputs contend for the same item. The item says who holds it — owner, host, pid, since, run
id, command — so a refusal can name them.

Patroni's rules apply. The lock is taken with a conditional write (never by overwriting blindly)
and has a short TTL (`lockTtlSeconds`), renewed by a thread every third of it while the run lives,
conditional on our run id. So a lock whose expiry passed belongs to a run that stopped renewing —
dead, or cut off from the table — and the next run takes it over (saying whose it was); a live
lock is taken only with `--break-lock` (or from our own crashed run: same host, a pid that no
longer runs). A run whose renewal finds the lock taken, or that cannot renew before its expiry,
has lost it: the runner stops it before its next step (`lost()`).

Expiry is wall-clock time (epoch seconds), because other hosts compare it with theirs.
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hastack.dr.aws import ClientFactory, error_code
from hastack.dr.deployment import Coordination

log = logging.getLogger("hastack.dr.lock")

#: Run ids whose lock this process is renewing right now: a lock item naming this pid but none of
#: these belongs to a run of this process that crashed.
_LIVE: set[str] = set()
_LIVE_LOCK = threading.Lock()


class LockError(Exception):
    """The lock could not be taken or released (held by someone else, or the table is unusable).

    `unreachable`: the table did not answer (as opposed to: someone else holds the lock).
    """

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True)
class Holder:
    owner: str
    host: str
    pid: int
    since: str
    expires_at: float
    run_id: str
    command: str

    @property
    def expired(self) -> bool:
        return self.expires_at < time.time()

    def describe(self) -> str:
        return f"{self.owner}@{self.host} (pid {self.pid}, `{self.command}`, run {self.run_id}) since {self.since}"


def me() -> tuple[str, str, int]:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = os.environ.get("USER", "unknown")
    return user, socket.gethostname(), os.getpid()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


class DrLock:
    """The lock item `dr-lock#<deployment>` (see module docstring)."""

    def __init__(self, aws: ClientFactory, coordination: Coordination, command: str, ttl_seconds: float,
                 run_id: str | None = None) -> None:
        self.aws, self.coord, self.command = aws, coordination, command
        self.ttl_seconds = max(1.0, float(ttl_seconds))
        self.run_id = run_id or uuid.uuid4().hex[:12]
        #: The run whose lock this one took over (crashed, expired or broken), for the journal to resume.
        self.took_over_run_id: str | None = None
        self.expires_at = 0.0
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = threading.Lock()
        self.renewals = 0

    @property
    def _client(self) -> Any:
        return self.aws.client("dynamodb", self.coord.region)

    @property
    def _key(self) -> dict[str, Any]:
        return {self.coord.key: {"S": self.coord.lock_id}}

    def _where(self) -> str:
        return f"table {self.coord.table!r} ({self.coord.region})"

    # --- reading --------------------------------------------------------------------------------

    def holder(self) -> Holder | None:
        try:
            item = self._client.get_item(TableName=self.coord.table, Key=self._key, ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise LockError(f"could not read the DR lock in {self._where()}: {exc}", unreachable=True) from exc
        if not item:
            return None
        return Holder(owner=item.get("owner", {}).get("S", "?"), host=item.get("host", {}).get("S", "?"),
                      pid=int(item.get("pid", {}).get("N", "0")), since=item.get("since", {}).get("S", "?"),
                      expires_at=float(item.get("expiresAt", {}).get("N", "0")),
                      run_id=item.get("runId", {}).get("S", ""), command=item.get("command", {}).get("S", "?"))

    # --- taking and releasing -------------------------------------------------------------------

    def acquire(self, break_lock: bool = False) -> str:
        """Take the lock; return the sentence saying how. Raises LockError naming the holder."""
        held = self.holder()
        user, host, pid = me()
        how = "took the DR lock"
        if held is not None and held.run_id != self.run_id:
            with _LIVE_LOCK:
                live_here = held.run_id in _LIVE
            own_crash = held.host == host and held.owner == user and (
                (held.pid == pid and not live_here) or (held.pid != pid and not _pid_alive(held.pid)))
            if held.expired:
                how = (f"took over the DR lock of {held.describe()}: it expired at {iso(held.expires_at)} "
                       "(not renewed: that run is dead or cut off from the table)")
            elif own_crash:
                how = f"took over the DR lock left by an earlier run on this host ({held.describe()})"
            elif break_lock:
                how = f"broke the DR lock held by {held.describe()}"
            else:
                raise LockError(f"DR lock held by {held.describe()}, renewed until {iso(held.expires_at)}. If that "
                                f"run is dead its lock expires within {self.ttl_seconds:.0f} s; otherwise let it "
                                "finish (--break-lock takes a live lock)")
            self.took_over_run_id = held.run_id
        now = time.time()
        item = {**self._key, "owner": {"S": user}, "host": {"S": host}, "pid": {"N": str(pid)},
                "since": {"S": iso(now)}, "runId": {"S": self.run_id}, "command": {"S": self.command},
                "deployment": {"S": self.coord.deployment}, "expiresAt": {"N": f"{now + self.ttl_seconds:.3f}"}}
        if held is None:
            cond: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(#k)",
                                    "ExpressionAttributeNames": {"#k": self.coord.key}}
        else:  # compare-and-swap on the run we saw: a third operator racing us loses
            cond = {"ConditionExpression": "runId = :seen", "ExpressionAttributeValues": {":seen": {"S": held.run_id}}}
        with _LIVE_LOCK:  # live from the moment it is written: a racing run of this process must not take it over
            _LIVE.add(self.run_id)
        try:
            self._client.put_item(TableName=self.coord.table, Item=item, **cond)
        except ClientError as exc:
            with _LIVE_LOCK:
                _LIVE.discard(self.run_id)
            if error_code(exc) == "ConditionalCheckFailedException":
                now_held = self.holder()
                who = now_held.describe() if now_held else "another run"
                raise LockError(f"DR lock taken concurrently by {who}") from exc
            raise LockError(f"could not write the DR lock in {self._where()}: {exc}", unreachable=True) from exc
        except BotoCoreError as exc:
            with _LIVE_LOCK:
                _LIVE.discard(self.run_id)
            raise LockError(f"could not write the DR lock in {self._where()}: {exc}", unreachable=True) from exc
        with self._state:
            self.expires_at = now + self.ttl_seconds
        return f"{how} for {self.coord.deployment} in {self.coord.table} ({self.coord.region}) as run {self.run_id}"

    def release(self) -> str:
        self.stop_renewing()
        try:
            self._client.delete_item(TableName=self.coord.table, Key=self._key, ConditionExpression="runId = :me",
                                     ExpressionAttributeValues={":me": {"S": self.run_id}})
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return "did not release the DR lock: it is no longer ours (taken over by another run)"
            raise LockError(f"could not release the DR lock in {self._where()}: {exc}") from exc
        except BotoCoreError as exc:
            raise LockError(f"could not release the DR lock in {self._where()}: {exc}") from exc
        return "released the DR lock"

    # --- renewal ----------------------------------------------------------------------------------

    def renew(self) -> bool:
        """One renewal (conditional on our run id); False once the lock is lost."""
        new_expiry = time.time() + self.ttl_seconds
        try:
            self._client.update_item(
                TableName=self.coord.table, Key=self._key, UpdateExpression="SET expiresAt = :e",
                ConditionExpression="runId = :me",
                ExpressionAttributeValues={":e": {"N": f"{new_expiry:.3f}"}, ":me": {"S": self.run_id}})
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                self._lose("the DR lock was taken over by another run")
                return False
            return self._renew_failed(exc)
        except BotoCoreError as exc:
            return self._renew_failed(exc)
        with self._state:
            self.expires_at = new_expiry
            self.renewals += 1
        return True

    def _renew_failed(self, exc: Exception) -> bool:
        log.warning("could not renew the DR lock: %s", exc)
        if time.time() >= self.expires_at:
            self._lose(f"could not renew the DR lock before it expired at {iso(self.expires_at)} ({exc})")
            return False
        return True

    def _lose(self, why: str) -> None:
        with self._state:
            if self._lost is None:
                self._lost = why
        self._stop.set()

    def lost(self) -> str | None:
        """Why this run no longer holds the lock, or None while it does."""
        with self._state:
            if self._lost is None and self.expires_at and time.time() >= self.expires_at:
                self._lost = f"the DR lock expired at {iso(self.expires_at)} before it could be renewed"
            return self._lost

    def start_renewing(self) -> None:
        """Renew every third of the TTL in a daemon thread until `stop_renewing` or the lock is lost."""
        interval = self.ttl_seconds / 3

        def loop() -> None:
            while not self._stop.wait(interval):
                if not self.renew():
                    return

        self._stop.clear()
        with _LIVE_LOCK:
            _LIVE.add(self.run_id)
        self._thread = threading.Thread(target=loop, name="dr-lock-renewal", daemon=True)
        self._thread.start()

    def stop_renewing(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self.run_id)
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.aws.critical.budget_seconds + 1)
