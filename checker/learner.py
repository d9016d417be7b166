"""The learner's loop: progress, check, hint, solution and reset."""

from __future__ import annotations

import argparse
import subprocess
import sys

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from checker.harness.runner import ExerciseOutcome, Target, run_exercises
from checker.manifest import Course, Exercise, ManifestError, load_course
from checker.progress import Progress, files_digest
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
        f"{escape(text)}\n\n[dim]Edit: {', '.join(exercise.files)}"
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


def chosen_exercise(course: Course, progress: Progress, target: str | None) -> Exercise:
    """Return the exercise an id, a prefix or a lesson names; else the current one.

    A lesson names its first exercise not passed yet (its last when all pass).
    """
    if target is None:
        found = current_exercise(course, progress)
        if found is None:
            raise ManifestError("Every exercise passes: name the one you mean.")
        return found
    lesson = course.find_lesson(target)
    if lesson is None:
        return course.exercise(target)
    if not lesson.exercises:
        raise ManifestError(f"Lesson {lesson.id} has no exercises.")
    for exercise in lesson.exercises:
        entry = progress.entries.get(exercise.id)
        if entry is None or entry.status != "passed":
            return exercise
    return lesson.exercises[-1]


def hint(args: argparse.Namespace, console: Console) -> int:
    """Show the next hint of an exercise, from gentle to specific."""
    course = load_course()
    progress = progress_of(course)
    exercise = chosen_exercise(course, progress, args.exercise)
    total = len(exercise.hints)
    if not exercise.hints:
        console.print(f"{exercise.id} has no hints.")
        return 0
    entry = progress.entry(exercise.id)
    if getattr(args, "all", False):
        if not entry.hints_seen:
            console.print(
                f"No hint of {exercise.id} unlocked yet: `course hint"
                f" {exercise.id}` shows the first."
            )
        for number, text in enumerate(exercise.hints[: entry.hints_seen], start=1):
            console.print(f"Hint {number}/{total} of {exercise.id}: {escape(text)}")
        return 0
    number = min(entry.hints_seen, total - 1)
    console.print(
        f"Hint {number + 1}/{total} of {exercise.id}: {escape(exercise.hints[number])}"
    )
    if number == total - 1:
        console.print(
            f"[dim]That is the last hint. `course solution {exercise.id}` shows the"
            " reference once the exercise passes.[/]"
        )
    entry.hints_seen = number + 1
    progress.save()
    return 0


def solution(args: argparse.Namespace, console: Console) -> int:
    """Show the reference diff once the exercise passes, or after confirming."""
    course = load_course()
    exercise = course.exercise(args.exercise)
    entry = progress_of(course).entries.get(exercise.id)
    if not (entry and entry.ever_passed) and not args.yes:
        if not sys.stdin.isatty():
            console.print(
                f"{exercise.id} has not passed yet. Pass it first, or add --yes to"
                " see the reference solution anyway."
            )
            return 1
        answer = console.input(
            f"{exercise.id} has not passed yet. Show it anyway? [y/N] "
        )
        if answer.strip().lower() not in {"y", "yes"}:
            return 1
    patch = course.root / exercise.solution
    if not patch.exists():
        console.print(
            f"The reference solution of {exercise.id} is not part of this edition of"
            " the course; your instructor has it."
        )
        return 1
    notes = patch.with_suffix(".md")
    if not console.is_terminal:
        # Redirected to a file: the patch exactly as stored, for `git apply`.
        sys.stdout.write(patch.read_text())
        if notes.exists():
            sys.stderr.write(notes.read_text())
        return 0
    console.print(Syntax(patch.read_text(), "diff", word_wrap=True))
    if notes.exists():
        console.print(notes.read_text())
    return 0


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the learner's subcommands to the command line."""
    command = commands.add_parser(
        "check",
        help="grade the current exercise (or the one named) on your shop, and"
        " passed ones whose files changed",
    )
    command.add_argument("target", nargs="?", help="an exercise or a lesson id")
    command.add_argument("--all", action="store_true", help="every exercise")
    command.set_defaults(handler=check)
    command = commands.add_parser(
        "notebook",
        help="open a lesson's notebook; further options go to Jupyter Lab",
        usage="course notebook [LESSON] [JUPYTER OPTIONS, e.g. --no-browser]",
    )
    command.add_argument("lesson", nargs="?", help="a lesson id, e.g. 01 or 1")
    command.set_defaults(handler=notebook, passes_extra=True)
    command = commands.add_parser("list", help="show your progress")
    command.set_defaults(handler=overview)
    command = commands.add_parser(
        "hint", help="show the next hint of an exercise (default: the current one)"
    )
    command.add_argument(
        "exercise", nargs="?", help="an exercise id, a prefix of one, or a lesson"
    )
    command.add_argument(
        "--all", action="store_true", help="show the hints already unlocked"
    )
    command.set_defaults(handler=hint)
    command = commands.add_parser(
        "solution", help="show the reference solution of an exercise"
    )
    command.add_argument("exercise", help="an exercise id or a prefix of one")
    command.add_argument("--yes", action="store_true", help="show it anyway")
    command.set_defaults(handler=solution)


def notebook(args: argparse.Namespace, console: Console) -> int:
    """Open Jupyter Lab in the shell_plus kernel at a lesson's notebook."""
    import os

    from checker.notebooks import install_kernelspec, jupyter_path

    course = load_course()
    lesson = course.lesson(args.lesson) if args.lesson else None
    for message in ensure_up():
        console.print(message)
    install_kernelspec()
    target = lesson.notebook if lesson else "notebooks"
    env = {**os.environ, "JUPYTER_PATH": str(jupyter_path())}
    extra = list(getattr(args, "extra", []))
    # Containers and CI run as root, where Jupyter refuses to start unless told.
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        console.print("[dim]Running as root: starting Jupyter with --allow-root.[/]")
        extra.append("--allow-root")
    return subprocess.call(
        [sys.executable, "-m", "jupyter", "lab", target, *extra],
        cwd=course.root,
        env=env,
    )
