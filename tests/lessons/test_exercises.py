"""The finished lessons graded on real scratch shops: naive, patch by patch, solved."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.lessons.conftest import (
    COURSE_EXERCISES,
    LESSONS,
    REPO,
    database_url,
    shop_copy,
)

# What each exercise's first failing budget must say on the shop at the start
# of its lesson: the place, the relation or column, and the fix family.
DIAGNOSES = {
    ("01-product-pages", "list-queries"): [
        "shop_app/templates/catalog/product_list.html:",
        "via Product.category",
        'Try select_related("category")',
    ],
    ("01-product-pages", "detail-queries"): [
        "shop_app/templates/catalog/product_detail.html:",
        "via Review.customer",
        'Try select_related("customer")',
    ],
    ("01-recent-orders", "queries"): [
        "shop_app/templates/orders/sales_dashboard.html:",
        "via Customer.user",
        'Try select_related("customer__user")',
    ],
    ("01-admin-lists", "products"): [
        "shop_app/catalog/admin.py:",
        "via Product.category",
        'Try list_select_related = ["category"] on the ModelAdmin.',
    ],
    ("01-admin-lists", "orders"): [
        "shop_app/orders/admin.py:",
        "via Customer.user",
        "select_related",
    ],
    ("02-product-list", "queries"): [
        "shop_app/templates/catalog/product_list.html:",
        "via Product.tags",
        'Try prefetch_related("tags")',
    ],
    ("02-order-pages", "history-queries"): [
        "shop_app/templates/orders/order_history.html:",
        "via OrderItem.product",
        'Try prefetch_related(Prefetch("items", '
        'queryset=OrderItem.objects.select_related("product")))',
    ],
    ("02-order-pages", "dashboard-queries"): [
        "shop_app/templates/orders/sales_dashboard.html:",
        "via Order.items",
        'Try annotate(items_count=Count("items"))',
    ],
    ("02-category-page", "queries"): [
        "shop_app/templates/catalog/category_detail.html:",
        "via Product.reviews",
        'Try prefetch_related(Prefetch("reviews", queryset=..., to_attr="...'
        '")) and read the attribute; filtering a related manager queries again',
    ],
    ("03-product-list", "columns"): [
        "shop_app/templates/catalog/product_list.html:",
        "fetched catalog_product.description",
        'Try only() with the fields the page shows, or defer("description").',
    ],
    ("03-order-export", "memory"): [
        "shop_app/orders/views.py:",
        "FROM orders_orderitem",
        "Stream rows with iterator() or values_list()",
    ],
    ("03-exists-count", "has-orders"): [
        "shop_app/orders/selectors.py:",
        "FROM orders_order",
        "Try .exists() on the queryset.",
    ],
    ("03-exists-count", "product-count"): [
        "shop_app/catalog/selectors.py:",
        "FROM catalog_product",
        "Try .count() on the queryset.",
    ],
    ("04-sales-dashboard", "warm"): [
        "made 2 queries with 0 cache hits",
        "First query from shop_app/orders/selectors.py:",
        "cache.get_or_set(key, compute, timeout)",
    ],
    ("04-category-links", "warm"): [
        "shop_app/templates/catalog/product_list.html:",
        "SELECT ... FROM catalog_category ORDER BY name",
        "{% cache %}",
        "at least 1 fragment hit",
    ],
    ("04-product-page", "warm"): [
        "The second GET /products/<slug>/ made",
        "with 0 cache hits",
        "First query from shop_app/catalog/selectors.py:",
    ],
    **{
        ("05-welcome-email", budget): [
            "shop_app/customers/services.py:",
            "sent the welcome email inside the request",
            "send_welcome_email.delay_on_commit(user.pk)",
        ]
        for budget in ("offloaded", "on-commit", "delivered", "retried")
    },
    ("05-welcome-email", "idempotent"): [
        "shop_app/customers/tasks.py:",
        "sent 2 welcome emails",
        "welcomed_at=None",
        "transaction.atomic()",
    ],
    **{
        ("05-sales-report", budget): [
            "shop_app/orders/views.py:",
            "built the report inside the request",
            "Call `build_sales_report.delay()` in a service",
        ]
        for budget in ("offloaded", "status", "acks-late")
    },
    **{
        ("05-thumbnails", budget): [
            "shop_app/catalog/services.py:",
            "made the thumbnail inside the request",
            "Call `make_thumbnail.delay_on_commit(product_image.pk)`",
        ]
        for budget in ("offloaded", "on-commit", "queue", "drained")
    },
    ("06-pagination", "bounded"): [
        "shop_app/catalog/api.py:",
        "returned 130 products in one response",
        "max_page_size",
    ],
    ("06-pagination", "walk"): [
        "shop_app/orders/api.py:",
        "returned 120 orders in one response",
    ],
    ("06-pagination", "deep-page"): [
        "shop_app/orders/api.py:",
        "sent all 130 orders in one response",
        "shared buffers for the whole list of",
        "CursorPagination ordered by an indexed column",
    ],
    ("06-lean-lists", "product-queries"): [
        "shop_app/catalog/serializers.py:",
        "via Product.",
        "Try ",
    ],
    ("06-lean-lists", "order-queries"): [
        "shop_app/orders/serializers.py:",
        "via OrderItem.product",
        "Try ",
    ],
    ("06-lean-lists", "bytes"): [
        "shop_app/catalog/api.py:",
        "bytes per product",
        "description (2,151 bytes)",
        "lean serializer",
    ],
    ("07-product-list", "sort-index"): [
        "GET /products/: SELECT ... FROM catalog_product",
        # The planner reads the table by a sequential scan or by an index of
        # another column, depending on the sizes drawn; either way it sorts.
        "then Sort by",
        "catalog_product read in the order of the ORDER BY",
        "Product.Meta.indexes",
    ],
    ("07-product-list", "buffers"): [
        "GET /products/ touched",
        "shared buffers with",
        "Most of them:",
        "Subquery()",
    ],
    ("07-recent-orders", "index"): [
        "GET /dashboard/sales/: SELECT ... FROM orders_order",
        "then Sort by",
        "created_at DESC",
        "Order.Meta.indexes",
    ],
    ("07-recent-orders", "buffers"): [
        "GET /dashboard/sales/: SELECT ... FROM orders_order",
        "shared buffers with",
        "Order.Meta.indexes",
    ],
    ("07-recent-orders", "redundant"): [
        "GET /account/orders/ (a customer with 5 orders): SELECT ",
        "orders_order still has orders_order_customer_id_",
        "on (customer_id) alone",
        "db_index=False on Order.customer",
    ],
    ("07-recent-orders", "concurrently"): [
        # Through no index of its own, or one no statement built concurrently:
        # the naive dashboard's plan may take either.
        "CREATE INDEX CONCURRENTLY",
        "AddIndexConcurrently",
        "atomic = False",
    ],
    ("07-search", "trigram-index"): [
        "GET /products/?q=duct+",
        "Seq Scan on catalog_product",
        "rows of catalog_product to keep 1",
        "gin_trgm_ops",
    ],
    ("07-search", "buffers"): [
        "GET /products/?q=duct+",
        "shared buffers with",
        # The node that touched the most depends on the plan the sizes drawn
        # give; the fix named does not.
        "Most of them: ",
        'GinIndex(OpClass(Upper("name"), name="gin_trgm_ops")',
    ],
    ("08-concurrent-quotes", "in-flight"): [
        "asked Parcelpost, Swiftship and Cargoline one after another",
        "never more than 1 in flight",
        "shop_app/catalog/views.py:",
        "asyncio.gather()",
    ],
    ("08-slow-carriers", "slow"): [
        "answering after 4 s",
        "the page waited for the slowest carrier",
        "shop_app/catalog/shipping.py:",
        "asyncio.timeout(",
    ],
    ("08-slow-carriers", "failing"): [
        "answering 503",
        "One carrier's error failed the whole page",
        "shop_app/catalog/shipping.py:",
    ],
    ("09-nginx", "static"): [
        "GET https://localhost/static/admin/css/base.css reached Django",
        "shop_app/deploy/nginx.conf:",
        "location /static/",
    ],
    **{
        ("09-nginx", budget): [
            "Django did not see a secure request",
            "shop_app/deploy/nginx.conf:",
            "proxy_set_header X-Forwarded-Proto $scheme;",
        ]
        for budget in ("compressed", "secure")
    },
    ("09-nginx", "redirect"): [
        "GET http://localhost/products/?page=2 reached Django",
        "return 301 {{ https_origin }}$request_uri;",
    ],
    ("09-nginx", "upload"): [
        "with 5,000,000 bytes answered 413 from Nginx",
        "client_max_body_size 5m;",
    ],
    ("09-gunicorn", "workers"): [
        "Gunicorn runs 1 worker on a machine with",
        "shop_app/deploy/gunicorn.conf.py:",
        "2 x cores + 1",
    ],
    ("09-gunicorn", "connections"): [
        "20 requests for GET /products/ opened 20 connections to PostgreSQL",
        "shop_app/config/settings/deploy.py:",
        "CONN_MAX_AGE",
    ],
    ("09-gunicorn", "check-deploy"): [
        "check --deploy, with the deploy settings reported 3 issues",
        "security.W005 (SECURE_HSTS_INCLUDE_SUBDOMAINS = True)",
        "security.W012 (SESSION_COOKIE_SECURE = True)",
        "security.W021 (SECURE_HSTS_PRELOAD = True)",
        "shop_app/config/settings/deploy.py:20",
    ],
    ("10-error-reporting", "view-error"): [
        "POST /signup/ under Gunicorn",
        "the error receiver got no exception event",
        "shop_app/config/settings/base.py:",
        "sentry_sdk.init()",
    ],
    ("10-error-reporting", "task-error"): [
        "the welcome email's task, with the mail server down",
        "the error receiver got no exception event",
    ],
    ("10-metrics", "per-view"): [
        "GET /metrics with the scrape token",
        "answered 404",
        "shop_app/config/urls.py:",
        "prometheus_client's Histogram",
    ],
    ("10-metrics", "cache"): [
        "The run's Redis counted",
        "(one cold, then 3 warm), and GET /metrics with the scrape token answered 404",
        "shop_app/config/urls.py:",
    ],
    ("10-slow-queries", "slow-log"): [
        "The weekly sales report, a statement the run sent 3 times",
        "did not reach the server's log",
        "log_min_duration_statement is -1 in shop_app/deploy/postgresql.conf:",
    ],
    ("10-slow-queries", "top-statement"): [
        "slow_queries --limit 5 printed no statement",
        "pg_stat_statements ranks first the weekly sales report, 3 calls",
        "shop_app/ops/management/commands/slow_queries.py:",
    ],
    # The capstone's diagnoses name the signal, never the fix.
    ("11-query-per-row", "queries"): [
        "GET /brands/<slug>/ made",
        "Queries by endpoint, most first:",
        "shop_app/templates/catalog/brand_detail.html:",
    ],
    ("11-missing-index", "plan"): [
        "GET /lookup/?sku=<prefix>: SELECT ... FROM catalog_product",
        "ran Seq Scan on catalog_product",
        "by shared buffers touched in all",
    ],
    ("11-uncached-fragment", "warm"): [
        "Under the traffic, GET /brands/ ran SELECT ... FROM catalog_product",
        "hit the cache 0 times",
        "shop_app/catalog/ratings.py:",
    ],
}
# What a diagnosis says only at the start of its lesson, with every earlier
# lesson's fix in: there the capstone's planted lookup is the top entry of
# pg_stat_statements under the traffic, by the signal the learner is taught.
AT_START = {
    ("11-missing-index", "buffers"): [
        "pg_stat_statements ranks it first of the",
        "by shared buffers touched in all",
    ],
}
_PLACE = re.compile(r"shop_app/\S+:\d+")


def _messages(outcome):
    return {b.budget: b.message for b in outcome.budgets if not b.passed}


def _failure(outcome):
    """Say what failed in full, with the seed that reproduces it.

    A plain string: pytest shortens the repr of a tuple or dict in the middle.
    """
    failed = "\n".join(f"  {b}: {m}" for b, m in _messages(outcome).items())
    return f"{outcome.id} (seed {outcome.seed}): {outcome.reason or ''}\n{failed}"


def _assert_diagnosed(outcomes, lesson, expected=DIAGNOSES):
    for outcome in outcomes:
        if not outcome.id.startswith(lesson):
            continue
        failed = _messages(outcome)
        for (exercise, budget), parts in expected.items():
            if exercise == outcome.id:
                message = failed.get(budget, "")
                missing = [part for part in parts if part not in message]
                assert not missing, f"{exercise} {budget}: {missing} not in {message!r}"


# A grading: how many of the course's patches the shop has, in order, and
# the exercises graded on it.
Job = tuple[int, tuple[str, ...]]
ALL = tuple(e.id for e in COURSE_EXERCISES)
NAIVE: Job = (0, ALL)
SOLVED: Job = (len(ALL), ALL)


def _next_lesson(exercises, exercise):
    """Return the exercises of the lesson after `exercise`'s, if it ends its lesson."""
    lessons = sorted({e.lesson for e in exercises})
    own = [e for e in exercises if e.lesson == exercise.lesson]
    following = lessons.index(exercise.lesson) + 1
    if exercise != own[-1] or following == len(lessons):
        return []
    return [e for e in exercises if e.lesson == lessons[following]]


