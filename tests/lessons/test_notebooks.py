"""Each lesson notebook runs top to bottom in the shell_plus kernel."""

from __future__ import annotations

import subprocess
import sys

import pytest

from checker.notebooks import execute_notebook
from checker.services import create_database, service_urls
from tests.lessons.conftest import LESSONS, REPO

DATABASE = "notebooks"


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


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_the_lesson_notebook_runs_top_to_bottom_and_ends_with_the_check(
    notebook_shop, course, lesson_id
):
    [lesson] = [lesson for lesson in course.lessons if lesson.id == lesson_id]

    notebook = execute_notebook(REPO / lesson.notebook, settings="config.settings.dev")

    cells = notebook.cells  # type: ignore[attr-defined]
    plots = [
        output
        for cell in cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert plots, "the notebook draws no plot"
    assert f'check("{lesson_id}")' in cells[-1].source
    for exercise in lesson.exercises:
        assert exercise.id in _text(cells[-1])
