"""The data plane's one error type: a server could not be found, started, reached or stopped."""

from __future__ import annotations


class DataPlaneError(Exception):
    """Something the operator can act on; the message names the server, path or port involved."""
