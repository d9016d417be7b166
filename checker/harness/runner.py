"""Run the trusted exercise tests on a shop in child processes, with limits.

Trusted modules in a folder whose `pytest.ini` loads `checker.harness.plugin`
run in a pytest process that never imports the shop: it drives the shop's own
process and counts from the servers (`checker.harness`). Modules under
`inside/` still run in the shop's process, as pytest-django tests.
"""

from __future__ import annotations

import json
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checker.manifest import Exercise

TRUSTED = Path(__file__).resolve().parents[1] / "trusted"
_ERROR_LINE = re.compile(
    r"^(?:E\s+)?((?:\w+\.)*\w*(?:Error|Exception|Exit)\b.*|(?:ERROR|error): .*)$",
    re.MULTILINE,
)
_FRAME = re.compile(r'File "([^"]+)", line (\d+)|^([^\s:]+\.py):(\d+)', re.MULTILINE)
_OUTPUT_TAIL = 64_000


@dataclass(frozen=True)
class Limits:
    """Wall time in seconds, address space and largest file in MiB for one run."""

    seconds: float = 600.0
    memory_mib: int = 3072
    output_mib: int = 256


@dataclass
class BudgetOutcome:
    """One budget of one exercise: met or not, and what the learner reads."""

    budget: str
    passed: bool
    points: int
    max_points: int
    message: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExerciseOutcome:
    """An exercise's budgets, its points, and why it could not be graded."""

    id: str
    budgets: list[BudgetOutcome]
    max_points: int
    reason: str = ""
    # The seed the run's data sizes were drawn from, to reproduce a grade.
    seed: int | None = None

    @property
    def points(self) -> int:
        return sum(b.points for b in self.budgets)

    def diagnoses(self) -> dict[str, list[str]]:
        """Map each diagnosis of the budgets short of their points to those budgets.

        One cause (a syntax error, one missing fix) often fails several budgets,
        and is read once; a guard met before its fix says why it earned nothing.
        A budget without a message of its own is explained by the exercise's
        reason.
        """
        found: dict[str, list[str]] = {}
        for budget in self.budgets:
            if budget.points < budget.max_points:
                found.setdefault(budget.message or self.reason, []).append(
                    budget.budget
                )
        if not found and self.reason:
            found[self.reason] = [self.status]
        return found

    @property
    def status(self) -> str:
        if self.reason:
            return "error"
        if self.budgets and all(b.passed for b in self.budgets):
            return "passed"
        return "failed"


@dataclass(frozen=True)
class Target:
    """The shop under test and the services its run may use."""

    root: Path
    env: dict[str, str]
    # How the shop's process is fenced when driven apart (see checker.harness):
    # None for a learner's own shop, the sandbox's options when grading.
    sandbox: dict[str, Any] | None = None
    seed: int | None = None


def _limit(limits: Limits) -> None:
    memory = limits.memory_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # Caps the output log too, so an endless print cannot fill the disk.
    largest = limits.output_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (largest, largest))


def runs_apart(trusted: Path, module: str) -> bool:
    """Tell whether a trusted module drives the shop apart (checker.harness)."""
    ini = (trusted / module).parent / "pytest.ini"
    return ini.exists() and "checker.harness.plugin" in ini.read_text()


def _command(exercises: Iterable[Exercise], results: Path, trusted: Path) -> list[str]:
    exercises = list(exercises)
    folder = (trusted / exercises[0].tests).parent
    command = [
        sys.executable, "-m", "pytest",
        "-c", str(folder / "pytest.ini"),
        "--rootdir", str(folder),
        # A submission's conftest.py files must not run, nor change the tests.
        "--noconftest",
        # One exercise's module failing to import must not stop the others.
        "--continue-on-collection-errors",
        "-p", "no:cacheprovider",
        "-p", "checker.results",
        "--course-results", str(results),
        "-q", "--no-header", "-rN", "--tb=short",
    ]  # fmt: skip
    modules: list[str] = []
    for exercise in exercises:
        command += ["--course-exercise", exercise.id]
        module = str(trusted / exercise.tests)
        if module not in modules:
            modules.append(module)
    return command + modules