def _patch_job(position: int) -> Job:
    """Grade patch `position`'s exercise on top of the earlier patches.

    The end of a lesson is the start of the next: its exercises fail there
    with their own diagnosis, no longer the earlier lesson's.
    """
    exercise = COURSE_EXERCISES[position - 1]
    following = _next_lesson(COURSE_EXERCISES, exercise)
    return (position, (exercise.id, *(e.id for e in following)))


def _job_of(item: pytest.Item) -> Job | None:
    """Return the grading a test of this module reads, if it reads one."""
    name = getattr(item, "originalname", item.name)
    if name.startswith("test_on_the_naive_shop_"):
        return NAIVE
    if name == "test_each_patch_on_top_of_the_earlier_ones_passes_its_exercise":
        return _patch_job(item.callspec.params["position"])
    if name == "test_with_every_patch_every_exercise_passes":
        return SOLVED
    return None


class Gradings:
    """Grade the shops the selected tests read, two at a time, in the background.

    Each run has a database, a Redis and a broker of its own, and a run
    spends about half its time waiting on the shop's processes, so two runs
    at once on two cores take little more than one.
    """

    def __init__(self, grade, folders: pytest.TempPathFactory) -> None:
        self._grade = grade
        self._folders = folders
        self._pool = ThreadPoolExecutor(max_workers=2)
        self._started: dict[Job, Future] = {}

    def start(self, job: Job) -> None:
        if job not in self._started:
            root = self._folders.mktemp(f"after-{job[0]}")
            self._started[job] = self._pool.submit(self._run, job, root)

    def _run(self, job: Job, root: Path) -> list:
        count, chosen = job
        shop_copy(root, [e.solution for e in COURSE_EXERCISES[:count]])
        return self._grade(root, [e for e in COURSE_EXERCISES if e.id in chosen])

    def outcomes(self, job: Job) -> list:
        self.start(job)
        return self._started[job].result()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


