"""Talking to a served local world as the DR command talks to AWS: boto3 over sockets, one attempt."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from hastack.local.server import InProcessServer


def client(server: InProcessServer, service: str, region: str, read_timeout: float = 30.0) -> Any:
    """A boto3 client of the world: one attempt (no retry hides an error), a short connect timeout,
    and a short read timeout where a hang is expected."""
    return boto3.client(service, region_name=region, endpoint_url=server.endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1,
                                      read_timeout=read_timeout))
