"""Print how much wall time the checker adds to a request it measures.

The request is a view making 50 queries (a list of books, then each book's
author: an N+1) and 20 cache calls on the real Redis. It runs in a throwaway
database that this script creates and drops, many times, in interleaved
rounds, in two phases:

1. the request bare and under `measure()` (every recorder, memory tracing
   off, the Redis INFO cross-check on), alone and with its diagnosis read
   (`similar()` and `unused_eager_loads()`), under partial measurements,
   and right after an empty `measure()` block (what opening and closing a
   block costs the request that follows, unmeasured);
2. with django-zeal and nplusone patched into the process (both patch Django
   for good once imported), the request bare, under `measure()` with its
   diagnosis, under `zeal_context()` and under nplusone's `Profiler`.

    .venv/bin/python benchmarks/checker_overhead.py [--rounds 300]

Phase 2 needs `pip install -e ".[bench]"` (django-zeal, nplusone); without
them it is skipped and says so. Medians are printed per variant, with the
overhead against the bare request of the same phase, as a difference of
medians and as the median of per-round differences (paired), in wall time;
the last column is the paired overhead in this process's CPU time, which
leaves out the time spent waiting for PostgreSQL and Redis and is steadier
(as a share it is larger: the bare request's CPU time is less than its wall
time). Phase 2 also prints the function calls each variant adds to one
request, a count that the machine's load does not move.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "shop_app"), str(ROOT)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

BOOKS = 49
CACHE_KEYS = 10
DATABASE = "checker_overhead_bench"


def books_view(request: Any) -> Any:
    """Render 49 books with their authors, reading and writing 10 cache keys."""
    from django.core.cache import cache
    from django.http import HttpResponse

    from tests.checker_testapp.models import Book

    lines = [f"{book.title} by {book.author.name}" for book in Book.objects.all()]
    for number in range(CACHE_KEYS):
        cache.set(f"bench:{number}", number, 60)
        lines.append(str(cache.get(f"bench:{number}")))
    return HttpResponse("\n".join(lines))


def _urlpatterns() -> list[Any]:
    from django.urls import path

    return [path("books/", books_view)]


urlpatterns: list[Any] = []


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    """Return the wall time and this process's CPU time that `run` took."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    rounds = parser.parse_args().rounds

    from checker.services import ensure_up_or_exit

    ensure_up_or_exit()
    import django
    from django.conf import settings

    django.setup()
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.CHECKER_PROJECT_ROOTS = ["benchmarks", "tests/checker_testapp"]
    urlpatterns[:] = _urlpatterns()

    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from checker.measure import measure
    from tests.checker_testapp.data import library_create

    setup_test_environment()
    connection.settings_dict["TEST"]["NAME"] = DATABASE
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        library_create(books=BOOKS, authors=BOOKS)
        client = Client()

        def bare() -> None:
            client.get("/books/")

        def bare_after_empty_block() -> None:
            # The ORM, cache and Celery classes are patched once and stay
            # patched; the request after an empty block shows what opening
            # and closing a block still costs code that is not measured.
            with measure("nothing", memory=False, cross_check=False):
                pass
            client.get("/books/")

        def measured(*, diagnose: bool = False, **options: Any) -> Callable[[], None]:
            def run() -> None:
                with measure("GET /books/", memory=False, **options) as m:
                    client.get("/books/")
                if diagnose:
                    assert m.similar()[0].access is not None
                    m.unused_eager_loads()
                assert m.recorder is None or m.query_count == BOOKS + 1

            return run

        first = _rounds(
            {
                "bare": bare,
                "measure()": measured(),
                "measure() + diagnosis": measured(diagnose=True),
                "... cross_check=False": measured(cross_check=False),
                "queries only": measured(cache=False, tasks=False),
                "cache only": measured(queries=False, tasks=False),
                "empty block, then bare": bare_after_empty_block,
            },
            rounds,
        )
        second = _others(bare, measured(diagnose=True), rounds)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    print(f"{BOOKS + 1} queries and {2 * CACHE_KEYS} cache calls per request,")
    print(f"{rounds} interleaved rounds per variant.")
    print("Phase 1: the checker alone in the process.")
    _table(first)
    if second is None:
        print(
            "Phase 2 skipped: django-zeal and nplusone are not installed."
            ' Install them with: .venv/bin/pip install -e ".[bench]"'
        )
        return
    print("Phase 2: django-zeal and nplusone patched into the process.")
    paired = _table(second[0])
    _print_calls(second[1])
    ours, zeal = paired["measure() + diagnosis"], paired["zeal_context()"]
    print(
        f"measure() + diagnosis adds {ours:+.1f}%, zeal {zeal:+.1f}%:"
        f" {ours / zeal:.2f} of zeal's overhead (paired medians)."
        if zeal > 0
        else f"measure() + diagnosis adds {ours:+.1f}%; zeal added none measurable."
    )


