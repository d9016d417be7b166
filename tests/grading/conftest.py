"""A fixture course, good submissions built from this repository's shop, and
the `course` command run as a user runs it."""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COURSE = Path(__file__).resolve().parent / "course"
COMMAND = Path(sys.executable).parent / "course"
NAIVE_LINE = (
    '    return Product.objects.filter(is_active=True).order_by("price", "id")\n'
)
SOLVED_LINE = (
    '    return Product.objects.filter(is_active=True).select_related("category", '
    '"brand").order_by("price", "id")\n'
)


def shop_copy(root: Path) -> Path:
    """Copy this repository's naive `shop_app/` into `root`; return `root`."""
    shutil.copytree(
        REPO / "shop_app",
        root / "shop_app",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return root


def shop_solve(root: Path) -> Path:
    """Apply the fixture solution of `fx-list` to the shop in `root`."""
    selectors = root / "shop_app" / "catalog" / "selectors.py"
    source = selectors.read_text()
    assert NAIVE_LINE in source, "the naive product_list() changed; update the fixture"
    selectors.write_text(source.replace(NAIVE_LINE, SOLVED_LINE))
    return root


def run_course(*args, timeout=300):
    """Run `course ARGS...` in a child process; return the finished process."""
    return subprocess.run(
        [str(COMMAND), *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def _diff(base, old, new):
    """Return a git patch of selectors.py from `base/old` to `base/new`."""
    path = "shop_app/catalog/selectors.py"
    patch = subprocess.run(
        ["git", "diff", "--no-index", "--", f"{old}/{path}", f"{new}/{path}"],
        cwd=base,
        capture_output=True,
        text=True,
    ).stdout
    return patch.replace(f"a/{old}/", "a/").replace(f"b/{new}/", "b/")


@pytest.fixture(scope="session")
def fixture_course(tmp_path_factory):
    """Return a copy of the fixture course with its two solution patches."""
    course = tmp_path_factory.mktemp("fixture-course")
    shutil.copytree(COURSE, course, dirs_exist_ok=True)
    base = tmp_path_factory.mktemp("patch")
    shop_copy(base / "naive")
    shop_solve(shop_copy(base / "solved"))
    # fx-quotes's patch only applies on top of fx-list's: patches go in order.
    later = shop_solve(shop_copy(base / "later"))
    selectors = later / "shop_app" / "catalog" / "selectors.py"
    selectors.write_text(
        selectors.read_text().replace(SOLVED_LINE, SOLVED_LINE[:-1] + "  # later\n")
    )
    (course / "solutions").mkdir()
    for name, old, new in [
        ("fx-list", "naive", "solved"),
        ("fx-quotes", "solved", "later"),
    ]:
        (course / "solutions" / f"{name}.patch").write_text(_diff(base, old, new))
    return course


@pytest.fixture(scope="session")
def course_args(fixture_course):
    """Return the options that point `course` at the fixture course."""
    return ["--course", fixture_course, "--trusted", fixture_course / "trusted"]


# Small limits keep the class run short; a good run needs a few seconds.
CLASS_TIMEOUT = 30
CLASS_MEMORY = 1024
CLASS_OUTPUT = 16


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory, course_args):
    """Grade the corpus of good and bad submissions once, with `-j 2`."""
    from tests.grading.corpus import bad_entries, good_entries

    folder = tmp_path_factory.mktemp("corpus")
    entries = good_entries(folder) + bad_entries(
        folder, seconds=CLASS_TIMEOUT, memory_mib=CLASS_MEMORY, output_mib=CLASS_OUTPUT
    )
    out = tmp_path_factory.mktemp("grades")
    process = run_course(
        "grade",
        *(entry.spec for entry in entries),
        "--out", out,
        "-j", "2",
        "--timeout", CLASS_TIMEOUT,
        "--memory", CLASS_MEMORY,
        "--output", CLASS_OUTPUT,
        *course_args,
    )  # fmt: skip
    return GradedClass(folder, entries, out, process)


@dataclass(frozen=True)
class GradedClass:
    """The corpus, where its grades went, and the finished `course grade`."""

    folder: Path
    entries: list
    out: Path
    process: subprocess.CompletedProcess
