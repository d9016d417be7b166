"""`course goto`: switch lessons with edits, untracked files and a dirty database."""

import subprocess

import psycopg
import pytest
import redis

from checker.history.database import postgres_tool
from checker.services import create_database, database_url, drop_database, service_urls
from tests.history.conftest import git

DATABASE = "course_goto_test"


@pytest.fixture
def database(course_env):
    """Point the clone at an empty database of its own, dropped afterwards."""
    course_env["DATABASE_URL"] = create_database(DATABASE, fresh=True)
    yield database_url(DATABASE, libpq=True)
    drop_database(DATABASE)


def _saved_branches(clone):
    return git(
        clone, "for-each-ref", "--format=%(refname:short)", "refs/heads/course-saved"
    )


def _lines(output):
    return [" ".join(line.split()) for line in output.splitlines()]


def test_goto_saves_edits_and_untracked_files_then_starts_the_lesson(
    course, clone, database
):
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 7\nGREETING = "hi"\n')
    (clone / "lessons" / "01.md").write_text("# My notes on lesson 1\n")
    git(clone, "add", "lessons/01.md")
    (clone / "shop_app" / "scratch").mkdir()
    (clone / "shop_app" / "scratch" / "idea.py").write_text("IDEA = 1\n")

    result = course("goto", "02", "--scale", "tiny")

    assert result.returncode == 0, result.stdout + result.stderr
    [saved] = _saved_branches(clone).split()
    lines = _lines(result.stdout)
    assert "lesson-02 does not exist yet; building the lesson tags first." in lines
    assert (
        "Saved your uncommitted work (tracked edits and untracked files) from main"
        f" on branch {saved}." in lines
    )
    start = lines.index(
        "Saved your uncommitted work (tracked edits and untracked files) from main"
        f" on branch {saved}."
    )
    assert lines[start + 1 : start + 6] == [
        "To get it back later, carry on from there:",
        f"git switch {saved}",
        "or put the files back on main:",
        "git switch main",
        f"git restore --source {saved} --worktree -- .",
    ]
    assert (
        "Now on branch course/lesson-02, at lesson-02: Start lesson 02: The greeting."
        in lines
    )
    assert "✓ Migrated the database to this lesson." in lines
    assert "✓ Seeded the tiny data set." in lines
    assert git(clone, "status", "--porcelain", "--untracked-files=all") == ""
    assert (clone / "shop_app" / "answer.py").read_text().startswith("ANSWER = 42")
    assert not (clone / "shop_app" / "scratch").exists()
    assert git(clone, "show", f"{saved}:shop_app/scratch/idea.py") == "IDEA = 1"
    assert git(clone, "show", f"{saved}:lessons/01.md") == "# My notes on lesson 1"
    assert git(clone, "rev-parse", f"{saved}^") == git(clone, "rev-parse", "main")
    with psycopg.connect(database) as connection:
        [(products,)] = connection.execute("SELECT count(*) FROM catalog_product")
    assert products == 30

    git(clone, "switch", "-q", "main")
    git(clone, "restore", "--source", saved, "--worktree", "--", ".")

    assert (clone / "shop_app" / "answer.py").read_text() == (
        'ANSWER = 7\nGREETING = "hi"\n'
    )
    assert (clone / "shop_app" / "scratch" / "idea.py").read_text() == "IDEA = 1\n"
    assert (clone / "lessons" / "01.md").read_text() == "# My notes on lesson 1\n"


