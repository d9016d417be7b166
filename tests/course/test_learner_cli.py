import json
import subprocess

import pytest


def _solve(course_root, answer="42", greeting="hi"):
    (course_root / "shop_app" / "answer.py").write_text(
        f'ANSWER = {answer}\nGREETING = "{greeting}"\n'
    )


def test_check_fails_with_the_diagnosis_and_saves_progress(course, course_root):
    result = course("check", "00-answer")

    assert result.returncode == 1
    assert "ANSWER is 41 (budget: exactly 42)" in result.stdout
    assert "Hint: course hint 00-answer" in result.stdout
    progress = json.loads((course_root / ".course" / "progress.json").read_text())
    entry = progress["exercises"]["00-answer"]
    assert (entry["status"], entry["points"], entry["max_points"]) == ("failed", 0, 2)


def test_check_passes_once_the_shop_is_fixed(course, course_root):
    _solve(course_root)

    result = course("check", "00-answer")

    assert result.returncode == 0, result.stdout
    assert "passed" in result.stdout


def test_a_passed_exercise_is_checked_again_with_later_ones(course, course_root):
    _solve(course_root)
    assert course("check", "00-answer").returncode == 0
    _solve(course_root, answer="43", greeting="hello")

    result = course("check", "00-greeting")

    assert result.returncode == 1
    assert "ANSWER is 43 (budget: exactly 42)" in result.stdout


def test_plain_check_grades_the_current_exercise_and_changed_passed_ones(
    course, course_root
):
    _solve(course_root)
    first = course("check")
    second = course("check")
    _solve(course_root, greeting="hello")
    third = course("check")

    assert "00-answer" in first.stdout
    assert "GREETING" not in first.stdout
    assert second.returncode == 1
    assert "GREETING is 'hi'" in second.stdout
    assert (
        "Not checked again, their files unchanged since they passed: 00-answer"
        in " ".join(second.stdout.split())
    )
    assert third.returncode == 0, third.stdout
    assert (
        "Checking again 00-answer: their files changed since they passed."
        in " ".join(third.stdout.split())
    )


def test_check_all_grades_every_exercise(course, course_root):
    _solve(course_root, greeting="hello")

    result = course("check", "--all")

    assert result.returncode == 0, result.stdout
    progress = json.loads((course_root / ".course" / "progress.json").read_text())
    assert {k: v["status"] for k, v in progress["exercises"].items()} == {
        "00-answer": "passed",
        "00-greeting": "passed",
    }


def test_the_overview_shows_progress_and_the_next_exercise(course, course_root):
    _solve(course_root)
    course("check", "00-answer")

    result = course()

    assert result.returncode == 0
    assert "Next: 00-greeting — Say hello" in result.stdout
    assert "2/2" in result.stdout


def test_hints_go_from_gentle_to_specific_then_stop(course):
    shown = [course("hint", "00-answer").stdout for _ in range(4)]

    assert shown[0].startswith("Hint 1/3 of 00-answer: Read the question again.")
    assert shown[1].startswith("Hint 2/3 of 00-answer: It is six times seven.")
    assert shown[2].startswith("Hint 3/3 of 00-answer: Set ANSWER = 42.")
    assert "That is the last hint." in shown[2]
    assert shown[3].startswith("Hint 3/3 of 00-answer: Set ANSWER = 42.")


@pytest.mark.parametrize("target", [[], ["0"], ["00"], ["lesson-00"], ["00-a"]])
def test_a_hint_finds_its_exercise_by_lesson_prefix_or_the_current_one(course, target):
    result = course("hint", *target)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Hint 1/3 of 00-answer: Read the question again.")


def test_an_ambiguous_prefix_names_the_exercises_it_could_be(course):
    result = course("hint", "00-")

    assert result.returncode == 2
    assert (
        "'00-' could be any of 00-answer, 00-greeting: type more of the id."
        in " ".join(result.stdout.split())
    )


def test_hint_all_shows_the_hints_already_unlocked(course):
    before = course("hint", "--all")
    course("hint")
    course("hint")

    result = course("hint", "--all")

    assert "No hint of 00-answer unlocked yet: `course hint 00-answer` shows the" in (
        " ".join(before.stdout.split())
    )
    assert result.stdout.splitlines() == [
        "Hint 1/3 of 00-answer: Read the question again.",
        "Hint 2/3 of 00-answer: It is six times seven.",
    ]


def test_the_solution_written_to_a_file_is_a_patch_git_applies(course, course_root):
    result = course("solution", "00-answer", "--yes")
    (course_root / "mine.patch").write_text(result.stdout)

    applied = subprocess.run(
        ["git", "apply", "--check", "mine.patch"], cwd=course_root, text=True,
        capture_output=True,
    )  # fmt: skip

    assert result.stdout == (course_root / "solutions" / "00-answer.patch").read_text()
    assert applied.returncode == 0, applied.stderr


def test_a_solution_left_out_of_the_edition_is_said_to_be(course):
    result = course("solution", "00-greeting", "--yes")

    assert result.returncode == 1
    assert (
        "The reference solution of 00-greeting is not part of this edition of the"
        " course; your instructor has it." in " ".join(result.stdout.split())
    )


