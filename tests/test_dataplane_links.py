"""The cross-region link proxy against a real echo server over loopback sockets.

What could break: the delay not applied (or applied once per connection instead of per chunk), bytes
reordered or lost on a healthy link, an outage mode that answers (hang) or lingers (refuse), held
connections never released, a stopped proxy that keeps its port or its thread.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from hastack.local.dataplane.linkproxy import LinkMode, ProxyHub
from hastack.local.dataplane.processes import LOOPBACK, Endpoint, port_is_bound


class EchoServer:
    """A threaded TCP echo server on a free loopback port."""

    def __init__(self) -> None:
        self.sock = socket.create_server((LOOPBACK, 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            thread = threading.Thread(target=self._echo, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture()
def hub() -> Iterator[ProxyHub]:
    started = ProxyHub().start()
    yield started
    started.stop()


def connect(port: int, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection((LOOPBACK, port), timeout=timeout)


def round_trip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_a_link_delays_each_direction_and_keeps_every_byte_in_order(hub: ProxyHub, echo: EchoServer) -> None:
    link = hub.add_link("test", Endpoint(LOOPBACK, echo.port, "echo"), delay=0.05)
    with connect(link.port) as sock:
        started = time.perf_counter()
        assert round_trip(sock, b"ping") == b"ping"
        # One way there, one way back: never faster than twice the one-way delay.
        assert time.perf_counter() - started >= 0.1
        payload = os.urandom(3 * 1024 * 1024)  # larger than the queue bound: back-pressure, not loss
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        received = b""
        while len(received) < len(payload):
            received += sock.recv(1 << 20)
        sender.join()
    assert received == payload
    assert link.stats.bytes_forwarded >= 2 * len(payload)


def test_refuse_resets_new_and_open_connections(hub: ProxyHub, echo: EchoServer) -> None:
    link = hub.add_link("test", Endpoint(LOOPBACK, echo.port, "echo"), delay=0.0)
    opened = connect(link.port)
    assert round_trip(opened, b"a") == b"a"
    link.set_mode(LinkMode.REFUSE)
    with pytest.raises(ConnectionError):  # the open connection was reset
        round_trip(opened, b"b")
        round_trip(opened, b"c")
    opened.close()
    accepted_before = echo.accepted
    with pytest.raises(ConnectionError), connect(link.port) as fresh:  # reset at connect or at first read
        round_trip(fresh, b"d")
    assert echo.accepted == accepted_before  # never reached the server
    link.set_mode(LinkMode.UP)
    with connect(link.port) as healed:
        assert round_trip(healed, b"e") == b"e"


def test_hang_holds_connections_without_an_answer_until_the_outage_ends(hub: ProxyHub, echo: EchoServer) -> None:
    link = hub.add_link("test", Endpoint(LOOPBACK, echo.port, "echo"), delay=1.0)
    frozen = connect(link.port, timeout=10.0)
    assert round_trip(frozen, b"before") == b"before"
    frozen.sendall(b"in flight")
    # Cut at an instant at which the bytes are read and inside the 1 s delay (however late this thread runs).
    assert hub.set_mode_when([link], LinkMode.HANG, lambda: link.stats.bytes_in_flight == len(b"in flight"), 10.0)
    assert (link.stats.bytes_dropped, link.stats.bytes_in_flight) == (len(b"in flight"), 0)
    held = connect(link.port, timeout=10.0)  # a hanging endpoint accepts...
    held.sendall(b"hello")
    for sock in (held, frozen):  # ...and never answers, nor closes
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(10)
    link.set_mode(LinkMode.UP)  # the outage ends: held connections are released (reset)
    for sock in (held, frozen):
        with pytest.raises(ConnectionError):
            if sock.recv(10) == b"":
                raise ConnectionResetError("closed")
        sock.close()
    with connect(link.port, timeout=10.0) as healed:
        assert round_trip(healed, b"after") == b"after"


def test_a_link_proves_what_its_upstream_sent_has_not_been_delivered_and_a_cut_then_loses_it(
        hub: ProxyHub, echo: EchoServer) -> None:
    link = hub.add_link("test", Endpoint(LOOPBACK, echo.port, "echo"), delay=0.3)
    assert link.stats.delivered_upstream_read_at == 0.0  # nothing delivered yet
    with connect(link.port, timeout=10.0) as sock:
        first_sent = time.time()
        assert round_trip(sock, b"one") == b"one"
        assert link.stats.delivered_upstream_read_at > first_sent  # the answer was read after it was asked for
        second_sent = time.time()
        sock.sendall(b"two")
        seen: list[float] = []

        def answer_in_the_link() -> bool:  # "two" delivered to the echo, its answer read, not yet delivered
            seen[:] = [link.stats.delivered_upstream_read_at]
            return link.stats.bytes_forwarded == 9 and link.stats.bytes_in_flight == 3

        assert hub.set_mode_when([link], LinkMode.HANG, answer_in_the_link, timeout=10.0)
        assert first_sent < seen[0] < second_sent  # at the cut: nothing sent after `second_sent` had arrived
        assert (link.stats.bytes_dropped, link.stats.delivered_upstream_read_at) == (3, seen[0])
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):  # and never will: the cut dropped it
            sock.recv(10)
    assert not hub.set_mode_when([link], LinkMode.UP, lambda: False, timeout=0.05)  # never ready: no change
    assert link.mode == LinkMode.HANG


def test_stopping_the_hub_releases_held_connections_ports_and_its_thread(echo: EchoServer) -> None:
    hub = ProxyHub().start()
    links = [hub.add_link(f"l{i}", Endpoint(LOOPBACK, echo.port, "echo"), delay=0.01) for i in range(3)]
    held = connect(links[0].port, timeout=2.0)
    hub.set_mode(links[:1], LinkMode.HANG)
    ports = [link.port for link in links]
    assert all(port_is_bound(port) for port in ports)
    hub.stop()
    with pytest.raises(ConnectionError):
        if held.recv(10) == b"":
            raise ConnectionResetError("closed")
    held.close()
    assert not any(port_is_bound(port) for port in ports)
    assert not any(thread.name == "dataplane-links" for thread in threading.enumerate())
