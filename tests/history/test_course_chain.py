"""The real course's tag chain, built in a clone of this repository's HEAD.

At `lesson-NN` every exercise of the lessons before passes and every other
one fails; at `course-solved` all pass; each lesson's notebook runs on its
own tag. The lessons are whatever the committed `course.toml` lists.
"""

import os
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor

import pytest

from checker.history.chain import SOLVED, lesson_tag
from checker.history.git import Git
from checker.history.tags import make_tags
from checker.manifest import load_course
from checker.services import create_database, drop_database
from tests.history.chain import (
    NOTEBOOK_SETTINGS,
    chain_env,
    check_out_tag,
    expected_statuses,
    neighbours,
    run_notebook,
    verdicts,
)
from tests.history.conftest import REPO


def _committed_course():
    """Return the committed lessons' ids, and why the chain cannot be built."""
    repository = subprocess.run(
        ["git", "rev-parse", "--git-dir"], cwd=REPO, capture_output=True
    )
    if repository.returncode != 0:
        return [], "this checkout is not a git repository, so it has no tags"
    shown = subprocess.run(
        ["git", "show", "HEAD:course.toml"], cwd=REPO, capture_output=True
    )
    if shown.returncode != 0:
        return [], (
            "course.toml is not committed yet; test_chain.py proves the chain on"
            " the miniature course meanwhile"
        )
    lessons = tomllib.loads(shown.stdout.decode())["lessons"]
    for lesson in lessons:
        for exercise in lesson.get("exercises", []):
            found = subprocess.run(
                ["git", "cat-file", "-e", f"HEAD:{exercise['solution']}"],
                cwd=REPO,
                capture_output=True,
            )
            if found.returncode != 0:
                return [], (
                    f"{exercise['solution']} is not in this checkout (a student"
                    " edition has none): its lesson tags come ready-made"
                )
    return [lesson["id"] for lesson in lessons], ""


LESSONS, WHY_NOT = _committed_course()
TAGS = [*(lesson_tag(lesson) for lesson in LESSONS), SOLVED] if LESSONS else [None]

pytestmark = pytest.mark.skipif(not LESSONS, reason=WHY_NOT)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Return a clone of this repository's HEAD with the lesson tags built."""
    clone = tmp_path_factory.mktemp("course-chain") / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    make_tags(Git(clone))
    return clone


@pytest.fixture(scope="module")
def graded(chain, tmp_path_factory):
    """Grade, at every tag, the lesson solved last and the next, two tags at a time.

    Return tag -> verdicts. That every earlier lesson still passes once later
    patches are applied is proven on the patches themselves, all applied, in
    tests/lessons/test_exercises.py; here each tag shows where it stands.
    """
    trees = tmp_path_factory.mktemp("course-trees")
    course = load_course(chain)

    def grade(tag):
        tree = check_out_tag(chain, tag, trees / tag)
        database = f"history_{os.getpid()}_{tag.replace('-', '_')}"
        return verdicts(tree, database, neighbours(course, tag))

    # Each run is a child process on a database of its own: two cores, two runs.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(TAGS, pool.map(grade, TAGS), strict=True))


@pytest.mark.parametrize("tag", TAGS)
def test_at_each_tag_the_lesson_before_passes_and_the_next_fails(chain, graded, tag):
    course = load_course(chain)
    statuses, reasons = graded[tag]

    expected = expected_statuses(course, tag, neighbours(course, tag))
    wrong = {
        exercise: reasons[exercise]
        for exercise, status in statuses.items()
        if status != expected.get(exercise)
    }
    # Each budget's whole message, so a failure says what was measured.
    assert statuses == expected, "\n".join(
        f"{exercise} is {statuses[exercise]}, expected {expected.get(exercise)}:"
        + "".join(f"\n  {message}" for message in messages if message)
        for exercise, messages in wrong.items()
    )


@pytest.fixture(scope="module")
def notebook_database():
    """Create an empty database for the notebooks, dropped afterwards."""
    name = f"history_notebook_{os.getpid()}"
    create_database(name, fresh=True)
    yield name
    drop_database(name)


def _seed(tree, database):
    """Migrate and seed the tiny data set into `database` with the tree's shop."""
    env = {
        **os.environ,
        **chain_env(database),
        "DJANGO_SETTINGS_MODULE": NOTEBOOK_SETTINGS,
        "COURSE_ROOT": str(tree),
    }
    for command in (
        ["migrate", "-v0"],
        ["seed_shop", "--scale", "tiny", "--no-progress"],
    ):
        done = subprocess.run(
            [sys.executable, "shop_app/manage.py", *command],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def _plain(cell):
    return "\n".join(
        output.get("data", {}).get("text/plain", "") + output.get("text", "")
        for output in cell.get("outputs", [])
    )


@pytest.mark.parametrize("lesson", LESSONS or [None])
def test_each_lessons_notebook_runs_on_its_tag(
    chain, lesson, notebook_database, tmp_path, monkeypatch
):
    tree = check_out_tag(chain, lesson_tag(lesson), tmp_path / lesson)
    [chapter] = [item for item in load_course(tree).lessons if item.id == lesson]
    if not (tree / chapter.notebook).exists():
        pytest.skip(f"{chapter.notebook} is not written yet")
    _seed(tree, notebook_database)

    executed = run_notebook(
        tree, chapter.notebook, monkeypatch, notebook_database, tmp_path / "home"
    )

    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    # At its own start a lesson's exercises are still to do.
    last = _plain(code[-1])
    for exercise in chapter.exercises:
        assert f"{exercise.id}: failed" in last, last


def test_the_courses_student_edition_holds_no_solution(chain, tmp_path):
    out = tmp_path / "edition"
    course = load_course(chain)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}

    result = subprocess.run(
        [sys.executable, "-m", "checker.cli", "release", "--out", str(out)],
        cwd=REPO,
        env={**env, "COURSE_ROOT": str(chain), "COLUMNS": "200"},
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    said = " ".join(result.stdout.split())
    assert "Checked: none of the " in said
    assert "telling lines the solution patches add and no tag a later lesson's." in said
    listing = subprocess.run(
        ["git", "rev-list", "--objects", "--all"],
        cwd=out,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "solutions/" not in listing
    tags = subprocess.run(
        ["git", "tag", "--list"], cwd=out, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tags == [lesson_tag(lesson.id) for lesson in course.lessons]
    last = course.lessons[-1]
    tree = check_out_tag(out, lesson_tag(last.id), tmp_path / "last")
    for exercise in last.exercises:
        # The last lesson's start is there, still to solve; nothing holds it solved.
        # An exercise starts with the lesson's earlier ones done, so each patch
        # is checked on top of those before it.
        patch = str(chain / exercise.solution)
        forward = subprocess.run(["git", "apply", "--check", patch], cwd=tree)
        reverse = subprocess.run(
            ["git", "apply", "--check", "--reverse", patch],
            cwd=tree,
            capture_output=True,
        )
        assert (forward.returncode, reverse.returncode != 0) == (0, True)
        subprocess.run(["git", "apply", patch], cwd=tree, check=True)
