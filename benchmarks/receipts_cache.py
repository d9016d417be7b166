"""Measure lesson 4's pages cold and warm; render them as a Markdown table.

Part of `lesson_receipts.py`, which runs `measure_cache` in each shop's child
process. Each page is measured cold (its cache keys just deleted) and warm
(the same request again), a number of times each; each child runs under a
cache key prefix of its own, emptied before every cold request and at the end
(`delete_pattern`, never a flush: other people share the Redis).
"""

from __future__ import annotations

import statistics
from typing import Any


def own_keys_delete() -> None:
    """Delete every cache key under this process's key prefix."""
    from django.core.cache import cache

    # django-redis puts KEY_PREFIX before the pattern: only this shop's keys
    # go, never those of anyone else on the same Redis.
    cache.delete_pattern("*")  # type: ignore[attr-defined]


def _summary(runs: list[Any]) -> dict[str, Any]:
    """Return the median query count of `runs`, and the last one's cache use."""
    return {
        "queries": round(statistics.median(run.query_count for run in runs)),
        "hits": runs[-1].cache.hits if runs[-1].cache else 0,
        "misses": runs[-1].cache.misses if runs[-1].cache else 0,
    }


def measure_cache(
    project: Any, *, product: Any, staff: Any, timed_runs: int
) -> list[dict[str, Any]]:
    """Measure each page cold, then warm, `timed_runs` times (run in a child)."""
    from django.db import transaction
    from django.test import Client

    from checker.measure import measure

    # The product page is cached for visitors, who are not logged in; the
    # dashboard is for staff only.
    visitor = Client()
    scenarios = [
        (f"GET /products/{product.slug}/", visitor, f"/products/{product.slug}/"),
        ("GET /products/", visitor, "/products/"),
        ("GET /dashboard/sales/", staff, "/dashboard/sales/"),
    ]
    results = []
    for label, client, path in scenarios:
        with transaction.atomic():
            client.get(path)  # Warm up connections, templates and URL caches.
            cold: list[Any] = []
            warm: list[Any] = []
            for _ in range(timed_runs):
                own_keys_delete()
                for runs in (cold, warm):
                    with measure(
                        label, project=project, memory=False, cross_check=False
                    ) as timed:
                        client.get(path)
                    runs.append(timed)
            transaction.set_rollback(True)
        results.append(
            {
                "label": label,
                "cold": _summary(cold),
                "warm": _summary(warm),
                "samples": {
                    "cold_ms": [run.wall_time or 0.0 for run in cold],
                    "warm_ms": [run.wall_time or 0.0 for run in warm],
                },
            }
        )
    own_keys_delete()
    return results


def cache_table(naive: list[dict[str, Any]], solved: list[dict[str, Any]]) -> str:
    """Return the Markdown table of cold and warm requests, before and after.

    Here "→" reads "cold → warm": the first request after the keys were
    deleted, then the same request again.
    """
    lines = [
        "| scenario | shop | queries | ms | cache hits / misses |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for before, after in zip(naive, solved, strict=True):
        for shop, row in (("before", before), ("after", after)):
            cold, warm = row["cold"], row["warm"]
            label = f"`{row['label']}`" if shop == "before" else ""
            lines.append(
                f"| {label} | {shop} | {cold['queries']} → {warm['queries']}"
                f" | {row['cold_ms']:.1f} → {row['warm_ms']:.1f}"
                f" | {cold['hits']} / {cold['misses']}"
                f" → {warm['hits']} / {warm['misses']} |"
            )
    return "\n".join(lines)


def cache_explanation(*, timed_runs: int) -> str:
    """Return the sentences that say how to read the cache table."""
    return (
        "Each page is requested cold (its cache keys just deleted),"
        f" then warm (the same request again), {timed_runs} times a round;"
        " queries are medians, hits and misses those of the last pair. Here"
        ' "→" reads "cold → warm".'
    )
