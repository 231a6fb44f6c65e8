"""The world's DNS resolver: Route 53's answers on a loopback UDP port.

A DR command that verifies a failover by resolving the record (never by reading the switch, never
through Route 53's API) needs a name server that answers as Route 53 would: this one answers from
`route53.Route53View` (failover records, health checks, alias to load balancers), authoritative,
for every public hosted zone of the world and every load balancer's DNS name. It runs beside the
AWS server — a thread of the same process, in-process and detached alike — binds 127.0.0.1 only,
and logs each query in the world's call log (service `dns`).
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from hastack.local.world.route53 import Route53View

LOOPBACK = "127.0.0.1"


class DnsResolver:
    """A UDP name server on 127.0.0.1 answering from the world (start/stop, or a context manager)."""

    def __init__(self, world: Any, port: int = 0) -> None:
        self.world = world
        self.requested_port = port
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def address(self) -> tuple[str, int]:
        if self._sock is None:
            raise RuntimeError("the resolver is not started")
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> DnsResolver:
        import dns.message  # noqa: F401 - fail at start, not at the first query

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((LOOPBACK, self.requested_port))
        sock.settimeout(0.2)
        self._sock = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="local-aws-dns", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._thread = None

    def __enter__(self) -> DnsResolver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        assert self._sock is not None
        sock = self._sock
        while not self._stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self.reply(data)
            if reply is not None:
                try:
                    sock.sendto(reply, peer)
                except OSError:
                    continue

    def reply(self, data: bytes) -> bytes | None:
        """The wire-format answer to one wire-format query (None for garbage)."""
        import dns.exception
        import dns.flags
        import dns.message
        import dns.rcode
        import dns.rdataclass
        import dns.rdatatype
        import dns.rrset

        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        qname, qtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
        try:
            answer = Route53View(self.world).answer(qname, qtype)
        except Exception:  # noqa: BLE001 - a name server answers SERVFAIL, it does not die
            response.set_rcode(dns.rcode.SERVFAIL)
            self.world.calls.record("dns", None, f"{qtype} {qname}", "answered", None, "dns")
            return response.to_wire()
        response.set_rcode(dns.rcode.from_text(answer.rcode))
        for name, rtype, ttl, value in answer.records:
            response.answer.append(dns.rrset.from_text(name, ttl, dns.rdataclass.IN, rtype, value))
        self.world.calls.record("dns", None, f"{qtype} {qname}", "answered", None, "dns")
        return response.to_wire()
