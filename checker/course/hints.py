"""`course hint` and `course solution`: help one step at a time, then the answer."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax

from checker.course.check import current_exercise, progress_of
from checker.course.manifest import Course, Exercise, ManifestError, load_course
from checker.course.progress import Progress


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
