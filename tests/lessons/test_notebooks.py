"""Each lesson notebook of the working tree runs top to bottom in the shell_plus kernel.

A notebook as committed runs on its own lesson tag, with the shop as that
lesson starts (tests/history/test_course_chain.py); here run only the
notebooks changed since, on the working tree's shop.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from checker.manifest import load_course
from checker.notebooks import execute_notebook
from checker.services import create_database, service_urls
from tests.history.chain import committed_lessons, plots
from tests.lessons.conftest import LESSONS, REPO

DATABASE = "notebooks"
ON_TAGS, _ = committed_lessons(REPO)


def _committed_as_is(path):
    """Tell whether `path` is tracked and unchanged since HEAD."""
    changed = subprocess.run(
        ["git", "diff", "--quiet", "HEAD", "--", path], cwd=REPO, capture_output=True
    )
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", path], cwd=REPO, capture_output=True
    )
    return changed.returncode == 0 and tracked.returncode == 0


@pytest.fixture(scope="module")
def notebook_shop(tmp_path_factory):
    """Point the kernel at its own database, migrated and seeded with `tiny`."""
    urls = service_urls()
    env = {
        "DATABASE_URL": create_database(DATABASE),
        "REDIS_URL": urls.redis,
        "CELERY_BROKER_URL": urls.broker,
        "CACHE_KEY_PREFIX": DATABASE,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        # Progress of the notebooks' check() calls goes here, not into the
        # developer's own .course/progress.json.
        "COURSE_HOME": str(tmp_path_factory.mktemp("course-home")),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        manage = [sys.executable, str(REPO / "shop_app" / "manage.py")]
        seed = ["seed_shop", "--scale", "tiny", "--no-progress"]
        for command in (["migrate", "-v", "0"], seed):
            done = subprocess.run([*manage, *command], capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
        yield


def _text(cell):
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts += [str(value) for value in output.get("data", {}).values()]
    return "\n".join(parts)


def _params():
    notebooks = {lesson.id: lesson.notebook for lesson in load_course(REPO).lessons}
    return [
        pytest.param(
            lesson,
            marks=pytest.mark.skipif(
                lesson in ON_TAGS and _committed_as_is(notebooks[lesson]),
                reason=f"{notebooks[lesson]} is as committed: it runs on its tag",
            ),
        )
        for lesson in LESSONS
    ]


@pytest.mark.parametrize("lesson_id", _params())
def test_the_lesson_notebook_runs_top_to_bottom_and_ends_with_the_check(
    notebook_shop, course, lesson_id
):
    [lesson] = [lesson for lesson in course.lessons if lesson.id == lesson_id]

    notebook = execute_notebook(REPO / lesson.notebook, settings="config.settings.dev")

    cells = notebook.cells  # type: ignore[attr-defined]
    assert plots(cells), "the notebook draws no plot"
    assert f'check("{lesson_id}")' in cells[-1].source
    for exercise in lesson.exercises:
        assert exercise.id in _text(cells[-1])
