"""The real course's tag chain, built in a clone of this repository's HEAD.

At `lesson-NN` the shop holds the patches of the lessons before, at
`course-solved` every patch; each lesson's notebook runs on its own tag. The
lessons are whatever the committed `course.toml` lists.
"""

import os
import subprocess
import sys
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
    committed_lessons,
    expected_statuses,
    notebook_process,
    plots,
)
from tests.history.conftest import REPO

LESSONS, WHY_NOT = committed_lessons(REPO)
TAGS = [*(lesson_tag(lesson) for lesson in LESSONS), SOLVED] if LESSONS else [None]

pytestmark = pytest.mark.skipif(not LESSONS, reason=WHY_NOT)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Return a clone of this repository's HEAD with the lesson tags built."""
    clone = tmp_path_factory.mktemp("course-chain") / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    make_tags(Git(clone))
    return clone


def _git(tree, *args):
    return subprocess.run(
        ["git", *args], cwd=tree, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.parametrize("tag", TAGS)
def test_each_tag_holds_head_with_the_patches_of_the_lessons_before(
    chain, tag, tmp_path
):
    """The tag's tree is HEAD's with the earlier lessons' patches applied in order.

    What such a tree grades is proven on the same patches in
    tests/lessons/test_exercises.py: each exercise passes on top of the ones
    before it, at a lesson's end the next lesson fails with its diagnoses,
    the naive shop fails everything, and every patch passes everything;
    tests/history/test_chain.py grades the tags of a miniature course.
    """
    course = load_course(chain)
    solved = expected_statuses(course, tag)
    patches = [e.solution for e in course.exercises if solved[e.id] == "passed"]
    tree = check_out_tag(chain, "HEAD", tmp_path / "head")

    for patch in patches:
        _git(tree, "apply", "-p1", str(chain / patch))
    _git(tree, "add", "--all")

    assert _git(tree, "write-tree") == _git(chain, "rev-parse", f"{tag}^{{tree}}")


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


def _notebook_run(tree, lesson):
    """Run `lesson`'s notebook on `tree`; return the chapter and the notebook run.

    The notebook is None when the tree has none yet.
    """
    [chapter] = [item for item in load_course(tree).lessons if item.id == lesson]
    if not (tree / chapter.notebook).exists():
        return chapter, None
    database = f"history_notebook_{os.getpid()}_{lesson}"
    create_database(database, fresh=True)
    try:
        _seed(tree, database)
        return chapter, notebook_process(
            tree, chapter.notebook, database, tree.parent / "home"
        )
    finally:
        drop_database(database)


@pytest.fixture(scope="module")
def notebooks(request, chain, tmp_path_factory):
    """Start the selected lessons' notebooks on their tags, two at a time.

    Map each lesson to its run.
    """
    lessons = [
        item.callspec.params["lesson"]
        for item in request.session.items
        if item.originalname == "test_each_lessons_notebook_runs_on_its_tag"
    ]
    # One git command at a time in the clone; then the notebooks, two at once.
    trees = {
        lesson: check_out_tag(
            chain, lesson_tag(lesson), tmp_path_factory.mktemp(lesson) / "tree"
        )
        for lesson in lessons
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = {
            lesson: pool.submit(_notebook_run, tree, lesson)
            for lesson, tree in trees.items()
        }
        yield runs
        for run in runs.values():
            run.cancel()


def _plain(cell):
    return "\n".join(
        output.get("data", {}).get("text/plain", "") + output.get("text", "")
        for output in cell.get("outputs", [])
    )


@pytest.mark.parametrize("lesson", LESSONS or [None])
def test_each_lessons_notebook_runs_on_its_tag(notebooks, lesson):
    chapter, executed = notebooks[lesson].result()
    if executed is None:
        pytest.skip(f"{chapter.notebook} is not written yet")

    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    assert plots(code), "the notebook draws no plot"
    assert f'check("{lesson}")' in code[-1].source
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
