"""Each student's feedback page: figures and diagnoses, never the tests."""

import re

from checker.grading.feedback import (
    HIDDEN,
    feedback_html,
    feedback_markdown,
    feedback_write,
    redactor,
)
from tests.grading.conftest import COURSE
from tests.grading.grades import (
    QUERIES_MESSAGE,
    fixture_course,
    partial_grade,
    refused_grade,
)


def _redact():
    return redactor(course=fixture_course(), trusted=COURSE / "trusted")


def test_the_markdown_page_shows_score_figures_diagnosis_and_hints():
    page = feedback_markdown(partial_grade(), course=fixture_course(), redact=_redact())

    assert page.splitlines()[:3] == [
        "# Feedback: alice",
        "",
        "**Score: 3 / 6** (graded in 3.5 s from `alice`)",
    ]
    assert "| queries | missed | 0 / 3 |" in page
    assert "**queries** measured: queries = 148" in page
    assert f"```text\n{QUERIES_MESSAGE}\n```" in page
    assert "- The template reads product.category and product.brand per row." in page
    assert "checker_exercise" not in page


def test_the_markdown_page_of_a_refused_submission_says_why():
    page = feedback_markdown(refused_grade(), course=fixture_course(), redact=_redact())

    assert "> Not graded: no shop_app/ folder in bob" in page
    assert "**Score: 0 / 6**" in page


def test_the_html_page_is_self_contained():
    page = feedback_html(partial_grade(), course=fixture_course(), redact=_redact())

    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    assert re.findall(r"(?:src|href)\s*=|@import|url\(|<script|<link", page) == []


def test_the_html_page_escapes_what_the_submission_controls():
    grade = refused_grade(reason="<script>alert(1)</script>")

    page = feedback_html(grade, course=fixture_course(), redact=_redact())

    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_lines_of_the_trusted_tests_are_hidden_from_a_diagnosis():
    grade = partial_grade()
    grade.exercises[0].budgets[0].message = (
        "Traceback:\n"
        "    with CaptureQueriesContext(connection) as captured:\n"
        "RuntimeError: boom"
    )

    page = feedback_markdown(grade, course=fixture_course(), redact=_redact())

    assert f"Traceback:\n{HIDDEN}\nRuntimeError: boom" in page
    assert "CaptureQueriesContext" not in page


def test_feedback_write_makes_two_pages_per_student(tmp_path):
    paths = feedback_write(
        [partial_grade(), refused_grade()],
        course=fixture_course(),
        out=tmp_path,
        trusted=COURSE / "trusted",
    )

    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "feedback/alice.md",
        "feedback/alice.html",
        "feedback/bob.md",
        "feedback/bob.html",
    ]


def test_a_met_guard_that_earned_nothing_yet_says_why():
    grade = partial_grade()
    guard = grade.exercises[0].budgets[1]
    guard.points, guard.message = 0, "Met, but this budget guards the fix."

    page = feedback_markdown(grade, course=fixture_course(), redact=_redact())

    assert "| same-output | met | 0 / 1 |" in page
    assert "**same-output** diagnosis:\n\n```text\nMet, but this budget" in page


def test_one_cause_of_several_missed_budgets_is_shown_once():
    grade = partial_grade()
    quotes = grade.exercises[1]
    for budget in quotes.budgets:
        budget.passed, budget.points, budget.message = False, 0, "ImportError: x"

    page = feedback_markdown(grade, course=fixture_course(), redact=_redact())
    html = feedback_html(grade, course=fixture_course(), redact=_redact())

    assert page.count("ImportError: x") == 1
    assert "**count, cheapest-first** diagnosis:" in page
    assert html.count("ImportError: x") == 1
    assert "The same cause as count." in html
