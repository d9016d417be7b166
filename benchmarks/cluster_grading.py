"""Print distributed grading throughput for 1, 2 and 4 Celery workers.

    .venv/bin/python benchmarks/cluster_grading.py [--copies 12] [--workers 1 2 4]

A broker (a Redis of its own) and W `course grade-worker` processes, each
with its own embedded PostgreSQL and Redis as a separate machine would have,
grade N copies of this checkout's `shop_app/` published by the instructor's
side (`grade_class_on_workers`). Here every worker shares this machine's
cores, so more workers than cores measure contention, not a bigger cluster:
the per-submission cost (CPU seconds of the workers, their runs and their
PostgreSQL servers; Redis's is left out, it is small) is what scales, and
the estimate of machines for 1,000 submissions an hour is made from it, and
from the best rate measured here.
Without --course it grades against the grading tests' fixture course.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from checker.grading.cluster import grade_class_on_workers  # noqa: E402
from checker.grading.grade import GradingPlan  # noqa: E402
from checker.harness.runner import Limits  # noqa: E402
from checker.manifest import load_course  # noqa: E402
from checker.services import ensure_up  # noqa: E402
from checker.services.layout import Layout  # noqa: E402
from checker.services.postgres import EmbeddedPostgres  # noqa: E402
from checker.services.redis import EmbeddedRedis  # noqa: E402

FIXTURE = ROOT / "tests" / "grading" / "course"
COMMAND = Path(sys.executable).parent / "course"
TARGET = 1000


def _copies(folder: Path, count: int) -> list[str]:
    specs = []
    for number in range(1, count + 1):
        target = folder / f"student-{number:02d}" / "shop_app"
        shutil.copytree(
            ROOT / "shop_app", target, ignore=shutil.ignore_patterns("__pycache__")
        )
        specs.append(str(target.parent))
    return specs


def _workers(
    count: int, *, broker: str, machines: Path, course: Path, trusted: Path
) -> list[subprocess.Popen[bytes]]:
    started = []
    for number in range(1, count + 1):
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}
        }
        env["COURSE_HOME"] = str(machines / f"machine{number}")
        started.append(
            subprocess.Popen(
                [str(COMMAND), "grade-worker", "--broker", broker,
                 "--name", f"bench{number}@%h", "--course", str(course),
                 "--trusted", str(trusted)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
    return started


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(timeout=60)


def _machine_down(layout: Layout) -> None:
    """Stop a worker's own servers, even where service URLs point elsewhere."""
    EmbeddedRedis(layout).stop()
    EmbeddedPostgres(layout).stop()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _servers_cpu(machines: Path) -> float:
    """Return the CPU seconds of the machines' PostgreSQL servers so far.

    The postmaster reaps its backends, so their time is in its children's.
    """
    total = 0.0
    for process in psutil.process_iter(["cmdline", "cpu_times"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        times = process.info["cpu_times"]
        if str(machines) in cmdline and "postgres" in cmdline and times:
            total += times.user + times.system
            total += times.children_user + times.children_system
    return total


def _machines(count: float) -> str:
    whole = max(1, math.ceil(count))
    return f"{whole} machine" + ("s" if whole > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=12)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
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
    cores = os.cpu_count() or 1
    table = Table(
        "workers",
        "submissions",
        "wall s",
        "submissions/min",
        "CPU s per submission",
        "of it PostgreSQL",
    )
    server_costs = []
    costs = []
    rates = []
    machines = Path(tempfile.mkdtemp(prefix="course-bench-machines-"))
    # The embedded PostgreSQL runs as a user of its own when started as root.
    machines.chmod(0o755)
    broker_layout = Layout(machines / "broker")
    EmbeddedRedis(broker_layout).start()
    broker = f"redis+socket://{broker_layout.redis_socket}?virtual_host=0"
    try:
        with tempfile.TemporaryDirectory(prefix="grading-bench-") as scratch:
            specs = _copies(Path(scratch) / "class", args.copies)
            for count in args.workers:
                workers = _workers(
                    count,
                    broker=broker,
                    machines=machines,
                    course=args.course,
                    trusted=args.trusted,
                )
                # Let each machine start its services before the clock runs.
                time.sleep(8)
                cpu = _children_cpu()
                servers = _servers_cpu(machines)
                started = time.perf_counter()
                grades = grade_class_on_workers(
                    specs,
                    plan=plan,
                    broker=broker,
                    out=Path(scratch) / f"out-{count}",
                    console=console,
                )
                wall = time.perf_counter() - started
                server_cost = (_servers_cpu(machines) - servers) / len(grades)
                _stop(workers)
                # Reaped workers' CPU, their runs' included, is counted now.
                cost = (_children_cpu() - cpu) / len(grades) + server_cost
                scores = sorted({f"{g.points}/{g.max_points}" for g in grades})
                console.print(f"{count} workers: every copy scored {', '.join(scores)}")
                rate = 60 * len(grades) / wall
                costs.append(cost)
                server_costs.append(server_cost)
                rates.append(rate)
                table.add_row(
                    str(count), str(len(grades)), f"{wall:.1f}", f"{rate:.1f}",
                    f"{cost:.2f}", f"{server_cost:.2f}",
                )  # fmt: skip
    finally:
        for number in range(1, max(args.workers) + 1):
            _machine_down(Layout(machines / f"machine{number}"))
        EmbeddedRedis(broker_layout).stop()
        shutil.rmtree(machines, ignore_errors=True)
    console.print(table)
    cost = min(costs)
    console.print(
        f"All workers share this machine's {cores} cores: past {cores} workers the"
        " rate measures contention, not a larger cluster."
    )
    needed = TARGET * cost / 3600
    console.print(
        f"{TARGET} submissions in an hour at {cost:.2f} CPU s each need "
        f"{needed:.1f} busy cores: {_machines(needed / 2)} of 2 cores, "
        f"{_machines(needed / 8)} of 8, with every core busy (a busy machine's"
        " disk and its other tenants make the measured rate below lower)."
    )
    best = max(rates)
    console.print(
        f"From this machine's best rate ({best:.1f}/min), {TARGET} an hour needs "
        f"{_machines(TARGET / 60 / best)} like it."
    )


if __name__ == "__main__":
    main()