def _where(output: str, end: int, root: Path) -> str:
    """Return ` (file:line)` of the last frame in the submission before `end`."""
    place = ""
    for match in _FRAME.finditer(output, 0, end):
        path, line = match.group(1) or match.group(3), match.group(2) or match.group(4)
        resolved = Path(path) if Path(path).is_absolute() else root / path
        if resolved.is_relative_to(root):
            place = f" ({resolved.relative_to(root)}:{line})"
    return place


def _reason(
    returncode: int | None, output: str, limits: Limits, root: Path, flooded: bool
) -> str:
    if flooded:
        return (
            f"wrote more than {limits.output_mib} MiB of output: look for a print "
            "or a log call in a loop"
        )
    if returncode is None:
        return (
            f"timed out after {limits.seconds:g} s: look for an endless loop or "
            "a page that does far too much work"
        )
    if returncode in {-signal.SIGKILL, -signal.SIGSEGV} or "MemoryError" in output:
        return f"ran out of memory (limit {limits.memory_mib} MiB)"
    found = list(_ERROR_LINE.finditer(output))
    if found:
        last = found[-1]
        return last.group(1).strip()[:300] + _where(output, last.start(), root)
    lines = [line for line in output.splitlines() if line.strip()]
    return (lines[-1] if lines else f"the test run exited with {returncode}")[:300]


def results_read(path: Path) -> list[dict[str, Any]]:
    """Read what `checker.results` wrote: the last outcome of each test, in order."""
    latest: dict[str, dict[str, Any]] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            outcome = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        latest.pop(outcome["test"], None)
        latest[outcome["test"]] = outcome
    return list(latest.values())


def run_exercises(
    exercises: list[Exercise],
    target: Target,
    *,
    limits: Limits = Limits(),
    trusted: Path = TRUSTED,
    extra_args: Iterable[str] = (),
) -> list[ExerciseOutcome]:
    """Grade `exercises` on the shop in `target.root` and return each outcome."""
    apart = [e for e in exercises if runs_apart(trusted, e.tests)]
    inside = [e for e in exercises if e not in apart]
    seed = target.seed if target.seed is not None else secrets.randbelow(2**31)
    outcomes: dict[str, ExerciseOutcome] = {}
    with tempfile.TemporaryDirectory(prefix="course-run-") as scratch:
        folder = Path(scratch)
        if apart:
            for outcome in _run_apart(apart, target, limits, trusted, folder, seed):
                outcomes[outcome.id] = outcome
        if inside:
            env = {
                **target.env,
                "DJANGO_SETTINGS_MODULE": "config.settings.test",
                "PYTHONPATH": str(target.root / "shop_app"),
                "COURSE_ROOT": str(target.root),
            }
            for outcome in _run_child(
                inside,
                [*_command(inside, folder / "inside.jsonl", trusted), *extra_args],
                env,
                target.root,
                limits,
                folder / "inside",
            ):
                outcomes[outcome.id] = outcome
    return [outcomes[exercise.id] for exercise in exercises]


def _sandbox_options(
    sandbox: dict[str, Any] | None, limits: Limits
) -> dict[str, Any] | None:
    if sandbox is None:
        return None
    caps = {
        "memory_mib": limits.memory_mib,
        "file_mib": limits.output_mib,
        "written_mib": limits.output_mib,
    }
    return {**sandbox, "limits": {**caps, **sandbox.get("limits", {})}}


