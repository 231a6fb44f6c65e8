"""Pulumi.yaml and the README document exactly the keys the config model has (see tests/config_docs.py)."""

from __future__ import annotations

import yaml

from hastack.config import KNOWN_KEYS, NAMESPACE, reference
from tests.config_docs import PULUMI_YAML, README, pulumi_yaml_text, readme_text

REGENERATE = "regenerate with: .venv/bin/python -m tests.config_docs --write"


def test_pulumi_yaml_documents_every_key_of_the_model() -> None:
    documented = yaml.safe_load(PULUMI_YAML.read_text())["template"]["config"]
    assert list(documented) == [f"{NAMESPACE}:{key}" for key in KNOWN_KEYS]
    assert all(entry["description"] for entry in documented.values())
    assert PULUMI_YAML.read_text() == pulumi_yaml_text(PULUMI_YAML.read_text()), REGENERATE


def test_readme_key_table_matches_the_model() -> None:
    text = README.read_text()
    assert text == readme_text(text), REGENERATE
    for row in reference():
        assert f"| `{row.key}` |" in text


def test_every_nested_key_is_in_the_reference() -> None:
    keys = {row.key for row in reference()}
    assert {"nodes.primary.minSize", "services[].healthPaths.ready", "ingress.certificateArns.<region>",
            "alerting.subscriptions", "dr.waitTimeoutSeconds"} <= keys
    assert {row.key.split(".")[0].split("[")[0] for row in reference()} == set(KNOWN_KEYS)
