"""`course` and `course check`: the progress table, grading, the next exercise."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from checker.course.manifest import Course, Exercise, load_course
from checker.course.progress import Progress, files_digest
from checker.harness.runner import ExerciseOutcome, Target, run_exercises
from checker.services import database_url, ensure_up, service_urls
from checker.services.layout import Layout

_STATUS = {
    "passed": "[green]passed[/]",
    "failed": "[red]failed[/]",
    "error": "[red]error[/]",
    "not checked": "[dim]not checked[/]",
}


def progress_of(course: Course) -> Progress:
    return Progress.load(Layout.default().home / "progress.json")


def check_target(course: Course) -> Target:
    """Return the learner's shop with its own test database and cache prefix."""
    layout = Layout.default()
    urls = service_urls(layout)
    # A database of its own, kept between checks (`--reuse-db`) so a re-check
    # skips creating it; `make test` keeps using the shop's test database.
    return Target(
        course.root,
        {
            "DATABASE_URL": database_url("check"),
            "REDIS_URL": urls.redis,
            "CELERY_BROKER_URL": urls.broker,
            "CACHE_KEY_PREFIX": "check",
        },
    )


def run_checks(
    course: Course, exercises: list[Exercise], console: Console
) -> list[ExerciseOutcome]:
    """Start services, grade `exercises` on the learner's shop, save progress."""
    for message in ensure_up():
        console.print(f"[dim]{message}[/]")
    # The files as they are checked, not as they may be once the check ends.
    digests = {e.id: files_digest(course.root, e.files) for e in exercises}
    outcomes = run_exercises(
        exercises,
        check_target(course),
        trusted=course.trusted,
        extra_args=["--reuse-db"],
    )
    progress = progress_of(course)
    for outcome in outcomes:
        progress.record(outcome).files_digest = digests.get(outcome.id, "")
    progress.save()
    return outcomes


def progress_table(course: Course, progress: Progress) -> Table:
    """Build the table of every exercise: status, points, measured vs budget.

    A lesson whose exercises all pass takes one row, so the table fits a
    laptop's terminal; exercise ids are never cut.
    """
    table = Table("lesson", "exercise", "status", "points", "measured", "budget")
    for column in table.columns[:4]:
        column.no_wrap = True
    for lesson in course.lessons:
        entries = [progress.entries.get(e.id) for e in lesson.exercises]
        if lesson.exercises and all(e and e.status == "passed" for e in entries):
            points = sum(e.points for e in entries if e)
            total = sum(e.total_points for e in lesson.exercises)
            count = len(lesson.exercises)
            table.add_row(
                lesson.id,
                f"{count} exercise{'s' if count > 1 else ''}",
                _STATUS["passed"],
                f"{points}/{total}",
                "",
                "",
            )
            continue
        for exercise, entry in zip(lesson.exercises, entries, strict=True):
            status = entry.status if entry else "not checked"
            table.add_row(
                exercise.lesson,
                exercise.id,
                _STATUS.get(status, status),
                f"{entry.points}/{exercise.total_points}" if entry else "-",
                entry.measured if entry else "",
                entry.budget if entry else "",
            )
    return table


def _diagnosis(exercise: Exercise, text: str) -> Panel:
    # Diagnoses quote SQL and code, whose brackets are not rich markup.
    body = (
        f"{escape(text)}\n\n[dim]Edit: {exercise.files_shown(passed=False)}"
        f" · Hint: course hint {exercise.id}[/]"
    )
    return Panel(body, title=f"{exercise.id}: {exercise.title}", border_style="red")


def overview(args: argparse.Namespace, console: Console) -> int:
    """Show the progress table and the next exercise."""
    course = load_course()
    progress = progress_of(course)
    console.print(progress_table(course, progress))
    exercise = current_exercise(course, progress)
    if exercise is None:
        console.print("\nEvery exercise passes. Well done.")
        return 0
    entry = progress.entries.get(exercise.id)
    console.print(f"\nNext: [bold]{exercise.id}[/] — {exercise.title}")
    if entry and entry.diagnosis:
        console.print(_diagnosis(exercise, entry.diagnosis))
    console.print(f"Check it with: course check {exercise.id}")
    return 0


def _changed_since_passed(course: Course, progress: Progress) -> list[Exercise]:
    """Return the passed exercises whose files changed since they were checked."""
    changed = []
    for exercise in course.exercises:
        entry = progress.entries.get(exercise.id)
        if not (entry and entry.ever_passed):
            continue
        if entry.files_digest != files_digest(course.root, exercise.files):
            changed.append(exercise)
    return changed


def check(args: argparse.Namespace, console: Console) -> int:
    """Grade the current or chosen exercises, and passed ones whose files changed."""
    course = load_course()
    progress = progress_of(course)
    if args.all:
        chosen = list(course.exercises)
    elif args.target:
        chosen = list(course.select(args.target))
    else:
        current = current_exercise(course, progress)
        chosen = [current] if current else []
    # A later change can bring an N+1 back: check again the passed exercises
    # whose files changed since they passed.
    again = [e for e in _changed_since_passed(course, progress) if e not in chosen]
    unchanged = [
        e.id
        for e in course.exercises
        if e not in chosen
        and e not in again
        and (entry := progress.entries.get(e.id)) is not None
        and entry.ever_passed
    ]
    if again:
        console.print(
            f"[dim]Checking again {', '.join(e.id for e in again)}: their files"
            " changed since they passed.[/]"
        )
    chosen = sorted([*chosen, *again], key=course.exercises.index)
    if not chosen:
        console.print(
            "Every exercise passes and none of their files changed since."
            " `course check --all` checks them all again."
        )
        return 0
    outcomes = run_checks(course, chosen, console)
    progress = progress_of(course)
    console.print(progress_table(course, progress))
    if unchanged:
        console.print(
            f"[dim]Not checked again, their files unchanged since they passed:"
            f" {', '.join(unchanged)} (`course check --all` checks everything).[/]"
        )
    for outcome in outcomes:
        if outcome.status != "passed":
            entry = progress.entry(outcome.id)
            console.print(_diagnosis(course.exercise(outcome.id), entry.diagnosis))
    return 0 if all(o.status == "passed" for o in outcomes) else 1


def current_exercise(course: Course, progress: Progress) -> Exercise | None:
    """Return the first exercise not passed yet, in teaching order."""
    for exercise in course.exercises:
        entry = progress.entries.get(exercise.id)
        if entry is None or entry.status != "passed":
            return exercise
    return None
