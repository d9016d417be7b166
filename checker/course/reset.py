"""`course reset`: put an exercise's files back as the learner's lesson starts.

Reset does one thing whatever tags exist: each file the exercise lists gets the
content it has at the start of the lesson the learner is at (files that lesson
starts without are removed), all or nothing, after every file it touches is
copied under `.course/backups/`.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from checker.course.manifest import Course, Exercise, ManifestError, load_course
from checker.course.progress import Progress
from checker.history.chain import PatchError, patches_at
from checker.history.git import Git, GitError, open_repository
from checker.history.starts import LessonStart, current_lesson, lesson_start
from checker.services.layout import Layout


@dataclass(frozen=True)
class Change:
    """One file to put back: its content at the start, None to remove it."""

    path: str
    content: bytes | None


def _paths(git: Git, start: LessonStart, listed: list[str]) -> list[str]:
    """Expand the listed files and folders into files, at the start and now."""
    found: list[str] = []
    for path in listed:
        at_start = git.run("ls-tree", "-r", "--name-only", start.tree, "--", path)
        here = git.run(
            "ls-files", "--cached", "--others", "--exclude-standard", "--", path
        )
        for name in [*at_start.splitlines(), *here.splitlines()]:
            if name and name not in found:
                found.append(name)
        if path not in found and not (git.root / path).is_dir():
            found.append(path)
    return found


def _changes(git: Git, start: LessonStart, paths: list[str]) -> list[Change]:
    listed = set(git.run("ls-tree", "-r", "--name-only", start.tree).splitlines())
    changes = []
    for path in paths:
        content = (
            git.run_bytes("cat-file", "blob", f"{start.tree}:{path}")
            if path in listed
            else None
        )
        current = git.root / path
        now = current.read_bytes() if current.is_file() else None
        if now != content:
            changes.append(Change(path, content))
    return changes


def _free(folder: Path) -> Path:
    """Return `folder`, or `folder-2`, ...: never mix two resets' backups."""
    candidate, number = folder, 1
    while candidate.exists():
        number += 1
        candidate = folder.with_name(f"{folder.name}-{number}")
    return candidate


def _backup(root: Path, folder: Path, changes: list[Change]) -> list[str]:
    saved = []
    for change in changes:
        current = root / change.path
        if current.is_file():
            copy = folder / change.path
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(current, copy)
            saved.append(change.path)
    return saved


def _apply(root: Path, folder: Path, changes: list[Change]) -> None:
    """Write every change; on any failure put back what was already written."""
    done: list[Change] = []
    try:
        for change in changes:
            target = root / change.path
            if change.content is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(change.content)
            done.append(change)
    except OSError:
        for change in done:
            copy, target = folder / change.path, root / change.path
            if copy.is_file():
                shutil.copy2(copy, target)
            else:
                target.unlink(missing_ok=True)
        raise


def _forget(
    progress: Progress, course: Course, chosen: list[Exercise], touched: set[str]
) -> list[str]:
    """Mark not checked the chosen exercises and any whose files were touched."""
    forgotten = []
    for exercise in course.exercises:
        shares = any(
            path == listed or path.startswith(listed.rstrip("/") + "/")
            for path in touched
            for listed in exercise.files
        )
        if exercise not in chosen and not shares:
            continue
        entry = progress.entries.get(exercise.id)
        if entry is None or entry.status == "not checked":
            continue
        progress.forget(exercise.id)
        forgotten.append(exercise.id)
    return forgotten


def _refuse_solved_start(
    git: Git, start: LessonStart, exercises: list[Exercise]
) -> None:
    """Raise when the start already holds one of these exercises' solutions.

    Without an upstream the base is HEAD, which may hold a committed fix.
    """
    read = patches_at(git, start.base.commit)
    with tempfile.TemporaryDirectory(prefix="course-reset-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git.run("read-tree", start.tree, env=env)
        for exercise in exercises:
            try:
                patch = read(exercise.solution)
            except GitError:
                continue  # a student edition has no patches to compare with
            written = Path(scratch) / "solution.patch"
            written.write_bytes(patch)
            check = ("apply", "--cached", "--check", str(written))
            if not git.ok(*check, env=env) and git.ok(*check, "--reverse", env=env):
                raise PatchError(
                    f"The start of lesson {start.lesson}, built from"
                    f" {start.base.label}, already holds the solution of"
                    f" {exercise.id}, so resetting to it would keep your fix."
                )


def _chosen(course: Course, args: argparse.Namespace) -> tuple[list[Exercise], str]:
    if args.lesson and args.exercise:
        raise ManifestError("Name an exercise or --lesson, not both.")
    if args.lesson:
        lesson = course.lesson(args.lesson)
        return list(lesson.exercises), f"lesson {lesson.id}'s exercises"
    if not args.exercise:
        raise ManifestError(
            "Name the exercise to reset (course reset 01-product-pages) or a"
            " lesson (course reset --lesson 01)."
        )
    exercise = course.exercise(args.exercise)
    return [exercise], exercise.id


def reset(args: argparse.Namespace, console: Console) -> int:
    """Put an exercise's (or a lesson's) files back as the current lesson starts."""
    course = load_course()
    chosen, what = _chosen(course, args)
    try:
        git = open_repository(course.root)
        lesson = current_lesson(git, course)
        start = lesson_start(git, lesson, requested=args.base)
        _refuse_solved_start(git, start, [e for e in chosen if e.lesson == lesson])
        paths = _paths(git, start, [p for e in chosen for p in e.files])
        changes = _changes(git, start, paths)
    except PatchError as error:
        console.print(f"[red]error:[/] {escape(str(error))}")
        console.print(
            "Nothing was changed. Name the course's start with"
            f" `course reset {args.exercise or '--lesson ' + args.lesson} --from REF`."
        )
        return 1
    except GitError as error:
        console.print(f"[red]error:[/] {escape(str(error))}")
        return 1
    where = f"the start of lesson {lesson} ({start.tag}, built from {start.base.label})"
    progress = Progress.load(Layout.default().home / "progress.json")
    if not changes:
        console.print(
            f"Nothing to reset: the files of {what} are already as at {where}."
        )
        _report_forgotten(_forget(progress, course, chosen, set()), console)
        progress.save()
        return 0
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    label = chosen[0].id if len(chosen) == 1 else f"lesson-{chosen[0].lesson}"
    folder = _free(Layout.default().home / "backups" / f"{stamp}-{label}")
    try:
        saved = _backup(course.root, folder, changes)
        _apply(course.root, folder, changes)
    except OSError as error:
        console.print(
            f"[red]error:[/] {escape(str(error))}\nNothing was changed; your files"
            " are as they were."
        )
        return 1
    console.print(f"Reset the files of {what} to {where}:")
    for change in changes:
        verb = "removed" if change.content is None else "put back"
        console.print(f"  {verb} {escape(change.path)}")
    if saved:
        shown = (
            folder.relative_to(course.root)
            if folder.is_relative_to(course.root)
            else folder
        )
        console.print(f"Your versions are saved under {shown}/:")
        for path in saved:
            console.print(f"  {escape(path)}")
    touched = {change.path for change in changes}
    _report_forgotten(_forget(progress, course, chosen, touched), console)
    progress.save()
    return 0


def _report_forgotten(forgotten: list[str], console: Console) -> None:
    if forgotten:
        console.print(
            f"Marked not checked: {', '.join(forgotten)}. `course check` grades"
            " them again."
        )
