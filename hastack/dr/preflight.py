"""Before a DR command talks to AWS: credentials that exist, and an overridden endpoint that answers.

Both are the operator's environment, so each is one line and exit 2 instead of a run whose every
step reports "unreachable". Neither calls AWS: boto3 resolves credentials locally (environment,
profiles, SSO cache, container or instance role), and the endpoint check is a TCP connect to
`AWS_ENDPOINT_URL` (set for a local AWS such as `hastack local up`, or a proxy). A real region's
endpoint that does not answer is *not* checked here: that is the outage the DR command exists for,
and the primary region being unreachable must never stop a failover (static stability).
"""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlsplit

from hastack.errors import UserError

#: How long the overridden endpoint gets to accept a connection.
CONNECT_TIMEOUT_SECONDS = 3.0


def require_credentials(session: Any) -> None:
    """Refuse to start without AWS credentials (`session`: a boto3 Session)."""
    if session.get_credentials() is None:
        raise UserError("no AWS credentials found (boto3's chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                        "AWS_PROFILE, ~/.aws, SSO, an instance or pod role): the DR command reads and changes AWS "
                        "in the DR region")


def require_endpoint_override_answers(timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Refuse to start when `AWS_ENDPOINT_URL` is set but nothing listens there."""
    url = os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        return
    parts = urlsplit(url)
    if not parts.hostname:
        raise UserError(f"AWS_ENDPOINT_URL={url!r} is not a URL such as http://127.0.0.1:5000")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise UserError(f"AWS_ENDPOINT_URL={url} does not answer ({exc.strerror or exc}): start the local AWS "
                        "(`hastack local up`) or unset AWS_ENDPOINT_URL to use AWS") from None


def require_aws(session: Any | None = None) -> None:
    """Both checks, endpoint first (credentials of a local AWS are placeholders); `session`: boto3's default."""
    require_endpoint_override_answers()
    if session is None:
        import boto3

        session = boto3.session.Session()
    require_credentials(session)
