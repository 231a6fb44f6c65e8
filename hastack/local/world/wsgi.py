"""The world in front of moto's WSGI app: verdicts and the call log for each request, and the
control endpoint.

Why a layer and not plain `moto_server`: an outage is about connections, which moto never sees.
For a request signed for a dark region (the SigV4 credential scope names region and service) the
layer closes the connection unanswered (`refuse`) or accepts it and holds it, unanswered, until
the outage ends or the server stops (`hang`), then closes it; a throttled call gets the service's
throttling error, and a DynamoDB call that needs a quorum its MRSC replica lacks gets
`InternalServerError` (`global_tables`). Every signed request is logged (`calls`). Everything else AWS does that moto
lacks is patched into moto itself (`extensions`), so it holds in-process too.

The control endpoint (JSON; GET reads, POST changes):

| path | what |
|---|---|
| `GET /_hastack/world` | the world's state (outage, partitions, modes, throttles, held connections, global tables) |
| `POST /_hastack/world` | change it (keys in `state._parse_change`; a bad key or value: 400, nothing changed) |
| `GET /_hastack/world/calls?since=N&service=S` | the call log after sequence number N |
| `GET /_hastack/world/health` | every Route 53 health check's computed health, with the reason |
| `GET /_hastack/world/dns?name=N&type=A` | what the world's resolver answers for N |
| `GET /_hastack/world/globalDatastores` | the emulated Global Datastores and their members |
| `GET /_hastack/world/globalTables` | DynamoDB global tables: replicas, witness, mode, each replica's quorum |
"""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from hastack.local.world import install
from hastack.local.world.calls import client_name, operation_of
from hastack.local.world.errors import error_answer
from hastack.local.world.preexisting import ensure_certificates, warm_backends
from hastack.local.world.route53 import Route53View
from hastack.local.world.state import ANSWER, HANG, REFUSE, WORLD, World, WorldChangeError, signing_scope

CONTROL_PATH = "/_hastack/world"
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
            503: "Service Unavailable"}


class WorldControl:
    """WSGI middleware in front of moto: the world's verdicts, the call log, the control endpoint."""

    def __init__(self, app: Callable[..., Iterable[bytes]], world: World = WORLD) -> None:
        install()
        self.app = app
        self.world = world
        #: (host, port) of the DNS resolver served beside this app (set by the server that runs both).
        self.resolver: tuple[str, int] | None = None

    def state(self) -> dict[str, Any]:
        """The world's state, with the address of this server's resolver."""
        resolver = {"host": self.resolver[0], "port": self.resolver[1]} if self.resolver else None
        return {**self.world.to_json(), "resolver": resolver}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == CONTROL_PATH or path.startswith(CONTROL_PATH + "/"):
            return self._control(path[len(CONTROL_PATH):], environ, start_response)
        scope = signing_scope(environ.get("HTTP_AUTHORIZATION", ""))
        if scope is None:
            return self.app(environ, start_response)
        region = scope[0]
        body = _buffer_body(environ)
        query = environ.get("QUERY_STRING", "")
        version = (parse_qs(query).get("Version") or parse_qs(body.decode("utf-8", "replace")).get("Version")
                   or [None])[0] if scope[1] == "elasticloadbalancing" else None
        service = client_name(scope[1], version)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        operation = operation_of(service, environ.get("REQUEST_METHOD", "GET"), path, query, headers, body)
        verdict = self.world.verdict(service, region, operation, body)
        if verdict.outcome == REFUSE:
            self.world.calls.record(service, region, operation, REFUSE, None, "server")
            return _drop(environ, start_response)
        if verdict.outcome == HANG:
            self.world.calls.record(service, region, operation, HANG, None, "server")
            self.world.hold(service, region)
            return _drop(environ, start_response)
        if verdict.error is not None:  # a throttle, or a lost quorum: the world answers with AWS's error
            status, out_headers, out = error_answer(service, *verdict.error)
            self.world.calls.record(service, region, operation, verdict.outcome, status, "server")
            start_response(f"{status} {_REASONS.get(status, 'Error')}", list(out_headers.items()))
            return [out]
        answered: list[int] = []

        def capture(code: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answered.append(int(code.split(" ", 1)[0]))
            return start_response(code, response_headers, exc_info) if exc_info else start_response(code,
                                                                                                      response_headers)

        result = self.app(environ, capture)
        self.world.calls.record(service, region, operation, ANSWER, answered[0] if answered else None, "server")
        return result

    # --- the control endpoint -----------------------------------------------------------------

    def _control(self, sub: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        params = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if sub in ("", "/") and method == "POST":
            return self._change(environ, start_response)
        if method != "GET":
            return _json(start_response, 400, {"error": f"{method} {CONTROL_PATH}{sub}: only GET (and POST on "
                                                        f"{CONTROL_PATH}) are served"})
        if sub in ("", "/"):
            return _json(start_response, 200, self.state())
        if sub == "/calls":
            try:
                since = int(params.get("since", "0"))
            except ValueError:
                return _json(start_response, 400, {"error": f"since = {params['since']!r}: a call sequence number"})
            calls = self.world.calls.since(since, params.get("service"))
            return _json(start_response, 200, {"calls": [c.to_json() for c in calls],
                                               "last": self.world.calls.last_seq()})
        if sub == "/health":
            return _json(start_response, 200, {"healthChecks": Route53View(self.world).all_health()})
        if sub == "/dns":
            if not params.get("name"):
                return _json(start_response, 400, {"error": "name: the DNS name to resolve is required"})
            answer = Route53View(self.world).answer(params["name"], params.get("type", "A"))
            return _json(start_response, 200, answer.to_json())
        if sub == "/globalDatastores":
            return _json(start_response, 200, {"globalDatastores": self.world.datastores.to_json()})
        if sub == "/globalTables":
            return _json(start_response, 200, {"globalTables": self.world.global_tables.to_json()})
        return _json(start_response, 404, {"error": f"{CONTROL_PATH}{sub}: no such world resource (calls, health, "
                                                    "dns, globalDatastores, globalTables)"})

    def _change(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            change = json.loads(_buffer_body(environ) or b"{}")
        except json.JSONDecodeError:
            return _json(start_response, 400, {"error": "body must be JSON"})
        try:
            self.world.update(change)
        except WorldChangeError as exc:
            return _json(start_response, 400, {"error": str(exc)})
        if change.get("warm"):
            threading.Thread(target=warm_backends, args=(list(change["warm"]),), name="local-aws-warm",
                             daemon=True).start()
        if change.get("certificates"):
            ensure_certificates(list(change["certificates"]), str(change.get("domain", "example.com")))
        return _json(start_response, 200, self.state())


def _json(start_response: Callable[..., Any], status: int, body: dict[str, Any]) -> Iterable[bytes]:
    start_response(f"{status} {_REASONS.get(status, 'Error')}", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def _drop(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
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


def _buffer_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so both this layer and moto can read it."""
    if "hastack.body" in environ:
        return environ["hastack.body"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["hastack.body"] = body
    return body


def build_app(world: World = WORLD) -> WorldControl:
    """moto's multi-service WSGI app behind the world control layer."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return WorldControl(DomainDispatcherApplication(create_backend_app), world)
