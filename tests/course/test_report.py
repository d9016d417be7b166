"""The notebooks' `check()` report: each diagnosis once, met budgets drawn met."""

from checker.course.notebooks import CheckReport
from checker.harness.runner import BudgetOutcome, ExerciseOutcome

CAUSE = "The report runs in the request: 1 task ran inline (budget: 0)."


def _outcome():
    return ExerciseOutcome(
        "05-sales-report",
        [
            BudgetOutcome("offloaded", False, 0, 3, CAUSE),
            BudgetOutcome("status", False, 0, 2, CAUSE),
            BudgetOutcome("acks-late", True, 1, 1),
        ],
        max_points=6,
    )


def test_the_text_report_says_a_shared_cause_once_with_its_budgets():
    assert repr(CheckReport([_outcome()])) == (
        f"05-sales-report: failed (1/6 points)\n  offloaded, status: {CAUSE}"
    )


def test_the_html_report_draws_a_met_budget_met_and_a_shared_cause_once():
    html = CheckReport([_outcome()])._repr_html_()

    assert html.count(CAUSE) == 1
    assert "(see offloaded)" in html
    assert '<td>acks-late</td><td style="color:#1a7f37">✔</td><td>1/1</td>' in html
    assert "word-break:normal;overflow-wrap:break-word" in html


def test_a_met_guard_that_earned_nothing_yet_says_why():
    outcome = _outcome()
    outcome.budgets.append(
        BudgetOutcome("same-output", True, 0, 2, "Met, but this budget guards the fix.")
    )

    text = repr(CheckReport([outcome]))
    html = CheckReport([outcome])._repr_html_()

    assert text.endswith("\n  same-output: Met, but this budget guards the fix.")
    assert "Met, but this budget guards the fix." in html
