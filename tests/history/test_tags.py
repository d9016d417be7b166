"""`course tags` in a learner's clone of the miniature course."""

import shutil
import subprocess

from tests.history.conftest import git


def _state(clone):
    return (
        git(clone, "rev-parse", "HEAD"),
        git(clone, "symbolic-ref", "HEAD"),
        git(clone, "diff", "--cached"),
        git(clone, "status", "--porcelain", "--untracked-files=all"),
    )


def test_tags_builds_a_tag_per_lesson_and_leaves_the_learners_work_alone(course, clone):
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 7\nGREETING = "hi"\n')
    (clone / "course.toml").write_text("# staged\n", encoding="utf-8")
    git(clone, "add", "course.toml")
    (clone / "mine.txt").write_text("untracked\n")
    before = _state(clone)

    result = course("tags")

    assert result.returncode == 0, result.stdout + result.stderr
    assert _state(clone) == before
    assert git(clone, "tag", "--list").split() == [
        "course-solved",
        "lesson-01",
        "lesson-02",
    ]
    assert git(clone, "rev-parse", "lesson-01^{tree}") == git(
        clone, "rev-parse", "origin/main^{tree}"
    )
    assert git(clone, "show", "lesson-02:shop_app/answer.py").startswith("ANSWER = 42")
    assert 'GREETING = "hello"' in git(
        clone, "show", "course-solved:shop_app/answer.py"
    )
    assert git(clone, "diff", "--stat", "lesson-01", "lesson-02") == (
        "shop_app/answer.py | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)"
    )
    assert git(clone, "rev-parse", "course-lessons") == git(
        clone, "rev-parse", "course-solved^{commit}"
    )
    assert "3 tag(s) created or moved, 0 unchanged." in result.stdout
    assert "git diff lesson-01 lesson-02" in result.stdout


def test_tags_are_annotated_and_signed_by_the_course_at_the_bases_date(course, clone):
    course("tags")

    assert git(clone, "cat-file", "-t", "lesson-02") == "tag"
    assert git(clone, "log", "-1", "--format=%an <%ae> %cd", "lesson-02") == (
        "Django at Scale <course@django-at-scale.invalid> "
        + git(clone, "log", "-1", "--format=%cd", "origin/main")
    )


def test_rebuilding_makes_the_same_trees_and_moves_no_tag(course, clone):
    course("tags")
    first = git(clone, "show-ref", "--tags", "--heads")

    again = course("tags")

    assert git(clone, "show-ref", "--tags", "--heads") == first
    assert "0 tag(s) created or moved, 3 unchanged." in again.stdout


def test_two_clones_build_the_very_same_tags(course, clone, upstream, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(upstream), str(other)], check=True)
    course("tags")
    course("tags", cwd=other)

    assert git(other, "show-ref", "--tags") == git(clone, "show-ref", "--tags")


def test_a_base_with_solutions_committed_is_refused_with_the_way_out(course, clone):
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 42\nGREETING = "hi"\n')
    git(clone, "commit", "-qam", "Solve it myself")
    short = git(clone, "rev-parse", "--short", "HEAD")

    refused = course("tags", "--from", "HEAD")
    tags_after_refusal = git(clone, "tag", "--list")
    default = course("tags")

    assert refused.returncode == 1
    assert " ".join(refused.stdout.split()) == (
        f"error: solutions/01-answer.patch does not apply on {short} (Solve it"
        " myself), taken from HEAD: it is already applied there, so that commit"
        " holds solved code. The lesson tags must start from the course's naive"
        " shop. Name the commit the course came from, for example: course tags"
        " --from origin/main or the first commit in `git log --oneline` that you"
        " did not write."
    )
    assert tags_after_refusal == ""
    assert default.returncode == 0
    assert "Lesson tags from origin/HEAD" in default.stdout


