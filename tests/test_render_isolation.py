"""Renders in one process are independent: a program that fails inside an `apply` leaves nothing behind.

Tests and `hastack local` render many times in one process. A failure inside an `apply` used to leave
the program's other outputs pending in the SDK's process-wide bookkeeping, and the next render
awaited them and failed with the previous program's error.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

from hastack.plan.render import render


def _fails_inside_an_apply() -> None:
    topic = aws.sns.Topic("doomed")

    def contract_broken(_: str) -> str:
        raise ValueError("contract broken inside an apply")

    for i in range(5):
        pulumi.export(f"broken{i}", topic.id.apply(contract_broken))


def _two_topics() -> None:
    first = aws.sns.Topic("first")
    aws.sns.Topic("second", name=first.id.apply(lambda name: f"{name}-copy"))
    pulumi.export("second", "ok")


def test_a_render_after_one_that_failed_inside_an_apply_sees_only_its_own_program() -> None:
    with pytest.raises(ValueError, match="contract broken inside an apply"):
        render("prod", program=_fails_inside_an_apply)
    plan = render("prod", program=_two_topics)
    assert [r["name"] for r in plan.resources if r["type"] == "aws:sns/topic:Topic"] == ["first", "second"]
    assert plan.outputs == {"second": "ok"}
    again = render("prod", program=_two_topics)
    assert [r["name"] for r in again.resources] == [r["name"] for r in plan.resources]
