"""The world's verdicts for in-process moto (`mock_aws`), where no socket exists to drop.

`mock_aws` answers boto3's requests from botocore's `before-send` event (moto's `BotocoreStubber`);
`install()` wraps that stubber so each request first gets the world's verdict, as the server's WSGI
layer gives it: a request for a dark region raises `EndpointConnectionError` (the connection was
refused) instead of being answered.
"""

from __future__ import annotations

import threading
from typing import Any

from hastack.local.world.state import REFUSE, WORLD, signing_scope

_INSTALLED: list[bool] = []


def header(request: Any, name: str) -> str:
    """A header of a botocore request as text (botocore keeps some as bytes)."""
    value = request.headers.get(name, "")
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

_LOCK = threading.Lock()


def install() -> None:
    """Wrap moto's in-process stubber (once per process)."""
    from botocore.exceptions import EndpointConnectionError
    from moto.core.botocore_stubber import BotocoreStubber

    with _LOCK:
        if _INSTALLED:
            return
        original = BotocoreStubber.__call__

        def __call__(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:  # noqa: N807
            if self.enabled:
                scope = signing_scope(header(request, "Authorization"))
                if scope is not None and WORLD.verdict(scope[1], scope[0]).outcome == REFUSE:
                    raise EndpointConnectionError(endpoint_url=request.url)
            return original(self, event_name, request, **kwargs)

        BotocoreStubber.__call__ = __call__  # type: ignore[method-assign]
        _INSTALLED.append(True)
