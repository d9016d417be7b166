"""The development middleware raises or logs each request's N+1 with its diagnosis."""

import logging

import pytest

from checker.detect import NPlusOne, NPlusOneDetected
from checker.signals import n_plus_one_detected
from tests.checker.conftest import loop_line
from tests.checker_testapp.data import library_create

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.checker_testapp.urls")]

DIAGNOSIS = (
    "5 similar: SELECT ... FROM checker_testapp_author WHERE id = # LIMIT # — from"
    ' {line} via Book.author. Try select_related("author").'
)


def diagnosis() -> str:
    return DIAGNOSIS.format(line=loop_line())


@pytest.fixture(autouse=True)
def development(settings):
    """Run with DEBUG on and the middleware installed, as runserver would."""
    settings.DEBUG = True
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "checker.middleware.NPlusOneMiddleware",
    ]
    library_create(books=5)


def records(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "checker.nplusone"]


def test_in_raise_mode_a_request_with_an_n_plus_one_fails_with_it(client, caplog):
    with pytest.raises(NPlusOneDetected) as excinfo:
        client.get("/loop/naive/")

    assert excinfo.value.args == (
        f"GET /loop/naive/ made 6 queries (budget: no N+1). {diagnosis()}",
    )
    assert records(caplog) == []


def test_in_raise_mode_a_request_without_one_goes_through(client, caplog):
    response = client.get("/loop/fixed/?page=1")

    assert response.status_code == 200
    assert records(caplog) == []


def test_in_warn_mode_the_n_plus_one_is_logged_and_the_page_served(
    client, settings, caplog
):
    settings.CHECKER_NPLUSONE_MODE = "warn"

    with caplog.at_level(logging.WARNING, logger="checker.nplusone"):
        response = client.get("/loop/naive/?page=2")

    assert response.status_code == 200
    assert records(caplog) == [f"GET /loop/naive/?page=2 ran an N+1: {diagnosis()}"]


def test_in_warn_mode_a_request_without_one_logs_nothing(client, settings, caplog):
    settings.CHECKER_NPLUSONE_MODE = "warn"

    with caplog.at_level(logging.WARNING, logger="checker.nplusone"):
        response = client.get("/loop/fixed/")

    assert response.status_code == 200
    assert records(caplog) == []


def test_an_allowed_n_plus_one_neither_raises_nor_logs(client, settings, caplog):
    settings.CHECKER_NPLUSONE_ALLOW = ["Book.author @ loop_naive"]

    with caplog.at_level(logging.WARNING, logger="checker.nplusone"):
        response = client.get("/loop/naive/")

    assert response.status_code == 200
    assert records(caplog) == []


def test_the_middleware_sends_the_signal(client, settings):
    settings.CHECKER_NPLUSONE_MODE = "warn"
    found = []

    def receive(sender, n_plus_one, **kwargs):
        found.append(n_plus_one)

    n_plus_one_detected.connect(receive)
    try:
        client.get("/loop/naive/")
        client.get("/loop/fixed/")
    finally:
        n_plus_one_detected.disconnect(receive)

    assert [(n.label, n.relation) for n in found] == [
        ("GET /loop/naive/", "Book.author")
    ]
    assert all(isinstance(n, NPlusOne) for n in found)


def test_a_stale_entry_is_logged_when_the_middleware_loads(client, settings, caplog):
    settings.CHECKER_NPLUSONE_ALLOW = ["Book.writer", "Book.author"]

    with caplog.at_level(logging.WARNING, logger="checker.nplusone"):
        client.get("/loop/fixed/")

    assert records(caplog) == [
        "CHECKER_NPLUSONE_ALLOW entry 'Book.writer' is stale: Book has no relation"
        " writer. Remove it or name the relation and call site as they are now."
    ]


def test_with_debug_off_the_middleware_stands_aside(client, settings, caplog):
    settings.DEBUG = False

    with caplog.at_level(logging.WARNING, logger="checker.nplusone"):
        response = client.get("/loop/naive/")

    assert response.status_code == 200
    assert records(caplog) == []
