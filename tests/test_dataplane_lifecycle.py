"""Who owns the data plane's processes, and that stopping them leaves nothing behind.

What could break: a server left running or a port left bound after stop, a crashed owner whose servers
nobody can stop, a stop that signals a recycled pid, data written where the server account cannot reach
(or permissions changed outside the repository), binaries the account cannot run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hastack.local.dataplane import DataPlane, DataPlaneConfig, stop_recorded
from hastack.local.dataplane.account import ServerAccount, reachable_copy, server_account
from hastack.local.dataplane.plane import read_record, record_path
from hastack.local.dataplane.processes import alive, port_is_bound, start_ticks
from hastack.paths import REPO_ROOT
from tests.dataplane_helpers import plane_config


def test_stop_leaves_no_process_no_port_no_data_and_no_record() -> None:
    plane = DataPlane(plane_config("lifecycle")).start()
    record = read_record(plane.config.build_dir, plane.config.name)
    assert record is not None and record.owner_pid == os.getpid()
    assert len(record.servers) == 4 and len(record.links) == 10
    ports = [server.port for server in record.servers] + list(record.links.values())
    assert all(alive(server.pid, server.start_ticks) for server in record.servers)
    assert all(port_is_bound(port) for port in ports)
    state_dir = Path(record.state_dir)
    assert state_dir.is_dir()
    assert plane.started_in is not None and plane.started_in > 0

    sentence = plane.stop()

    assert sentence.startswith(f"stopped the data plane {plane.config.name!r}: ")
    assert not [server.name for server in record.servers if alive(server.pid, server.start_ticks)]
    assert not [port for port in ports if port_is_bound(port)]
    assert not state_dir.exists()
    assert not record_path(plane.config.build_dir, plane.config.name).exists()


OWNER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from hastack.local.dataplane import DataPlane, DataPlaneConfig
    plane = DataPlane(DataPlaneConfig(name=sys.argv[1], build_dir=Path(sys.argv[2]), one_way_delay_ms=5)).start()
    print("ready", flush=True)
    time.sleep(120)
""")


def test_servers_of_a_crashed_owner_are_stopped_by_pid_from_another_process(tmp_path: Path) -> None:
    name = plane_config("crashed").name
    owner = subprocess.Popen([sys.executable, "-c", OWNER, name, str(tmp_path)], cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "ready", owner.stderr.read() if owner.stderr else ""
        record = json.loads(record_path(tmp_path, name).read_text())
    finally:
        owner.send_signal(signal.SIGKILL)  # the owner dies without stopping anything
        owner.communicate(timeout=30)
    servers = record["servers"]
    assert all(alive(server["pid"], server["start_ticks"]) for server in servers)  # orphans, still serving
    state_dir = Path(record["state_dir"])
    account = server_account()
    if not account.can_reach(tmp_path):
        # pytest's tmp_path is private to root: the data went to a private temporary directory instead,
        # and nothing outside the repository had its permissions changed to make room for it.
        assert not state_dir.is_relative_to(tmp_path)
        assert state_dir.stat().st_uid == account.uid and (state_dir.stat().st_mode & 0o777) == 0o700

    sentence = stop_recorded(tmp_path, name)

    assert sentence == f"stopped the data plane {name!r}: " + ", ".join(server["name"] for server in servers)
    assert not [server["name"] for server in servers if alive(server["pid"], server["start_ticks"])]
    assert not [server["port"] for server in servers if port_is_bound(server["port"])]
    assert not state_dir.exists() and not record_path(tmp_path, name).exists()
    assert stop_recorded(tmp_path, name).startswith(f"no data plane recorded as {name!r}")


def test_a_recorded_pid_that_now_belongs_to_another_process_is_left_alone(tmp_path: Path) -> None:
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        ticks = start_ticks(bystander.pid)
        assert ticks is not None
        record = {"name": "x", "owner_pid": 1, "state_dir": str(tmp_path / "gone"), "started_at": "now", "links": {},
                  "servers": [{"name": "postgres-us-east-1", "service": "postgres", "region": "us-east-1",
                               "role": "primary", "pid": bystander.pid, "start_ticks": ticks + 1, "port": 1}]}
        record_path(tmp_path, "x").write_text(json.dumps(record))
        assert stop_recorded(tmp_path, "x") == "the data plane 'x' was already stopped; removed dataplane-x.json"
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_the_server_account_is_never_root_and_reaches_only_what_its_modes_allow(tmp_path: Path) -> None:
    account = server_account()
    assert account.uid != 0
    if os.geteuid() != 0:  # not root: the servers run as the invoking user, who reaches what it owns
        assert account.is_self and account.can_reach(tmp_path)
        return
    assert account.name == "hastack-pg"
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "bin").mkdir()
    (private / "bin" / "tool").write_text("#!/bin/sh\n")
    assert account.can_reach(REPO_ROOT) == all(os.stat(p).st_mode & 0o001 for p in [REPO_ROOT, *REPO_ROOT.parents])
    assert not account.can_reach(private / "bin")
    mode_before = private.stat().st_mode
    copied = reachable_copy([private / "bin"], account, tmp_path)
    assert copied is not None and (copied / "tool").read_text() == "#!/bin/sh\n"
    assert private.stat().st_mode == mode_before  # copied, not opened up
    other = ServerAccount("other", account.uid + 1, account.gid + 1)
    assert other.may(copied, 1) and not other.may(private, 1)


def test_bad_config_is_refused_with_the_key_and_value() -> None:
    with pytest.raises(ValueError, match="one_way_delay_ms"):
        DataPlaneConfig(one_way_delay_ms=-1)
    with pytest.raises(Exception, match="must differ"):
        DataPlane(DataPlaneConfig(primary_region="us-east-1", dr_region="us-east-1"))
