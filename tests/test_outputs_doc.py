"""The README's stack outputs table is the one generated from the contract, and names exactly the plan's outputs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hastack.outputs import TABLE_HEADER, main, markdown_table, output_names, replace_table
from hastack.paths import REPO_ROOT
from hastack.plan.render import Plan

#: The document holding the outputs table (the README).
OUTPUTS_DOC = REPO_ROOT / "README.md"

_ROW = re.compile(r"^\|\s*`([A-Za-z][A-Za-z0-9]*)`\s*\|\s*([^|]+?)\s*\|")


def documented_table(path: Path) -> str:
    """The first `| output | type | meaning | used by |` table of `path`, as text."""
    lines = path.read_text().splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == TABLE_HEADER), None)
    assert start is not None, f"{path}: no {TABLE_HEADER!r} table"
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "".join(lines[start:end])


def documented_outputs(path: Path) -> dict[str, str]:
    """output name -> its documented type, from the table's rows."""
    rows: dict[str, str] = {}
    for line in documented_table(path).splitlines()[2:]:
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


def test_readme_table_is_the_generated_one() -> None:
    assert documented_table(OUTPUTS_DOC) == markdown_table(), (
        "README.md's stack outputs table differs from hastack/outputs.py: run `python -m hastack.outputs --write`")


def test_doc_table_names_exactly_the_plans_outputs(prod_plan: Plan, staging_plan: Plan) -> None:
    documented = list(documented_outputs(OUTPUTS_DOC))
    assert documented == output_names()
    assert sorted(documented) == sorted(prod_plan.outputs) == sorted(staging_plan.outputs)


def test_documented_types_match_the_values(prod_plan: Plan) -> None:
    for name, documented in documented_outputs(OUTPUTS_DOC).items():
        assert documented.split()[0] == kind(prod_plan.outputs[name]), (name, documented)


def test_every_output_says_what_it_means_and_who_reads_it() -> None:
    for line in markdown_table().splitlines()[2:]:
        name, _, meaning, used_by = (cell.strip() for cell in line.strip("|").split(" | "))
        assert meaning.endswith(".") and len(meaning) > 15, name
        assert used_by, name


def test_write_replaces_only_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = (f"# Doc\n\nbefore\n\n{TABLE_HEADER}\n| --- | --- | --- | --- |\n"
             "| `old` | string | gone. | nobody |\n\nafter\n")
    assert replace_table(stale, markdown_table()) == f"# Doc\n\nbefore\n\n{markdown_table()}\nafter\n"
    readme = tmp_path / "README.md"
    readme.write_text(stale)
    monkeypatch.setattr("hastack.outputs.REPO_ROOT", tmp_path)
    assert main(["--write"]) == 0
    assert documented_table(readme) == markdown_table() and readme.read_text().endswith("\nafter\n")
    with pytest.raises(ValueError, match="no line"):
        replace_table("# no table here\n", markdown_table())


def test_the_parser_rejects_a_table_without_names(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(f"{TABLE_HEADER}\n| --- | --- | --- | --- |\n| plain | string | x | y |\n")
    with pytest.raises(AssertionError, match="row without a `name`"):
        documented_outputs(doc)