@pytest.fixture(scope="module")
def gradings(request, tmp_path_factory, grade) -> Iterator[Gradings]:
    """Start every grading the session's tests of this module read, longest first."""
    here = Path(__file__)
    jobs = [_job_of(item) for item in request.session.items if item.path == here]
    wanted = [job for job in dict.fromkeys(jobs) if job is not None]
    scheduler = Gradings(grade, tmp_path_factory)
    for job in sorted(wanted, key=lambda job: -len(job[1])):
        scheduler.start(job)
    yield scheduler
    scheduler.close()


@pytest.fixture(scope="module")
def naive_outcomes(gradings):
    return gradings.outcomes(NAIVE)


def test_on_the_naive_shop_every_exercise_fails_naming_a_place_in_the_shop(
    naive_outcomes, exercises
):
    assert [o.id for o in naive_outcomes] == [e.id for e in exercises]
    for outcome in naive_outcomes:
        assert outcome.status == "failed", (outcome.id, outcome.reason)
        for budget, message in _messages(outcome).items():
            if budget != "same-output":
                assert _PLACE.search(message), (outcome.id, budget, message)


def test_on_the_naive_shop_lesson_1_and_3_diagnoses_name_relation_and_fix(
    naive_outcomes,
):
    _assert_diagnosed(naive_outcomes, "01")
    _assert_diagnosed(naive_outcomes, "03")


