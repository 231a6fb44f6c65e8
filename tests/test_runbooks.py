"""The runbooks are tested: their commands run, their alarm names exist, every alarm has a runbook.

* Every `hastack ...` and `make ...` command in a runbook (fenced code blocks and inline code) must
  parse: `hastack` commands run with `--help` appended (click rejects an unknown command or option
  before it honours `--help`); those written with `--dry-run` also *run*, in-process against a moto
  world seeded from the prod plan's outputs (`tests/dr_world.py`), and must exit 0; `make` commands
  run as `make -n`.
* Every alarm name a runbook quotes exists in the prod plan (normal or failed over), and the index
  (`runbooks/README.md`) maps every alarm of those plans to the runbook its description names.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from hastack.cli import app
from hastack.local.world import install as install_world
from hastack.local.world.seed import seed_world
from hastack.paths import REPO_ROOT
from hastack.plan.render import Plan

RUNBOOKS = REPO_ROOT / "runbooks"
SCENARIOS = ("regional-failover", "failback", "database-failover", "cache-failover", "az-loss", "node-replacement",
             "restore-from-backup", "error-budget-burn")
SECTIONS = ("Alarms that bring you here", "Symptoms", "Decision", "Pre-checks", "Commands", "Verify", "Roll back",
            "Who to tell")
#: What an alarm name looks like (components/observability.py names them hastack-<stack>-<region>-<what>).
ALARM_RE = re.compile(r"hastack-prod-[a-z]{2}-[a-z]+-\d-(?:slo-burn(?:-(?:fast|slow)(?:-\w+)?)?|route53-[\w-]+|"
                      r"nodes-below-min-[\w-]+|[a-z]+-healthy-hosts|db-replica-lag|cache-replication-lag)")
#: RDS event subscriptions and EventBridge rules the runbooks quote.
EVENT_SOURCE_RE = re.compile(r"hastack-prod-[a-z]{2}-[a-z]+-\d-(?:db|cache)-events")


def runbook_files() -> list[Path]:
    return sorted(RUNBOOKS.glob("*.md"))


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)


def commands(text: str, program: str) -> list[str]:
    """`program ...` commands of fenced blocks (continuations joined, comments dropped) and inline code."""
    found: list[str] = []
    for block in code_blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith(program + " "):
                found.append(line)
    prose = re.sub(r"^```[a-z]*\n.*?^```", "", text, flags=re.S | re.M)
    found += [span for span in re.findall(r"`([^`\n]+)`", prose) if span.startswith(program + " ")]
    return found


def all_commands(program: str) -> list[tuple[str, str]]:
    return sorted({(p.name, c) for p in runbook_files() for c in commands(p.read_text(), program)})


def quoted_alarm_names(text: str) -> set[str]:
    """Alarm names quoted in prose (inline code) and given to `--alarm-name` in commands."""
    names = {m.group(0) for span in re.findall(r"`([^`\n]+)`", text) for m in [ALARM_RE.fullmatch(span)] if m}
    names |= set(re.findall(r"--alarm-name (\S+)", text))
    return names


def plan_alarms(plan: Plan) -> dict[str, str]:
    """Alarm name -> runbook file its description names (every paging alarm: the traffic switches are no pages)."""
    out = {}
    for r in plan.resources:
        if r["inputs"].get("namespace") == "hastack/TrafficControl":
            continue
        if r["type"] in ("aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/compositeAlarm:CompositeAlarm"):
            name = r["inputs"].get("name") or r["inputs"]["alarmName"]
            out[name] = re.match(r"Runbook: runbooks/(\S+\.md)", r["inputs"]["alarmDescription"]).group(1)
    return out


@pytest.fixture(scope="module")
def failed_over_plan(render_config: Callable[..., Plan]) -> Plan:
    from hastack.plan.render import read_stack_config

    config = read_stack_config("prod")
    config["hastack:activeRegion"] = config["hastack:drRegion"]
    return render_config(config)


@pytest.fixture(scope="module")
def every_alarm(prod_plan: Plan, failed_over_plan: Plan) -> dict[str, str]:
    return {**plan_alarms(failed_over_plan), **plan_alarms(prod_plan)}


# ------------------------------------------------------------------------------------- shape


def test_one_runbook_per_scenario_with_every_section() -> None:
    assert {p.stem for p in runbook_files()} == {*SCENARIOS, "README"}
    for name in SCENARIOS:
        text = (RUNBOOKS / f"{name}.md").read_text()
        headings = re.findall(r"^## (.+)$", text, flags=re.M)
        assert headings == list(SECTIONS), f"{name}.md sections: {headings}"


def test_runbook_links_resolve() -> None:
    for path in runbook_files():
        for target in re.findall(r"\]\(([^)#]+\.md)\)", path.read_text()):
            assert (RUNBOOKS / target).is_file(), f"{path.name} links to missing {target}"


# ------------------------------------------------------------------------------- commands


def test_runbooks_use_the_real_commands() -> None:
    used = {" ".join(shlex.split(c)[:3]) for _, c in all_commands("hastack")}
    assert {"hastack dr scale-up", "hastack dr status", "hastack dr failback", "hastack drill db-failover",
            "hastack drill cache-failover"} <= used
    assert all_commands("make")


@pytest.mark.parametrize(("runbook", "command"), all_commands("hastack"))
def test_hastack_command_parses(runbook: str, command: str) -> None:
    args = shlex.split(command)[1:]
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, f"{runbook}: `{command} --help` -> {result.exit_code}\n{result.output}"
    assert "Usage:" in result.output


@pytest.mark.parametrize(("runbook", "command"), all_commands("make"))
def test_make_command_parses(runbook: str, command: str) -> None:
    done = subprocess.run(["make", "-n", *shlex.split(command)[1:]], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, f"{runbook}: `make -n {command[5:]}` failed: {done.stderr}"


@pytest.fixture(scope="module")
def moto_world(prod_plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Any]]:
    """A pilot-light moto world seeded from the prod plan's outputs (in-process: nothing leaves the
    process), shared by the module's dry runs (seeding takes seconds).

    Yields `client(service, region)` with `.outputs` (the seeded outputs) and `.outputs_file`.
    """
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        install_world()
        _honour_num_cache_clusters(monkeypatch)
        clients: dict[tuple[str, str], Any] = {}

        def client(service: str, region: str) -> Any:
            return clients.setdefault((service, region), boto3.client(service, region_name=region))

        seeded = seed_world(json.loads(json.dumps(prod_plan.outputs)), client)
        # The stack's replication groups fail over automatically (components/cache.py); the seed
        # creates them with moto's defaults.
        for side in ("primary", "secondary"):
            region, group_id = seeded["cache"][side]["region"], seeded["cache"][side]["replicationGroupId"]
            client("elasticache", region).modify_replication_group(
                ReplicationGroupId=group_id, AutomaticFailoverEnabled=True, ApplyImmediately=True)
        outputs_file = tmp_path_factory.mktemp("world") / "outputs-prod.json"
        outputs_file.write_text(json.dumps(seeded))
        client.outputs = seeded  # type: ignore[attr-defined]
        client.outputs_file = outputs_file  # type: ignore[attr-defined]
        yield client


def _honour_num_cache_clusters(mp: pytest.MonkeyPatch) -> None:
    """moto 5.2 gap: a cluster-mode-disabled group gets one member whatever NumCacheClusters says
    (it only reads ReplicasPerNodeGroup); real ElastiCache creates NumCacheClusters members."""
    from moto.elasticache.models import ReplicationGroup

    original = ReplicationGroup._set_node_members_clusters_disabled

    def members(self: Any, **kwargs: Any) -> None:
        if not kwargs.get("replicas_per_node_group") and kwargs.get("num_cache_clusters"):
            kwargs["replicas_per_node_group"] = int(kwargs["num_cache_clusters"]) - 1
        original(self, **kwargs)

    mp.setattr(ReplicationGroup, "_set_node_members_clusters_disabled", members)


DRY_RUNS = [(r, c) for r, c in all_commands("hastack") if "--dry-run" in shlex.split(c)]


def test_dry_run_commands_exist() -> None:
    assert len(DRY_RUNS) >= 4


@pytest.mark.parametrize(("runbook", "command"), DRY_RUNS)
def test_dry_run_command_runs(runbook: str, command: str, moto_world: Callable[..., Any]) -> None:
    args = shlex.split(command)[1:]
    if "--outputs" not in args:
        args += ["--outputs", str(moto_world.outputs_file)]  # type: ignore[attr-defined]
    if args[:2] == ["dr", "failback"]:
        with failed_over(moto_world):  # failback follows a scale-up: the DR writer is standalone by then
            result = CliRunner().invoke(app, args)
    else:
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"{runbook}: `{command}` -> {result.exit_code}\n{result.output}"


@contextmanager
def failed_over(client: Callable[..., Any]) -> Iterator[None]:
    """Promote the DR replica for the duration, then put a replica with the same name back."""
    db = client.outputs["database"]  # type: ignore[attr-defined]
    rds = client("rds", db["replica"]["region"])
    rds.promote_read_replica(DBInstanceIdentifier=db["replica"]["identifier"])
    try:
        yield
    finally:
        rds.delete_db_instance(DBInstanceIdentifier=db["replica"]["identifier"], SkipFinalSnapshot=True)
        rds.create_db_instance_read_replica(DBInstanceIdentifier=db["replica"]["identifier"],
                                            SourceDBInstanceIdentifier=db["primary"]["arn"],
                                            DBInstanceClass=db["prodInstanceClass"], MultiAZ=False)


# ---------------------------------------------------------------------------------- alarms


def test_every_alarm_a_runbook_quotes_exists(every_alarm: dict[str, str], prod_plan: Plan) -> None:
    event_sources = {r["inputs"].get("name") for r in prod_plan.resources
                     if r["type"] in ("aws:rds/eventSubscription:EventSubscription",
                                      "aws:cloudwatch/eventRule:EventRule")}
    for path in runbook_files():
        text = path.read_text()
        quoted = quoted_alarm_names(text)
        assert not quoted - set(every_alarm), f"{path.name} quotes unknown alarms: {sorted(quoted - set(every_alarm))}"
        sources = set(EVENT_SOURCE_RE.findall(text))
        assert sources <= event_sources, f"{path.name} quotes unknown event sources: {sorted(sources - event_sources)}"


def test_each_alarm_is_explained_by_its_runbook(every_alarm: dict[str, str]) -> None:
    """The runbook an alarm's description names quotes that alarm (or its composite) by name."""
    for name, runbook in every_alarm.items():
        text = (RUNBOOKS / runbook).read_text()
        assert name in text, f"{runbook} does not mention {name}, yet the alarm sends the on-call there"


def test_index_maps_every_alarm_to_its_runbook(every_alarm: dict[str, str]) -> None:
    index = (RUNBOOKS / "README.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| [^|]+ \| [^|]+ \| \[[^]]+\]\(([^)]+\.md)\) \|$", index, flags=re.M)
    mapped = {name: runbook for name, runbook in rows if ALARM_RE.fullmatch(name)}
    assert set(mapped) == set(every_alarm), (sorted(set(every_alarm) - set(mapped)),
                                             sorted(set(mapped) - set(every_alarm)))
    wrong = {n: (mapped[n], every_alarm[n]) for n in mapped if mapped[n] != every_alarm[n]}
    assert not wrong, f"index and alarm description disagree: {wrong}"
