"""Reads of the blog: every queryset a page shows is built here."""

from django.core.cache import cache
from django.db.models import QuerySet

from blog.models import Author, Post


def post_list() -> QuerySet[Post]:
    """Return the posts, newest first, for the list page."""
    return Post.objects.order_by("-published")


def post_count() -> int:
    """Return how many posts there are, cached for a minute."""
    return cache.get_or_set("blog:post-count", Post.objects.count, 60)


def sidebar_authors() -> list[tuple[Author, Post | None]]:
    """Return the first three authors, each with their latest post."""
    authors = Author.objects.order_by("name")[:3]
    return [(author, author.posts.order_by("-published").first()) for author in authors]
