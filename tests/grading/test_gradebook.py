"""grades.csv has a row per student; grades.json keeps every measurement."""

import csv
import json

from checker.grading.grade import summary
from checker.grading.gradebook import gradebook_write
from tests.grading.grades import (
    QUERIES_MESSAGE,
    fixture_course,
    partial_grade,
    refused_grade,
)


def test_the_csv_gives_each_exercises_points_the_total_and_a_note(tmp_path):
    table, _ = gradebook_write(
        [partial_grade(), refused_grade()], course=fixture_course(), out=tmp_path
    )

    with table.open() as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        ["student", "fx-list", "fx-quotes", "total", "max", "note"],
        ["alice", "1", "2", "3", "6", f"fx-list queries: {QUERIES_MESSAGE}"],
        ["bob", "0", "0", "0", "6", "no shop_app/ folder in bob"],
    ]


def test_the_json_keeps_messages_and_properties_of_every_budget(tmp_path):
    _, document = gradebook_write(
        [partial_grade()], course=fixture_course(), out=tmp_path
    )

    data = json.loads(document.read_text())
    [alice] = data["students"]
    queries = alice["exercises"][0]["budgets"][0]
    assert data["exercises"][0] == {
        "id": "fx-list",
        "title": "List products in few queries",
        "points": {"queries": 3, "same-output": 1},
    }
    assert (alice["points"], alice["max_points"], alice["seconds"]) == (3, 6, 3.5)
    assert queries == {
        "budget": "queries",
        "passed": False,
        "points": 0,
        "max_points": 3,
        "message": QUERIES_MESSAGE,
        "properties": {"queries": 148, "checker_exercise": "fx-list"},
    }


def test_a_full_score_has_no_note():
    grade = partial_grade()
    grade.exercises[0].budgets[0].passed = True

    assert grade.note == ""


def test_a_traceback_is_summed_up_by_its_exception_and_place():
    message = (
        '  File "shop_app/catalog/views.py", line 85\n'
        "    def oops(:\n"
        "             ^\n"
        "SyntaxError: invalid syntax"
    )

    assert (
        summary(message) == "SyntaxError: invalid syntax (shop_app/catalog/views.py:85)"
    )


def test_a_plain_message_is_summed_up_by_its_first_line():
    assert summary("made 148 queries\n200 similar") == "made 148 queries"
