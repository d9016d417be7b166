"""`course goto LESSON`: switch to a lesson's start without losing anything."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from checker.course.manifest import ManifestError, load_course
from checker.history.chain import SOLVED, lesson_tag
from checker.history.database import DatabaseError, backup_database, bring_database
from checker.history.git import Git, GitError, open_repository
from checker.history.tags import make_tags, print_tags
from checker.history.workspace import (
    Saved,
    check_out,
    current_place,
    keep_commits,
    refuse_unfinished,
    save_work,
)
from checker.services import ensure_up
from checker.services.layout import Layout, project_root


def resolve_tag(lesson: str) -> str:
    """Return the tag a lesson argument names: `03`, `3`, `lesson-03` or `solved`."""
    if lesson in {"solved", SOLVED}:
        return SOLVED
    course = load_course()
    found = course.find_lesson(lesson)
    if found is not None:
        return lesson_tag(found.id)
    known = ", ".join(item.id for item in course.lessons) or "none"
    raise ManifestError(f"No lesson {lesson!r}. Known lessons: {known}, solved.")


def _ensure_tag(git: Git, tag: str, console: Console) -> None:
    if git.commit_of(f"refs/tags/{tag}") is None:
        console.print(f"{tag} does not exist yet; building the lesson tags first.")
        base, built = make_tags(git)
        print_tags(git, base, built, console)
        if git.commit_of(f"refs/tags/{tag}") is None:
            raise GitError(f"The course as it is on {base.label} has no {tag}.")


def _report_saved(saved: list[Saved], came_from: str | None, console: Console) -> None:
    for item in saved:
        console.print(
            f"Saved {item.what} from {escape(item.source)} on branch {item.branch}."
        )
        if item.what.startswith("your uncommitted") and came_from:
            console.print(
                f"To get it back later, carry on from there:\n"
                f"  git switch {item.branch}\n"
                f"or put the files back on {came_from}:\n"
                f"  git switch {came_from}\n"
                f"  git restore --source {item.branch} --worktree -- ."
            )
        else:
            console.print(f"To get it back later:\n  git switch {item.branch}")


def goto(args: argparse.Namespace, console: Console) -> int:
    """Save the learner's work, check out a lesson's start, migrate and reseed."""
    tag = resolve_tag(args.lesson)
    layout = Layout.default()
    dump: Path | None = None
    try:
        git = open_repository(project_root())
        refuse_unfinished(git)
        _ensure_tag(git, tag, console)
        if not args.no_database:
            for message in ensure_up(layout):
                console.print(f"[dim]{message}[/]")
            dump = backup_database(layout)
        came_from, _ = current_place(git)
        saved = []
        work = save_work(git, reason=f"course goto {tag}")
        if work is not None:
            saved.append(work)
        saved += keep_commits(git, target=tag)
        branch = check_out(git, tag)
    except (GitError, DatabaseError) as error:
        console.print(f"[red]error:[/] {escape(str(error))}")
        return 1
    _report_saved(saved, came_from, console)
    subject = git.run("show", "-s", "--format=%s", f"{tag}^{{commit}}")
    console.print(f"Now on branch {branch}, at {tag}: {escape(subject)}.")
    if args.no_database:
        console.print("The database was left as it was (--no-database).")
        return 0
    try:
        done = bring_database(
            scale=args.scale, seed_value=args.seed, console=console, layout=layout
        )
    except Exception as error:
        # A failing migration or seed: the files moved, so say where things stand.
        console.print(
            f"[red]error:[/] the files are at {tag}, but the database could not be"
            f" brought there: {escape(str(error))}\nIts previous data is in {dump}."
            f" Fix the cause, then run course goto {args.lesson} again."
        )
        return 1
    for line in done:
        console.print(f"[green]✓[/] {line}")
    console.print(
        f"The database's previous data is kept in {dump} (restore it with"
        " pg_restore --clean --if-exists --dbname <database> <that file>)."
    )
    return 0
