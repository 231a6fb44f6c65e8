"""What the engine sends that pulumi-policy's validation API drops: secret markers and the stack config.

The Pulumi engine marshals every resource's properties for `Analyze` / `AnalyzeStack` with secrets
kept (a secret value arrives as `{<sig>: <secret sig>, "value": ...}`), and calls `ConfigureStack`
with the stack's config and the list of keys declared secret (`config_secret_keys`).
pulumi-policy 1.21 unwraps the markers before it calls a validation function and keeps only the
stack tags of `ConfigureStack`. The rule that must know *which* values are secret
(`no-plaintext-secrets`) needs both, so `install()` wraps two methods of the SDK's Analyzer servicer
to remember them, then lets the SDK do exactly what it did before.

The raw `AnalyzeStack` request is kept per thread (the SDK runs a request's policies on the thread
that received it) and only while that request is being analyzed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from google.protobuf import json_format
from pulumi_policy import policy as sdk

SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

_current = threading.local()
_stack_config: dict[str, str] = {}
_secret_keys: set[str] = set()
_lock = threading.Lock()


def install() -> None:
    """Wrap the servicer's ConfigureStack and AnalyzeStack (idempotent)."""
    servicer = sdk._PolicyAnalyzerServicer  # noqa: SLF001 - the SDK has no public hook for this
    if getattr(servicer, "_hastack_protocol", False):
        return
    configure_stack = servicer.ConfigureStack
    analyze_stack = servicer.AnalyzeStack

    def ConfigureStack(self: Any, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method name
        with _lock:
            _stack_config.clear()
            _stack_config.update(dict(request.config))
            _secret_keys.clear()
            _secret_keys.update(request.config_secret_keys)
        return configure_stack(self, request, context)

    def AnalyzeStack(self: Any, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method name
        _current.resources = request.resources
        try:
            return analyze_stack(self, request, context)
        finally:
            _current.resources = None

    servicer.ConfigureStack = ConfigureStack
    servicer.AnalyzeStack = AnalyzeStack
    servicer._hastack_protocol = True  # noqa: SLF001


def installed() -> bool:
    return bool(getattr(sdk._PolicyAnalyzerServicer, "_hastack_protocol", False))  # noqa: SLF001


def secret_config() -> dict[str, str]:
    """The stack config values of the keys the engine says are secret (decrypted, as the engine sends them)."""
    with _lock:
        return {k: v for k, v in _stack_config.items() if k in _secret_keys}


def stack_properties() -> dict[str, dict[str, Any]] | None:
    """URN -> the properties of each resource of the AnalyzeStack request being served, secret markers
    kept; None outside an AnalyzeStack call (or without `install()`)."""
    resources = getattr(_current, "resources", None)
    if resources is None:
        return None
    return {r.urn: json_format.MessageToDict(r.properties) for r in resources}


def is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SIG) == SECRET_SIG


def leaves(value: Any, path: str = "", secret: bool = False) -> Iterator[tuple[str, Any, bool]]:
    """(path, scalar, is it inside a secret) for every scalar of a property tree with markers."""
    if is_secret(value):
        yield from leaves(value.get("value"), path, True)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from leaves(v, f"{path}.{k}" if path else str(k), secret)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}[{i}]", secret)
    else:
        yield path, value, secret