def _run_apart(
    exercises: list[Exercise],
    target: Target,
    limits: Limits,
    trusted: Path,
    scratch: Path,
    seed: int,
) -> list[ExerciseOutcome]:
    from checker.harness.plan import RunPlan, run_leftovers_remove
    from checker.services import service_urls

    plan = RunPlan(
        root=str(target.root.resolve()),
        scratch=str(scratch / "shop"),
        token=secrets.token_hex(4),
        seed=seed,
        upstream=service_urls().database,
        sandbox=_sandbox_options(target.sandbox, limits),
        hidden=[str(trusted)],
        # One stuck page costs its own budget, not the rest of the run.
        command_seconds=max(5.0, limits.seconds / 10),
    )
    plan.write(scratch / "plan.json")
    env = {
        # The trusted side imports no shop code and loads only its own plugins.
        key: value
        for key, value in {**os.environ, **target.env}.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH"}
    }
    env.update(
        COURSE_HARNESS=str(scratch / "plan.json"), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"
    )
    command = _command(exercises, scratch / "apart.jsonl", trusted)
    try:
        outcomes = _run_child(
            exercises, command, env, trusted, limits, scratch / "apart"
        )
    finally:
        run_leftovers_remove(plan)
    for outcome in outcomes:
        outcome.seed = seed
    return outcomes


def _run_child(
    exercises: list[Exercise],
    command: list[str],
    env: dict[str, str],
    cwd: Path,
    limits: Limits,
    base: Path,
) -> list[ExerciseOutcome]:
    results = Path(command[command.index("--course-results") + 1])
    log = base.with_suffix(".log")
    environment = {**os.environ, **env, "PYTHONDONTWRITEBYTECODE": "1"}
    if "PYTEST_DISABLE_PLUGIN_AUTOLOAD" in env:
        environment = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: _limit(limits),
        )
        try:
            returncode: int | None = process.wait(timeout=limits.seconds)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            returncode = None
    text = _tail(log)
    flooded = log.stat().st_size >= limits.output_mib * 1024 * 1024
    raw = results_read(results)
    # A budget with no verdict lost it to the crash or the limit; the ones
    # decided before keep theirs.
    graded = {(r["exercise"], r["budget"]) for r in raw}
    missing = any(
        (exercise.id, budget) not in graded
        for exercise in exercises
        for budget in exercise.points
    )
    root = Path(env.get("COURSE_ROOT", cwd)).resolve()
    return _collect(
        exercises,
        raw,
        _reason(returncode, text, limits, root, flooded) if missing else "",
    )


def _tail(path: Path) -> str:
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - _OUTPUT_TAIL))
        return handle.read().decode(errors="replace")


def _unearned(exercise: Exercise) -> str:
    main = ", ".join(b for b in exercise.points if b not in exercise.guards)
    return (
        "Met, but this budget guards the fix: its points count once"
        f" {main} {'is' if ',' not in main else 'are'} met too."
    )


def _collect(
    exercises: list[Exercise], raw: list[dict[str, Any]], reason: str
) -> list[ExerciseOutcome]:
    outcomes = []
    for exercise in exercises:
        verdicts = {
            budget: [
                r for r in raw if (r["exercise"], r["budget"]) == (exercise.id, budget)
            ]
            for budget in exercise.points
        }
        passed = {
            budget: bool(found) and all(r["passed"] for r in found)
            for budget, found in verdicts.items()
        }
        earned = exercise.earned(passed)
        budgets = []
        for budget, found in verdicts.items():
            message = "\n".join(r["message"] for r in found if r["message"])
            if passed[budget] and not earned[budget]:
                message = "\n".join(filter(None, [_unearned(exercise), message]))
            budgets.append(
                BudgetOutcome(
                    budget=budget,
                    passed=passed[budget],
                    points=earned[budget],
                    max_points=exercise.points[budget],
                    message=message
                    or ("" if found else reason or "no trusted test graded it"),
                    properties={
                        k: v for r in found for k, v in r["properties"].items()
                    },
                )
            )
        graded = any(r["exercise"] == exercise.id for r in raw)
        outcomes.append(
            ExerciseOutcome(
                id=exercise.id,
                budgets=budgets,
                max_points=exercise.total_points,
                reason="" if graded else reason or "no trusted test graded it",
            )
        )
    return outcomes
