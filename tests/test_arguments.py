"""`require_valid`: one InputPropertiesError listing every problem, each with its path, value and rule."""

from __future__ import annotations

import pulumi
import pytest

from components.arguments import ArgProblem, InvalidArgumentsError, require_valid
from hastack.plan.render import PlanError, read_stack_config, render


def test_nothing_raised_without_problems() -> None:
    require_valid("NoArgs", [])


def test_every_problem_in_one_error_with_message_and_details() -> None:
    with pytest.raises(InvalidArgumentsError) as caught:
        require_valid("ExampleArgs", [ArgProblem("az_count", 2, "at least 3"),
                                      ArgProblem("services[1].node_port", 8080, "30000-32767")])
    error = caught.value
    assert isinstance(error, pulumi.InputPropertiesError) and isinstance(error, pulumi.RunError)
    assert error.message == ("ExampleArgs: 2 invalid arguments:\n"
                             "  - az_count = 2 is invalid: at least 3\n"
                             "  - services[1].node_port = 8080 is invalid: 30000-32767")
    assert error.errors == [{"property_path": "az_count", "reason": "2 is invalid: at least 3"},
                            {"property_path": "services[1].node_port", "reason": "8080 is invalid: 30000-32767"}]


def test_a_stack_name_aws_would_refuse_stops_the_plan_with_one_clear_error() -> None:
    """`hastack-<stack>` prefixes RDS, ElastiCache and ALB names: an underscore is refused before any call."""
    with pytest.raises(PlanError) as caught:
        render("prod_eu", config=read_stack_config("prod"))
    assert str(caught.value).startswith("IngressArgs: 1 invalid argument:\n  - name_prefix = 'hastack-prod_eu' is "
                                        "invalid: letters, digits and '-', starting with a letter")
