"""The rendered plans equal the committed golden plans (see tests/golden_plans.py for why and how)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.golden_plans import CASES, golden_path, golden_view, render_case


def _index(view: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(r["type"], r["name"]): r["inputs"] for r in view["resources"]}


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_equals_golden(case: str) -> None:
    want = json.loads(golden_path(case).read_text())
    got = golden_view(render_case(case))
    want_res, got_res = _index(want), _index(got)
    assert sorted(got_res) == sorted(want_res), (
        f"{case}: resources added {sorted(set(got_res) - set(want_res))}, "
        f"removed {sorted(set(want_res) - set(got_res))}")
    changed = [key for key in want_res if want_res[key] != got_res[key]]
    assert not changed, f"{case}: inputs changed for {changed[:10]} (regenerate only if meant: see golden_plans.py)"
    assert got["outputs"] == want["outputs"], f"{case}: stack outputs changed"