def test_a_lesson_branch_keeps_the_course_start_as_the_base(course, clone):
    git(clone, "remote", "remove", "origin")
    course("tags")
    git(clone, "switch", "-q", "-c", "mine", "lesson-02")
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 42\nGREETING = "yo"\n')
    git(clone, "commit", "-qam", "Try a greeting")

    result = course("tags")

    assert result.returncode == 0, result.stdout
    assert "Lesson tags from the base of the existing lesson tags" in result.stdout
    assert "0 tag(s) created or moved, 3 unchanged." in result.stdout


def test_a_folder_without_git_is_told_how_to_get_the_course(course, clone, tmp_path):
    plain = tmp_path / "unzipped"
    shutil.copytree(clone, plain, ignore=shutil.ignore_patterns(".git"))

    result = course("tags", cwd=plain, env={"COURSE_ROOT": str(plain)})

    assert result.returncode == 1
    assert " ".join(result.stdout.split()) == (
        f"error: {plain} is not a git repository, and the lesson tags live in git."
        " Get the course with `git clone <the course's URL>` rather than a zip, or"
        " make this folder a repository first: git init && git add -A && git"
        " commit -m 'Course start'"
    )


def test_a_shallow_clone_gets_its_tags_and_the_advice_to_unshallow(
    course, upstream, tmp_path
):
    grown = tmp_path / "grown"
    subprocess.run(["git", "clone", "-q", str(upstream), str(grown)], check=True)
    (grown / "README.md").write_text("The course.\n")
    git(grown, "add", "README.md")
    git(grown, "commit", "-qm", "Add a README")
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{grown}", str(shallow)],
        check=True,
    )
    env = {"COURSE_ROOT": str(shallow)}

    built = course("tags", cwd=shallow, env=env)
    missing = course("tags", "--from", "HEAD~1", cwd=shallow, env=env)

    assert built.returncode == 0, built.stdout
    assert "This clone is shallow: the tags are built here" in built.stdout
    assert git(shallow, "show", "lesson-02:shop_app/answer.py").startswith(
        "ANSWER = 42"
    )
    assert missing.returncode == 1
    assert " ".join(missing.stdout.split()) == (
        "error: --from HEAD~1 names no commit here. This clone is shallow, so older"
        " commits are missing here: fetch them with `git fetch --unshallow`, then"
        " run this again."
    )


def test_a_commit_without_the_course_is_named(course, clone):
    git(clone, "rm", "-q", "course.toml")
    git(clone, "commit", "-qm", "Drop the manifest")
    short = git(clone, "rev-parse", "--short", "HEAD")

    result = course("tags", "--from", "HEAD")

    assert result.returncode == 2
    assert " ".join(result.stdout.split()) == (
        f"error: course.toml is missing at {short} (Drop the manifest): that commit"
        " is not the course. Name the course's commit with --from."
    )


def test_tags_refuse_to_rebuild_the_branch_the_learner_is_on(course, clone):
    course("tags")
    git(clone, "switch", "-q", "course-lessons")

    result = course("tags")

    assert result.returncode == 1
    assert " ".join(result.stdout.split()) == (
        "error: You are on branch course-lessons, which this command rebuilds."
        " Switch to your own branch first, e.g. `git switch main`."
    )


def test_a_fetched_change_to_the_course_moves_the_tags(
    course, clone, upstream, tmp_path
):
    course("tags")
    before = git(clone, "rev-parse", "course-solved^{tree}")
    moved = tmp_path / "moved"
    subprocess.run(["git", "clone", "-q", str(upstream), str(moved)], check=True)
    patch = moved / "solutions" / "02-greeting.patch"
    patch.write_text(
        patch.read_text().replace('+GREETING = "hello"', '+GREETING = "hello"  # hi!')
    )
    git(moved, "commit", "-qam", "Greet warmly")
    git(clone, "fetch", "-q", str(moved), "main:refs/remotes/origin/main")

    result = course("tags")

    assert "3 tag(s) created or moved, 0 unchanged." in result.stdout
    assert git(clone, "rev-parse", "course-solved^{tree}") != before
    assert '"hello"  # hi!' in git(clone, "show", "course-solved:shop_app/answer.py")
