"""`course watch`: re-check the current exercise on every save."""

from __future__ import annotations

import argparse
import queue
import sys
import threading
from pathlib import Path

from rich.console import Console
from watchfiles import Change, DefaultFilter, watch

from checker.learner import hint, overview, run_checks
from checker.manifest import Course, Exercise, load_course
from checker.progress import Progress
from checker.services.layout import Layout

_KEYS = "[dim]h + Enter: hint · n: next exercise · l: list · q: quit[/]"


class _ShopFilter(DefaultFilter):
    """Keep edits to Python files and templates; ignore the rest."""

    def __call__(self, change: Change, path: str) -> bool:
        return super().__call__(change, path) and path.endswith((".py", ".html"))


def _read_commands(commands: queue.Queue[str]) -> None:
    for line in sys.stdin:
        commands.put(line.strip().lower())
    # End of input (no terminal): keep watching, take no more commands.


def _next_unfinished(course: Course, after: Exercise | None) -> Exercise:
    progress = Progress.load(Layout.default().home / "progress.json")
    order = list(course.exercises)
    start = order.index(after) + 1 if after in order else 0
    for exercise in order[start:] + order[:start]:
        entry = progress.entries.get(exercise.id)
        if entry is None or entry.status != "passed":
            return exercise
    return order[0]


def _recheck(course: Course, exercise: Exercise, console: Console) -> None:
    console.clear()
    console.print(f"Checking [bold]{exercise.id}[/] — {exercise.title}")
    [outcome] = run_checks(course, [exercise], console)
    if outcome.status == "passed":
        console.print(f"[green]✔ {exercise.id} passes[/] ({outcome.points} points).")
    else:
        for budget in outcome.budgets:
            if not budget.passed:
                console.print(f"[red]✘ {budget.budget}[/]")
                console.print(budget.message or outcome.reason, markup=False)
    console.print(f"\nWatching {', '.join(exercise.files)} for changes. {_KEYS}")


def run_watch(args: argparse.Namespace, console: Console) -> int:
    """Re-check on each save; answer hint, next, list and quit commands."""
    course = load_course()
    exercise = course.exercise(args.exercise) if args.exercise else None
    exercise = exercise or _next_unfinished(course, None)
    commands: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_commands, args=(commands,), daemon=True).start()
    _recheck(course, exercise, console)
    shop = Path(course.root) / "shop_app"
    for changes in watch(
        shop,
        watch_filter=_ShopFilter(),
        debounce=300,
        rust_timeout=200,
        yield_on_timeout=True,
        raise_interrupt=False,
    ):
        while not commands.empty():
            command = commands.get()
            if command in {"q", "quit"}:
                return 0
            if command in {"h", "hint"}:
                hint(argparse.Namespace(exercise=exercise.id), console)
            elif command in {"l", "list"}:
                overview(argparse.Namespace(), console)
            elif command in {"n", "next"}:
                exercise = _next_unfinished(course, exercise)
                _recheck(course, exercise, console)
        if changes:
            _recheck(course, exercise, console)
    return 0


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `course watch` to the command line."""
    command = commands.add_parser("watch", help="re-check an exercise on every save")
    command.add_argument("exercise", nargs="?", help="default: the next unfinished")
    command.set_defaults(handler=run_watch)
