"""Views that cache in each of Django's ways, for the cache recorder's tests."""

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.views.decorators.cache import cache_page

USERNAMES_KEY = "checker:usernames"
_FRAGMENT = (
    "{% load cache %}<ul>{% cache 60 usernames %}"
    "{% for name in names %}<li>{{ name }}</li>{% endfor %}"
    "{% endcache %}</ul>"
)


def usernames() -> QuerySet[User, str]:
    """Return the usernames in order, lazily."""
    return User.objects.order_by("username").values_list("username", flat=True)


def user_create(*, username: str) -> User:
    """Create a user and drop the cached list that now misses them."""
    user = User.objects.create(username=username)
    cache.delete(USERNAMES_KEY)
    return user


@cache_page(60)
def page(request: HttpRequest) -> HttpResponse:
    """Serve the usernames from the per-view page cache."""
    return HttpResponse(", ".join(usernames()))


def low_level(request: HttpRequest) -> HttpResponse:
    """Serve the usernames from a low-level cache key."""
    names = cache.get_or_set(USERNAMES_KEY, lambda: list(usernames()), 60)
    return HttpResponse(", ".join(names))


def fragment(request: HttpRequest) -> HttpResponse:
    """Serve the usernames from a template fragment cache."""
    template = engines["django"].from_string(_FRAGMENT)
    return HttpResponse(template.render({"names": usernames()}))


def partly_cached(request: HttpRequest) -> HttpResponse:
    """Serve cached usernames, but count the users afresh on every request."""
    names = cache.get_or_set(USERNAMES_KEY, lambda: list(usernames()), 60)
    return HttpResponse(f"{User.objects.count()} users: {', '.join(names)}")


def forever(request: HttpRequest) -> HttpResponse:
    """Cache the usernames with no expiry at all."""
    names = cache.get(USERNAMES_KEY)
    if names is None:
        names = list(usernames())
        cache.set(USERNAMES_KEY, names, timeout=None)
    return HttpResponse(", ".join(names))
