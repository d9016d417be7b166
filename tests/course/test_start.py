import sys
from pathlib import Path

import pytest

from checker.services import create_database, drop_database

DATABASE = "course_start_test"


@pytest.fixture
def fresh_database(course_env):
    """Point the miniature course at an empty database, dropped afterwards."""
    course_env["DATABASE_URL"] = create_database(DATABASE, fresh=True)
    yield
    drop_database(DATABASE)


def test_start_migrates_and_seeds_once_then_changes_nothing(fresh_database, course):
    first = course("start", "--scale", "tiny")
    second = course("start", "--scale", "tiny")

    assert first.returncode == 0, first.stdout + first.stderr
    assert "✓ Database schema is up to date." in first.stdout
    assert "✓ Seeded the tiny data set." in first.stdout
    assert "Checking 00-answer, the first exercise..." in first.stdout
    assert "ANSWER is 41 (budget: exactly 42)" in first.stdout
    assert second.returncode == 0, second.stdout + second.stderr
    assert "✓ The shop already holds the tiny data set." in second.stdout
    assert "Checking 00-answer" not in second.stdout
    assert "Next: 00-answer — Give the answer" in second.stdout


def test_start_seeds_again_when_another_scale_is_asked_for(fresh_database, course):
    course("start", "--scale", "tiny")

    result = course("start", "--scale", "tiny", "--seed", "7")

    assert "✓ Seeded the tiny data set." in result.stdout


def _products():
    import psycopg

    from checker.services import database_url

    with psycopg.connect(database_url(DATABASE, libpq=True)) as connection:
        return connection.execute("SELECT count(*) FROM catalog_product").fetchone()[0]


def test_a_second_start_keeps_the_data_set_the_learner_seeded(fresh_database, course):
    course("start", "--scale", "tiny")
    seeded = course("seed", "--scale", "tiny", "--seed", "3")
    before = _products()

    result = course("start")

    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "✓ The shop keeps the tiny data set; `course seed --scale tiny|small|large`"
        " replaces it." in result.stdout
    )
    assert "Seeded" not in result.stdout
    assert _products() == before


def test_start_says_once_how_to_put_course_on_the_path(
    fresh_database, course_env, course
):
    virtualenv = str(Path(sys.executable).parent)
    course_env["PATH"] = "/usr/bin:/bin"
    outside = course("start", "--scale", "tiny")
    course_env["PATH"] = f"{virtualenv}:/usr/bin:/bin"
    inside = course("start", "--scale", "tiny")

    said = " ".join(outside.stdout.split())
    assert "In each new shell, run `source" in said
    assert "every command the course prints works as printed once it is active." in said
    if (Path(virtualenv) / "course").exists():
        assert "In each new shell" not in inside.stdout
