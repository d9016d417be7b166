"""Check the course itself: each exercise fails unsolved and passes solved.

Solution patches apply in course order, so exercise k's patch is tried on
the shop with every earlier patch already applied.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from checker.grading.grade import FIRST_UID
from checker.grading.isolation import (
    isolation_for,
    isolation_reset,
    run_token,
    slot_claimed,
)
from checker.harness.runner import (
    TRUSTED,
    ExerciseOutcome,
    Limits,
    Target,
    run_exercises,
)
from checker.harness.sandbox import enforcement
from checker.manifest import MANIFEST, Course, Exercise
from checker.services.layout import project_root

SOLUTIONS = "solutions"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


@dataclass(frozen=True)
class ExerciseCheck:
    """What is wrong with one exercise on the naive and on the solved shop."""

    exercise: str
    naive: str
    solved: str

    @property
    def ok(self) -> bool:
        return not (self.naive or self.solved)


def expected_diagnoses(course: Course) -> dict[str, tuple[str, ...]]:
    """Return each exercise's `diagnosis` texts from the manifest, if it has any."""
    data = tomllib.loads((course.root / MANIFEST).read_text())
    found: dict[str, tuple[str, ...]] = {}
    for lesson in data.get("lessons", []):
        for item in lesson.get("exercises", []):
            value = item.get("diagnosis", ())
            found[str(item.get("id"))] = (value,) if isinstance(value, str) else value
    return found


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:200]


def naive_problem(outcome: ExerciseOutcome, expected: tuple[str, ...]) -> str:
    """Return why an exercise does not fail properly on the naive shop, or ""."""
    if outcome.reason:
        return f"could not grade: {outcome.reason}"
    missed = [b for b in outcome.budgets if not b.passed]
    if not missed:
        return "already passes without its solution"
    earning = [f"{b.budget} ({b.points})" for b in outcome.budgets if b.points]
    if earning:
        return (
            f"earns points without its solution: {', '.join(earning)};"
            " a budget that only guards the fix belongs in its 'guards'"
        )
    silent = [b.budget for b in missed if not b.message.strip()]
    if silent:
        return f"fails without a diagnosis: {', '.join(silent)}"
    messages = "\n".join(b.message for b in missed)
    absent = [text for text in expected if text not in messages]
    if absent:
        return f"diagnosis lacks {absent[0]!r}: {_first_line(missed[0].message)}"
    return ""


def solved_problem(outcome: ExerciseOutcome) -> str:
    """Return why an exercise does not pass with its solution, or ""."""
    if outcome.reason:
        return f"could not grade: {outcome.reason}"
    for budget in outcome.budgets:
        if not budget.passed:
            return f"{budget.budget} still fails: {_first_line(budget.message)}"
    return ""


def _patch(course: Course, exercise: Exercise) -> Path:
    relative = Path(exercise.solution)
    if relative.parts[:1] != (SOLUTIONS,):
        relative = SOLUTIONS / relative
    return course.root / relative


def patch_apply(patch: Path, root: Path) -> str:
    """Apply `patch` to the project copy in `root`; return why it failed, or ""."""
    if not patch.is_file():
        return f"{patch.name} is missing"
    applied = subprocess.run(
        ["git", "apply", "--whitespace=nowarn", str(patch)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if applied.returncode != 0:
        return f"{patch.name} does not apply: {_first_line(applied.stderr)}"
    return ""


def _grade(
    exercises: list[Exercise], root: Path, trusted: Path, limits: Limits
) -> list[ExerciseOutcome]:
    with slot_claimed() as slot:
        isolation = isolation_for(
            name="dev-check", number=0, slot=slot, run=run_token()
        )
        isolation_reset(isolation)
        # Graded as a class would be: in the sandbox wherever it can be enforced.
        sandbox = None if enforcement() else {"uid": FIRST_UID, "gid": FIRST_UID}
        try:
            return run_exercises(
                exercises,
                Target(root, isolation.env(root), sandbox=sandbox),
                limits=limits,
                trusted=trusted,
            )
        finally:
            isolation_reset(isolation)


def course_check(
    *,
    course: Course,
    trusted: Path = TRUSTED,
    shop: Path | None = None,
    limits: Limits | None = None,
) -> list[ExerciseCheck]:
    """Grade every exercise on the naive shop, then with its solution applied."""
    shop = shop or project_root() / "shop_app"
    limits = limits or Limits()
    exercises = list(course.exercises)
    expected = expected_diagnoses(course)
    with tempfile.TemporaryDirectory(prefix="course-dev-check-") as scratch:
        naive_root, solved_root = Path(scratch, "naive"), Path(scratch, "solved")
        for root in (naive_root, solved_root):
            shutil.copytree(shop, root / "shop_app", ignore=_IGNORED)
        naive = {
            outcome.id: naive_problem(outcome, expected.get(outcome.id, ()))
            for outcome in _grade(exercises, naive_root, trusted, limits)
        }
        checks = []
        for exercise in exercises:
            solved = patch_apply(_patch(course, exercise), solved_root)
            if not solved:
                [outcome] = _grade([exercise], solved_root, trusted, limits)
                solved = solved_problem(outcome)
            checks.append(ExerciseCheck(exercise.id, naive[exercise.id], solved))
    return checks
