"""Grade many submissions in parallel, each isolated and limited."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from checker.grading.isolation import (
    Isolation,
    isolation_for,
    isolation_reset,
    run_token,
    slot_claimed,
)
from checker.grading.results import (
    StoredResult,
    result_read,
    result_write,
    results_clear,
    reusable,
    tree_digest,
    trusted_digest,
)
from checker.grading.submissions import (
    Caps,
    Submission,
    SubmissionError,
    submission_parse,
    submission_unpack,
)
from checker.harness.cgroups import leftovers_remove
from checker.harness.database import leftovers_drop
from checker.harness.runner import (
    TRUSTED,
    BudgetOutcome,
    ExerciseOutcome,
    Limits,
    Target,
    run_exercises,
)
from checker.manifest import Course, Exercise

_EXCEPTION = re.compile(r"^(?:\w+\.)*\w*(?:Error|Exception|Exit)\b.*$", re.MULTILINE)
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


@dataclass
class StudentGrade:
    """One student's outcomes, or the reason their submission was not graded."""

    name: str
    source: str
    exercises: list[ExerciseOutcome]
    reason: str = ""
    seconds: float = 0.0

    @property
    def points(self) -> int:
        return sum(e.points for e in self.exercises)

    @property
    def max_points(self) -> int:
        return sum(e.max_points for e in self.exercises)

    @property
    def note(self) -> str:
        """Return one line saying why points were lost, or "" with full marks."""
        if self.reason:
            return self.reason
        for exercise in self.exercises:
            if exercise.reason:
                return f"{exercise.id}: {exercise.reason}"
        for exercise in self.exercises:
            for budget in exercise.budgets:
                if not budget.passed:
                    return f"{exercise.id} {budget.budget}: {summary(budget.message)}"
        return ""


def summary(message: str) -> str:
    """Return one line of a message: its exception and where, or its first line."""
    errors = list(_EXCEPTION.finditer(message))
    if not errors:
        return (message.strip().splitlines() or ["not met"])[0]
    frames = _FRAME.findall(message, 0, errors[-1].start())
    where = f" ({frames[-1][0]}:{frames[-1][1]})" if frames else ""
    return errors[-1].group(0).strip() + where


def _relative(outcomes: list[ExerciseOutcome], root: Path) -> None:
    """Show paths in the scratch copy as the student's own `shop_app/...`."""
    prefix = f"{root}/"
    for outcome in outcomes:
        outcome.reason = outcome.reason.replace(prefix, "")
        for budget in outcome.budgets:
            budget.message = budget.message.replace(prefix, "")


@dataclass(frozen=True)
class GradingPlan:
    """What to grade against and with which limits."""

    course: Course
    trusted: Path = TRUSTED
    limits: Limits = field(default_factory=Limits)
    caps: Caps = field(default_factory=Caps)
    extra_args: tuple[str, ...] = ()
    # Run each shop in a sandbox of its own (checker.harness.sandbox).
    sandbox: bool = False
    # The seed data sizes are drawn from; None draws one per run.
    seed: int | None = None


def ungraded(exercises: Iterable[Exercise], reason: str) -> list[ExerciseOutcome]:
    """Return zero-point outcomes that all carry `reason`."""
    return [
        ExerciseOutcome(
            id=exercise.id,
            budgets=[
                BudgetOutcome(budget, False, 0, points, message=reason)
                for budget, points in exercise.points.items()
            ],
            max_points=exercise.total_points,
            reason=reason,
        )
        for exercise in exercises
    ]


def _unique(submissions: list[Submission]) -> list[Submission]:
    seen: dict[str, int] = {}
    unique = []
    for submission in submissions:
        count = seen[submission.name] = seen.get(submission.name, 0) + 1
        name = submission.name if count == 1 else f"{submission.name}-{count}"
        unique.append(Submission(submission.source, submission.ref, name))
    return unique


# Each run's shop gets a uid of its own, outside any range a distribution
# hands out to users, so no two runs of one grader share a user.
FIRST_UID = 620_000


