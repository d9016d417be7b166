"""Print how much wall time the checker adds to a request it measures.

The request is a view making 50 queries (a list of books, then each book's
author: an N+1) and 20 cache calls on the real Redis. It runs bare and under
`measure(memory=False)`, interleaved, many times, in a throwaway database that
is created and dropped by this script:

    .venv/bin/python benchmarks/checker_overhead.py [--rounds 300]

Medians are printed per variant, with the overhead against the bare request.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
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


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


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

        def measured(**options: Any) -> Callable[[], None]:
            def run() -> None:
                with measure("GET /books/", memory=False, **options) as m:
                    client.get("/books/")
                assert m.recorder is None or m.query_count == BOOKS + 1

            return run

        variants: dict[str, Callable[[], None]] = {
            "bare": bare,
            "measure(memory=False)": measured(),
            "... cross_check=False": measured(cross_check=False),
            "queries only": measured(cache=False, tasks=False),
            "cache only": measured(queries=False, tasks=False),
            "tasks only": measured(queries=False, cache=False),
        }
        for run in variants.values():
            for _ in range(20):
                run()
        times: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        for round_number in range(rounds):
            # Alternate the order each round so drift hits every variant alike.
            order = names if round_number % 2 == 0 else names[::-1]
            for name in order:
                times[name].append(_timed(variants[name]))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    base = statistics.median(times["bare"])
    print(f"{BOOKS + 1} queries and {2 * CACHE_KEYS} cache calls per request,")
    print(f"{rounds} interleaved rounds per variant.")
    print(f"  {'variant':<24} {'median':>11}  {'overhead':>8}  {'paired':>8}")
    for name, samples in times.items():
        median = statistics.median(samples)
        overhead = (median - base) / base * 100
        # The median of per-round differences with the bare run of the same
        # round is steadier on a busy machine than a difference of medians.
        paired = statistics.median(
            sample - bare for sample, bare in zip(samples, times["bare"], strict=True)
        )
        print(
            f"  {name:<24} {median * 1000:8.3f} ms  {overhead:+7.1f}%"
            f"  {paired / base * 100:+7.1f}%"
        )


if __name__ == "__main__":
    main()
