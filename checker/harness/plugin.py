"""The trusted side's pytest plugin: one shop under test per run, driven apart.

Loaded with `-p checker.harness.plugin` by the runner, in a pytest process
that never imports the submission's code. The run's settings come from the
JSON file named in COURSE_HARNESS (see `checker.harness.plan.RunPlan`): the
shop's folder, the seed, the sandbox. The session starts the run's own
services and the shop's process; each test starts on emptied tables.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from checker.harness.database import stand_ins
from checker.harness.plan import RunPlan
from checker.harness.run import ShopRun
from checker.harness.shop import Shop
from checker.harness.workers import Workers, broker_clear

__all__ = ["media", "shop", "shop_run", "staff", "trusted_sql", "workers"]

_RUN = pytest.StashKey[ShopRun]()


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    # Budgets and page readers use Django's own helpers (number formats, SQL
    # normalisation), never the shop's: a bare configuration is enough.
    if not settings.configured:
        settings.configure(USE_TZ=True, TIME_ZONE="UTC")
        import django

        django.setup()


@pytest.fixture(scope="session")
def shop_run(pytestconfig: pytest.Config) -> Iterator[ShopRun]:
    """Start the run's services and the shop's process, once per run."""
    run = ShopRun(RunPlan.from_environment())
    pytestconfig.stash[_RUN] = run
    try:
        run.start()
        yield run
    finally:
        run.stop()


def _tables_only(run: ShopRun) -> None:
    assert run.database is not None
    found = stand_ins(run=run.database)
    if found:
        raise AssertionError(
            f"The shop's schema holds {', '.join(found)}: views or row security"
            " in front of the shop's tables. Grading reads the tables as they"
            " are; drop them."
        )


@pytest.fixture
def shop(shop_run: ShopRun) -> Iterator[Shop]:
    """Yield the shop under test, its tables emptied and nothing in front of them."""
    shop_run.shop.reset()
    shop_run.shop.disagreements.clear()
    _tables_only(shop_run)
    yield shop_run.shop
    _tables_only(shop_run)


@pytest.fixture
def staff(shop: Shop) -> str:
    """Return the username of a staff member, built on the emptied tables."""
    return str(shop.build("staff_make")["username"])


@pytest.fixture
def media(shop_run: ShopRun) -> Path:
    """Return the run's media folder, the shop's and its workers' MEDIA_ROOT."""
    return shop_run.plan.folder / "media"


@pytest.fixture
def trusted_sql(shop_run: ShopRun) -> Iterator[Any]:
    """Yield a superuser connection to the run's database, for expected rows."""
    connection = shop_run.trusted_connection()
    # The shop shows dates in UTC (TIME_ZONE); read them the same way.
    connection.execute("SET TIME ZONE 'UTC'")
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def workers(shop: Shop, shop_run: ShopRun) -> Iterator[Workers]:
    """Start workers on an empty broker; kill them after the test."""
    broker_clear(shop.redis)
    started = Workers(shop_run)
    try:
        yield started
    finally:
        started.stop_all()
        broker_clear(shop.redis)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    # Noted on the item before its report is made, so the results file
    # carries the line whether the budget was met or not.
    try:
        return (yield)
    finally:
        run = item.config.stash.get(_RUN, None)
        current = run.current if run is not None else None
        if current is not None and current.disagreements:
            item.user_properties.append(("disagreement", current.disagreements[0]))
