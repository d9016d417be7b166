"""The gradebook imports of Canvas and Moodle, and GitHub Classroom's results."""

import base64
import csv
import json

import pytest

from checker.grading.exports import (
    RosterError,
    canvas_rows,
    classroom_result,
    exports_write,
    moodle_rows,
    roster_load,
    unrostered,
)
from tests.grading.grades import QUERIES_MESSAGE, partial_grade, refused_grade

ROSTER = (
    "submission,name,canvas_id,sis_user_id,sis_login_id,section,id_number,email\n"
    "alice,Alice Martin,1001,S-17,amartin,Section 2,2024017,alice@example.edu\n"
    "bob,Bob Stone,1002,S-18,bstone,Section 2,2024018,bob@example.edu\n"
)


def _roster(tmp_path, text=ROSTER):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    return roster_load(path)


def _keep(text):
    return text


def test_canvas_rows_follow_the_gradebook_export_columns_with_points_possible(
    tmp_path,
):
    rows = canvas_rows(
        [partial_grade(), refused_grade()],
        roster=_roster(tmp_path),
        assignment="Django at Scale",
    )

    assert rows == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Django at Scale"],
        ["Points Possible", "", "", "", "", "6"],
        ["Alice Martin", "1001", "S-17", "amartin", "Section 2", "3"],
        ["Bob Stone", "1002", "S-18", "bstone", "Section 2", "0"],
    ]


def test_moodle_rows_carry_an_id_number_an_email_the_grade_and_feedback(tmp_path):
    rows = moodle_rows(
        [partial_grade(), refused_grade()],
        roster=_roster(tmp_path),
        assignment="Django at Scale",
    )

    assert rows == [
        ["ID number", "Email address", "Django at Scale", "Feedback"],
        [
            "2024017",
            "alice@example.edu",
            "3",
            f"fx-list queries: {QUERIES_MESSAGE}",
        ],
        ["2024018", "bob@example.edu", "0", "no shop_app/ folder in bob"],
    ]


def test_a_student_missing_from_the_roster_is_left_out_and_named(tmp_path):
    roster = _roster(tmp_path, ROSTER.splitlines()[0] + "\n" + ROSTER.splitlines()[1])
    grades = [partial_grade(), refused_grade()]

    rows = canvas_rows(grades, roster=roster, assignment="A")

    assert [row[0] for row in rows] == ["Student", "Points Possible", "Alice Martin"]
    assert unrostered(grades, roster) == ["bob"]


def test_a_roster_needs_only_the_submission_column(tmp_path):
    roster = _roster(tmp_path, "submission,email\nalice,alice@example.edu\n")

    rows = moodle_rows([partial_grade()], roster=roster, assignment="A")

    assert rows[1][:3] == ["", "alice@example.edu", "3"]


def test_a_roster_without_a_submission_column_says_which_columns_it_may_have(
    tmp_path,
):
    path = tmp_path / "roster.csv"
    path.write_text("student,email\nalice,a@example.edu\n")

    with pytest.raises(RosterError) as excinfo:
        roster_load(path)

    assert str(excinfo.value) == (
        f"{path} has no 'submission' column; its columns may be submission, name, "
        "canvas_id, sis_user_id, sis_login_id, section, id_number, email"
    )


def test_classroom_result_has_one_test_per_budget_scored_in_points():
    result = classroom_result(partial_grade(), redact=_keep)

    assert (result["version"], result["status"], result["max_score"]) == (1, "fail", 6)
    assert [(t["name"], t["status"], t["score"]) for t in result["tests"]] == [
        ("fx-list queries", "fail", 0),
        ("fx-list same-output", "pass", 1),
        ("fx-quotes count", "pass", 1),
        ("fx-quotes cheapest-first", "pass", 1),
    ]
    assert result["tests"][0]["message"] == QUERIES_MESSAGE
    # The reporter sends the sum of the tests' scores to GitHub Classroom.
    assert sum(t["score"] for t in result["tests"]) == partial_grade().points


def test_classroom_result_of_an_ungraded_submission_is_an_error():
    result = classroom_result(refused_grade(), redact=_keep)

    assert result["status"] == "error"
    assert {t["message"] for t in result["tests"]} == {"no shop_app/ folder in bob"}


def test_classroom_results_decode_as_the_reporter_decodes_them(tmp_path):
    exports_write(
        [partial_grade()], out=tmp_path, redact=_keep, roster=None, assignment="A"
    )
    encoded = base64.b64encode((tmp_path / "classroom" / "alice.json").read_bytes())

    decoded = json.loads(base64.b64decode(encoded).decode("utf-8"))

    assert decoded["max_score"] == 6
    assert not (tmp_path / "canvas.csv").exists()


def test_exports_with_a_roster_write_both_gradebook_imports(tmp_path):
    exports_write(
        [partial_grade()],
        out=tmp_path,
        redact=_keep,
        roster=_roster(tmp_path),
        assignment="Django at Scale",
    )

    with (tmp_path / "canvas.csv").open() as handle:
        canvas = list(csv.reader(handle))
    with (tmp_path / "moodle.csv").open() as handle:
        moodle = list(csv.reader(handle))
    assert (canvas[2][-1], moodle[1][2]) == ("3", "3")
