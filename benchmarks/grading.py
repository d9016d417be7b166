"""Print grading throughput: N copies of one submission at -j 1 and at -j 2.

    .venv/bin/python benchmarks/grading.py [--copies 20] [--jobs 1 2]

Each copy is this checkout's `shop_app/`, graded like any submission: its own
scratch copy, database, Redis databases and child process. Without --course
it grades against the fixture course of the grading tests (two exercises: the
product list page on PostgreSQL, and a pure-Python one).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from checker.grading.grade import GradingPlan, grade_class  # noqa: E402
from checker.harness.runner import Limits  # noqa: E402
from checker.manifest import load_course  # noqa: E402
from checker.services import ensure_up  # noqa: E402

FIXTURE = ROOT / "tests" / "grading" / "course"


def _copies(folder: Path, count: int) -> list[str]:
    specs = []
    for number in range(1, count + 1):
        target = folder / f"student-{number:02d}" / "shop_app"
        shutil.copytree(
            ROOT / "shop_app",
            target,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        specs.append(str(target.parent))
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--course", type=Path, default=FIXTURE)
    parser.add_argument("--trusted", type=Path, default=FIXTURE / "trusted")
    args = parser.parse_args()
    ensure_up()
    console = Console()
    plan = GradingPlan(
        course=load_course(args.course),
        trusted=args.trusted.resolve(),
        limits=Limits(seconds=120, memory_mib=2048),
    )
    table = Table(
        "jobs", "submissions", "wall s", "s per submission", "submissions/min"
    )
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as scratch:
        specs = _copies(Path(scratch), args.copies)
        for jobs in args.jobs:
            started = time.perf_counter()
            grades = grade_class(specs, plan=plan, jobs=jobs, console=console)
            wall = time.perf_counter() - started
            # Every copy is the same shop, so every copy must get the same score.
            scores = sorted({f"{g.points}/{g.max_points}" for g in grades})
            console.print(f"-j {jobs}: every copy scored {', '.join(scores)}")
            table.add_row(
                str(jobs),
                str(len(grades)),
                f"{wall:.1f}",
                f"{wall / len(grades):.2f}",
                f"{60 * len(grades) / wall:.1f}",
            )
    console.print(table)


if __name__ == "__main__":
    main()
