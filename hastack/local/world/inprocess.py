"""The world's verdicts for in-process moto (`mock_aws`), where there is no socket to drop or hold.

`mock_aws` answers boto3's requests from botocore's `before-send` event (moto's `BotocoreStubber`);
`install()` wraps that stubber so each request first gets the world's verdict and is logged, as
the server's WSGI layer does: a request for a dark region in `refuse` mode raises
`EndpointConnectionError`; in `hang` mode it is held for the world's `hangTimeoutSeconds` (the
client's own read timeout cannot apply in-process) and then raises botocore's `ReadTimeoutError`
(`ConnectionClosedError` if the outage ended first); a throttled one gets the service's throttling
error answer, a DynamoDB call without its MRSC quorum `InternalServerError`.
"""

from __future__ import annotations

import threading
from typing import Any

from hastack.local.world.calls import client_name
from hastack.local.world.errors import error_answer
from hastack.local.world.state import ANSWER, HANG, REFUSE, WORLD, signing_scope

_INSTALLED: list[bool] = []
_LOCK = threading.Lock()


def header(request: Any, name: str) -> str:
    """A header of a botocore request as text (botocore keeps some as bytes)."""
    value = request.headers.get(name, "")
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _service(signing: str, request: Any) -> str:
    body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
    return client_name(signing, "2012-06-01" if b"Version=2012-06-01" in body else None)


def install() -> None:
    """Wrap moto's in-process stubber (once per process)."""
    from botocore.awsrequest import AWSResponse
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
    from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

    with _LOCK:
        if _INSTALLED:
            return
        original = BotocoreStubber.__call__

        def __call__(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:  # noqa: N807
            if not self.enabled:
                return original(self, event_name, request, **kwargs)
            scope = signing_scope(header(request, "Authorization"))
            if scope is None:
                return original(self, event_name, request, **kwargs)
            region, service = scope[0], _service(scope[1], request)
            operation = event_name.rsplit(".", 1)[-1]
            verdict = WORLD.verdict(service, region, operation, request.body)
            if verdict.outcome == REFUSE:
                WORLD.calls.record(service, region, operation, REFUSE, None, "in-process")
                raise EndpointConnectionError(endpoint_url=request.url)
            if verdict.outcome == HANG:
                WORLD.calls.record(service, region, operation, HANG, None, "in-process")
                if WORLD.hold(service, region, limit=WORLD.hang_timeout_seconds):
                    raise ConnectionClosedError(endpoint_url=request.url)
                raise ReadTimeoutError(endpoint_url=request.url)
            if verdict.error is not None:  # a throttle, or a lost quorum
                status, headers, body = error_answer(service, *verdict.error)
                WORLD.calls.record(service, region, operation, verdict.outcome, status, "in-process")
                return AWSResponse(request.url, status, headers, MockRawResponse(body))
            response = original(self, event_name, request, **kwargs)
            WORLD.calls.record(service, region, operation, ANSWER,
                               getattr(response, "status_code", None), "in-process")
            return response

        BotocoreStubber.__call__ = __call__  # type: ignore[method-assign]
        _INSTALLED.append(True)
