"""A server that owns a data plane stops it with itself: no process, no bound port, no record left.

A module of its own: the world is one per process, so this server cannot run beside the shared
world of tests/test_local_world_dataplane.py.
"""

from __future__ import annotations

from pathlib import Path

from hastack.local.dataplane.plane import read_record, record_path
from hastack.local.dataplane.processes import alive, port_is_bound
from hastack.local.server import InProcessServer, WorldClient
from hastack.local.world.state import WORLD
from tests.dataplane_helpers import plane_config


def test_an_in_process_server_stops_its_data_plane_and_lets_go_of_the_world(tmp_path: Path) -> None:
    server = InProcessServer(dataplane=plane_config("owned", build_dir=tmp_path, one_way_delay_ms=5)).start()
    try:
        plane = server.dataplane
        assert plane is not None
        record = read_record(tmp_path, plane.config.name)
        assert record is not None
        ports = [s.port for s in record.servers] + list(record.links.values())
        assert all(alive(s.pid, s.start_ticks) for s in record.servers) and all(port_is_bound(p) for p in ports)
        shown = WorldClient(server.endpoint).world()["dataPlane"]
        assert {name: s["pid"] for name, s in shown["servers"].items()} == {s.name: s.pid for s in record.servers}
    finally:
        server.stop()
    assert server.dataplane is None and WORLD.data_plane is None
    assert not [s.name for s in record.servers if alive(s.pid, s.start_ticks)]
    assert not [p for p in ports if port_is_bound(p)]
    assert not record_path(tmp_path, plane.config.name).exists()


def test_a_server_without_a_data_plane_is_moto_alone() -> None:
    with InProcessServer() as server:
        assert server.dataplane is None
        assert WorldClient(server.endpoint).world()["dataPlane"] is None
