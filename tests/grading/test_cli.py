"""`course grade` run as an instructor runs it, on a class with bad submissions."""

import csv
import json

import psycopg
import pytest

from checker.services import database_url
from tests.grading.conftest import run_course
from tests.grading.corpus import NAIVE_NOTE


def _rows(graded):
    with (graded.out / "grades.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_grading_a_class_with_bad_submissions_finishes_and_exits_0(graded_class):
    process = graded_class.process

    assert process.returncode == 0, process.stdout + process.stderr
    count = len(graded_class.entries)
    assert f"Graded {count} submissions: {graded_class.out / 'grades.csv'}" in " ".join(
        process.stdout.split()
    )


def test_the_class_has_at_least_ten_bad_submissions_and_some_good_ones(graded_class):
    bad = [e for e in graded_class.entries if e.note and e.note != NAIVE_NOTE]
    full = [e for e in graded_class.entries if e.points == ("4", "2", "6")]

    assert (len(bad) >= 10, len(full) >= 3) == (True, True)


def test_the_progress_bar_counts_every_submission(graded_class):
    count = len(graded_class.entries)

    assert f"{count}/{count}" in graded_class.process.stdout


def test_every_submission_gets_one_row_in_the_order_given(graded_class):
    names = [row["student"] for row in _rows(graded_class)]

    assert names == [entry.name for entry in graded_class.entries]


def test_the_csv_has_a_column_per_exercise_the_total_and_a_note(graded_class):
    header = (graded_class.out / "grades.csv").read_text().splitlines()[0]

    assert header == "student,fx-list,fx-quotes,total,max,note"


NAMES = [
    "alice", "bruno", "chen", "dana", "emil", "syntax", "imports", "migration",
    "deleted", "loop", "hog", "chatty", "flood", "cheater", "shadow", "conftest",
    "leak", "empty", "notzip", "slip", "ghost", "chen-2",
]  # fmt: skip


def test_each_corpus_submission_is_checked_below(graded_class):
    assert [entry.name for entry in graded_class.entries] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_each_submission_gets_its_points_and_its_one_line_reason(graded_class, name):
    [entry] = [e for e in graded_class.entries if e.name == name]
    [row] = [r for r in _rows(graded_class) if r["student"] == name]

    assert (row["fx-list"], row["fx-quotes"], row["total"], row["max"]) == (
        *entry.points,
        "6",
    )
    assert row["note"] == entry.note


def test_grades_json_keeps_each_budgets_message_and_measured_figures(graded_class):
    students = json.loads((graded_class.out / "grades.json").read_text())["students"]
    alice = next(s for s in students if s["student"] == "alice")
    [queries, same_output] = alice["exercises"][0]["budgets"]

    assert (queries["budget"], queries["passed"], queries["points"]) == (
        "queries",
        False,
        0,
    )
    assert queries["message"] == NAIVE_NOTE.removeprefix("fx-list queries: ")
    assert queries["properties"]["queries"] == 148
    assert same_output["properties"]["products_shown"] == 29


def test_grades_json_marks_a_killed_run_as_an_error_with_its_reason(graded_class):
    students = json.loads((graded_class.out / "grades.json").read_text())["students"]
    loop = next(s for s in students if s["student"] == "loop")

    assert [e["status"] for e in loop["exercises"]] == ["error", "error"]
    assert loop["exercises"][1]["reason"].startswith("timed out after 30 s")


def test_each_student_gets_a_markdown_and_an_html_feedback_page(graded_class):
    pages = sorted(p.name for p in (graded_class.out / "feedback").iterdir())

    expected = sorted(
        f"{entry.name}{suffix}"
        for entry in graded_class.entries
        for suffix in (".md", ".html")
    )
    assert pages == expected


def test_feedback_shows_the_measured_figures_and_the_diagnosis(graded_class):
    page = (graded_class.out / "feedback" / "alice.md").read_text()

    assert "**Score: 2 / 6**" in page
    assert "**queries** measured: queries = 148, status = 200" in page
    assert NAIVE_NOTE.removeprefix("fx-list queries: ") in page


def test_feedback_never_shows_the_trusted_tests_source(graded_class):
    for page in (graded_class.out / "feedback").iterdir():
        text = page.read_text()
        for secret in ("trusted-source-never-shown", "QUERY_BUDGET", "assert count"):
            assert secret not in text, f"{page.name} shows {secret!r}"


def test_no_test_database_is_left_behind(graded_class):
    with psycopg.connect(database_url("postgres", libpq=True)) as db:
        names = [
            row[0]
            for row in db.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'test_grade_%'"
            )
        ]
    # Other grading processes may be running; only this class's names count.
    ours = {entry.name.replace("-", "_") for entry in graded_class.entries}

    assert [name for name in names if name.rpartition("_")[2] in ours] == []


def test_an_archive_cannot_write_outside_its_scratch_folder(graded_class):
    assert not (graded_class.folder.parent / "slipped.txt").exists()
    assert not (graded_class.folder / "slipped.txt").exists()


def test_grade_without_out_is_refused_by_the_parser():
    process = run_course("grade", "alice")

    assert process.returncode == 2
    assert "the following arguments are required: --out" in process.stderr


def test_grade_with_zero_jobs_says_why(tmp_path, course_args):
    process = run_course("grade", "alice", "--out", tmp_path, "-j", "0", *course_args)

    assert (process.returncode, process.stdout.strip()) == (
        2,
        "error: -j needs at least 1 job.",
    )


def test_grade_of_a_lesson_the_course_lacks_names_the_known_ones(tmp_path, course_args):
    process = run_course(
        "grade", "alice", "--out", tmp_path, "--lessons", "2-3", *course_args
    )

    assert (process.returncode, process.stdout.strip()) == (
        2,
        "error: No lesson '2'. Known lessons: 01.",
    )
    assert list(tmp_path.iterdir()) == []


def test_grade_with_jobs_on_a_broker_says_where_the_workers_count(
    tmp_path, course_args
):
    process = run_course(
        "grade", "alice", "--out", tmp_path, "-j", "2",
        "--broker", "redis://127.0.0.1:1/0", *course_args,
    )  # fmt: skip

    assert process.returncode == 2
    assert " ".join(process.stdout.split()) == (
        "error: -j does not apply with --broker: each `course grade-worker -c N` "
        "says how many it grades at once."
    )


def test_grade_against_a_folder_without_a_manifest_says_which_file(tmp_path):
    process = run_course("grade", "alice", "--out", tmp_path, "--course", tmp_path)

    assert process.returncode == 2
    assert " ".join(process.stdout.split()) == (
        f"error: {tmp_path / 'course.toml'} is missing."
    )
