"""Public pytest fixtures of the checker, registered by `checker.plugin`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from checker.growth import Growth
    from checker.measure import Measurement

__all__ = [
    "assert_queries_constant",
    "course_growth",
    "course_measure",
    "measure_request",
    "no_n_plus_one",
    "within_budget",
]


@pytest.fixture
def course_measure() -> Callable[..., AbstractContextManager[Measurement]]:
    """Return `checker.measure.measure`, the context manager that measures a block."""
    from checker.measure import measure

    return measure


@pytest.fixture
def course_growth() -> Callable[..., Growth]:
    """Return `checker.growth.measure_growth`, which runs a scenario at two sizes."""
    from checker.growth import measure_growth

    return measure_growth


@pytest.fixture
def measure_request(
    request: pytest.FixtureRequest,
) -> Callable[..., tuple[Any, Measurement]]:
    """Return a function that requests a path with the test client and measures it."""
    from checker.measure import measure

    def measure_one(
        path: str, *, method: str = "get", client: Any = None, **options: Any
    ) -> tuple[Any, Measurement]:
        client = client or request.getfixturevalue("client")
        with measure(f"{method.upper()} {path}", **options) as measurement:
            response = getattr(client, method.lower())(path)
        return response, measurement

    return measure_one


@pytest.fixture
def no_n_plus_one() -> Callable[..., AbstractContextManager[Measurement]]:
    """Return `checker.detect.no_n_plus_one`: raise or warn on an N+1 in a block."""
    from checker.detect import no_n_plus_one

    return no_n_plus_one


@pytest.fixture
def assert_queries_constant() -> Callable[..., Growth]:
    """Return `checker.assertions.assert_queries_constant`: no growth at two sizes."""
    from checker.assertions import assert_queries_constant

    return assert_queries_constant


@pytest.fixture
def within_budget() -> Callable[..., AbstractContextManager[Measurement]]:
    """Return `checker.assertions.within_budget`: assert budgets on a block."""
    from checker.assertions import within_budget

    return within_budget


# --- Celery worker fixtures (checker.worker) ---------------------------------

if TYPE_CHECKING:
    from collections.abc import Iterator

    from checker.worker import CeleryWorker

__all__ += ["course_worker", "course_worker_factory", "course_worker_process"]


def _new_worker(
    *, queue: str | None = None, environment: dict[str, str] | None = None
) -> CeleryWorker:
    """Return a worker on the test's settings, test database and broker."""
    from celery import current_app
    from django.conf import settings
    from django.db import connection

    from checker.services import service_urls
    from checker.worker import CeleryWorker, database_url

    return CeleryWorker(
        broker_url=current_app.conf.broker_url,
        outcomes_url=service_urls().redis,
        database_url=database_url(connection.settings_dict),
        # Inside the `settings` fixture's overrides, SETTINGS_MODULE is None.
        settings_module=settings.SETTINGS_MODULE
        or os.environ["DJANGO_SETTINGS_MODULE"],
        queue=queue,
        environment=environment,
    )


@pytest.fixture(scope="session")
def course_worker_process(
    django_db_setup: None,
) -> Iterator[CeleryWorker]:
    """Run one real Celery worker for the session, on the test database."""
    worker = _new_worker()
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def course_worker(course_worker_process: CeleryWorker) -> Iterator[CeleryWorker]:
    """Route tasks published without a queue to the session's worker."""
    # The worker consumes a queue named for this run only, so messages left
    # on the broker by earlier runs never reach it.
    with course_worker_process.routed():
        yield course_worker_process


@pytest.fixture
def course_worker_factory(
    django_db_setup: None,
) -> Iterator[Callable[..., CeleryWorker]]:
    """Return a function that starts a worker of its own; stop them all after."""
    workers: list[CeleryWorker] = []

    def start(
        *, environment: dict[str, str] | None = None, queue: str | None = None
    ) -> CeleryWorker:
        worker = _new_worker(queue=queue, environment=environment)
        workers.append(worker)
        worker.start()
        return worker

    yield start
    for worker in reversed(workers):
        worker.stop()


# --- end of the Celery worker fixtures ----------------------------------------
