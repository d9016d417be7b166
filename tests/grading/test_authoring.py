"""`course dev check`: each exercise fails unsolved and passes solved."""

import shutil

from checker.grading.authoring import (
    expected_diagnoses,
    naive_problem,
    patch_apply,
    solved_problem,
)
from checker.harness.runner import BudgetOutcome, ExerciseOutcome
from checker.manifest import load_course
from tests.grading.conftest import run_course, shop_copy


def _outcome(*budgets, reason=""):
    return ExerciseOutcome("fx", list(budgets), 2, reason)


def _budget(passed, message=""):
    return BudgetOutcome("queries", passed, int(passed), 1, message)


def _table(process):
    return " ".join(process.stdout.split())


def test_dev_check_flags_an_exercise_that_passes_without_its_solution(course_args):
    process = run_course(
        "dev", "check", "--timeout", 60, "--memory", 1024, *course_args
    )

    assert process.returncode == 1, process.stdout + process.stderr
    table = _table(process)
    assert "│ fx-list │ fails as expected │ passes │" in table
    # fx-quotes's patch applies only on top of fx-list's, so it proves the order.
    assert "│ fx-quotes │ already passes without its solution │ passes │" in table
    assert table.endswith("1 exercise(s) need work: fx-quotes")


def test_dev_check_passes_when_every_exercise_fails_unsolved_and_passes_solved(
    fixture_course, tmp_path
):
    course = tmp_path / "course"
    shutil.copytree(fixture_course, course)
    manifest = (course / "course.toml").read_text()
    # Keep fx-list only: drop the last exercise of the manifest.
    kept, _, _ = manifest.rpartition("\n[[lessons.exercises]]")
    (course / "course.toml").write_text(kept)

    process = run_course(
        "dev", "check", "--course", course, "--trusted", course / "trusted",
        "--timeout", 60, "--memory", 1024,
    )  # fmt: skip

    assert process.returncode == 0, process.stdout + process.stderr
    assert _table(process).endswith("All 1 exercises fail unsolved and pass solved.")


def test_a_patch_that_does_not_apply_is_named(fixture_course, tmp_path):
    shop_copy(tmp_path)
    patch = fixture_course / "solutions" / "fx-list.patch"
    assert patch_apply(patch, tmp_path) == ""

    again = patch_apply(patch, tmp_path)

    assert again == (
        "fx-list.patch does not apply: "
        "error: patch failed: shop_app/catalog/selectors.py:10"
    )


def test_a_missing_patch_is_named(tmp_path):
    assert patch_apply(tmp_path / "fx-9.patch", tmp_path) == "fx-9.patch is missing"


def test_the_manifest_may_name_the_expected_diagnosis(fixture_course):
    diagnoses = expected_diagnoses(load_course(fixture_course))

    assert diagnoses == {"fx-list": ("queries (budget: at most",), "fx-quotes": ()}


def test_a_naive_failure_without_the_expected_diagnosis_is_named():
    outcome = _outcome(_budget(False, "GET /products/ returned 500"))

    assert naive_problem(outcome, ("queries (budget",)) == (
        "diagnosis lacks 'queries (budget': GET /products/ returned 500"
    )


def test_a_naive_failure_without_any_message_is_named():
    assert naive_problem(_outcome(_budget(False)), ()) == (
        "fails without a diagnosis: queries"
    )


def test_a_naive_run_that_could_not_grade_is_named():
    outcome = _outcome(_budget(False, "x"), reason="SyntaxError: invalid syntax")

    assert naive_problem(outcome, ()) == "could not grade: SyntaxError: invalid syntax"


def test_a_budget_that_earns_points_unsolved_is_named():
    earning = BudgetOutcome("same-output", True, 2, 2)
    outcome = _outcome(
        _budget(False, "made 148 queries (budget: at most 100)"), earning
    )

    assert naive_problem(outcome, ("queries (budget",)) == (
        "earns points without its solution: same-output (2);"
        " a budget that only guards the fix belongs in its 'guards'"
    )


def test_a_naive_failure_with_its_diagnosis_is_fine():
    outcome = _outcome(_budget(False, "made 148 queries (budget: at most 100)"))

    assert naive_problem(outcome, ("queries (budget",)) == ""


def test_a_solution_that_still_fails_a_budget_is_named():
    outcome = _outcome(_budget(True), _budget(False, "made 90 queries\nmore"))

    assert solved_problem(outcome) == "queries still fails: made 90 queries"
