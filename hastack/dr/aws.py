"""The one AWS client factory of the DR command: every call bounded, every region explicit.

Why one factory: every client gets its region set explicitly (a DR command must never land in the
ambient default region) and a profile derived from the stack's `drTimeouts`, so no call can hang
for the SDK's default minutes. Credentials come from boto3's standard chain only.
`AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`) are honoured by botocore itself, so the
command runs unchanged against the local world on 127.0.0.1.

Two profiles:
- *critical*: what every step uses. Connect and read timeouts within `callTimeoutSeconds`, at most
  2 attempts (a connection refused, reset or timed out is retried once), so one call costs at most
  about 2 x `callTimeoutSeconds`. Throttling is retried with jittered exponential backoff as long
  as the call stays within that same bound — a throttling burst costs seconds, never minutes.
- *probe*: one attempt, for `hastack dr status` (which bounds its whole read by
  `statusTimeoutSeconds` and marks what did not answer as unreachable).

A hanging endpoint (accepts the connection, never answers) therefore costs the same as a refusing
one: the read timeout, twice at most. Nothing here knows which region is up: the steps say which
region and plane each call needs (see `runner.Need`), the bounds keep a dead one from stalling them.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

log = logging.getLogger("hastack.dr.aws")
retry_log = logging.getLogger("hastack.dr.aws.retry")

#: Route 53 is a global service whose control plane is signed for (and lives in) us-east-1.
ROUTE53_REGION = "us-east-1"

#: Error codes AWS uses for throttling (botocore's standard retry mode knows the same list).
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
    "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException"})


@dataclass(frozen=True)
class ClientPolicy:
    """Timeouts and attempts of one client profile; `budget_seconds` bounds a call with its retries."""

    name: str
    max_attempts: int
    connect_timeout: float
    read_timeout: float

    @property
    def budget_seconds(self) -> float:
        """The longest one call may take, retries and throttling backoff included."""
        return self.max_attempts * (self.connect_timeout + self.read_timeout)

    def config(self, region: str) -> Config:
        return Config(region_name=region, retries={"mode": "standard", "total_max_attempts": self.max_attempts},
                      connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
                      tcp_keepalive=True)


def critical_policy(call_timeout_seconds: float) -> ClientPolicy:
    """2 attempts, connect + read within `call_timeout_seconds` each."""
    call = max(float(call_timeout_seconds), 1.0)
    connect = max(0.5, min(3.0, call / 3))
    return ClientPolicy("critical", 2, connect, max(0.5, call - connect))


def probe_policy(call_timeout_seconds: float) -> ClientPolicy:
    """1 attempt: what `dr status` uses (its whole read has its own bound)."""
    call = max(float(call_timeout_seconds), 1.0)
    connect = max(0.5, min(3.0, call / 3))
    return ClientPolicy("probe", 1, connect, max(0.5, call - connect))


class ThrottleRetry:
    """A `needs-retry` handler run before botocore's: throttling is retried while the call's bound allows.

    botocore's standard mode counts a throttle as one of the (two) attempts; during a throttling
    burst that gives up too early. This handler answers first for throttling errors only: retry
    after a jittered exponential backoff, as long as the call (measured from its first attempt)
    stays within `budget_seconds`. Everything else (and a throttle past the bound) is left to
    botocore's standard handler.
    """

    def __init__(self, budget_seconds: float, base_seconds: float = 0.2, cap_seconds: float = 5.0) -> None:
        self.budget, self.base, self.cap = budget_seconds, base_seconds, cap_seconds

    def started(self, context: dict[str, Any], **_: Any) -> None:
        context.setdefault("hastack_started", time.monotonic())

    def __call__(self, response: Any = None, attempts: int = 1, request_dict: Any = None,
                 operation: Any = None, **_: Any) -> float | None:
        if response is None:
            return None
        code = str((response[1] or {}).get("Error", {}).get("Code", "")) if isinstance(response, tuple) else ""
        if code not in THROTTLING_CODES:
            return None
        started = (request_dict or {}).get("context", {}).get("hastack_started", time.monotonic())
        delay = random.uniform(0, min(self.cap, self.base * 2 ** (attempts - 1)))  # noqa: S311 - jitter
        if time.monotonic() - started + delay > self.budget:
            return None
        retry_log.debug("%s throttled (%s), attempt %d: retrying in %.2fs", getattr(operation, "name", "?"), code,
                        attempts, delay)
        return delay


class ClientFactory:
    """Builds (and caches) boto3 clients: one per (service, region, profile).

    `on_client` lets a caller attach botocore event handlers to every client it builds (the RTO
    simulation adds modelled AWS latency this way; tests record or inject calls) — the code that
    uses the clients does not change.
    """

    def __init__(self, call_timeout_seconds: float = 5.0, session: boto3.session.Session | None = None,
                 on_client: Callable[[Any, str, str, bool], None] | None = None) -> None:
        self.critical = critical_policy(call_timeout_seconds)
        self.probe = probe_policy(call_timeout_seconds)
        self._session = session or boto3.session.Session()
        self._on_client = on_client
        self._cache: dict[tuple[str, str, str, str], Any] = {}
        self._lock = threading.Lock()  # boto3 sessions are not thread-safe; clients are.

    def client(self, service: str, region: str, *, probe: bool = False, endpoint_url: str | None = None) -> Any:
        """A client for `service` in `region` (the critical profile unless `probe`; ARC passes its endpoint)."""
        if not region:
            raise ValueError(f"no region given for a {service} client: the DR command never uses a default region")
        policy = self.probe if probe else self.critical
        key = (service, region, policy.name, endpoint_url or "")
        with self._lock:
            if key not in self._cache:
                extra = {"endpoint_url": endpoint_url} if endpoint_url else {}
                client = self._session.client(service, config=policy.config(region), **extra)
                throttle = ThrottleRetry(policy.budget_seconds)
                client.meta.events.register("before-call", throttle.started)
                client.meta.events.register_first(
                    f"needs-retry.{client.meta.service_model.service_id.hyphenize()}", throttle)
                log.debug("aws client %s in %s (%s: %d attempts, connect %.1fs, read %.1fs, bound %.1fs) -> %s",
                          service, region, policy.name, policy.max_attempts, policy.connect_timeout,
                          policy.read_timeout, policy.budget_seconds, client.meta.endpoint_url)
                if self._on_client is not None:
                    self._on_client(client, service, region, probe)
                self._cache[key] = client
            return self._cache[key]

    def endpoint_note(self) -> str | None:
        """A line for the operator when the endpoint is overridden (e.g. the local world)."""
        url = os.environ.get("AWS_ENDPOINT_URL")
        return f"AWS endpoint overridden by AWS_ENDPOINT_URL={url}" if url else None


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