def test_the_solution_waits_until_the_exercise_passes(course, course_root):
    refused = course("solution", "00-answer")
    _solve(course_root)
    course("check", "00-answer")
    shown = course("solution", "00-answer")

    assert refused.returncode == 1
    assert "00-answer has not passed yet." in refused.stdout
    assert shown.returncode == 0
    assert "+ANSWER = 42" in shown.stdout


def test_the_solution_shows_early_when_asked_explicitly(course):
    result = course("solution", "00-answer", "--yes")

    assert result.returncode == 0
    assert "+ANSWER = 42" in result.stdout


def test_reset_restores_the_files_and_backs_up_the_learners_version(
    course, course_root
):
    _solve(course_root, answer="7")

    result = course("reset", "00-answer")

    assert result.returncode == 0
    assert "put back shop_app/answer.py" in result.stdout
    assert (
        (course_root / "shop_app" / "answer.py").read_text().startswith("ANSWER = 41")
    )
    [backup] = (course_root / ".course" / "backups").glob("*/shop_app/answer.py")
    assert backup.read_text().startswith("ANSWER = 7")


def test_reset_without_an_upstream_refuses_a_start_that_holds_the_fix(
    course, course_root
):
    _solve(course_root)
    git = ["git", "-c", "user.name=L", "-c", "user.email=l@example.com"]
    subprocess.run([*git, "commit", "-qam", "Fix"], cwd=course_root, check=True)

    result = course("reset", "00-answer")

    assert result.returncode == 1
    said = " ".join(result.stdout.split())
    assert (
        "The start of lesson 00, built from HEAD, already holds the solution of"
        " 00-answer, so resetting to it would keep your fix." in said
    )
    assert "Nothing was changed." in said
    assert "course reset 00-answer --from REF" in said


def _unnamed_greeting(course_root):
    """Give 00-greeting a file of its own, left unnamed until it passes."""
    manifest = course_root / "course.toml"
    manifest.write_text(
        manifest.read_text().replace(
            'files = ["shop_app/answer.py"]\nhints = ["Say it."]',
            'files = ["shop_app/greeting.py"]\nfiles_hidden = true\n'
            'hints = ["Say it."]',
        )
    )
    (course_root / "shop_app" / "greeting.py").write_text('GREETING = "hi"\n')
    trusted = course_root / "trusted" / "test_warmup.py"
    trusted.write_text(
        trusted.read_text().replace("answer.GREETING", "greeting.GREETING")
        + "\nimport greeting  # noqa: E402\n"
    )
    git = ["git", "-c", "user.name=L", "-c", "user.email=l@example.com"]
    subprocess.run(["git", "add", "-A"], cwd=course_root, check=True)
    subprocess.run([*git, "commit", "-qm", "Greeting"], cwd=course_root, check=True)


def test_reset_of_an_unnamed_exercise_touches_only_its_own_files(course, course_root):
    _unnamed_greeting(course_root)
    _solve(course_root, answer="7")
    (course_root / "shop_app" / "greeting.py").write_text('GREETING = "hey"\n')

    result = course("reset", "00-greeting")

    assert result.returncode == 0, result.stdout
    assert "put back shop_app/greeting.py" in result.stdout
    assert "answer.py" not in result.stdout
    assert (course_root / "shop_app" / "greeting.py").read_text() == 'GREETING = "hi"\n'
    assert (course_root / "shop_app" / "answer.py").read_text().startswith("ANSWER = 7")


def test_an_unnamed_exercise_s_files_stay_out_of_its_diagnosis(course, course_root):
    _unnamed_greeting(course_root)

    failed = course("check", "00-greeting")
    named = course("check", "00-answer")

    assert failed.returncode == 1
    assert "GREETING is 'hi'" in failed.stdout
    assert "Edit: the files the measurements point at" in failed.stdout
    assert "greeting.py" not in failed.stdout
    assert "Edit: shop_app/answer.py" in named.stdout


def test_an_unknown_exercise_names_the_known_ones(course):
    result = course("check", "nope")

    assert result.returncode == 2
    assert "No exercise 'nope'. Known exercises: 00-answer, 00-greeting." in (
        result.stdout
    )


def test_the_table_fits_80_columns_with_whole_ids_and_finished_lessons_collapsed(
    course, course_root, course_env
):
    long = "GET /products/ made 78 queries with 15 products and 23 with 4 products"
    failed = {"status": "failed", "points": 0, "max_points": 2, "measured": long}
    passed = {"status": "passed", "points": 1, "max_points": 1, "ever_passed": True}
    (course_root / ".course").mkdir()
    (course_root / ".course" / "progress.json").write_text(
        json.dumps({"exercises": {"00-answer": failed, "00-greeting": passed}})
    )
    course_env["COLUMNS"] = "80"
    before = course("list")
    passed_too = {**passed, "points": 2, "max_points": 2}
    (course_root / ".course" / "progress.json").write_text(
        json.dumps({"exercises": {"00-answer": passed_too, "00-greeting": passed}})
    )
    after = course("list")

    assert max(len(line) for line in before.stdout.splitlines()) <= 80
    assert "│ 00-answer " in before.stdout
    assert "│ 00-greeting " in before.stdout
    [row] = [line for line in after.stdout.splitlines() if "│ 00 " in line]
    assert " ".join(row.replace("│", " ").split()) == "00 2 exercises passed 3/3"
