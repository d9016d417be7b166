"""`course reset`: files as the learner's lesson starts, whatever tags exist."""

import json

import pytest

from tests.history.conftest import ANSWER, git

MIGRATION = "shop_app/catalog/migrations/0002_greeting_marker.py"


def _lines(output):
    return [" ".join(line.split()) for line in output.splitlines()]


def _edit_both_lessons(clone):
    """Solve lesson 1 and lesson 2 by hand on the shop at lesson 1."""
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 42\nGREETING = "hello"\n')
    (clone / MIGRATION).write_text("# my migration\n")


@pytest.mark.parametrize("tags", [False, True], ids=["without-tags", "with-tags"])
def test_reset_of_a_later_exercise_brings_no_later_lesson_in(course, clone, tags):
    if tags:
        assert course("tags").returncode == 0
    _edit_both_lessons(clone)

    result = course("reset", "02-greeting")

    assert result.returncode == 0, result.stdout + result.stderr
    [backup] = (clone / ".course" / "backups").iterdir()
    assert _lines(result.stdout) == [
        "Reset the files of 02-greeting to the start of lesson 01 (lesson-01, built"
        " from origin/HEAD):",
        "put back shop_app/answer.py",
        f"removed {MIGRATION}",
        f"Your versions are saved under .course/backups/{backup.name}/:",
        "shop_app/answer.py",
        MIGRATION,
    ]
    assert (clone / "shop_app" / "answer.py").read_text() == ANSWER
    assert not (clone / MIGRATION).exists()
    assert (backup / "shop_app" / "answer.py").read_text().startswith("ANSWER = 42")
    assert (backup / MIGRATION).read_text() == "# my migration\n"


def test_reset_after_a_commit_puts_back_the_lesson_start(course, clone):
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 42\nGREETING = "hi"\n')
    git(clone, "commit", "-qam", "Solve the answer")

    result = course("reset", "01")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "put back shop_app/answer.py" in _lines(result.stdout)
    assert (clone / "shop_app" / "answer.py").read_text() == ANSWER


def test_reset_on_a_lesson_branch_keeps_the_earlier_lessons_solved(course, clone):
    assert course("goto", "02", "--no-database").returncode == 0
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 7\nGREETING = "hey"\n')

    result = course("reset", "--lesson", "2")

    assert result.returncode == 0, result.stdout + result.stderr
    assert _lines(result.stdout)[0] == (
        "Reset the files of lesson 02's exercises to the start of lesson 02"
        " (lesson-02, built from origin/HEAD):"
    )
    assert (clone / "shop_app" / "answer.py").read_text() == (
        'ANSWER = 42\nGREETING = "hi"\n'
    )


def test_reset_with_nothing_changed_says_so(course, clone):
    result = course("reset", "01-answer")

    assert result.returncode == 0
    assert _lines(result.stdout) == [
        "Nothing to reset: the files of 01-answer are already as at the start of"
        " lesson 01 (lesson-01, built from origin/HEAD)."
    ]
    assert not (clone / ".course" / "backups").exists()


def test_reset_changes_nothing_when_the_backup_cannot_be_written(course, clone):
    _edit_both_lessons(clone)
    (clone / ".course").mkdir()
    (clone / ".course" / "backups").write_text("in the way\n")

    result = course("reset", "02-greeting")

    assert result.returncode == 1
    assert "Nothing was changed; your files are as they were." in result.stdout
    assert (clone / "shop_app" / "answer.py").read_text().startswith("ANSWER = 42")
    assert (clone / MIGRATION).read_text() == "# my migration\n"


def test_reset_forgets_the_progress_of_the_exercises_it_touched(course, clone):
    _edit_both_lessons(clone)
    passed = {"status": "passed", "points": 2, "max_points": 2, "ever_passed": True}
    (clone / ".course").mkdir()
    (clone / ".course" / "progress.json").write_text(
        json.dumps({"exercises": {"01-answer": passed, "02-greeting": passed}})
    )

    result = course("reset", "02-greeting")
    listed = course("list")

    assert (
        "Marked not checked: 01-answer, 02-greeting. `course check` grades them"
        " again." in _lines(result.stdout)
    )
    assert "passed" not in listed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "No exercise 'nope'. Known exercises: 01-answer, 02-greeting."),
        ([], "Name the exercise to reset (course reset 01-product-pages) or a"),
        (["--lesson", "9"], "No lesson '9'. Known lessons: 01, 02."),
    ],
)
def test_reset_refuses_bad_input_and_changes_nothing(course, clone, args, message):
    _edit_both_lessons(clone)

    result = course("reset", *args)

    assert result.returncode == 2
    assert message in " ".join(result.stdout.split())
    assert (clone / "shop_app" / "answer.py").read_text().startswith("ANSWER = 42")
