"""Grade lesson 7 before and after its patches; print its plans and buffers.

    .venv/bin/python benchmarks/lesson7_plans.py [--seed N]

The shop at the start of lesson 7 (every earlier lesson's patches applied)
and the shop with lesson 7's patches too are copied to scratch folders and
graded with the trusted tests (`checker/trusted/test_lesson_07.py`), on the
same seed: the same plan-sized data, which the trusted side builds in each
run. The figures are the tests' own: the plan node that read the table, the
shared buffers PostgreSQL counted, and the seconds the data took to build.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from checker.harness.runner import ExerciseOutcome, Target, run_exercises  # noqa: E402
from checker.manifest import load_course  # noqa: E402
from checker.services import database_url, ensure_up, service_urls  # noqa: E402

LESSON = "07"


def _shop(root: Path, patches: list[str]) -> Path:
    shutil.copytree(
        REPO / "shop_app",
        root / "shop_app",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "media"),
    )
    shutil.copy(REPO / "course.toml", root / "course.toml")
    for patch in patches:
        subprocess.run(["git", "apply", "-p1", str(REPO / patch)], cwd=root, check=True)
    return root


def _grade(root: Path, seed: int) -> list[ExerciseOutcome]:
    course = load_course(REPO)
    urls = service_urls()
    env = {
        "DATABASE_URL": database_url("lesson7_plans"),
        "REDIS_URL": urls.redis,
        "CELERY_BROKER_URL": urls.broker,
        "CACHE_KEY_PREFIX": "lesson7_plans",
    }
    chosen = [e for e in course.exercises if e.lesson == LESSON]
    return run_exercises(chosen, Target(root, env, seed=seed))


def _cell(budget: Any) -> str:
    found = budget.properties
    if "buffers" in found:
        noun = "products" if "products" in found else "orders"
        return ", ".join(
            f"{b:,} buffers with {n:,} {noun}"
            for b, n in zip(found["buffers"], found[noun], strict=True)
        )
    if "plan" in found:
        return str(found["plan"])
    if budget.passed:
        return "met"
    ran = re.search(r" ran (.*?) to return", budget.message)
    if ran:
        return ran.group(1)
    if "through no index of its own" in budget.message:
        return "no index of its own"
    return budget.message.split(" (budget")[0][:160]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for message in ensure_up():
        print(message, file=sys.stderr)
    course = load_course(REPO)
    earlier = [e.solution for e in course.exercises if e.lesson < LESSON]
    missing = [patch for patch in earlier if not (REPO / patch).is_file()]
    if missing:
        print(f"Not written yet, left out: {', '.join(missing)}", file=sys.stderr)
        earlier = [patch for patch in earlier if patch not in missing]
    own = [e.solution for e in course.exercises if e.lesson == LESSON]
    with tempfile.TemporaryDirectory(prefix="lesson7-") as scratch:
        before = _grade(_shop(Path(scratch) / "before", earlier), args.seed)
        after = _grade(_shop(Path(scratch) / "after", earlier + own), args.seed)
    print("| exercise | budget | before | after |")
    print("| --- | --- | --- | --- |")
    seconds = []
    for old, new in zip(before, after, strict=True):
        for a, b in zip(old.budgets, new.budgets, strict=True):
            print(f"| `{old.id}` | `{a.budget}` | {_cell(a)} | {_cell(b)} |")
            if "plan_data_seconds" in b.properties:
                seconds.append(float(b.properties["plan_data_seconds"]))
    print(
        f"\nPlan-sized data built per run: {sum(seconds):.1f} s "
        f"({', '.join(f'{s:.1f}' for s in seconds)} s per exercise), on this machine."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