def test_on_the_naive_shop_lesson_7_diagnoses_name_the_plan_node_and_the_index(
    naive_outcomes,
):
    _assert_diagnosed(naive_outcomes, "07")


def test_on_the_naive_shop_lesson_8_diagnoses_name_the_carriers_in_flight(
    naive_outcomes,
):
    _assert_diagnosed(naive_outcomes, "08")


def test_on_the_naive_shop_lesson_9_diagnoses_name_the_directive_and_the_count(
    naive_outcomes,
):
    _assert_diagnosed(naive_outcomes, "09")


def test_on_the_naive_shop_lesson_10_diagnoses_name_the_missing_signal(
    naive_outcomes,
):
    _assert_diagnosed(naive_outcomes, "10")


def test_on_the_naive_shop_lesson_11_diagnoses_name_the_signal_not_the_fix(
    naive_outcomes,
):
    _assert_diagnosed(naive_outcomes, "11")


def test_on_the_naive_shop_the_pages_still_show_the_same_output(naive_outcomes):
    for outcome in naive_outcomes:
        same = [b for b in outcome.budgets if b.budget == "same-output"]
        assert all(budget.passed for budget in same), (outcome.id, same)


@pytest.mark.parametrize("position", range(1, len(COURSE_EXERCISES) + 1))
def test_each_patch_on_top_of_the_earlier_ones_passes_its_exercise(gradings, position):
    job = _patch_job(position)

    outcomes = gradings.outcomes(job)

    assert outcomes[0].status == "passed", _failure(outcomes[0])
    following = outcomes[1:]
    assert [o.status for o in following] == ["failed"] * len(following)
    if following:
        lesson = COURSE_EXERCISES[position].lesson
        _assert_diagnosed(following, lesson)
        _assert_diagnosed(following, lesson, AT_START)


