"""The blog's pages stay cheap: no N+1, queries constant in the posts, a warm cache."""

from datetime import UTC, datetime, timedelta

import pytest
from checker.budgets import queries_at_most
from checker.budgets.cache import cache_hits_at_least

from blog.models import Author, Post

pytestmark = pytest.mark.django_db


def posts_create(count: int) -> None:
    """Create `count` posts, each by an author of its own."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for number in range(count):
        author = Author.objects.create(name=f"Author {number}")
        Post.objects.create(
            title=f"Post {number}", author=author, published=start + timedelta(number)
        )


def test_the_post_list_runs_no_n_plus_one(client, no_n_plus_one):
    posts_create(3)

    with no_n_plus_one("GET /posts/"):
        response = client.get("/posts/")

    assert response.status_code == 200


def test_the_post_list_queries_stay_constant_in_the_posts(
    client, assert_queries_constant
):
    assert_queries_constant(
        posts_create, lambda: client.get("/posts/"), noun="posts", label="GET /posts/"
    )


def test_the_home_page_counts_posts_from_the_cache_once_warm(client, within_budget):
    posts_create(2)
    client.get("/")

    with within_budget(
        cache_hits_at_least(1), queries_at_most(0), label="GET / (warm)"
    ):
        response = client.get("/")

    assert response.content == b"2 posts"
