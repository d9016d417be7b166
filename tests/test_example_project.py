"""docs/example, a blog that is not the shop, runs the checker from a fresh install.

The checker is installed with pip into a new virtualenv, as a developer would
install it into their own project; the blog then runs its tests (one fails on
its N+1 and passes once `select_related` is added) and its development server
(the middleware logs the N+1, or fails the request with it). CI runs this in
its first pass only: it depends on no external server.
"""

import html
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "example"
TEMPLATE_LINE = "blog/templates/blog/post_list.html:4"
N_PLUS_ONE = (
    "SELECT ... FROM blog_author WHERE id = # LIMIT # — from"
    f' {TEMPLATE_LINE} via Post.author. Try select_related("author").'
)
NAIVE = 'Post.objects.order_by("-published")'
FIXED = 'Post.objects.select_related("author").order_by("-published")'


def _clean_environment() -> dict[str, str]:
    # The suite's own settings, database and course folders must not leak
    # into the blog: it is another project.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "COURSE_", "CHECKER_", "PYTHON", "VIRTUAL"))
        and key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture(scope="module")
def python(tmp_path_factory) -> Path:
    """Return the python of a new virtualenv with this repository pip-installed."""
    folder = tmp_path_factory.mktemp("install")
    # pip builds from a copy: building in place would write build/ and an
    # egg-info into the checkout.
    source = folder / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "checker",
        source / "checker",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # pip's cache is reused; skipping bytecode compilation saves most of
    # the time the course's larger dependencies (Jupyter) would take.
    installed = subprocess.run(
        [
            venv / "bin" / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            str(source),
        ],
        env=_clean_environment(),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert installed.returncode == 0, installed.stderr[-4000:]
    return venv / "bin" / "python"


@pytest.fixture
def blog(tmp_path) -> Path:
    """Return a copy of the example blog, its code as docs/example has it."""
    copy = tmp_path / "blog"
    shutil.copytree(
        EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3")
    )
    return copy


def _run(
    python: Path, blog: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), *args],
        cwd=blog,
        env={**_clean_environment(), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_blog_test_fails_on_its_n_plus_one_and_passes_once_fixed(python, blog):
    naive = _run(python, blog, "-m", "pytest", "-q", "-p", "no:cacheprovider")

    assert naive.returncode == 1, naive.stdout + naive.stderr
    assert "2 failed, 1 passed" in naive.stdout
    assert (
        "checker.detect.NPlusOneDetected: GET /posts/ made 8 queries (budget: no"
        f" N+1). 3 similar: {N_PLUS_ONE}"
    ) in naive.stdout
    assert (
        "checker.budgets.BudgetExceeded: GET /posts/ made 25 queries with 20 posts"
        " and 10 with 5 posts (budget: constant in the number of posts). 20 similar:"
        f" {N_PLUS_ONE}"
    ) in naive.stdout

    selectors = blog / "blog" / "selectors.py"
    assert NAIVE in selectors.read_text()
    selectors.write_text(selectors.read_text().replace(NAIVE, FIXED))
    fixed = _run(python, blog, "-m", "pytest", "-q", "-p", "no:cacheprovider")

    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "3 passed" in fixed.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve_posts(python: Path, blog: Path, mode: str) -> tuple[int, str, str]:
    """Start runserver in `mode`, GET /posts/; return status, body and its log."""
    port = _free_port()
    env = {**_clean_environment(), "CHECKER_NPLUSONE_MODE": mode}
    server = subprocess.Popen(
        [str(python), "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=blog,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/posts/"
                ) as answer:
                    status, body = answer.status, answer.read().decode()
                break
            except urllib.error.HTTPError as error:
                status, body = error.code, error.read().decode()
                break
            except urllib.error.URLError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "runserver did not answer in 60 s"
                time.sleep(0.2)
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    return status, body, log


def test_the_development_server_logs_or_raises_on_the_n_plus_one(python, blog):
    for command in (["migrate", "--verbosity", "0"], ["loaddata", "sample"]):
        done = _run(python, blog, "manage.py", *command)
        assert done.returncode == 0, done.stderr

    status, body, log = _serve_posts(python, blog, "warn")

    assert status == 200
    assert "Counting queries, by Ada" in body
    assert f"GET /posts/ ran an N+1: 3 similar: {N_PLUS_ONE}" in log.splitlines()

    status, body, log = _serve_posts(python, blog, "raise")

    assert status == 500
    assert (
        f"GET /posts/ made 7 queries (budget: no N+1). 3 similar: {N_PLUS_ONE}"
    ) in html.unescape(body)
    assert "checker.detect.NPlusOneDetected" in log
