"""N+1s found in one block raise or warn, by setting or per block, and are signalled."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from checker.budgets import BudgetExceeded, no_n_plus_one_queries, queries_at_most
from checker.detect import NPlusOne, NPlusOneDetected, NPlusOneWarning
from checker.signals import n_plus_one_detected
from tests.checker.conftest import loop_line
from tests.checker_testapp.data import library_create

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.checker_testapp.urls")]

AUTHOR_BY_ID = "SELECT ... FROM checker_testapp_author WHERE id = # LIMIT #"


def raised(label: str = "naive loop") -> str:
    return (
        f"{label} made 6 queries (budget: no N+1). 5 similar: {AUTHOR_BY_ID} — from"
        f' {loop_line()} via Book.author. Try select_related("author").'
    )


def warned(label: str = "naive loop") -> str:
    return (
        f"{label} ran an N+1: 5 similar: {AUTHOR_BY_ID} — from {loop_line()} via"
        ' Book.author. Try select_related("author").'
    )


@pytest.fixture
def library():
    library_create(books=5)


def books_create(count):
    library_create(books=count)


@pytest.fixture
def signalled():
    found: list[NPlusOne] = []

    def receive(sender, n_plus_one, **kwargs):
        assert sender is NPlusOne
        found.append(n_plus_one)

    n_plus_one_detected.connect(receive)
    yield found
    n_plus_one_detected.disconnect(receive)


def test_an_n_plus_one_raises_with_its_diagnosis(client, no_n_plus_one, library):
    with pytest.raises(NPlusOneDetected) as excinfo:  # noqa: SIM117
        with no_n_plus_one("naive loop"):
            client.get("/loop/naive/")

    assert excinfo.value.args == (raised(),)
    assert isinstance(excinfo.value, BudgetExceeded)


def test_a_block_without_an_n_plus_one_passes(client, no_n_plus_one, library):
    with no_n_plus_one("fixed loop") as measurement:
        client.get("/loop/fixed/")

    assert measurement.query_count == 1


def test_the_setting_turns_raising_into_a_warning(
    client, no_n_plus_one, settings, library
):
    settings.CHECKER_NPLUSONE_MODE = "warn"

    with pytest.warns(NPlusOneWarning) as record, no_n_plus_one("naive loop"):
        client.get("/loop/naive/")

    assert [str(warning.message) for warning in record] == [warned()]


def test_a_block_may_warn_where_the_setting_raises(client, no_n_plus_one, library):
    with pytest.warns(NPlusOneWarning) as record:  # noqa: SIM117
        with no_n_plus_one("naive loop", mode="warn"):
            client.get("/loop/naive/")

    assert [str(warning.message) for warning in record] == [warned()]


def test_a_block_may_raise_where_the_setting_warns(
    client, no_n_plus_one, settings, library
):
    settings.CHECKER_NPLUSONE_MODE = "warn"

    with pytest.raises(NPlusOneDetected) as excinfo:  # noqa: SIM117
        with no_n_plus_one("naive loop", mode="raise"):
            client.get("/loop/naive/")

    assert excinfo.value.args == (raised(),)


def test_a_mode_that_is_neither_says_which_there_are(
    client, no_n_plus_one, settings, library
):
    settings.CHECKER_NPLUSONE_MODE = "log"

    with pytest.raises(ImproperlyConfigured) as excinfo:  # noqa: SIM117
        with no_n_plus_one("naive loop"):
            client.get("/loop/naive/")

    assert excinfo.value.args == (
        "CHECKER_NPLUSONE_MODE (or mode=) is 'log': use \"raise\" to fail on an"
        ' N+1 or "warn" to report it and go on.',
    )


def test_the_signal_carries_each_n_plus_one_found(
    client, no_n_plus_one, signalled, library
):
    with pytest.raises(NPlusOneDetected), no_n_plus_one("naive loop"):
        client.get("/loop/naive/")

    assert [found.to_dict() for found in signalled] == [
        {
            "label": "naive loop",
            "relation": "Book.author",
            "origin": loop_line(),
            "count": 5,
            "fix": 'Try select_related("author").',
            "message": warned(),
        }
    ]


def test_the_signal_is_sent_in_warning_mode_too(
    client, no_n_plus_one, signalled, library
):
    with pytest.warns(NPlusOneWarning), no_n_plus_one("naive loop", mode="warn"):
        client.get("/loop/naive/")

    assert [found.relation for found in signalled] == ["Book.author"]


def test_no_signal_without_an_n_plus_one(client, no_n_plus_one, signalled, library):
    with no_n_plus_one("fixed loop"):
        client.get("/loop/fixed/")
    with no_n_plus_one("one author"):
        client.get("/first-author/")

    assert signalled == []


def test_no_signal_for_an_allowed_n_plus_one(
    client, library, no_n_plus_one, signalled, settings
):
    settings.CHECKER_NPLUSONE_ALLOW = ["Book.author"]

    with no_n_plus_one("naive loop"):
        client.get("/loop/naive/")

    assert signalled == []


def test_queries_that_grow_with_the_rows_fail_the_constant_assertion(
    client, assert_queries_constant
):
    with pytest.raises(BudgetExceeded) as excinfo:
        assert_queries_constant(
            books_create, lambda: client.get("/loop/naive/"), noun="books"
        )

    assert excinfo.value.args == (
        "The measured code made 21 queries with 20 books and 6 with 5 books (budget:"
        f" constant in the number of books). 20 similar: {AUTHOR_BY_ID} — from"
        f' {loop_line()} via Book.author. Try select_related("author").',
    )


def test_queries_constant_in_the_rows_pass_the_constant_assertion(
    client, assert_queries_constant
):
    growth = assert_queries_constant(
        books_create, lambda: client.get("/loop/fixed/"), noun="books"
    )

    assert growth.counts == (1, 1)


def test_a_block_over_its_budget_fails_with_the_budget_message(
    client, within_budget, library
):
    with pytest.raises(BudgetExceeded) as excinfo:  # noqa: SIM117
        with within_budget(queries_at_most(2), label="naive loop"):
            client.get("/loop/naive/")

    assert excinfo.value.args == (
        "naive loop made 6 queries (budget: at most 2). 5 similar:"
        f" {AUTHOR_BY_ID} — from {loop_line()} via Book.author. Try"
        ' select_related("author").',
    )


def test_a_block_within_its_budget_passes(client, within_budget, library):
    with within_budget(queries_at_most(2), label="fixed loop") as measurement:
        client.get("/loop/fixed/")

    assert measurement.query_count == 1


def test_the_n_plus_one_budget_fails_a_block_with_the_same_message(
    client, within_budget, library
):
    with pytest.raises(BudgetExceeded) as excinfo:  # noqa: SIM117
        with within_budget(no_n_plus_one_queries(), label="naive loop"):
            client.get("/loop/naive/")

    assert excinfo.value.args == (raised(),)


def test_the_n_plus_one_budget_passes_a_block_without_one(
    client, within_budget, library
):
    with within_budget(no_n_plus_one_queries(), label="one author"):
        client.get("/first-author/")
