"""Keep each submission's result as it is decided, with what it was graded on.

A result file per submission (`results/<student>.json` in the grading folder)
holds the grade, the hash of the submission's `shop_app/` and the hash of the
trusted tests and manifest. `course grade --resume` grades again only a
submission whose file is missing or whose hashes changed; a distributed run
writes the same files as results arrive from its workers.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checker.harness.runner import BudgetOutcome, ExerciseOutcome

if TYPE_CHECKING:
    from checker.grading.grade import StudentGrade

FOLDER = "results"
_SKIPPED = {"__pycache__", ".git"}


def _walk(root: Path) -> list[Path]:
    paths = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED)
        # os.walk lists a link to a folder among the folders, not following it.
        links = [d for d in dirs if Path(folder, d).is_symlink()]
        for name in sorted([*files, *links]):
            if not name.endswith(".pyc"):
                paths.append(Path(folder, name))
    return sorted(paths)


def tree_digest(root: Path) -> str:
    """Return a hash of every file's path and content under `root`."""
    digest = hashlib.sha256()
    for path in _walk(root):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            content = b"link:" + os.readlink(path).encode()
        else:
            content = path.read_bytes()
        digest.update(f"{relative}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def trusted_digest(*, course_root: Path, trusted: Path) -> str:
    """Return a hash of the trusted tests and the manifest that gives points."""
    digest = hashlib.sha256()
    digest.update((course_root / "course.toml").read_bytes())
    digest.update(tree_digest(trusted).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredResult:
    """A grade and the hashes of the submission and the tests it was graded on."""

    grade: StudentGrade
    submission: str
    trusted: str
    # The Celery worker that graded it, on a distributed run.
    worker: str = ""


def reusable(
    known: StoredResult, submission: str, trusted: str, exercises: list[str]
) -> bool:
    """Say whether a stored result grades this shop, on these tests and exercises."""
    return (known.submission, known.trusted) == (submission, trusted) and [
        e.id for e in known.grade.exercises
    ] == exercises


def grade_dump(grade: StudentGrade) -> dict[str, Any]:
    """Return `grade` as plain JSON data."""
    return asdict(grade)


def grade_load(data: dict[str, Any]) -> StudentGrade:
    """Return the StudentGrade that `grade_dump` turned into `data`."""
    from checker.grading.grade import StudentGrade

    exercises = [
        ExerciseOutcome(
            id=outcome["id"],
            budgets=[BudgetOutcome(**budget) for budget in outcome["budgets"]],
            max_points=outcome["max_points"],
            reason=outcome["reason"],
            seed=outcome["seed"],
        )
        for outcome in data["exercises"]
    ]
    return StudentGrade(
        name=data["name"],
        source=data["source"],
        exercises=exercises,
        reason=data["reason"],
        seconds=data["seconds"],
    )


def result_path(out: Path, name: str) -> Path:
    return out / FOLDER / f"{name}.json"


def result_write(out: Path, result: StoredResult) -> Path:
    """Write one result; a reader never sees a half-written file."""
    path = result_path(out, result.grade.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(
        json.dumps(
            {
                "submission_sha256": result.submission,
                "trusted_sha256": result.trusted,
                "worker": result.worker,
                "grade": grade_dump(result.grade),
            },
            indent=1,
            default=str,
        )
    )
    partial.replace(path)
    return path


def result_read(out: Path, name: str) -> StoredResult | None:
    """Return the stored result of student `name`, or None if there is none."""
    try:
        data = json.loads(result_path(out, name).read_text())
        return StoredResult(
            grade=grade_load(data["grade"]),
            submission=data["submission_sha256"],
            trusted=data["trusted_sha256"],
            worker=data.get("worker", ""),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def results_clear(out: Path) -> None:
    """Remove the stored results: a run without --resume grades every one."""
    folder = out / FOLDER
    if folder.is_dir():
        for path in folder.glob("*.json*"):
            path.unlink()