@pytest.fixture(scope="module")
def solved_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("solved")
    return shop_copy(root, [e.solution for e in COURSE_EXERCISES])


def test_with_every_patch_every_exercise_passes(gradings, exercises):
    outcomes = gradings.outcomes(SOLVED)

    failed = "\n".join(_failure(o) for o in outcomes if o.points < o.max_points)
    assert [(o.id, o.status, o.points) for o in outcomes] == [
        (e.id, "passed", e.total_points) for e in exercises
    ], failed


def test_with_every_patch_no_marker_of_those_lessons_is_left(solved_root):
    numbers = "".join(str(int(lesson)) for lesson in LESSONS)
    markers = subprocess.run(
        ["grep", "-rn", rf"TODO(lesson [{numbers}])", "shop_app"],
        cwd=solved_root,
        capture_output=True,
        text=True,
    )

    assert markers.stdout == ""


def test_with_every_patch_the_shops_own_tests_still_pass(solved_root):
    name = f"lessons_shop_{os.getpid()}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(name),
        "CACHE_KEY_PREFIX": name,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PYTHONPATH": str(solved_root / "shop_app"),
        "COURSE_ROOT": str(REPO),
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "shop_app"],
        cwd=solved_root,
        env=env,
        capture_output=True,
        text=True,
    )

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
