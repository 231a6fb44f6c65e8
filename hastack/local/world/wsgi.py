"""The world in front of moto's WSGI app: verdicts on each request, and the control endpoint.

Why a layer and not plain `moto_server`: a regional-failover drill needs the primary region's APIs
to stop answering while the DR region's keep working — moto has no notion of it. For a request
signed for a dark region (the SigV4 credential scope names region and service) the layer drops
the connection without a response, as an unreachable regional endpoint does; global services
(Route 53, IAM, STS) keep answering. Everything else AWS does that moto lacks is patched into moto
itself (`hastack.local.world.extensions`), so it holds in-process too.

The world is steered through `/_hastack/world` (GET shows it, POST changes it), so a detached
server can be steered exactly like an in-process one.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from hastack.local.world import install
from hastack.local.world.preexisting import ensure_certificates, warm_backends
from hastack.local.world.state import REFUSE, WORLD, World, signing_scope

CONTROL_PATH = "/_hastack/world"


class WorldControl:
    """WSGI middleware in front of moto: the world's verdicts and the control endpoint."""

    def __init__(self, app: Callable[..., Iterable[bytes]], world: World = WORLD) -> None:
        install()
        self.app = app
        self.world = world

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") == CONTROL_PATH:
            return self._control(environ, start_response)
        scope = signing_scope(environ.get("HTTP_AUTHORIZATION", ""))
        if scope is not None and self.world.verdict(scope[1], scope[0]).outcome == REFUSE:
            return self._drop(environ, start_response)
        return self.app(environ, start_response)

    def _drop(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Close the client's connection without an answer: what an unreachable endpoint looks like."""
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        # The status line can no longer reach the client; setting it only keeps the server quiet.
        start_response("503 Service Unavailable", [("Content-Length", "0")])
        return [b""]

    def _control(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                change = json.loads(environ["wsgi.input"].read(length) or b"{}")
            except json.JSONDecodeError:
                start_response("400 Bad Request", [("Content-Type", "application/json")])
                return [b'{"error": "body must be JSON"}']
            self.world.update(change)
            if change.get("warm"):
                threading.Thread(target=warm_backends, args=(list(change["warm"]),), name="local-aws-warm",
                                 daemon=True).start()
            if change.get("certificates"):
                ensure_certificates(list(change["certificates"]), str(change.get("domain", "example.com")))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(self.world.to_json()).encode()]


def build_app(world: World = WORLD) -> WorldControl:
    """moto's multi-service WSGI app behind the world control layer."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return WorldControl(DomainDispatcherApplication(create_backend_app), world)
