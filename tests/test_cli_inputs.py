"""Every command, on bad input, exits 2 with one line naming the problem: never a traceback, never exit 1.

Exit 1 means "violations found" or "refused", and CI reads it so; a crash used to exit 1 with a
Python traceback. The table drives each command of the real CLI (typer's runner on `hastack.cli.app`,
the same root group `python -m hastack` runs) with the inputs a user gets wrong: files that are
missing, directories, not UTF-8, not JSON or JSON of the wrong shape, plans whose resources lack a
`type` or whose `inputs` are not an object, a build dir that is a file, unknown stacks, unreadable
YAML, no AWS credentials, an AWS endpoint that does not answer. One subprocess row checks the same
through `python -m hastack`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hastack.cli import app
from hastack.errors import UserError, as_user_error
from hastack.paths import REPO_ROOT
from hastack.plan.render import Plan, stack_output_json

#: The environment of a machine with no AWS credentials (and no instance metadata to ask).
NO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None,
                  "AWS_PROFILE": None, "AWS_ENDPOINT_URL": None, "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                  "AWS_CONFIG_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
                  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None, "AWS_CONTAINER_CREDENTIALS_FULL_URI": None}
FAKE_CREDENTIALS = {**NO_CREDENTIALS, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass
class Inputs:
    """Files of every kind a user may pass, made once per module."""

    root: Path
    plan: Path  # a real plan of prod
    outputs: Path  # prod's stack outputs
    dead_endpoint: str

    def file(self, name: str, content: str | bytes) -> str:
        path = self.root / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)

    def plan_with(self, name: str, change: Callable[[dict[str, Any]], None]) -> str:
        plan = json.loads(self.plan.read_text())
        change(plan)
        return self.file(name, json.dumps(plan))


@pytest.fixture(scope="module")
def inputs(prod_plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inputs]:
    root = tmp_path_factory.mktemp("inputs")
    plan = root / "plan-prod.json"
    plan.write_text(json.dumps(prod_plan.to_json()))
    outputs = root / "outputs-prod.json"
    outputs.write_text(json.dumps(stack_output_json(prod_plan.outputs)))
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    (root / "a-directory").mkdir()
    yield Inputs(root, plan, outputs, dead)


NOT_UTF8 = b"config:\n  hastack:primaryRegion: \xff\xfe us-east-1\n"


def _no_type(plan: dict[str, Any]) -> None:
    del plan["resources"][3]["type"]


def _inputs_a_list(plan: dict[str, Any]) -> None:
    plan["resources"][5]["inputs"] = ["not", "an", "object"]


def _resource_a_string(plan: dict[str, Any]) -> None:
    plan["resources"][0] = "aws:s3/bucket:Bucket"


#: (id, argv builder, environment, what the one line must contain)
ROWS: list[tuple[str, Callable[[Inputs], list[str]], dict[str, str | None], str]] = [
    # hastack plan
    ("plan-unknown-stack", lambda i: ["plan", "--stack", "nope"], {}, "unknown stack 'nope'"),
    ("plan-config-missing", lambda i: ["plan", "--config", str(i.root / "missing.yaml")], {}, "does not exist"),
    ("plan-config-directory", lambda i: ["plan", "--config", str(i.root / "a-directory")], {}, "is a directory"),
    ("plan-config-not-utf8", lambda i: ["plan", "--config", i.file("bad.yaml", NOT_UTF8)], {}, "not UTF-8 text"),
    ("plan-config-bad-yaml", lambda i: ["plan", "--config", i.file("broken.yaml", "config: {hastack:x: [1,\n")], {},
     "not valid YAML"),
    ("plan-config-a-list", lambda i: ["plan", "--config", i.file("list.yaml", "- config\n")], {},
     "expected a top-level 'config:' map"),
    ("plan-build-dir-a-file", lambda i: ["plan", "--build-dir", str(i.plan)], {}, "is a file, not a directory"),
    # hastack policy check
    ("check-missing", lambda i: ["policy", "check", str(i.root / "missing.json")], {}, "does not exist"),
    ("check-directory", lambda i: ["policy", "check", str(i.root / "a-directory")], {}, "is a directory"),
    ("check-not-utf8", lambda i: ["policy", "check", i.file("plan.bin", b"\x89PNG\r\n\x1a\n")], {}, "not UTF-8 text"),
    ("check-not-json", lambda i: ["policy", "check", i.file("plan.txt", "resources: []")], {}, "not JSON"),
    ("check-a-list", lambda i: ["policy", "check", i.file("list.json", "[1, 2]")], {}, "not a hastack plan"),
    ("check-resources-an-object", lambda i: ["policy", "check", i.file("obj.json", '{"stack": "prod", '
                                                                                   '"resources": {}}')], {},
     "resources = {}: should be a list of resources"),
    ("check-resource-without-type", lambda i: ["policy", "check", i.plan_with("no-type.json", _no_type)], {},
     "resources[3].type: missing"),
    ("check-inputs-not-an-object", lambda i: ["policy", "check", i.plan_with("inputs.json", _inputs_a_list)], {},
     "resources[5].inputs = [\"not\", \"an\", \"object\"]: should be an object"),
    ("check-resource-a-string", lambda i: ["policy", "check", i.plan_with("string.json", _resource_a_string)], {},
     "resources[0] = \"aws:s3/bucket:Bucket\": should be an object with at least urn, type and name"),
    ("check-policy-config-directory", lambda i: ["policy", "check", str(i.plan), "--policy-config",
                                                 str(i.root / "a-directory")], {}, "is a directory"),
    ("check-policy-config-not-json", lambda i: ["policy", "check", str(i.plan), "--policy-config",
                                                i.file("policy.json", "{nope")], {}, "not JSON"),
    ("check-stack-config-not-utf8", lambda i: ["policy", "check", str(i.plan), "--stack-config",
                                               i.file("stack.yaml", NOT_UTF8)], {}, "not UTF-8 text"),
    ("check-pack-missing", lambda i: ["policy", "check", str(i.plan), "--pack", str(i.root / "no-pack")], {},
     "PulumiPolicy.yaml"),
    # hastack policy config
    ("config-unknown-stack", lambda i: ["policy", "config", "--stack", "nope"], {}, "unknown stack 'nope'"),
    ("config-bad-yaml", lambda i: ["policy", "config", "--config", i.file("bad2.yaml", "config: [\n")], {},
     "not valid YAML"),
    ("config-output-a-directory", lambda i: ["policy", "config", "--stack", "prod", "--output",
                                             str(i.root / "a-directory")], {}, "is a directory"),
    # hastack dr (dry runs and status)
    ("dr-status-outputs-missing", lambda i: ["dr", "status", "--stack", "prod", "--outputs",
                                             str(i.root / "missing.json")], {}, "no such file"),
    ("dr-status-outputs-directory", lambda i: ["dr", "status", "--stack", "prod", "--outputs",
                                               str(i.root / "a-directory")], {}, "is a directory"),
    ("dr-status-outputs-not-utf8", lambda i: ["dr", "status", "--stack", "prod", "--outputs",
                                              i.file("outputs.bin", b"\xff\xfe{}")], {}, "not UTF-8 text"),
    ("dr-status-outputs-wrong-shape", lambda i: ["dr", "status", "--stack", "prod", "--outputs",
                                                 i.file("outputs-list.json", "[]")], {}, "outputs"),
    ("dr-status-no-credentials", lambda i: ["dr", "status", "--stack", "prod", "--outputs", str(i.outputs)],
     NO_CREDENTIALS, "no AWS credentials found"),
    ("dr-scale-up-dry-run-no-credentials", lambda i: ["dr", "scale-up", "--stack", "prod", "--dry-run", "--outputs",
                                                      str(i.outputs)], NO_CREDENTIALS, "no AWS credentials found"),
    ("dr-failback-dry-run-endpoint-down", lambda i: ["dr", "failback", "--stack", "prod", "--dry-run", "--outputs",
                                                     str(i.outputs)], {"AWS_ENDPOINT_URL": "dead"},
     "does not answer"),
    ("dr-scale-up-dry-run-endpoint-down", lambda i: ["dr", "scale-up", "--stack", "prod", "--dry-run", "--outputs",
                                                     str(i.outputs)], {"AWS_ENDPOINT_URL": "dead"},
     "does not answer"),
    # hastack drill
    ("drill-db-outputs-directory", lambda i: ["drill", "db-failover", "--stack", "prod", "--dry-run", "--outputs",
                                              str(i.root / "a-directory")], {}, "is a directory"),
    ("drill-db-no-credentials", lambda i: ["drill", "db-failover", "--stack", "prod", "--dry-run", "--outputs",
                                           str(i.outputs)], NO_CREDENTIALS, "no AWS credentials found"),
    ("drill-cache-endpoint-down", lambda i: ["drill", "cache-failover", "--stack", "prod", "--dry-run", "--outputs",
                                             str(i.outputs)], {"AWS_ENDPOINT_URL": "dead"}, "does not answer"),
    ("drill-region-unknown-stack", lambda i: ["drill", "region", "--stack", "nope"], {}, "unknown stack 'nope'"),
    ("drill-region-failback-simulated", lambda i: ["drill", "region", "--failback", "--latency-profile", "aws"], {},
     "runs with latency profile none only"),
    ("drill-region-negative-behind", lambda i: ["drill", "region", "--replica-behind", "-1"], {},
     "--replica-behind -1: seconds from 0 to 3600"),
    ("drill-region-write-rate", lambda i: ["drill", "region", "--write-rate", "0"], {},
     "--write-rate 0: writes a second from 1 to 2000"),
    # hastack local
    ("local-up-unknown-stack", lambda i: ["local", "up", "--stack", "nope"], {}, "unknown stack 'nope'"),
    ("local-up-build-dir-a-file", lambda i: ["local", "up", "--build-dir", str(i.plan), "--detach"], {},
     "is a file, not a directory"),
    ("local-down-unknown-stack", lambda i: ["local", "down", "--stack", "nope"], {}, "unknown stack 'nope'"),
    ("local-down-build-dir-a-file", lambda i: ["local", "down", "--build-dir", str(i.plan)], {},
     "is a file, not a directory"),
    ("local-status-build-dir-a-file", lambda i: ["local", "status", "--build-dir", str(i.plan)], {},
     "is a file, not a directory"),
]


@pytest.mark.parametrize(("argv", "env", "expected"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_bad_input_is_one_line_and_exit_2(inputs: Inputs, argv: Callable[[Inputs], list[str]],
                                          env: dict[str, str | None], expected: str) -> None:
    environment = {k: (inputs.dead_endpoint if v == "dead" else v) for k, v in {**FAKE_CREDENTIALS, **env}.items()}
    result = CliRunner().invoke(app, argv(inputs), env=environment)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0]


def test_the_real_entry_point_prints_one_line_and_exits_2(inputs: Inputs) -> None:
    bad = inputs.file("entry.json", b"\xff\xfe")
    done = subprocess.run([sys.executable, "-m", "hastack", "policy", "check", bad], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: plan file {bad}: not UTF-8 text (byte 0 is 0xff)"
    assert "Traceback" not in done.stdout + done.stderr


def test_what_escapes_a_command_is_read_as_the_users_environment_or_a_bug(tmp_path: Path) -> None:
    import botocore.exceptions as boto

    no_credentials = as_user_error(boto.NoCredentialsError())
    assert isinstance(no_credentials, UserError) and str(no_credentials).startswith("no AWS credentials found")
    down = as_user_error(boto.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert down is not None and str(down).startswith("cannot reach the AWS endpoint: ")
    denied = as_user_error(boto.ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "GetItem"))
    assert str(denied) == "AWS refused the credentials or their permissions (ExpiredToken): expired"
    try:
        (tmp_path / "missing").read_text()
    except OSError as exc:
        assert str(as_user_error(exc)) == f"{tmp_path / 'missing'}: No such file or directory"
    assert as_user_error(KeyError("bug")) is None
    assert as_user_error(boto.ClientError({"Error": {"Code": "Throttling"}}, "GetItem")) is None


def test_a_bug_is_one_line_and_exit_70_never_1(monkeypatch: pytest.MonkeyPatch, inputs: Inputs) -> None:
    import hastack.policy.cli as policy_cli

    def broken(path: Path) -> dict[str, Any]:
        raise KeyError("a bug")

    monkeypatch.setattr(policy_cli, "load_plan", broken)
    result = CliRunner().invoke(app, ["policy", "check", str(inputs.plan)], env={"HASTACK_TRACEBACK": None})
    assert result.exit_code == 70
    assert result.stderr.strip() == ("internal error (a bug in hastack; HASTACK_TRACEBACK=1 shows where): "
                                     "KeyError: 'a bug'")


@pytest.mark.parametrize("args", [["--help"], ["dr", "scale-up", "--help"], ["policy", "check", "--help"]])
def test_a_reader_that_goes_away_is_not_a_refusal(args: list[str]) -> None:
    """`hastack ... | head`: the pipe closes under the command. Exit 141 (SIGPIPE's status), silent:
    never 1 (refused / violations) and never the internal-error line."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "hastack", *args], cwd=REPO_ROOT, stdout=write_end,
                            stderr=subprocess.PIPE)
    os.close(write_end)
    os.close(read_end)  # the reader is gone before the first byte: every write meets a closed pipe
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 141
    assert stderr == b""