def test_going_back_resets_a_database_with_later_migrations_and_keeps_its_data(
    course, clone, course_env, database
):
    assert course("goto", "solved", "--scale", "tiny").returncode == 0
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute("INSERT INTO catalog_greeting_marker VALUES (4242)")
        connection.execute("DELETE FROM catalog_review")
    cache = redis.Redis.from_url(service_urls().redis)
    prefix = course_env["CACHE_KEY_PREFIX"]
    cache.set(f"{prefix}:1:products", b"stale")
    cache.set(f"{prefix}-other:1:products", b"kept")

    result = course("goto", "01", "--scale", "tiny")

    assert result.returncode == 0, result.stdout + result.stderr
    lines = _lines(result.stdout)
    assert (
        "✓ Reset the schema: it held migrations this lesson does not have"
        " (catalog.0002_greeting_marker)." in lines
    )
    assert "✓ Flushed the cache." in lines
    with psycopg.connect(database) as connection:
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
        [(reviews,)] = connection.execute("SELECT count(*) FROM catalog_review")
    assert "catalog_greeting_marker" not in tables
    assert reviews == 300
    assert cache.get(f"{prefix}:1:products") is None
    assert cache.get(f"{prefix}-other:1:products") == b"kept"
    cache.delete(f"{prefix}-other:1:products")
    dumps = sorted((clone / ".course" / "backups").glob("*-database.dump"))
    restored = subprocess.run(
        [
            postgres_tool("pg_restore"),
            "--data-only",
            "--table=catalog_greeting_marker",
            "--file=-",
            str(dumps[-1]),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "4242" in restored.stdout


def test_goto_refuses_during_a_merge_and_changes_nothing(course, clone):
    git(clone, "switch", "-q", "-c", "other")
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 1\nGREETING = "hi"\n')
    git(clone, "commit", "-qam", "One")
    git(clone, "switch", "-q", "main")
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 2\nGREETING = "hi"\n')
    git(clone, "commit", "-qam", "Two")
    subprocess.run(["git", "merge", "-q", "other"], cwd=clone, capture_output=True)
    before = (clone / "shop_app" / "answer.py").read_text()

    result = course("goto", "02", "--no-database")

    assert result.returncode == 1
    assert " ".join(result.stdout.split()) == (
        "error: A merge is in progress here, so switching lessons now could lose"
        " work. Nothing was changed. Finish it with `git commit` or undo it with"
        " `git merge --abort`, then run course goto again."
    )
    assert (clone / "shop_app" / "answer.py").read_text() == before
    assert "<<<<<<<" in before
    assert _saved_branches(clone) == ""
    assert git(clone, "symbolic-ref", "--short", "HEAD") == "main"


def test_goto_refuses_unmerged_paths_without_a_merge_under_way(course, clone):
    git(clone, "switch", "-q", "-c", "other")
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 1\nGREETING = "hi"\n')
    git(clone, "commit", "-qam", "One")
    git(clone, "switch", "-q", "main")
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 2\nGREETING = "hi"\n')
    git(clone, "stash", "push", "-q")
    git(clone, "switch", "-q", "other")
    subprocess.run(["git", "stash", "pop", "-q"], cwd=clone, capture_output=True)

    result = course("goto", "02", "--no-database")

    assert result.returncode == 1
    assert " ".join(result.stdout.split()) == (
        "error: These files have unresolved conflicts: shop_app/answer.py. Nothing"
        " was changed. Resolve them and `git add` them (or `git merge --abort`),"
        " then run course goto again."
    )


def test_goto_keeps_commits_made_on_a_detached_head(course, clone):
    course("tags")
    git(clone, "switch", "-q", "--detach", "lesson-01")
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 40\nGREETING = "hi"\n')
    git(clone, "commit", "-qam", "Detached attempt")
    attempt = git(clone, "rev-parse", "HEAD")

    result = course("goto", "02", "--no-database")

    assert result.returncode == 0, result.stdout
    [saved] = _saved_branches(clone).split()
    assert saved.endswith("-detached")
    assert git(clone, "rev-parse", saved) == attempt
    assert (
        f"Saved your commits from the detached HEAD at {attempt[:7]} on branch"
        f" {saved}." in _lines(result.stdout)
    )
    assert "The database was left as it was (--no-database)." in result.stdout


def test_going_back_to_a_lesson_keeps_the_commits_on_its_branch(course, clone):
    course("goto", "01", "--no-database")
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 42\nGREETING = "hi"\n')
    git(clone, "commit", "-qam", "Solve lesson 1")
    solved = git(clone, "rev-parse", "HEAD")
    course("goto", "02", "--no-database")

    result = course("goto", "01", "--no-database")

    assert result.returncode == 0, result.stdout
    [saved] = _saved_branches(clone).split()
    assert git(clone, "rev-parse", saved) == solved
    assert git(clone, "rev-parse", "HEAD") == git(
        clone, "rev-parse", "lesson-01^{commit}"
    )


def test_goto_names_the_known_lessons(course):
    result = course("goto", "09")

    assert result.returncode == 2
    assert "No lesson '09'. Known lessons: 01, 02, solved." in result.stdout


def test_goto_refuses_when_a_branch_named_course_is_in_the_way(course, clone):
    git(clone, "branch", "course")
    (clone / "shop_app" / "answer.py").write_text('ANSWER = 7\nGREETING = "hi"\n')

    result = course("goto", "02", "--no-database")

    assert result.returncode == 1
    assert " ".join(result.stdout.split()) == (
        "error: A branch named course exists, so the branches course goto makes"
        " (course/...) cannot. Nothing was changed. Rename it, e.g. `git branch -m"
        " course my-course`, then run course goto again."
    )
    assert (clone / "shop_app" / "answer.py").read_text().startswith("ANSWER = 7")
    assert _saved_branches(clone) == ""


def test_goto_takes_a_lesson_number_without_the_zero(course, clone):
    result = course("goto", "2", "--no-database")

    assert result.returncode == 0, result.stdout + result.stderr
    assert git(clone, "symbolic-ref", "--short", "HEAD") == "course/lesson-02"
