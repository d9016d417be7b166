"""Attribute lazy loads to `Model.field`, the cause of an N+1.

While a recorder is active, the related-object descriptors, related managers
and deferred-field loads are wrapped so that any query they run carries an
`Access`: which relation was followed, how, and so which fix applies.
`checker.groups` gathers the similar queries that carry one.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from functools import partial, wraps
from typing import Any, Literal

from django.db.models import Model, query
from django.db.models.fields.related_descriptors import (
    ForwardManyToOneDescriptor,
    ForwardOneToOneDescriptor,
    ManyToManyDescriptor,
    ReverseManyToOneDescriptor,
    ReverseOneToOneDescriptor,
)
from django.db.models.query_utils import DeferredAttribute

__all__ = ["Access", "current_access", "install", "uninstall"]

Relation = Literal["forward", "reverse_one", "reverse_many", "many_to_many", "deferred"]
Action = Literal["load", "count", "filter"]


@dataclass(frozen=True, slots=True)
class Access:
    """A relation or deferred field followed on one model instance."""

    model: str
    field: str
    relation: Relation
    action: Action = "load"
    query_name: str = ""

    def __str__(self) -> str:
        return f"{self.model}.{self.field}"

    def fix(self, *, admin: bool = False) -> str:
        """Name the change that removes the per-row query."""
        name = self.field
        if self.relation == "deferred":
            return (
                f'Fetch "{name}" with the rows: drop it from defer() '
                "or add it to only()."
            )
        if self.action == "count":
            lookup = self.query_name or name
            return f'Try annotate({lookup}_count=Count("{lookup}")) on the queryset.'
        if self.action == "filter":
            return (
                f'Try prefetch_related(Prefetch("{name}", queryset=..., '
                f'to_attr="...")) and read the attribute; filtering a related '
                "manager queries again even when prefetched."
            )
        if self.relation in ("forward", "reverse_one"):
            if admin:
                return f'Try list_select_related = ["{name}"] on the ModelAdmin.'
            return f'Try select_related("{name}").'
        return f'Try prefetch_related("{name}").'

    def to_dict(self) -> dict[str, str]:
        """Return the access as plain JSON data."""
        return asdict(self)


_access: ContextVar[Access | None] = ContextVar("checker_access", default=None)


# Return the relation being followed right now, if any. The query recorder
# calls it for every query, so it is the context variable's own C method.
current_access: Callable[[], Access | None] = _access.get


def _following(access: Access, call: Callable[..., Any], *args: Any) -> Any:
    # Runs on every lazy load while recording: a plain try/finally is
    # cheaper than a context manager here.
    token = _access.set(access)
    try:
        return call(*args)
    finally:
        _access.reset(token)


# One Access per descriptor and model class, built on first use: lazy loads
# happen once per row, and rebuilding the same frozen object each time shows.
_accesses: dict[tuple[object, type], Access] = {}


def _access_for(
    descriptor: object, instance: Any, build: Callable[[str], Access]
) -> Access:
    key = (descriptor, type(instance))
    found = _accesses.get(key)
    if found is None:
        found = _accesses[key] = build(type(instance)._meta.object_name or "")
    return found


def _forward_get_object(original: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(original)
    def get_object(self: ForwardManyToOneDescriptor[Any], instance: Model) -> Any:
        # The commonest lazy load of all, so the lookup and the context
        # variable are inlined rather than called.
        access = _accesses.get((self, type(instance)))
        if access is None:
            access = _access_for(
                self, instance, lambda model: Access(model, self.field.name, "forward")
            )
        token = _access.set(access)
        try:
            return original(self, instance)
        finally:
            _access.reset(token)

    return get_object


def _reverse_one_get(original: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(original)
    def __get__(
        self: ReverseOneToOneDescriptor[Any, Any], instance: Any, cls: Any = None
    ) -> Any:
        if instance is None:
            return original(self, instance, cls)
        access = _access_for(
            self,
            instance,
            lambda model: Access(
                model, self.related.accessor_name or "", "reverse_one"
            ),
        )
        return _following(access, original, self, instance, cls)

    return __get__


def _marked_get_queryset(
    original: Callable[[], query.QuerySet[Any]], access: Access
) -> query.QuerySet[Any]:
    queryset = original()
    # The mark rides on the Query, whose clone() copies its __dict__, so any
    # queryset derived with filter(), order_by() and the like carries it too;
    # the weak reference tells the manager's own queryset from those.
    queryset._query._checker_mark = (access, weakref.ref(queryset))  # type: ignore[attr-defined]
    return queryset


def _manager_access(descriptor: ReverseManyToOneDescriptor[Any], model: str) -> Access:
    if isinstance(descriptor, ManyToManyDescriptor):
        relation: Relation = "many_to_many"
        if descriptor.reverse:
            name = descriptor.rel.accessor_name or ""
            query_name = descriptor.rel.field.related_query_name()
        else:
            name = query_name = descriptor.field.name
    else:
        relation = "reverse_many"
        name = descriptor.rel.accessor_name or ""
        query_name = descriptor.field.related_query_name()
    return Access(model, name, relation, "load", query_name)


def _related_manager_get(original: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(original)
    def __get__(
        self: ReverseManyToOneDescriptor[Any], instance: Any, cls: Any = None
    ) -> Any:
        manager = original(self, instance, cls)
        if instance is None:
            return manager
        access = _access_for(self, instance, partial(_manager_access, self))
        manager.get_queryset = partial(
            _marked_get_queryset, manager.get_queryset, access
        )
        return manager

    return __get__


_DEFERRED_GET = DeferredAttribute.__get__.__code__


def _deferred_refresh(original: Callable[..., Any]) -> Callable[..., Any]:
    # Wrapping refresh_from_db rather than DeferredAttribute.__get__ keeps
    # the hot path free: a foreign key's `author_id` goes through __get__ on
    # every read, while refresh_from_db only runs to load a deferred field.
    @wraps(original)
    def refresh_from_db(self: Model, *args: Any, **kwargs: Any) -> Any:
        fields = kwargs.get("fields")
        if not fields or sys._getframe(1).f_code is not _DEFERRED_GET:
            return original(self, *args, **kwargs)
        model = type(self)._meta.object_name or ""
        access = Access(model, str(fields[0]), "deferred")
        return _following(access, partial(original, self, *args, **kwargs))

    return refresh_from_db


def _evaluate(
    original: Callable[..., Any], action: Action | None
) -> Callable[..., Any]:
    @wraps(original)
    def evaluate(self: query.QuerySet[Any], *args: Any, **kwargs: Any) -> Any:
        mark = self._query.__dict__.get("_checker_mark")  # type: ignore[attr-defined]
        if mark is None or self._result_cache is not None:
            return original(self, *args, **kwargs)
        access, manager_queryset = mark
        if manager_queryset() is not self:
            access = replace(access, action="filter")
        elif action is not None:
            access = replace(access, action=action)
        return _following(access, partial(original, self, **kwargs), *args)

    return evaluate


_PATCHES: list[tuple[type, str, Callable[[Callable[..., Any]], Callable[..., Any]]]] = [
    (ForwardManyToOneDescriptor, "get_object", _forward_get_object),
    (ForwardOneToOneDescriptor, "get_object", _forward_get_object),
    (ReverseOneToOneDescriptor, "__get__", _reverse_one_get),
    (ReverseManyToOneDescriptor, "__get__", _related_manager_get),
    (Model, "refresh_from_db", _deferred_refresh),
    (query.QuerySet, "_fetch_all", partial(_evaluate, action=None)),
    (query.QuerySet, "count", partial(_evaluate, action="count")),
    (query.QuerySet, "exists", partial(_evaluate, action="count")),
    (query.QuerySet, "aggregate", partial(_evaluate, action="count")),
]
_lock = threading.Lock()
_installed = 0
_originals: list[tuple[type, str, Any]] = []


def install() -> None:
    """Wrap the descriptors and queryset methods; nestable, undone by uninstall."""
    global _installed
    with _lock:
        _installed += 1
        if _installed > 1:
            return
        for owner, name, wrapper in _PATCHES:
            original = owner.__dict__[name]
            _originals.append((owner, name, original))
            setattr(owner, name, wrapper(original))


def uninstall() -> None:
    """Restore the originals once the last recorder has finished."""
    global _installed
    with _lock:
        _installed -= 1
        if _installed > 0:
            return
        while _originals:
            owner, name, original = _originals.pop()
            setattr(owner, name, original)