def _run(
    root: Path, isolation: Isolation, plan: GradingPlan, number: int
) -> list[ExerciseOutcome]:
    isolation_reset(isolation)
    uid = FIRST_UID + number
    sandbox = {"uid": uid, "gid": uid} if plan.sandbox else None
    try:
        return run_exercises(
            list(plan.course.exercises),
            Target(root, isolation.env(root), sandbox=sandbox, seed=plan.seed),
            limits=plan.limits,
            trusted=plan.trusted,
            extra_args=plan.extra_args,
        )
    finally:
        isolation_reset(isolation)


def submission_grade(
    submission: Submission,
    *,
    number: int,
    plan: GradingPlan,
    run: str,
    trusted: str = "",
    known: StoredResult | None = None,
) -> StoredResult:
    """Unpack, isolate and grade one submission; never raise for a bad one.

    `known`, a stored result, is returned as it is when the unpacked shop, the
    trusted tests (`trusted`, their hash) and the exercises are those it was
    graded on.
    """
    started = time.monotonic()
    grade = StudentGrade(submission.name, submission.label, [])
    digest = ""
    with tempfile.TemporaryDirectory(prefix="course-grade-") as scratch:
        try:
            root = submission_unpack(submission, scratch=Path(scratch), caps=plan.caps)
            digest = tree_digest(root)
            exercises = [e.id for e in plan.course.exercises]
            if known is not None and reusable(known, digest, trusted, exercises):
                return known
            with slot_claimed() as slot:
                isolation = isolation_for(
                    name=submission.name, number=number, slot=slot, run=run
                )
                grade.exercises = _run(root, isolation, plan, number)
                _relative(grade.exercises, root)
        except SubmissionError as error:
            grade.reason = str(error)
        except Exception as error:
            # One run failing in an unforeseen way must not stop the class.
            grade.reason = f"could not grade: {type(error).__name__}: {error}"[:300]
    if grade.reason:
        grade.exercises = ungraded(plan.course.exercises, grade.reason)
    grade.seconds = round(time.monotonic() - started, 2)
    return StoredResult(grade, digest, trusted)


def class_submissions(specs: Sequence[str], *, ref: str | None) -> list[Submission]:
    """Parse every submission and give each student a unique name, in order."""
    return _unique([submission_parse(spec, ref=ref) for spec in specs])


def grading_progress(console: Console | None) -> Progress:
    """Return the progress bar of a class: done out of all, and the latest."""
    return Progress(
        TextColumn("[bold]grading[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    )


def grade_class(
    specs: Sequence[str],
    *,
    plan: GradingPlan,
    jobs: int = 1,
    ref: str | None = None,
    console: Console | None = None,
    out: Path | None = None,
    resume: bool = False,
) -> list[StudentGrade]:
    """Grade every submission in `specs`, `jobs` at a time, in the given order.

    With `out`, each result is stored there as soon as it is decided; with
    `resume` too, a stored result graded on the same shop and trusted tests
    is kept instead of grading again.
    """
    # A grader killed earlier left its runs' databases, roles and cgroups.
    leftovers_drop()
    leftovers_remove()
    submissions = class_submissions(specs, ref=ref)
    trusted = trusted_digest(course_root=plan.course.root, trusted=plan.trusted)
    if out is not None and not resume:
        results_clear(out)
    run = run_token()
    grades: dict[int, StudentGrade] = {}
    with grading_progress(console) as progress, ThreadPoolExecutor(jobs) as pool:
        task = progress.add_task("", total=len(submissions))
        futures = {
            pool.submit(
                submission_grade,
                submission,
                number=number,
                plan=plan,
                run=run,
                trusted=trusted,
                known=result_read(out, submission.name) if out and resume else None,
            ): number
            for number, submission in enumerate(submissions, start=1)
        }
        for future in as_completed(futures):
            result = future.result()
            grade = grades[futures[future]] = result.grade
            if out is not None:
                result_write(out, result)
            progress.update(
                task,
                advance=1,
                description=f"{grade.name}: {grade.points}/{grade.max_points}",
            )
    return [grades[number] for number in sorted(grades)]
