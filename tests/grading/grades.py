"""Grades built by hand, for the gradebook and feedback tests."""

from checker.grading.grade import StudentGrade, ungraded
from checker.harness.runner import BudgetOutcome, ExerciseOutcome
from checker.manifest import load_course
from tests.grading.conftest import COURSE

QUERIES_MESSAGE = (
    "GET /products/ made 148 queries (budget: at most 100). "
    'Try select_related("category", "brand").'
)


def fixture_course():
    return load_course(COURSE)


def partial_grade():
    """Return a student who met three budgets of four and missed the query one."""
    return StudentGrade(
        name="alice",
        source="/class/alice",
        seconds=3.5,
        exercises=[
            ExerciseOutcome(
                id="fx-list",
                max_points=4,
                budgets=[
                    BudgetOutcome(
                        "queries",
                        False,
                        0,
                        3,
                        QUERIES_MESSAGE,
                        {"queries": 148, "checker_exercise": "fx-list"},
                    ),
                    BudgetOutcome(
                        "same-output", True, 1, 1, "", {"products_shown": 29}
                    ),
                ],
            ),
            ExerciseOutcome(
                id="fx-quotes",
                max_points=2,
                budgets=[
                    BudgetOutcome("count", True, 1, 1, "", {"quotes": 3}),
                    BudgetOutcome(
                        "cheapest-first", True, 1, 1, "", {"prices": ["6.00", "8.00"]}
                    ),
                ],
            ),
        ],
    )


def refused_grade(reason="no shop_app/ folder in bob"):
    """Return a student whose submission could not be graded at all."""
    return StudentGrade(
        name="bob",
        source="/class/bob.zip",
        exercises=ungraded(fixture_course().exercises, reason),
        reason=reason,
    )
