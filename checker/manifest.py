"""Read `course.toml`: the lessons in order, their exercises, points and hints."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
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

    @property
    def total_points(self) -> int:
        return sum(self.points.values())


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
        """Return the exercise with this id, or raise naming the known ones."""
        for exercise in self.exercises:
            if exercise.id == exercise_id:
                return exercise
        known = ", ".join(e.id for e in self.exercises) or "none"
        raise ManifestError(f"No exercise {exercise_id!r}. Known exercises: {known}.")

    def select(self, target: str | None) -> tuple[Exercise, ...]:
        """Return the exercises named by an exercise id, a lesson id, or all."""
        if target is None:
            return self.exercises
        for lesson in self.lessons:
            if target in {lesson.id, f"lesson-{lesson.id}"}:
                return lesson.exercises
        return (self.exercise(target),)


def _strings(entry: dict[str, object], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ManifestError(f"{where}: {key!r} must be a list of strings.")
    return tuple(value)


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
            Exercise(
                id=_string(item, "id", f"{where} exercise"),
                title=_string(item, "title", f"{where} exercise"),
                lesson=lesson_id,
                files=_strings(item, "files", f"{where} exercise"),
                hints=_strings(item, "hints", f"{where} exercise"),
                solution=_string(item, "solution", f"{where} exercise"),
                tests=_string(item, "tests", f"{where} exercise"),
                points=_points(item, f"{where} exercise {item.get('id', '?')}"),
            )
            for item in entry.get("exercises", [])
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
