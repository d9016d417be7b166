"""Eager loads a block never read: a `select_related` or `prefetch_related` to drop.

While a recorder is active, each queryset that loads rows with related data
registers the relations it joined or prefetched, and the relation descriptors
note each relation read on an instance. A relation registered and never read
(on any instance of its model) was fetched for nothing. A relation read whose
prefetch found no rows, or a generic relation read, counts as read.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, Prefetch

from checker.origins import Location, ProjectCode

__all__ = ["EagerLoad", "EagerWatch", "forward_get", "read", "register", "watch"]


@dataclass(frozen=True, slots=True)
class EagerLoad:
    """One relation a queryset joined or prefetched, and where it was run."""

    model: str
    field: str
    call: str
    lookup: str
    origin: Location | None

    def __str__(self) -> str:
        return f"{self.model}.{self.field}"

    def fix(self) -> str:
        """Name the change: the lookup to take out of the call."""
        return f'Drop "{self.lookup}" from {self.call}(): nothing read it.'

    def to_dict(self) -> dict[str, Any]:
        """Return the eager load as plain JSON data."""
        return {
            "via": str(self),
            "call": self.call,
            "lookup": self.lookup,
            "origin": str(self.origin) if self.origin else None,
            "fix": self.fix(),
        }


@dataclass
class EagerWatch:
    """The eager loads one recording registered and the relations it read."""

    project: ProjectCode
    loads: dict[tuple[type, str, str], EagerLoad] = field(default_factory=dict)
    reads: set[tuple[type, str]] = field(default_factory=set)

    def unused(self) -> list[EagerLoad]:
        """Return the eager loads whose relation no instance read."""
        return [
            load
            for (model, name, _), load in self.loads.items()
            if (model, name) not in self.reads
        ]


_watching: list[EagerWatch] = []
# The watches that registered an eager load: reads are noted only for them,
# so a block that loads nothing eagerly pays for no set updates.
_registered: list[EagerWatch] = []


@contextmanager
def watch(project: ProjectCode) -> Iterator[EagerWatch]:
    """Note the eager loads registered and the relations read inside the block."""
    watcher = EagerWatch(project)
    _watching.append(watcher)
    try:
        yield watcher
    finally:
        _watching.remove(watcher)
        if watcher in _registered:
            _registered.remove(watcher)


def read(instance: Model, name: str) -> None:
    """Note that `instance`'s relation `name` was read."""
    for watcher in _registered:
        watcher.reads.add((type(instance), name))


def _steps(model: type[Model], path: str) -> Iterator[tuple[type[Model], str, str]]:
    """Yield (model, relation, lookup so far) along a lookup path."""
    names = path.split("__")
    for index, name in enumerate(names):
        yield model, name, "__".join(names[: index + 1])
        try:
            related = model._meta.get_field(name).related_model
        except FieldDoesNotExist:
            return
        if not isinstance(related, type):
            return  # a generic foreign key: its models vary per row
        model = related


def _selected(tree: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for name, below in tree.items():
        path = f"{prefix}__{name}" if prefix else name
        yield path
        yield from _selected(below, path)


def register(queryset: Any) -> None:
    """Register the relations a queryset that just loaded rows fetched eagerly."""
    if not _watching:
        return
    selected = queryset.query.select_related
    lookups = [
        (
            "prefetch_related",
            lookup.prefetch_through if isinstance(lookup, Prefetch) else lookup,
        )
        for lookup in queryset._prefetch_related_lookups
    ]
    if isinstance(selected, dict):
        lookups += [("select_related", path) for path in _selected(selected)]
    if not lookups:
        return
    for watcher in _watching:
        where, template = watcher.project.locate(sys._getframe(2))
        origin = template if template is not None and template.in_project else where
        for call, path in lookups:
            for model, name, lookup in _steps(queryset.model, path):
                watcher.loads.setdefault(
                    (model, name, lookup),
                    EagerLoad(
                        model._meta.object_name or "", name, call, lookup, origin
                    ),
                )
        if watcher not in _registered:
            _registered.append(watcher)


def forward_get(original: Callable[..., Any]) -> Callable[..., Any]:
    # Only the read is noted: a joined or prefetched object is read from the
    # instance's cache, and get_object() runs only when it is not there.
    @wraps(original)
    def __get__(self: Any, instance: Any, cls: Any = None) -> Any:
        if instance is not None and _registered:
            read(instance, self.field.name)
        return original(self, instance, cls)

    return __get__
