"""Print how long the learner waits: one exercise's re-check and `check --all`.

    .venv/bin/python benchmarks/learner_loop.py [--exercise 01-product-pages]

Runs the real `course check` on this checkout, as `course watch` does on each
save. The first run may create the `test_check` database; the figures are the
runs after it (`--reuse-db`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def _seconds(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "checker.cli", "check", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exercise", default="01-product-pages")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    _seconds(args.exercise)  # create the check database once
    one = [_seconds(args.exercise) for _ in range(args.repeat)]
    every = [_seconds("--all") for _ in range(max(1, args.repeat // 2))]
    print(
        f"re-check of {args.exercise}: median {statistics.median(one):.1f} s "
        f"(runs: {', '.join(f'{s:.1f}' for s in one)})"
    )
    print(
        f"course check --all: median {statistics.median(every):.1f} s "
        f"(runs: {', '.join(f'{s:.1f}' for s in every)})"
    )


if __name__ == "__main__":
    main()
