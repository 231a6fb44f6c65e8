"""Cross-region links: loopback TCP proxies that add a one-way delay and can fail as a region does.

On bare loopback, asynchronous replication is so fast that a cut would never lose a write and the
measured RPO would always read 0. Every cross-region connection of the local world (clients to a
database in the other region, the WAL stream, Valkey replication) therefore goes through a
`LinkProxy`: each chunk read from one side is written to the other `delay` seconds later (order kept,
throughput not limited), about 70 ms one way by default, as between us-east-1 and us-west-2.

A link is in one of three modes:

- `up`: bytes flow, delayed;
- `refuse`: new connections are reset at once, open ones are reset, bytes in flight are dropped;
- `hang`: new connections are accepted and held without a byte ever answered; open connections
  freeze (nothing more is read or delivered, bytes in flight are dropped, as a partition eats
  packets). Held and frozen connections are released (reset) when the outage ends or the proxy stops.

What a cut loses can be proven at the link itself: `LinkStats.delivered_upstream_read_at` is the
wall time the link read the newest chunk from its upstream that it has delivered to the client side.
Nothing the upstream sent after that moment has reached the client (each connection delivers in
order, and the value is the newest over all connections). For a replication link (the replica is
the client, the primary the upstream), a write sent to the primary after that moment is not on the
replica yet; `ProxyHub.set_mode_when` changes modes at an instant of the loop at which a condition
on such evidence holds, so the condition still holds when the links are cut.

Memory is bounded: at most `MAX_CONNECTIONS` per link and `QUEUE_CHUNKS` chunks of `CHUNK_BYTES` in
flight per direction (a full queue stops reading, so TCP pushes back on the sender). All links of a
data plane share one asyncio loop in one thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from hastack.local.dataplane.errors import DataPlaneError
from hastack.local.dataplane.processes import LOOPBACK, Endpoint

CHUNK_BYTES = 64 * 1024
QUEUE_CHUNKS = 64
MAX_CONNECTIONS = 256
UPSTREAM_CONNECT_TIMEOUT = 5.0
#: The default one-way delay of a cross-region link: roughly us-east-1 <-> us-west-2.
DEFAULT_ONE_WAY_DELAY = 0.070

T = TypeVar("T")


class LinkMode(StrEnum):
    UP = "up"
    REFUSE = "refuse"
    HANG = "hang"


@dataclass
class LinkStats:
    """What a link did (read from any thread; updated only by the proxy's loop)."""

    accepted: int = 0
    reset: int = 0
    held: int = 0
    bytes_forwarded: int = 0
    bytes_dropped: int = 0
    bytes_in_flight: int = 0  # read from one side, not yet delivered to the other (on the wire)
    #: Wall time (epoch seconds) the newest chunk from the upstream that reached the client was read
    #: (0.0 before any): nothing the upstream sent after it has been delivered.
    delivered_upstream_read_at: float = 0.0


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0): the peer fails at once instead of reading a clean end."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    in_flight: int = 0  # bytes read from one side, not yet written to the other
    frozen: bool = False

    def freeze(self) -> int:
        """Stop moving bytes (tasks cancelled, queues dropped), keep the sockets open; returns bytes dropped."""
        dropped, self.in_flight = self.in_flight, 0
        self.frozen = True
        for task in self.tasks:
            task.cancel()
        return dropped

    def reset(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                _reset(writer)


class LinkProxy:
    """One listening port on 127.0.0.1 forwarding to one upstream endpoint, with delay and outage modes."""

    def __init__(self, hub: ProxyHub, name: str, upstream: Endpoint, delay: float) -> None:
        self.hub = hub
        self.name = name
        self.upstream = upstream
        self.delay = delay
        self.mode = LinkMode.UP
        self.stats = LinkStats()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[_Connection] = set()
        self._held: set[_Connection] = set()

    def __repr__(self) -> str:
        return f"LinkProxy({self.name!r}, :{self.port} -> {self.upstream}, {self.delay * 1000:.0f} ms, {self.mode})"

    @property
    def endpoint(self) -> Endpoint:
        """Where a client connects to reach the upstream through this link."""
        return Endpoint(LOOPBACK, self.port, self.upstream.server)

    def set_mode(self, mode: LinkMode | str) -> None:
        """Change the mode now (thread-safe); returns once open connections are reset, frozen or released."""
        self.hub.call(self._set_mode(LinkMode(mode)))

    def retarget(self, upstream: Endpoint) -> None:
        """Send new connections to `upstream` (a server restarted on another port); open ones are kept."""
        self.upstream = upstream

    def set_delay(self, delay: float) -> None:
        if delay < 0:
            raise DataPlaneError(f"a link's delay must be >= 0 seconds, got {delay}")
        self.delay = delay

    # --- on the loop thread ------------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, LOOPBACK, 0, backlog=128)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _set_mode(self, mode: LinkMode) -> None:
        previous, self.mode = self.mode, mode
        if mode == LinkMode.UP:
            self._release_held()
        elif mode == LinkMode.HANG and previous != LinkMode.HANG:
            for conn in list(self._open):
                self._count_dropped(conn.freeze())
                self._held.add(conn)
            self._open.clear()
        elif mode == LinkMode.REFUSE:
            for conn in list(self._open):
                self._count_dropped(conn.freeze())
                conn.reset()
            self._open.clear()
            self._release_held()

    def _count_dropped(self, dropped: int) -> None:
        self.stats.bytes_dropped += dropped
        self.stats.bytes_in_flight -= dropped

    def _release_held(self) -> None:
        for conn in self._held:
            conn.reset()
        self._held.clear()

    async def _close(self) -> None:
        await self._set_mode(LinkMode.REFUSE)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(writer)
        if self.mode == LinkMode.REFUSE or len(self._open) + len(self._held) >= MAX_CONNECTIONS:
            self.stats.reset += 1
            _reset(writer)
            return
        if self.mode == LinkMode.HANG:
            self.stats.held += 1
            self._held.add(conn)
            return
        try:
            up_reader, conn.upstream = await asyncio.wait_for(
                asyncio.open_connection(self.upstream.host, self.upstream.port), UPSTREAM_CONNECT_TIMEOUT)
        except (OSError, TimeoutError):
            self.stats.reset += 1
            _reset(writer)
            return
        if self.mode != LinkMode.UP:  # the outage began while the upstream was being dialled
            _reset(conn.upstream)
            await self._accept_in_outage(conn)
            return
        self.stats.accepted += 1
        self._open.add(conn)
        pumps = [asyncio.create_task(self._pump(conn, reader, conn.upstream, from_upstream=False)),
                 asyncio.create_task(self._pump(conn, up_reader, writer, from_upstream=True))]
        conn.tasks.extend(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        if conn.frozen:  # held by a `hang`, or already reset by a `refuse`
            return
        self._open.discard(conn)
        for task in conn.tasks:
            task.cancel()
        for side in (writer, conn.upstream):
            side.close()

    async def _accept_in_outage(self, conn: _Connection) -> None:
        conn.upstream = None
        if self.mode == LinkMode.HANG:
            self.stats.held += 1
            self._held.add(conn)
        else:
            self.stats.reset += 1
            conn.reset()

    async def _pump(self, conn: _Connection, source: asyncio.StreamReader, target: asyncio.StreamWriter,
                    *, from_upstream: bool) -> None:
        """Move bytes from `source` to `target`, each chunk delivered `delay` after it was read; b"" ends it."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, float, bytes]] = asyncio.Queue(maxsize=QUEUE_CHUNKS)

        async def receive() -> None:
            try:
                while data := await source.read(CHUNK_BYTES):
                    read_at = time.time()
                    conn.in_flight += len(data)
                    self.stats.bytes_in_flight += len(data)
                    await queue.put((loop.time() + self.delay, read_at, data))
            except OSError:
                pass
            await queue.put((loop.time() + self.delay, time.time(), b""))

        receiver = asyncio.create_task(receive())
        conn.tasks.append(receiver)
        try:
            while True:
                due, read_at, data = await queue.get()
                if not data:
                    return
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if from_upstream:  # counted before the write: once written, the client may have it
                    self.stats.delivered_upstream_read_at = max(self.stats.delivered_upstream_read_at, read_at)
                target.write(data)
                await target.drain()
                conn.in_flight -= len(data)
                self.stats.bytes_in_flight -= len(data)
                self.stats.bytes_forwarded += len(data)
        except OSError:
            return
        finally:
            receiver.cancel()


class ProxyHub:
    """The thread and asyncio loop that run every link of one data plane."""

    def __init__(self) -> None:
        self.links: dict[str, LinkProxy] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ProxyHub:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="dataplane-links", daemon=True)
        self._thread.start()
        return self

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run `coro` on the links' loop and wait for its result."""
        if self._loop is None:
            coro.close()
            raise DataPlaneError("the link proxies are not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def add_link(self, name: str, upstream: Endpoint, delay: float = DEFAULT_ONE_WAY_DELAY) -> LinkProxy:
        """A new link listening on a free loopback port, forwarding to `upstream`."""
        if name in self.links:
            raise DataPlaneError(f"link {name!r} exists already")
        link = LinkProxy(self, name, upstream, 0.0)
        link.set_delay(delay)
        self.call(link._listen())
        self.links[name] = link
        return link

    def set_mode(self, links: list[LinkProxy], mode: LinkMode | str) -> None:
        """Change several links at one instant of the loop (a regional outage starts everywhere at once)."""
        mode = LinkMode(mode)

        async def change_all() -> None:
            for link in links:
                await link._set_mode(mode)

        self.call(change_all())

    def set_modes(self, changes: dict[LinkProxy, LinkMode]) -> None:
        """Put each link into its own mode, all at one instant of the loop (the world's outages and
        partitions change several links, possibly to different modes, in one step)."""

        async def change_all() -> None:
            for link, mode in changes.items():
                await link._set_mode(LinkMode(mode))

        if changes:
            self.call(change_all())

    def set_mode_when(self, links: list[LinkProxy], mode: LinkMode | str, ready: Callable[[], bool],
                      timeout: float, interval: float = 0.005) -> bool:
        """Change several links at the first instant of the loop at which `ready()` holds; False after `timeout`.

        `ready` runs on the links' loop, and the modes change in the same step, before any byte moves:
        what `ready` read from the links' stats (what they have delivered) is still true at the cut.
        """
        mode = LinkMode(mode)

        async def change_when_ready() -> bool:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not ready():
                if loop.time() >= deadline:
                    return False
                await asyncio.sleep(interval)
            for link in links:  # `_set_mode` never awaits: no other task runs until every link changed
                await link._set_mode(mode)
            return True

        return self.call(change_when_ready(), timeout=timeout + 10.0)

    def stop(self) -> None:
        """Reset every connection, close every listening port, stop the loop and join its thread."""
        if self._loop is None:
            return
        for link in self.links.values():
            self.call(link._close())
        loop = self._loop

        async def cancel_rest() -> None:
            current = asyncio.current_task()
            rest = [task for task in asyncio.all_tasks() if task is not current]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        self.call(cancel_rest())
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        loop.close()
        self._loop = None
        self._thread = None
