"""Print grading throughput and a learner's re-check, before and after a change.

    .venv/bin/python benchmarks/trusted_grading.py [--before REV] [--copies 2]
    .venv/bin/python benchmarks/trusted_grading.py --copies 0 --rechecks 10

Grades the real course (`course.toml`) on three kinds of submission: the
naive shop, a partial one (lesson 1's first patch), and one with every
patch applied; `--copies` of each, at `-j 1` and `-j 2`, with this checkout's
`course grade`, and, side by side in the same run, with the checkout at
`--before` (a git worktree made for the run; default: the last commit
before the trusted harness). Then times `course check 01-product-pages`
on each checkout, as `course watch` runs it on every save, in wall and CPU
seconds (`--copies 0` times only that).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checker.manifest import load_course  # noqa: E402
from checker.services import ensure_up  # noqa: E402

BEFORE = "9c1fafa"


def _shop(folder: Path, patches: list[Path]) -> Path:
    shutil.copytree(
        ROOT / "shop_app",
        folder / "shop_app",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    for patch in patches:
        subprocess.run(["git", "apply", str(patch)], cwd=folder, check=True)
    return folder


def _submissions(folder: Path, copies: int) -> dict[str, list[str]]:
    course = load_course(ROOT)
    every = [ROOT / e.solution for e in course.exercises]
    kinds = {"naive": [], "partial": every[:1], "solved": every}
    return {
        kind: [
            str(_shop(folder / f"{kind}-{number}", patches)) for number in range(copies)
        ]
        for kind, patches in kinds.items()
    }


def _venv_for(checkout: Path, folder: Path) -> Path:
    """Copy this checkout's virtualenv, its editable install pointed at `checkout`.

    Child processes of `course grade` set their own PYTHONPATH, so only the
    installed package decides which `checker` they import.
    """
    shutil.copytree(ROOT / ".venv", folder, symlinks=True)
    for finder in folder.glob("lib/python*/site-packages/__editable__*finder.py"):
        finder.write_text(finder.read_text().replace(str(ROOT), str(checkout)))
    return folder / "bin" / "python"


def _run(python: Path, checkout: Path, *args: str) -> tuple[float, float]:
    """Return the wall seconds and the CPU seconds of the command's processes.

    The CPU seconds are those of every process it started and waited for
    (the shop's, killed at the end, included; the servers' work is not):
    steadier than wall time on a machine others share.
    """
    # Each checkout grades with its own `checker`, against its own course,
    # on this checkout's running services.
    env = {
        **os.environ,
        "PYTHONPATH": str(checkout),
        "COURSE_HOME": str(ROOT / ".course"),
    }
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [str(python), "-m", "checker.cli", *args],
        cwd=checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    wall = time.perf_counter() - start
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime
    return wall, cpu


def _points(out: Path) -> str:
    """Return each student's points from a grading run, to show it graded."""
    try:
        students = json.loads((out / "grades.json").read_text())["students"]
    except (OSError, ValueError, KeyError):
        return "no grades.json"
    return ", ".join(f"{s['points']}/{s['max_points']}" for s in students)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rechecks", type=int, default=3)
    args = parser.parse_args()
    ensure_up()
    scratch = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    before = scratch / "before"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(before), args.before],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        made = _submissions(scratch / "submissions", args.copies)
        kinds = {kind: specs for kind, specs in made.items() if specs}
        checkouts = {
            "before": (_venv_for(before, scratch / "venv"), before),
            "after": (Path(sys.executable), ROOT),
        }
        if kinds:
            header = f"{'before s/sub':>13} {'after s/sub':>12} ratio"
            print(f"{'kind':8} {'-j':>3} {header}")
        for kind, specs in kinds.items():
            for jobs in args.jobs:
                seconds = {}
                for name, (python, checkout) in checkouts.items():
                    out = scratch / f"out-{name}-{kind}-{jobs}"
                    grade = ["grade", *specs, "--out", str(out), "-j", str(jobs)]
                    seconds[name] = _run(python, checkout, *grade)[0] / len(specs)
                    print(f"  {name}: {_points(out)}", file=sys.stderr)
                ratio = seconds["after"] / seconds["before"]
                print(
                    f"{kind:8} {jobs:>3} {seconds['before']:>13.1f} "
                    f"{seconds['after']:>12.1f} {ratio:.2f}"
                )
        for python, checkout in checkouts.values():
            _run(python, checkout, "check", "01-product-pages")  # databases made
        rechecks: dict[str, list[tuple[float, float]]] = {n: [] for n in checkouts}
        for _ in range(args.rechecks):
            for name, (python, checkout) in checkouts.items():
                check = ["check", "01-product-pages"]
                rechecks[name].append(_run(python, checkout, *check))
        for name, runs in rechecks.items():
            walls = [wall for wall, _ in runs]
            print(
                f"re-check of 01-product-pages, {name}: median "
                f"{statistics.median(walls):.1f} s, "
                f"{statistics.median(cpu for _, cpu in runs):.2f} CPU s "
                f"(runs: {', '.join(f'{s:.1f}' for s in walls)})"
            )
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(before)],
            cwd=ROOT,
            check=False,
            capture_output=True,
        )
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
