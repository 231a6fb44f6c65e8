"""The documented outputs table names exactly the stack outputs the program exports, with the right kinds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hastack.paths import REPO_ROOT
from hastack.plan.render import Plan

#: The document holding the outputs table (the README).
OUTPUTS_DOC = REPO_ROOT / "README.md"

_HEADER = re.compile(r"^\|\s*output\s*\|\s*type\s*\|\s*meaning\s*\|\s*used by\s*\|\s*$", re.IGNORECASE)
_ROW = re.compile(r"^\|\s*`([A-Za-z][A-Za-z0-9]*)`\s*\|\s*([^|]+?)\s*\|")


def documented_outputs(path: Path) -> dict[str, str]:
    """output name -> its documented type, from the first `| output | type | meaning | used by |` table."""
    lines = path.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if _HEADER.match(line.strip())), None)
    assert start is not None, f"{path}: no '| output | type | meaning | used by |' table"
    rows: dict[str, str] = {}
    for line in lines[start + 2:]:
        if not line.strip().startswith("|"):
            break
        match = _ROW.match(line.strip())
        assert match, f"{path}: row without a `name` in its first column: {line!r}"
        assert match.group(1) not in rows, f"{path}: output {match.group(1)} documented twice"
        rows[match.group(1)] = match.group(2)
    return rows


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def test_doc_table_names_exactly_the_plans_outputs(prod_plan: Plan) -> None:
    documented = set(documented_outputs(OUTPUTS_DOC))
    exported = set(prod_plan.outputs)
    doc = OUTPUTS_DOC.name
    assert not exported - documented, f"exported but not documented in {doc}: {sorted(exported - documented)}"
    assert not documented - exported, f"documented in {doc} but not exported: {sorted(documented - exported)}"


def test_staging_exports_the_same_outputs(prod_plan: Plan, staging_plan: Plan) -> None:
    assert set(staging_plan.outputs) == set(prod_plan.outputs)


def test_documented_types_match_the_values(prod_plan: Plan) -> None:
    for name, documented in documented_outputs(OUTPUTS_DOC).items():
        if name in prod_plan.outputs:
            assert documented.split()[0] == kind(prod_plan.outputs[name]), (name, documented)


def test_the_parser_rejects_a_table_without_names(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("| output | type | meaning | used by |\n| --- | --- | --- | --- |\n| plain | string | x | y |\n")
    with pytest.raises(AssertionError, match="row without a `name`"):
        documented_outputs(doc)
