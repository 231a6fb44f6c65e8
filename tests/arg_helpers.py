"""Component argument checks, asserted without the engine: every problem at once, each with its path."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
import pytest


def invalid_arguments(build: Callable[[], object]) -> list[tuple[str, str]]:
    """(property path, reason) of every problem `build()` reports; it must raise one InputPropertiesError."""
    with pytest.raises(pulumi.InputPropertiesError) as caught:
        build()
    assert isinstance(caught.value, pulumi.RunError), "pulumi up must print it without a traceback"
    errors = caught.value.errors or []
    for error in errors:
        assert f"  - {error['property_path']} = {error['reason']}" in caught.value.message
    return [(e["property_path"], e["reason"]) for e in errors]
