"""The one AWS client factory of the DR command.

Why one factory: every client gets the region set explicitly (a DR command must never land in
the ambient default region), the same retry policy, and bounded timeouts — and the choice is
logged once. Credentials come from boto3's standard chain only. `AWS_ENDPOINT_URL` (and the
per-service `AWS_ENDPOINT_URL_<SERVICE>`) are honoured by botocore itself, so the command runs
unchanged against a moto server on 127.0.0.1.

Two profiles:
- *standard*: botocore "standard" retries (throttling and 5xx retried with jittered exponential
  backoff), generous read timeout — for the DR region, where the work happens.
- *fast*: for calls that may hit the failed primary region (the fence): few attempts, short
  connect/read timeouts derived from `drTimeouts.fenceTimeoutSeconds`, so an outage costs seconds,
  not the default minutes of connect retries.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

log = logging.getLogger("hastack.dr.aws")

#: Route 53 is a global service whose control plane is signed for (and lives in) us-east-1.
ROUTE53_REGION = "us-east-1"

#: botocore's retry modes we allow ("adaptive" adds client-side rate limiting on throttling).
RETRY_MODES = ("standard", "adaptive")


@dataclass(frozen=True)
class ClientPolicy:
    """Retry and timeout settings of one client profile."""

    retry_mode: str = "standard"
    max_attempts: int = 8
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def config(self, region: str) -> Config:
        return Config(region_name=region, retries={"mode": self.retry_mode, "max_attempts": self.max_attempts},
                      connect_timeout=self.connect_timeout, read_timeout=self.read_timeout)


def fast_policy(fence_timeout_seconds: float) -> ClientPolicy:
    """A profile whose worst case (attempts x (connect + read)) stays within the fence timeout."""
    budget = max(float(fence_timeout_seconds), 2.0)
    attempts = 2
    connect = max(1.0, min(3.0, budget / 8))
    read = max(1.0, budget / attempts - connect - 1.0)
    return ClientPolicy(retry_mode="standard", max_attempts=attempts, connect_timeout=connect, read_timeout=read)


class ClientFactory:
    """Builds (and caches) boto3 clients: one per (service, region, profile).

    `on_client` lets a caller attach botocore event handlers to every client it builds (the
    simulation adds modelled AWS latency this way; tests inject throttling) — the code that uses
    the clients does not change.
    """

    def __init__(self, standard: ClientPolicy | None = None, fast: ClientPolicy | None = None,
                 session: boto3.session.Session | None = None,
                 on_client: Callable[[Any, str, str, bool], None] | None = None) -> None:
        self.standard = standard or ClientPolicy()
        self.fast = fast or fast_policy(20)
        self._session = session or boto3.session.Session()
        self._on_client = on_client
        self._cache: dict[tuple[str, str, bool], Any] = {}
        self._lock = threading.Lock()  # boto3 sessions are not thread-safe; clients are.

    def client(self, service: str, region: str, *, fast: bool = False) -> Any:
        """A client for `service` in `region`; `fast=True` for calls that may hit a dead region."""
        if not region:
            raise ValueError(f"no region given for a {service} client: the DR command never uses a default region")
        key = (service, region, fast)
        with self._lock:
            if key not in self._cache:
                policy = self.fast if fast else self.standard
                client = self._session.client(service, config=policy.config(region))
                log.debug("aws client %s in %s (%s profile: retries=%s x%d, connect %.0fs, read %.0fs) -> %s",
                          service, region, "fast" if fast else "standard", policy.retry_mode,
                          policy.max_attempts, policy.connect_timeout, policy.read_timeout,
                          client.meta.endpoint_url)
                if self._on_client is not None:
                    self._on_client(client, service, region, fast)
                self._cache[key] = client
            return self._cache[key]

    def endpoint_note(self) -> str | None:
        """A line for the operator when the endpoint is overridden (e.g. a local moto server)."""
        url = os.environ.get("AWS_ENDPOINT_URL")
        return f"AWS endpoint overridden by AWS_ENDPOINT_URL={url}" if url else None


def factory_for(fence_timeout_seconds: float, wait_timeout_seconds: float, retry_mode: str = "standard",
                **kwargs: Any) -> ClientFactory:
    """The factory the CLI uses, sized from the stack's `drTimeouts`."""
    if retry_mode not in RETRY_MODES:
        raise ValueError(f"retry mode {retry_mode!r} is not one of {', '.join(RETRY_MODES)}")
    standard = ClientPolicy(retry_mode=retry_mode, max_attempts=8, connect_timeout=10.0,
                            read_timeout=min(60.0, max(10.0, wait_timeout_seconds / 10)))
    return ClientFactory(standard=standard, fast=fast_policy(fence_timeout_seconds), **kwargs)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
