"""Which AWS operation a request is, and the log of every request the world received.

The call log is what tests assert "which planes were used, and when" on: "no Route 53 control-plane
request before the DR region served" is a question about requests AWS received, not about what
the command says it did. Both paths log: the server (WSGI, from the raw HTTP request) and
in-process `mock_aws` (from botocore's event name); DNS queries to the world's resolver are logged
too (service `dns`), so the data plane shows beside the control plane.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

#: SigV4 signing names whose boto3 client name differs.
_CLIENT_NAMES = {"monitoring": "cloudwatch", "elasticloadbalancing": "elbv2", "email": "ses",
                 "states": "stepfunctions", "execute-api": "apigateway"}
#: How many calls the log keeps (a deploy makes a few hundred; a drill a few hundred more).
LOG_SIZE = 50_000


def client_name(signing_name: str, version: str | None = None) -> str:
    """The boto3 client name of a SigV4 signing name (`monitoring` -> `cloudwatch`)."""
    if signing_name == "elasticloadbalancing" and version == "2012-06-01":
        return "elb"
    return _CLIENT_NAMES.get(signing_name, signing_name)


@lru_cache(maxsize=64)
def service_model(service: str) -> Any:
    """botocore's model of `service` (protocol, REST routes), or None for an unknown service."""
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    try:
        return botocore.session.get_session().get_service_model(service)
    except UnknownServiceError:
        return None


def protocol_of(service: str) -> str:
    model = service_model(service)
    return str(model.metadata.get("protocol", "query")) if model is not None else "query"


@lru_cache(maxsize=64)
def _rest_routes(service: str) -> list[tuple[str, re.Pattern[str], str]]:
    """(method, path regex, operation) of a REST service, most specific first."""
    model = service_model(service)
    routes = []
    for name in model.operation_names if model is not None else []:
        http = model.operation_model(name).http
        uri = str(http.get("requestUri", "/")).split("?", 1)[0]
        literal = sum(len(part) for part in re.split(r"\{[^}]+\}", uri))
        pattern = "".join(
            ("(.+)" if piece.endswith("+}") else "([^/]+)") if piece.startswith("{") else re.escape(piece)
            for piece in re.split(r"(\{[^}]+\})", uri) if piece)
        routes.append((literal, http.get("method", "GET"), re.compile(f"^{pattern}/?$"), name))
    routes.sort(key=lambda r: -r[0])
    return [(method, regex, name) for _, method, regex, name in routes]


def operation_of(service: str, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> str:
    """The AWS operation of one raw HTTP request to `service` (a boto3 client name)."""
    target = headers.get("x-amz-target", "")
    if target:
        return target.rsplit(".", 1)[-1]
    action = parse_qs(query).get("Action") or (parse_qs(body.decode("utf-8", "replace")).get("Action")
                                               if body and method == "POST" else None)
    if action:
        return action[0]
    for route_method, regex, name in _rest_routes(service):
        if route_method == method and regex.match(path):
            return name
    return f"{method} {path}"


@dataclass(frozen=True)
class Call:
    """One request the world received, and what it did with it."""

    seq: int
    time: str
    epoch: float
    service: str
    region: str | None
    operation: str
    outcome: str
    status: int | None
    via: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class CallLog:
    """Every request, in arrival order (bounded; `seq` keeps counting so readers can page)."""

    def __init__(self, size: int = LOG_SIZE) -> None:
        self._calls: deque[Call] = deque(maxlen=size)
        self._seq = itertools.count(1)
        self._last = 0
        self._lock = threading.Lock()

    def record(self, service: str, region: str | None, operation: str, outcome: str, status: int | None,
               via: str) -> Call:
        now = datetime.now(UTC)
        with self._lock:
            call = Call(next(self._seq), now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                        now.timestamp(), service, region, operation, outcome, status, via)
            self._calls.append(call)
            self._last = call.seq
        return call

    def since(self, seq: int = 0, service: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if c.seq > seq and (service is None or c.service == service)]

    def last_seq(self) -> int:
        with self._lock:
            return self._last

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
