"""The read-write-read scenario on the real Redis: stale reads found, fresh ones not."""

import copy
import uuid

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test.utils import override_settings

from checker.budgets import BudgetExceeded, assert_within
from checker.budgets.cache import no_stale_reads
from checker.invalidation import check_invalidation, fresh_render
from tests.checker_testapp import cache_views

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db,
    pytest.mark.urls("tests.checker_testapp.cache_urls"),
]


@pytest.fixture(autouse=True)
def fresh_cache():
    """Give the default cache a key prefix of its own, emptied afterwards."""
    configured = copy.deepcopy(settings.CACHES)
    configured["default"]["KEY_PREFIX"] = f"checker-{uuid.uuid4().hex[:8]}"
    with override_settings(CACHES=configured):
        yield cache
        cache.delete_pattern("*")


@pytest.fixture(autouse=True)
def ada():
    return User.objects.create(username="ada")


def test_a_cached_page_not_invalidated_on_write_is_reported_stale(client):
    result = check_invalidation(
        lambda: client.get("/page/"),
        lambda: User.objects.create(username="zoe"),
        label="GET /page/",
    )
    assert result.stale
    assert (result.before, result.after, result.fresh) == ("ada", "ada", "ada, zoe")
    with pytest.raises(BudgetExceeded) as raised:
        assert_within(result, no_stale_reads())
    assert str(raised.value) == (
        "GET /page/ was stale after the write: it differs from a fresh, uncached "
        "read (budget: no stale reads after a write).\n"
        "--- fresh (uncached)\n"
        "+++ served after the write\n"
        "@@ -1 +1 @@\n"
        "-ada, zoe\n"
        "+ada\n"
        "Delete or update the cached entry where the data is written "
        "(cache.delete(key) in the service, or a post_save/post_delete signal), "
        "or put a version in the key."
    )


def test_a_write_that_deletes_the_cached_key_reads_fresh(client):
    result = check_invalidation(
        lambda: client.get("/low-level/"),
        lambda: cache_views.user_create(username="zoe"),
        label="GET /low-level/",
    )
    assert not result.stale
    assert result.changed
    assert result.diff == []
    verdict = no_stale_reads().check(result)
    assert verdict.met
    assert verdict.message == "GET /low-level/ matched a fresh read after the write."


def test_a_write_the_read_does_not_show_proves_nothing(client):
    result = check_invalidation(
        lambda: client.get("/page/"),
        lambda: User.objects.filter(username="ada").update(first_name="Ada"),
        label="GET /page/",
    )
    assert not result.stale
    assert not result.changed
    verdict = no_stale_reads().check(result)
    assert not verdict.met
    assert verdict.message == (
        "GET /page/ did not change after the write, even uncached (budget: no "
        "stale reads after a write). The scenario proves nothing: write something "
        "the read shows."
    )


def test_the_fresh_render_leaves_the_stale_entry_in_place(client):
    check_invalidation(
        lambda: client.get("/fragment/"),
        lambda: User.objects.create(username="zoe"),
    )
    assert client.get("/fragment/").content == b"<ul><li>ada</li></ul>"


def test_a_fresh_render_reads_the_database_through_the_code(client):
    client.get("/low-level/")
    User.objects.create(username="zoe")
    assert client.get("/low-level/").content == b"ada"
    assert fresh_render(lambda: client.get("/low-level/")) == "ada, zoe"


def test_a_callable_returning_data_is_compared_as_data():
    def read():
        return cache.get_or_set("names", lambda: list(cache_views.usernames()), 60)

    result = check_invalidation(read, lambda: User.objects.create(username="zoe"))
    assert result.stale
    assert result.diff[-2:] == ["-['ada', 'zoe']", "+['ada']"]
