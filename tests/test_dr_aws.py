"""Every AWS call bounded: a hanging endpoint costs what a refusing one does; throttling is retried within the bound.

Real sockets on 127.0.0.1 (botocore's timeouts apply only there): one that accepts connections and
never answers, one that refuses them. Throttling is injected with a `before-send` handler.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from hastack.dr.aws import ClientFactory, critical_policy, probe_policy


@pytest.fixture()
def hanging() -> Iterator[str]:
    """An endpoint that accepts every connection and never answers (what a regional impairment looks like)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture()
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")


def test_profiles_fit_the_call_timeout() -> None:
    for call in (1, 2, 5, 10):
        p = critical_policy(call)
        assert p.max_attempts == 2 and p.connect_timeout + p.read_timeout <= max(call, 1.0) + 1e-9
        assert probe_policy(call).max_attempts == 1
    assert critical_policy(5).config("us-west-2").retries == {"mode": "standard", "total_max_attempts": 2}


def test_a_hanging_endpoint_costs_two_read_timeouts_at_most(hanging: str, creds: None) -> None:
    aws = ClientFactory(call_timeout_seconds=1.0)
    rds = aws.client("rds", "us-east-1", endpoint_url=hanging)
    started = time.monotonic()
    with pytest.raises((ReadTimeoutError, ConnectTimeoutError)):
        rds.describe_db_instances()
    took = time.monotonic() - started
    assert took <= aws.critical.budget_seconds + 1.0, took
    probe = aws.client("rds", "us-east-1", probe=True, endpoint_url=hanging)
    started = time.monotonic()
    with pytest.raises((ReadTimeoutError, ConnectTimeoutError)):
        probe.describe_db_instances()
    assert time.monotonic() - started <= aws.probe.budget_seconds + 1.0


def test_a_refusing_endpoint_fails_fast(creds: None) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rds = ClientFactory(1.0).client("rds", "us-east-1", endpoint_url=f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(EndpointConnectionError):
        rds.describe_db_instances()
    assert time.monotonic() - started < 2.5


def _throttles(count: int, calls: list[float]) -> Any:
    class Raw:
        def __init__(self, body: bytes) -> None:
            self.body = body

        def stream(self, **_: Any) -> Iterator[bytes]:
            yield self.body

    def handler(**_: Any) -> AWSResponse | None:
        calls.append(time.monotonic())
        if len(calls) > count:
            return None
        body = (b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
                b"</Error><RequestId>x</RequestId></ErrorResponse>")
        return AWSResponse("https://rds.us-west-2.amazonaws.com/", 400, {}, Raw(body))

    return handler


def _ok(**_: Any) -> AWSResponse:
    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield (b"<DescribeDBInstancesResponse><DescribeDBInstancesResult><DBInstances/>"
                   b"</DescribeDBInstancesResult></DescribeDBInstancesResponse>")

    return AWSResponse("https://rds.us-west-2.amazonaws.com/", 200, {}, Raw())


def test_a_throttling_burst_is_retried_beyond_two_attempts_within_the_bound(creds: None) -> None:
    aws = ClientFactory(call_timeout_seconds=2.0)
    rds = aws.client("rds", "us-west-2")
    calls: list[float] = []
    rds.meta.events.register_first("before-send.rds.DescribeDBInstances", _throttles(4, calls))
    rds.meta.events.register("before-send.rds.DescribeDBInstances", _ok)
    assert rds.describe_db_instances()["DBInstances"] == []
    assert len(calls) == 5, "four throttles, then the answer: more than the two attempts other errors get"
    assert calls[-1] - calls[0] <= aws.critical.budget_seconds


def test_throttling_past_the_bound_gives_up(creds: None) -> None:
    aws = ClientFactory(call_timeout_seconds=1.0)
    rds = aws.client("rds", "us-west-2")
    calls: list[float] = []
    rds.meta.events.register_first("before-send.rds.DescribeDBInstances", _throttles(10_000, calls))
    started = time.monotonic()
    with pytest.raises(ClientError, match="Throttling"):
        rds.describe_db_instances()
    assert time.monotonic() - started <= aws.critical.budget_seconds + 6.0  # one last standard retry at most