def _rounds(
    variants: dict[str, Callable[[], None]], rounds: int
) -> dict[str, list[tuple[float, float]]]:
    for run in variants.values():
        for _ in range(20):
            run()
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    names = list(variants)
    for round_number in range(rounds):
        # Alternate the order each round so drift hits every variant alike.
        order = names if round_number % 2 == 0 else names[::-1]
        for name in order:
            times[name].append(_timed(variants[name]))
    return times


def _others(
    bare: Callable[[], None], ours: Callable[[], None], rounds: int
) -> tuple[dict[str, list[tuple[float, float]]], dict[str, tuple[int, int]]] | None:
    """Time zeal and nplusone beside the checker, and count the calls they add.

    Return None when they are not installed.
    """
    try:
        import nplusone.ext.django.patch  # noqa: F401  (patches Django on import)
        import zeal
        from nplusone.core.profiler import Profiler
        from zeal.constants import initialize_app_registry
        from zeal.patch import patch
    except ImportError:
        return None
    from django.conf import settings

    # Report, not raise, so every variant runs the whole request.
    settings.ZEAL_RAISE = False
    warnings.simplefilter("ignore")
    initialize_app_registry()
    patch()

    class Collecting(Profiler):  # type: ignore[misc]
        def notify(self, message: Any) -> None:
            self.found.append(message)

    def with_zeal() -> None:
        with zeal.zeal_context():
            bare()

    def with_nplusone() -> None:
        profiler = Collecting()
        profiler.found = []
        with profiler:
            bare()
        assert profiler.found

    variants = {
        "bare": bare,
        "measure() + diagnosis": ours,
        "zeal_context()": with_zeal,
        "nplusone Profiler": with_nplusone,
    }
    return _rounds(variants, rounds), {
        name: _calls(run) for name, run in variants.items()
    }


def _print_calls(counts: dict[str, tuple[int, int]]) -> None:
    """Print the function calls each variant adds to the request.

    A count does not depend on how busy the machine is, as times do: it
    shows how much work each adds when the timings are too noisy to.
    """
    python, builtin = counts["bare"]
    print("  calls added per request:")
    for name, (py, c) in counts.items():
        if name != "bare":
            print(f"  {name:<24} {py - python:+8d} Python, {c - builtin:+d} built-in")


def _calls(run: Callable[[], None]) -> tuple[int, int]:
    run()
    found = [0, 0]

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            found[0] += 1
        elif event == "c_call":
            found[1] += 1

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return found[0], found[1]


def _table(times: dict[str, list[tuple[float, float]]]) -> dict[str, float]:
    """Print each variant's medians and overheads; return the paired wall ones."""
    print(
        f"  {'variant':<24} {'median':>11}  {'overhead':>8}  {'paired':>8}"
        f"  {'CPU, paired':>11}"
    )
    paired_overheads = {}
    for name in times:
        wall = _overheads([w for w, _ in times[name]], [w for w, _ in times["bare"]])
        cpu = _overheads([c for _, c in times[name]], [c for _, c in times["bare"]])
        paired_overheads[name] = wall[2]
        print(
            f"  {name:<24} {wall[0] * 1000:8.3f} ms  {wall[1]:+7.1f}%"
            f"  {wall[2]:+7.1f}%  {cpu[2]:+10.1f}%"
        )
    return paired_overheads


def _overheads(samples: list[float], bare: list[float]) -> tuple[float, float, float]:
    """Return the median, its overhead in percent, and the paired overhead.

    The median of per-round differences with the bare run of the same round
    is steadier on a busy machine than a difference of medians.
    """
    base = statistics.median(bare)
    median = statistics.median(samples)
    paired = statistics.median(s - b for s, b in zip(samples, bare, strict=True))
    return median, (median - base) / base * 100, paired / base * 100


if __name__ == "__main__":
    main()
