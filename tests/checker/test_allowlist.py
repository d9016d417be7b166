"""Accepted N+1s: an allow-list entry silences its own, and says when it is stale."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from checker.allowlist import AllowEntry, Allowlist, missing_entries, stale_entries
from checker.detect import NPlusOneDetected
from checker.origins import ProjectCode
from tests.checker.conftest import ROOTS, loop_line
from tests.checker_testapp.data import library_create

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.checker_testapp.urls")]

REPO = Path(__file__).resolve().parents[2]
VIEWS = "tests/checker_testapp/views.py"


@pytest.fixture
def library():
    library_create(books=5)


@pytest.mark.parametrize(
    "entry",
    [
        "Book.author",
        f"Book.author @ {loop_line()}",
        f"Book.author @ {VIEWS}",
        "Book.author @ loop_naive",
        "Book.author @ tests.checker_testapp.views.loop_naive",
    ],
)
def test_a_matching_entry_silences_the_n_plus_one(
    client, library, no_n_plus_one, settings, entry
):
    settings.CHECKER_NPLUSONE_ALLOW = [entry]

    with no_n_plus_one("naive loop"):
        client.get("/loop/naive/")

    assert stale_entries() == []


def test_an_entry_matches_a_template_line(client, library, no_n_plus_one, settings):
    template = "tests/checker_testapp/templates/checker_testapp/book_list.html"
    [line] = [
        number
        for number, text in enumerate((REPO / template).read_text().splitlines(), 1)
        if "book.author" in text
    ]
    settings.CHECKER_NPLUSONE_ALLOW = [f"Book.author @ {template}:{line}"]

    with no_n_plus_one("naive template"):
        client.get("/template/naive/")


@pytest.mark.parametrize(
    "entry",
    [
        "Book.tags",
        "Book.author @ loop_fixed",
        "Book.author @ tests/checker_testapp/loads.py",
        f"Book.author @ {VIEWS}:1",
    ],
)
def test_an_entry_for_another_relation_or_call_site_does_not_silence(
    client, library, no_n_plus_one, settings, entry
):
    settings.CHECKER_NPLUSONE_ALLOW = [entry]

    with pytest.raises(NPlusOneDetected) as excinfo:  # noqa: SIM117
        with no_n_plus_one("naive loop"):
            client.get("/loop/naive/")

    assert "via Book.author." in str(excinfo.value)
    assert stale_entries() == [AllowEntry.parse(entry)]


def test_an_entry_that_matched_nothing_is_stale(
    client, library, no_n_plus_one, settings
):
    settings.CHECKER_NPLUSONE_ALLOW = ["Book.author", "Author.books @ reverse_naive"]

    with no_n_plus_one("naive loop"):
        client.get("/loop/naive/")

    assert [str(entry) for entry in stale_entries()] == ["Author.books @ reverse_naive"]


def test_no_entry_is_stale_before_anything_was_checked(settings):
    settings.CHECKER_NPLUSONE_ALLOW = ["Book.author"]

    assert stale_entries() == []


def test_entries_naming_what_no_longer_exists_are_missing(settings):
    settings.CHECKER_NPLUSONE_ALLOW = [
        "Book.author",
        f"Book.author @ {loop_line()}",
        "Book.author @ loop_naive",
        "Novel.author",
        "Book.writer",
        "Book.author @ tests/checker_testapp/gone.py",
        f"Book.author @ {VIEWS}:9999",
        "Book.author @ no_such_view",
    ]
    project = ProjectCode(roots=tuple(ROOTS))

    found = missing_entries(Allowlist.from_settings(), project)

    assert [(str(entry), why) for entry, why in found] == [
        ("Novel.author", "no installed model is named Novel"),
        ("Book.writer", "Book has no relation writer"),
        (
            "Book.author @ tests/checker_testapp/gone.py",
            "tests/checker_testapp/gone.py does not exist",
        ),
        (f"Book.author @ {VIEWS}:9999", f"{VIEWS} has fewer than 9999 lines"),
        (
            "Book.author @ no_such_view",
            "no function no_such_view in the project's code",
        ),
    ]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "Book.author",
            "CHECKER_NPLUSONE_ALLOW is 'Book.author': make it a list of strings"
            ' like "Post.author @ blog/views.py:12".',
        ),
        (
            ["author"],
            "CHECKER_NPLUSONE_ALLOW entry 'author' does not start with Model.field:"
            ' write the model\'s class name and the relation, as in "Post.author".',
        ),
        (
            ["Book.author @"],
            "CHECKER_NPLUSONE_ALLOW entry 'Book.author @' has nothing after @: name"
            ' a call site (blog/views.py:12, or a function) or drop the "@".',
        ),
        (
            [("Book.author", "views.py:3")],
            "CHECKER_NPLUSONE_ALLOW holds ('Book.author', 'views.py:3'): each entry"
            ' is a string like "Post.author" or "Post.author @ blog/views.py:12".',
        ),
    ],
)
def test_a_malformed_allow_list_says_what_to_write(settings, setting, message):
    settings.CHECKER_NPLUSONE_ALLOW = setting

    with pytest.raises(ImproperlyConfigured) as excinfo:
        Allowlist.from_settings()

    assert excinfo.value.args == (message,)


SESSION = """
from checker.detect import no_n_plus_one


def test_checks_an_empty_block(settings):
    settings.CHECKER_NPLUSONE_ALLOW = ["Book.author @ loop_naive"]
    with no_n_plus_one("nothing"):
        pass
"""


def test_the_session_ends_by_listing_the_stale_entries(tmp_path):
    (tmp_path / "test_session.py").write_text(SESSION)
    (tmp_path / "pytest.ini").write_text(
        textwrap.dedent(
            f"""\
            [pytest]
            DJANGO_SETTINGS_MODULE = tests.settings
            pythonpath = {REPO / "shop_app"} {REPO}
            """
        )
    )

    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stdout
    summary = completed.stdout.split("stale CHECKER_NPLUSONE_ALLOW entries", 1)[1]
    assert summary.splitlines()[1:3] == [
        "Book.author @ loop_naive: matched no N+1 in this session",
        "Remove them from CHECKER_NPLUSONE_ALLOW, or run the tests that cover"
        " them: an entry is stale once the N+1 it accepted is gone.",
    ]
