"""Cron expressions are checked as Temporal would check them, when the definition is saved."""

import pytest

from sojourn.dsl.cron import cron_problem
from sojourn.dsl.validation import DefinitionError, validate_definition

# Each accepted by the Temporal server (1.32) that schedules journeys.
ACCEPTED = [
    "0 9 * * *", "59 23 31 12 7", "0 0 * * 0-7", "*/15 * * * *", "5/15 * * * *", "0-30/5 * * * *",
    "1,2,3 * * * *", "05 * * * *", "0 0 1-31/2 * *", "0 0 * jan mon", "0 0 * JAN MON", "0 0 * janu *",
    "0 0 * mAr *", "0 0 * * mo", "0 0 * * Su", "0 0 * * th", "0 0 * * monday", "0 0 * * mon-fri",
    "0 0 * * 5-7", "0 0 * * sun-sat", "0 0 * jan-dec *", "0 0 * * mon,wed", "* * * * */2",
]

# Each refused by Temporal (on activation, until now), with a word of what the problem names.
REFUSED = [
    ("61 25 * * *", "minute"), ("0 24 * * *", "hour"), ("0 0 0 * *", "day"), ("0 0 32 * *", "day"),
    ("0 0 * 13 *", "month"), ("0 0 * 0 *", "month"), ("0 0 * * 8", "weekday"), ("0 0 * ja *", "month"),
    ("0 0 * ju *", "month"), ("0 0 * * m", "weekday"), ("0 0 * * t", "weekday"),
    ("0 0 * * sat-sun", "runs backwards"), ("0 0 * dec-jan *", "runs backwards"),
    ("30-10 * * * *", "runs backwards"), ("0-30/0 * * * *", "step"), ("*/abc * * * *", "step"),
    ("1,,3 * * * *", "minute"), ("? * * * *", "minute"), ("0 0 L * *", "day"), ("x 0 * * *", "minute"),
    ("1-2-3 * * * *", "minute"), ("1/2/3 * * * *", "step"), ("-1 * * * *", "minute"), ("1- * * * *", "minute"),
    ("*-5 * * * *", "minute"), ("1-* * * * *", "minute"), ("", "5 fields"), ("every wednesday", "5 fields"),
]

# Temporal's extensions, left out of the journey language: a journey's zone is `time_zone`.
NOT_OURS = ["@daily", "0 0 * * * 2030", "TZ=Asia/Taipei 0 9 * * *", "0 0 * * 1#2", "+5 * * * *",
            "0 0 * * \u0663", "9" * 5000 + " * * * *", "*/" + "9" * 5000 + " * * * *"]


@pytest.mark.parametrize("expression", ACCEPTED)
def test_expressions_temporal_accepts_are_valid(expression):
    assert cron_problem(expression) is None


@pytest.mark.parametrize(("expression", "named"), REFUSED)
def test_expressions_temporal_refuses_are_problems(expression, named):
    problem = cron_problem(expression)
    assert problem is not None and named in problem


@pytest.mark.parametrize("expression", NOT_OURS)
def test_temporal_extensions_are_refused(expression):
    assert cron_problem(expression) is not None


def test_an_out_of_range_cron_is_a_problem_of_the_definition():
    raw = {"name": "x", "entry": {"schedule": {"cron": "61 25 * * *"}, "audience": "a"},
           "nodes": [{"id": "e", "type": "exit"}]}
    with pytest.raises(DefinitionError) as caught:
        validate_definition(raw)
    [problem] = caught.value.problems
    assert (problem.node, problem.field) == (None, "entry.schedule.cron")
    assert "cron minute field '61': '61' is not a value from 0 to 59" in problem.message
