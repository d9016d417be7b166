"""`course grade --resume`: grade only what has no result for the same shop and
trusted tests."""

import dataclasses
import json
import shutil

import pytest

from checker.grading.grade import GradingPlan, grade_class
from checker.grading.results import result_path, result_read
from checker.harness.runner import Limits
from checker.manifest import load_course
from checker.services import ensure_up
from tests.grading.conftest import run_course, shop_copy, shop_solve

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def plan(fixture_course):
    ensure_up()
    return GradingPlan(
        course=load_course(fixture_course),
        trusted=fixture_course / "trusted",
        limits=Limits(30, 1024, 16),
    )


NAMES = ("alice", "bruno", "dana")


@pytest.fixture(scope="module")
def graded(tmp_path_factory, plan):
    """Grade alice (naive), bruno (solved) and dana (naive) once, storing results."""
    folder = tmp_path_factory.mktemp("resume")
    shop_copy(folder / "class" / "alice")
    shop_solve(shop_copy(folder / "class" / "bruno"))
    shop_copy(folder / "class" / "dana")
    grades = grade_class(
        [str(folder / "class" / name) for name in NAMES], plan=plan, out=folder / "out"
    )
    return folder, grades


def _copy(graded, tmp_path):
    """Copy the class and its results, marking every stored result as kept."""
    folder, _ = graded
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    for name in NAMES:
        path = result_path(tmp_path / "out", name)
        data = json.loads(path.read_text())
        # No run takes this long: a result that keeps it was not graded again.
        data["grade"]["seconds"] = 999.0
        path.write_text(json.dumps(data))
    return [str(tmp_path / "class" / name) for name in NAMES], tmp_path / "out"


def test_resume_grades_the_missing_and_the_changed_and_keeps_the_rest(
    graded, tmp_path, plan
):
    specs, out = _copy(graded, tmp_path)
    # An interrupted run never wrote bruno's result; dana solved it since.
    result_path(out, "bruno").unlink()
    shop_solve(tmp_path / "class" / "dana")

    again = grade_class(specs, plan=plan, out=out, resume=True)

    assert [(g.name, g.points) for g in graded[1]] == [
        ("alice", 2),
        ("bruno", 6),
        ("dana", 2),
    ]
    assert [(g.name, g.points, g.seconds == 999.0) for g in again] == [
        ("alice", 2, True),
        ("bruno", 6, False),
        ("dana", 6, False),
    ]


def test_a_result_carries_the_hashes_of_the_shop_and_of_the_trusted_tests(graded):
    folder, _ = graded

    stored = result_read(folder / "out", "alice")

    assert (len(stored.submission), len(stored.trusted)) == (64, 64)
    assert stored.grade.points == 2


def test_changed_trusted_tests_grade_a_submission_again(
    graded, tmp_path, plan, fixture_course
):
    specs, out = _copy(graded, tmp_path)
    trusted = shutil.copytree(fixture_course / "trusted", tmp_path / "trusted")
    module = trusted / "grade_fx_quotes.py"
    module.write_text(module.read_text() + "\n# A reviewed test.\n")
    changed = GradingPlan(course=plan.course, trusted=trusted, limits=plan.limits)

    [again] = grade_class(specs[:1], plan=changed, out=out, resume=True)

    assert (again.name, again.points, again.seconds == 999.0) == ("alice", 2, False)


def test_a_result_graded_on_other_exercises_is_graded_again(graded, tmp_path, plan):
    specs, out = _copy(graded, tmp_path)
    [lesson] = plan.course.lessons
    fewer = dataclasses.replace(lesson, exercises=lesson.exercises[:1])
    course = dataclasses.replace(plan.course, lessons=(fewer,))
    subset = dataclasses.replace(plan, course=course)

    [again] = grade_class(specs[:1], plan=subset, out=out, resume=True)

    assert (again.name, again.seconds == 999.0) == ("alice", False)
    assert [e.id for e in again.exercises] == ["fx-list"]


def test_grading_without_resume_grades_every_submission_again(graded, tmp_path, plan):
    specs, out = _copy(graded, tmp_path)

    [again] = grade_class(specs[:1], plan=plan, out=out)

    assert (again.name, again.seconds == 999.0) == ("alice", False)
    assert not result_path(out, "bruno").exists()


def test_course_grade_resumes_and_writes_the_exports_from_the_command_line(
    graded, tmp_path, course_args
):
    specs, out = _copy(graded, tmp_path)
    roster = tmp_path / "roster.csv"
    roster.write_text("submission,name,id_number,email\nalice,Alice,17,a@example.edu\n")

    process = run_course(
        "grade", *specs, "--out", out, "--resume", "--roster", roster, *course_args,
    )  # fmt: skip

    assert process.returncode == 0, process.stdout + process.stderr
    grades = json.loads((out / "grades.json").read_text())["students"]
    assert [(s["student"], s["points"], s["seconds"]) for s in grades] == [
        ("alice", 2, 999.0),
        ("bruno", 6, 999.0),
        ("dana", 2, 999.0),
    ]
    assert (
        (out / "moodle.csv")
        .read_text()
        .splitlines()[1]
        .startswith("17,a@example.edu,2,")
    )
    assert sorted(p.name for p in (out / "classroom").iterdir()) == [
        "alice.json", "bruno.json", "dana.json",
    ]  # fmt: skip
    assert "Not in the roster, so in neither import: bruno, dana" in " ".join(
        process.stdout.split()
    )
