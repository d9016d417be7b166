"""Read `course.toml`: the lessons in order, their exercises, points and hints."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from checker.services.layout import project_root

MANIFEST = "course.toml"


class ManifestError(Exception):
    """The manifest is missing or malformed; the message names the entry."""


@dataclass(frozen=True)
class Exercise:
    """One graded task: where the learner edits and how it is graded."""

    id: str
    title: str
    lesson: str
    files: tuple[str, ...]
    hints: tuple[str, ...]
    solution: str
    tests: str
    points: dict[str, int]
    # Budgets that guard the fix (same output, no stale read, ...) and pass
    # on a shop that never tried: they earn their points only once every
    # other budget of the exercise is met.
    guards: tuple[str, ...] = ()
    # The files stay unnamed (README, `course check`, `course watch`) until
    # the exercise passes: finding them is the exercise. Reset still puts
    # back only these.
    files_hidden: bool = False

    @property
    def total_points(self) -> int:
        return sum(self.points.values())

    def files_shown(self, *, passed: bool) -> str:
        """Name the files to edit, unless finding them is still the task."""
        if self.files_hidden and not passed:
            return "the files the measurements point at"
        return ", ".join(self.files)

    def earned(self, passed: dict[str, bool]) -> dict[str, int]:
        """Return each budget's points, given which budgets were met."""
        main_met = all(met for name, met in passed.items() if name not in self.guards)
        return {
            name: points
            if passed.get(name) and (main_met or name not in self.guards)
            else 0
            for name, points in self.points.items()
        }


@dataclass(frozen=True)
class Lesson:
    """One chapter with its notebook and exercises, in teaching order."""

    id: str
    title: str
    chapter: str
    notebook: str
    exercises: tuple[Exercise, ...] = field(default=())


@dataclass(frozen=True)
class Course:
    """The whole manifest."""

    root: Path
    lessons: tuple[Lesson, ...]
    trusted: Path

    @property
    def exercises(self) -> tuple[Exercise, ...]:
        return tuple(e for lesson in self.lessons for e in lesson.exercises)

    def exercise(self, exercise_id: str) -> Exercise:
        """Return the exercise an id or an unambiguous prefix of one names."""
        for exercise in self.exercises:
            if exercise.id == exercise_id:
                return exercise
        wanted = _padded(exercise_id)
        found = [e for e in self.exercises if e.id.startswith(wanted)]
        if len(found) == 1:
            return found[0]
        if found and wanted:
            names = ", ".join(e.id for e in found)
            raise ManifestError(
                f"{exercise_id!r} could be any of {names}: type more of the id."
            )
        known = ", ".join(e.id for e in self.exercises) or "none"
        raise ManifestError(f"No exercise {exercise_id!r}. Known exercises: {known}.")

    def find_lesson(self, target: str) -> Lesson | None:
        """Return the lesson `03`, `3` or `lesson-03` names, or None."""
        wanted = _padded(target.removeprefix("lesson-"))
        for lesson in self.lessons:
            if wanted == lesson.id:
                return lesson
        return None

    def lesson(self, target: str) -> Lesson:
        """Return the lesson `target` names, or raise naming the known ones."""
        lesson = self.find_lesson(target)
        if lesson is None:
            known = ", ".join(item.id for item in self.lessons) or "none"
            raise ManifestError(f"No lesson {target!r}. Known lessons: {known}.")
        return lesson

    def only(self, spec: str) -> Course:
        """Return the course with the lessons `spec` names: `3`, `01-03`, `1,4-5`."""
        chosen: set[str] = set()
        ids = [lesson.id for lesson in self.lessons]
        for part in spec.split(","):
            first, _, last = part.strip().partition("-")
            start = ids.index(self.lesson(first).id)
            end = ids.index(self.lesson(last or first).id)
            if start > end:
                raise ManifestError(
                    f"Lessons {part.strip()!r}: {first} comes after {last}."
                )
            chosen.update(ids[start : end + 1])
        return replace(self, lessons=tuple(x for x in self.lessons if x.id in chosen))

    def select(self, target: str | None) -> tuple[Exercise, ...]:
        """Return the exercises named by an exercise id, a lesson id, or all."""
        if target is None:
            return self.exercises
        lesson = self.find_lesson(target)
        if lesson is not None:
            return lesson.exercises
        return (self.exercise(target),)


def _padded(target: str) -> str:
    """Write a lesson number as the manifest does: `1-prod` is `01-prod`."""
    found = re.fullmatch(r"(\d+)(-.*)?", target)
    if found is None:
        return target
    return f"{int(found[1]):02d}{found[2] or ''}"


def _strings(entry: dict[str, object], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ManifestError(f"{where}: {key!r} must be a list of strings.")
    return tuple(value)


def _flag(entry: dict[str, object], key: str, where: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise ManifestError(f"{where}: {key!r} must be true or false.")
    return value


def _string(entry: dict[str, object], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ManifestError(f"{where}: {key!r} is missing or not a string.")
    return value


def _points(entry: dict[str, object], where: str) -> dict[str, int]:
    value = entry.get("points")
    if (
        not isinstance(value, dict)
        or not value
        or not all(isinstance(v, int) and v > 0 for v in value.values())
    ):
        raise ManifestError(
            f"{where}: 'points' must map each budget to a positive number of points."
        )
    return {str(k): int(v) for k, v in value.items()}


def _guards(
    entry: dict[str, object], points: dict[str, int], where: str
) -> tuple[str, ...]:
    guards = _strings(entry, "guards", where)
    unknown = [g for g in guards if g not in points]
    if unknown:
        raise ManifestError(f"{where}: guards {unknown} are not budgets in 'points'.")
    if set(guards) >= set(points):
        raise ManifestError(f"{where}: every budget is a guard; leave one out.")
    return guards


def _exercise(item: dict[str, object], lesson_id: str, where: str) -> Exercise:
    named = f"{where} exercise {item.get('id', '?')}"
    points = _points(item, named)
    return Exercise(
        id=_string(item, "id", f"{where} exercise"),
        title=_string(item, "title", f"{where} exercise"),
        lesson=lesson_id,
        files=_strings(item, "files", f"{where} exercise"),
        hints=_strings(item, "hints", f"{where} exercise"),
        solution=_string(item, "solution", f"{where} exercise"),
        tests=_string(item, "tests", f"{where} exercise"),
        points=points,
        guards=_guards(item, points, named),
        files_hidden=_flag(item, "files_hidden", named),
    )


def load_course(root: Path | None = None) -> Course:
    """Parse `course.toml` in `root` (the project root by default)."""
    root = root or project_root()
    path = root / MANIFEST
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path} is missing.") from None
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path} is not valid TOML: {error}") from None
    lessons = []
    for entry in data.get("lessons", []):
        where = f"{MANIFEST} lesson {entry.get('id', '?')}"
        lesson_id = _string(entry, "id", where)
        exercises = tuple(
            _exercise(item, lesson_id, where) for item in entry.get("exercises", [])
        )
        lessons.append(
            Lesson(
                id=lesson_id,
                title=_string(entry, "title", where),
                chapter=_string(entry, "chapter", where),
                notebook=_string(entry, "notebook", where),
                exercises=exercises,
            )
        )
    ids = [e.id for lesson in lessons for e in lesson.exercises]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ManifestError(f"{MANIFEST}: duplicated exercise ids {duplicated}.")
    settings = data.get("course", {})
    trusted = root / str(settings.get("trusted", "checker/trusted"))
    return Course(root, tuple(lessons), trusted)
