"""`course watch`: re-check the current exercise on every save."""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from watchfiles import Change, DefaultFilter, watch

from checker.course.check import overview, run_checks
from checker.course.hints import hint
from checker.course.manifest import Course, Exercise, load_course
from checker.course.progress import Progress
from checker.services.layout import Layout

_KEYS = "[dim]h: hint · n: next exercise · l: list · q: quit[/]"
_LINE_KEYS = "[dim]h + Enter: hint · n: next exercise · l: list · q: quit[/]"


class _ShopFilter(DefaultFilter):
    """Keep edits to Python files and templates; ignore the rest."""

    def __call__(self, change: Change, path: str) -> bool:
        return super().__call__(change, path) and path.endswith((".py", ".html"))


def _read_commands(commands: queue.Queue[str]) -> None:
    for line in sys.stdin:
        commands.put(line.strip().lower())
    # End of input (no terminal): keep watching, take no more commands.


def _read_keys(commands: queue.Queue[str]) -> None:
    # The terminal is in cbreak mode: each key arrives alone, without Enter.
    while key := os.read(sys.stdin.fileno(), 1):
        commands.put(key.decode(errors="ignore").lower())


@contextmanager
def _single_keys() -> Iterator[bool]:
    """Read keys one by one from a terminal; yield whether that is the case."""
    try:
        import termios
        import tty
    except ImportError:  # no termios (Windows): commands end with Enter
        yield False
        return
    if not sys.stdin.isatty():
        yield False
        return
    descriptor = sys.stdin.fileno()
    saved = termios.tcgetattr(descriptor)
    tty.setcbreak(descriptor)
    try:
        yield True
    finally:
        termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)


def _next_unfinished(course: Course, after: Exercise | None) -> Exercise:
    progress = Progress.load(Layout.default().home / "progress.json")
    order = list(course.exercises)
    start = order.index(after) + 1 if after in order else 0
    for exercise in order[start:] + order[:start]:
        entry = progress.entries.get(exercise.id)
        if entry is None or entry.status != "passed":
            return exercise
    return order[0]


def _recheck(
    course: Course, exercise: Exercise, console: Console, keys: str = _LINE_KEYS
) -> None:
    console.clear()
    console.print(f"Checking [bold]{exercise.id}[/] — {exercise.title}")
    [outcome] = run_checks(course, [exercise], console)
    if outcome.status == "passed":
        console.print(f"[green]✔ {exercise.id} passes[/] ({outcome.points} points).")
    else:
        for message, budgets in outcome.diagnoses().items():
            console.print(f"[red]✘ {', '.join(budgets)}[/]")
            console.print(message, markup=False)
    shown = exercise.files_shown(passed=outcome.status == "passed")
    console.print(f"\nWatching {shown} for changes. {keys}")


def run_watch(args: argparse.Namespace, console: Console) -> int:
    """Re-check on each save; answer hint, next, list and quit commands."""
    course = load_course()
    exercise = course.exercise(args.exercise) if args.exercise else None
    exercise = exercise or _next_unfinished(course, None)
    with _single_keys() as single:
        return _watch(course, exercise, console, single=single)


def _watch(
    course: Course, exercise: Exercise, console: Console, *, single: bool
) -> int:
    commands: queue.Queue[str] = queue.Queue()
    reader = _read_keys if single else _read_commands
    threading.Thread(target=reader, args=(commands,), daemon=True).start()
    keys = _KEYS if single else _LINE_KEYS
    shop = Path(course.root) / "shop_app"
    armed = False
    for changes in watch(
        shop,
        watch_filter=_ShopFilter(),
        debounce=300,
        rust_timeout=200,
        yield_on_timeout=True,
        raise_interrupt=False,
    ):
        # The first check runs once the watcher is armed: a save made while
        # "Watching ..." is being printed is seen, not lost.
        if not armed:
            armed = True
            _recheck(course, exercise, console, keys)
            continue
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
                _recheck(course, exercise, console, keys)
        if changes:
            _recheck(course, exercise, console, keys)
    return 0
