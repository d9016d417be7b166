"""`course release`: a student edition without solutions, with the lesson tags."""

import subprocess

from tests.history.conftest import git


def _all_text(repository):
    """Return every blob of every ref in a repository, as one text."""
    objects = git(repository, "rev-list", "--objects", "--all").splitlines()
    blobs = [
        sha
        for sha, *_ in (line.split(" ", 1) for line in objects)
        if git(repository, "cat-file", "-t", sha) == "blob"
    ]
    return "\n".join(git(repository, "cat-file", "-p", sha) for sha in blobs)


def _paths(repository):
    return git(repository, "rev-list", "--objects", "--all")


def test_the_release_holds_no_solution_and_carries_the_lesson_tags(
    course, clone, tmp_path
):
    out = tmp_path / "edition"

    result = course("release", "--out", str(out))

    assert result.returncode == 0, result.stdout + result.stderr
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert f"Wrote the student edition to {out}." in lines
    assert "Left out: solutions/." in lines
    [checked] = [line for line in lines if line.startswith("Checked:")]
    assert checked.endswith(
        " telling lines the solution patches add and no tag a later lesson's."
        " Not checked: the notebooks, which show each fix by design."
    )
    assert "Chapters: no line outside a marked answer block quotes a solution." in lines
    assert (
        "Hints: the last hint of each of 1 exercise left out of course.toml (it"
        " names the change), so `course hint` stops one step short of the answer."
    ) in lines
    assert "git push origin main course-lessons --tags" in lines
    assert git(out, "tag", "--list").split() == ["lesson-01", "lesson-02"]
    assert git(out, "status", "--porcelain") == ""
    assert not (out / "solutions").exists()
    assert "solutions/" not in _paths(out)
    text = _all_text(out)
    assert 'GREETING = "hello"' not in text
    assert "Receipt:" not in text
    assert git(out, "show", "main:shop_app/answer.py").startswith("ANSWER = 41")
    manifest = git(out, "show", "main:course.toml")
    assert "It is six times seven." in manifest
    assert "Set ANSWER = 42" not in manifest
    assert git(out, "show", "lesson-02:shop_app/answer.py").startswith("ANSWER = 42")
    assert git(out, "rev-parse", "lesson-01^{tree}") == git(
        out, "rev-parse", "main^{tree}"
    )


def test_a_release_is_reproducible(course, tmp_path):
    course("release", "--out", str(tmp_path / "one"))
    course("release", "--out", str(tmp_path / "two"))

    assert git(tmp_path / "one", "show-ref") == git(tmp_path / "two", "show-ref")


def test_a_release_without_tags_holds_only_the_naive_start(course, tmp_path):
    out = tmp_path / "edition"

    result = course("release", "--out", str(out), "--without-tags")

    assert result.returncode == 0, result.stdout
    assert git(out, "tag", "--list") == ""
    assert git(out, "rev-list", "--all", "--count") == "1"
    assert "git push origin main" in result.stdout.splitlines()[-1]


def test_a_note_quoting_a_solution_is_left_out(course, clone, tmp_path):
    (clone / "docs").mkdir()
    (clone / "docs" / "answers.md").write_text("The answer:\n\n    ANSWER = 42\n")
    git(clone, "add", "docs")
    git(clone, "commit", "-qm", "Add the answers")
    out = tmp_path / "edition"

    result = course("release", "--out", str(out), "--from", "HEAD")

    assert result.returncode == 0, result.stdout
    assert "Left out: solutions/, docs/answers.md (quotes a solution)." in " ".join(
        result.stdout.split()
    )
    assert not (out / "docs" / "answers.md").exists()


def test_shop_code_quoting_a_solution_stops_the_release(course, clone, tmp_path):
    (clone / "shop_app" / "greeting.py").write_text(
        'ANSWER = 42\n\nGREETING = "hello"\n'
    )
    git(clone, "add", "shop_app/greeting.py")
    git(clone, "commit", "-qm", "Leak the greeting")
    out = tmp_path / "edition"

    result = course("release", "--out", str(out), "--from", "HEAD")

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "error: these files would give solutions away:",
        "  shop_app/greeting.py:1 quotes solutions/01-answer.patch",
        "  shop_app/greeting.py:3 quotes solutions/02-greeting.patch",
        f"Nothing was written to {out}.",
    ]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["learner"]


def test_the_release_refuses_a_folder_that_is_not_empty(course, tmp_path):
    out = tmp_path / "edition"
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")

    result = course("release", "--out", str(out))

    assert result.returncode == 1
    assert result.stdout.strip() == f"error: {out} already exists and is not empty."
    assert (out / "keep.txt").read_text() == "mine\n"


def test_a_student_clone_of_the_release_can_goto_a_lesson(course, tmp_path):
    edition = tmp_path / "edition"
    course("release", "--out", str(edition))
    student = tmp_path / "student"
    subprocess.run(["git", "clone", "-q", str(edition), str(student)], check=True)

    result = course("goto", "02", "--no-database", cwd=student)

    assert result.returncode == 0, result.stdout + result.stderr
    assert (student / "shop_app" / "answer.py").read_text().startswith("ANSWER = 42")


def test_a_course_committed_solved_stops_the_release(course, clone, tmp_path):
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 42\nGREETING = "hi"\n')
    git(clone, "commit", "-qam", "Solve lesson 1 on main")
    out = tmp_path / "edition"

    result = course("release", "--out", str(out), "--from", "HEAD", "--without-tags")

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "error: these files would give solutions away:",
        "  the shop already holds solutions/01-answer.patch (it applies in reverse)",
        f"Nothing was written to {out}.",
    ]


def test_a_release_through_a_lesson_ships_the_tags_up_to_it(course, tmp_path):
    out = tmp_path / "edition"

    result = course("release", "--out", str(out), "--through", "1")

    assert result.returncode == 0, result.stdout + result.stderr
    assert git(out, "tag", "--list").split() == ["lesson-01"]
    assert 'GREETING = "hello"' not in _all_text(out)
    assert "ANSWER = 42" not in _all_text(out)


def test_a_release_through_an_unknown_lesson_writes_nothing(course, tmp_path):
    out = tmp_path / "edition"

    result = course("release", "--out", str(out), "--through", "9")

    assert result.returncode == 1
    assert "--through 9 names no lesson of the course. Known lessons: 01, 02." in (
        " ".join(result.stdout.split())
    )
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".release")] == []


def test_the_editions_readme_and_solution_say_it_holds_no_solutions(
    course, clone, tmp_path
):
    (clone / "README.md").write_text("# The course\n\nSee solutions/.\n")
    git(clone, "add", "README.md")
    git(clone, "commit", "-qm", "Add a README")
    out = tmp_path / "edition"
    assert course("release", "--out", str(out)).returncode == 0

    shown = course("solution", "01-answer", "--yes", cwd=out)

    assert (out / "README.md").read_text().endswith("Your instructor keeps them.\n")
    assert shown.returncode == 1
    assert "The reference solution of 01-answer is not part of this edition" in (
        " ".join(shown.stdout.split())
    )
