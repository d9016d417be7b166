"""Attribute lazy loads to `Model.field`, the cause of an N+1.

The related-object descriptors, related managers and deferred-field loads
are wrapped once per process, on the first recording, and stay wrapped: while
a recorder is active, any query they run carries an `Access` (which relation
was followed, how, and so which fix applies); while none is, each wrapper
calls straight through. `checker.groups` gathers the similar queries that
carry one.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from functools import partial, wraps
from types import FrameType
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

from checker import eager

__all__ = ["Access", "current_access", "start_recording", "stop_recording"]

Relation = Literal[
    "forward", "reverse_one", "reverse_many", "many_to_many", "generic", "deferred"
]
Action = Literal["load", "count", "filter", "chunk"]


@dataclass(frozen=True, slots=True)
class Access:
    """A relation or deferred field followed on one model instance.

    `path` is the lookup from the queryset the instance came from (empty when
    it came from that queryset itself), and `prefetched` names the last
    many-valued step of that path and the model it holds (`items:OrderItem`),
    so the fix is the whole lookup a learner types where the queryset is built.
    `single` says the instance was loaded on its own (`get()`, `first()`,
    `last()`, `[0]`), so the load runs once and is no N+1; the action
    "chunk" marks the prefetch query `iterator(chunk_size=...)` runs per chunk.
    """

    model: str
    field: str
    relation: Relation
    action: Action = "load"
    query_name: str = ""
    path: str = ""
    prefetched: str = ""
    admin: bool = False
    single: bool = False

    def __str__(self) -> str:
        return f"{self.model}.{self.field}"

    def lookup(self, name: str | None = None) -> str:
        """Return the lookup from the queryset being built to the relation."""
        name = name or self.field
        return f"{self.path}__{name}" if self.path else name

    def call(self) -> str | None:
        """Return the queryset method call that removes the per-row query."""
        if self.relation == "deferred":
            return None
        if self.prefetched:
            through, model = self.prefetched.split(":", 1)
            inner = replace(
                self, path=self.path[len(through) + 2 :], prefetched=""
            ).call()
            if inner is None or inner.startswith('prefetch_related("'):
                return f'prefetch_related("{self.lookup()}")'
            return (
                f'prefetch_related(Prefetch("{through}",'
                f" queryset={model}.objects.{inner}))"
            )
        if self.action == "count":
            lookup = self.lookup(self.query_name or self.field)
            name = (self.query_name or self.field).replace("__", "_")
            return f'annotate({name}_count=Count("{lookup}"))'
        if self.action == "filter":
            return None
        if self.relation in ("forward", "reverse_one"):
            return f'select_related("{self.lookup()}")'
        return f'prefetch_related("{self.lookup()}")'

    def fix(self, *, admin: bool = False, serializer: bool = False) -> str:
        """Name the change that removes the per-row query, where it goes."""
        name = self.field
        if self.relation == "deferred":
            return (
                f'Fetch "{name}" with the rows: drop it from defer() '
                "or add it to only()."
            )
        if self.action == "filter":
            return (
                f'Try prefetch_related(Prefetch("{self.lookup()}", queryset=..., '
                f'to_attr="...")) and read the attribute; filtering a related '
                "manager queries again even when prefetched."
            )
        call = self.call()
        if admin:
            if call and call.startswith("select_related("):
                return (
                    f'Try list_select_related = ["{self.lookup()}"] on the ModelAdmin.'
                )
            return (
                f"Try {call} in the ModelAdmin's get_queryset(): return"
                f" super().get_queryset(request).{call}."
            )
        if self.action == "count":
            return f"Try {call} on the queryset."
        if serializer:
            return f"Try {call} on the queryset of the view that serializes them."
        return f"Try {call}."

    def to_dict(self) -> dict[str, str]:
        """Return the access as plain JSON data."""
        return asdict(self)


# The relation being followed, and the frame that followed it: the queries
# it runs come from that frame's line, so the query recorder walks out from
# there instead of from the database cursor, a dozen ORM frames deeper.
_access: ContextVar[tuple[Access, FrameType] | None] = ContextVar(
    "checker_access", default=None
)


# Return the relation being followed right now, and from which frame, if any.
# The query recorder calls it for every query, so it is the context
# variable's own C method.
current_access: Callable[[], tuple[Access, FrameType] | None] = _access.get


def _following(access: Access, call: Callable[..., Any], *args: Any) -> Any:
    # Runs on every lazy load while recording: a plain try/finally is
    # cheaper than a context manager here.
    token = _access.set((access, sys._getframe(1)))
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


# An instance reached from another one carries, under this name, how:
# (parent instance, relation name, many-valued?, model name). The whole lookup
# from the queryset being built is read back only when a lazy load needs it.
# The rows of a queryset that loaded several carry, under this name, "admin"
# when a ModelAdmin's change list loaded them and "" otherwise: they are the
# queryset being built, the start of every lookup path.
# An instance that get(), first(), last() or [0] loaded on its own carries
# "single" there instead: what it loads lazily, it loads once.
_VIA = "_checker_via"
_ROWS = "_checker_rows"
_SINGLE = "single"
_located_accesses: dict[tuple[Access, str, str, bool, bool], Access] = {}


def _located(access: Access, instance: Any) -> Access:
    """Return `access` with the lookup path that led to `instance`."""
    node = instance.__dict__
    via = node.get(_VIA)
    steps: list[tuple[str, bool, str]] = []
    while via is not None and len(steps) < 16:
        parent, name, many, model = via
        steps.append((name, many, model))
        node = parent.__dict__
        via = node.get(_VIA)
    rows = node.get(_ROWS)
    admin = rows == "admin"
    single = rows == _SINGLE and not any(many for _, many, _ in steps)
    if not steps and not admin and not single:
        return access
    steps.reverse()
    names = [name for name, _, _ in steps]
    prefetched = ""
    for index, (_, many, model) in enumerate(steps):
        if many:
            prefetched = f"{'__'.join(names[: index + 1])}:{model}"
    key = (access, "__".join(names), prefetched, admin, single)
    found = _located_accesses.get(key)
    if found is None:
        found = _located_accesses[key] = replace(
            access, path=key[1], prefetched=prefetched, admin=admin, single=single
        )
    return found


def _from_admin(frame: Any) -> bool:
    """Tell whether the Django admin is on the stack (a change list, say)."""
    while frame is not None:
        if "/django/contrib/admin/" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def _mark_loaded(rows: list[Any]) -> None:
    # Runs once per queryset that loads several rows while recording.
    if len(rows) < 2 or not isinstance(rows[0], Model):
        return
    built = "admin" if _from_admin(sys._getframe(2)) else ""
    for row in rows:
        row.__dict__[_ROWS] = built


def _forward_get_object(original: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(original)
    def get_object(self: ForwardManyToOneDescriptor[Any], instance: Model) -> Any:
        if not _recording:
            return original(self, instance)
        # The commonest lazy load of all, so the lookup and the context
        # variable are inlined rather than called.
        access = _accesses.get((self, type(instance)))
        if access is None:
            access = _access_for(
                self, instance, lambda model: Access(model, self.field.name, "forward")
            )
        marks = instance.__dict__
        # A row of the queryset being built (marked "") is where every
        # lookup path starts: there is no path to find.
        if _VIA in marks or marks.get(_ROWS):
            access = _located(access, instance)
        token = _access.set((access, sys._getframe(1)))
        try:
            found = original(self, instance)
        finally:
            _access.reset(token)
        if found is not None:
            found.__dict__[_VIA] = (instance, self.field.name, False, "")
        return found

    return get_object


def _reverse_one_get(original: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(original)
    def __get__(
        self: ReverseOneToOneDescriptor[Any, Any], instance: Any, cls: Any = None
    ) -> Any:
        if instance is None or not _recording:
            return original(self, instance, cls)
        access = _access_for(
            self,
            instance,
            lambda model: Access(
                model, self.related.accessor_name or "", "reverse_one"
            ),
        )
        eager.read(instance, access.field)
        found = _following(_located(access, instance), original, self, instance, cls)
        if isinstance(found, Model):
            found.__dict__[_VIA] = (instance, access.field, False, "")
        return found

    return __get__


def _marked_get_queryset(
    original: Callable[[], query.QuerySet[Any]], access: Access, instance: Model
) -> query.QuerySet[Any]:
    queryset = original()
    # The mark rides on the Query, whose clone() copies its __dict__, so any
    # queryset derived with filter(), order_by() and the like carries it too;
    # the weak reference tells the manager's own queryset from those, and the
    # instance is where the rows it loads were reached from.
    queryset._query._checker_mark = (access, weakref.ref(queryset), instance)  # type: ignore[attr-defined]
    return queryset


def _manager_access(descriptor: ReverseManyToOneDescriptor[Any], model: str) -> Access:
    if _is_generic_relation(descriptor):
        # A GenericRelation's reverse side is hidden ("+"): its lookup is
        # the field's own name, on the model that declares it.
        name = descriptor.field.name
        return Access(model, name, "reverse_many", "load", name)
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
        if instance is None or not _recording:
            return manager
        access = _access_for(self, instance, partial(_manager_access, self))
        eager.read(instance, access.field)
        manager.get_queryset = partial(
            _marked_get_queryset,
            manager.get_queryset,
            _located(access, instance),
            instance,
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
        if not _recording or not fields or sys._getframe(1).f_code is not _DEFERRED_GET:
            return original(self, *args, **kwargs)
        model = type(self)._meta.object_name or ""
        access = _located(Access(model, str(fields[0]), "deferred"), self)
        return _following(access, partial(original, self, *args, **kwargs))

    return refresh_from_db


def _evaluate(
    original: Callable[..., Any], action: Action | None
) -> Callable[..., Any]:
    @wraps(original)
    def evaluate(self: query.QuerySet[Any], *args: Any, **kwargs: Any) -> Any:
        if not _recording or self._result_cache is not None:
            return original(self, *args, **kwargs)
        mark = self._query.__dict__.get("_checker_mark")  # type: ignore[attr-defined]
        if mark is None:
            result = original(self, *args, **kwargs)
            rows = self._result_cache
            if action is None and rows:
                # Both checks run for every queryset loaded while recording:
                # most load one row and fetch nothing eagerly.
                if len(rows) > 1:
                    _mark_loaded(rows)
                if self._prefetch_related_lookups or isinstance(
                    self._query.select_related, dict
                ):
                    eager.register(self)
            return result
        access, manager_queryset, instance = mark
        if manager_queryset() is not self:
            access = replace(access, action="filter")
        elif action is not None:
            access = replace(access, action=action)
        result = _following(access, partial(original, self, **kwargs), *args)
        if action is None and self._result_cache:
            _mark_rows(self._result_cache, instance, access.field)
        return result

    return evaluate


def _mark_rows(rows: list[Any], parent: Model, name: str) -> None:
    """Note on rows loaded through a many-valued relation where they came from.

    Through one instance that was loaded on its own (a customer's orders, a
    product's reviews), the relation is the queryset being built; through an
    instance among several, it is a step that prefetching takes.
    """
    if not isinstance(rows[0], Model):
        return  # values() and values_list() rows have nowhere to carry it
    marks = parent.__dict__
    if _VIA not in marks and marks.get(_ROWS, _SINGLE) == _SINGLE:
        _mark_loaded(rows)
        return
    via = (parent, name, True, type(rows[0])._meta.object_name or "")
    for row in rows:
        row.__dict__[_VIA] = via


def _populator_init(original: Callable[..., Any]) -> Callable[..., Any]:
    # select_related builds one populator per joined relation; its setter
    # sees each joined instance with the one it hangs from.
    @wraps(original)
    def __init__(self: Any, klass_info: dict[str, Any], *args: Any) -> None:
        original(self, klass_info, *args)
        if not _recording:
            return
        field = klass_info["field"]
        name = field.related_query_name() if klass_info["reverse"] else field.name
        setter = self.local_setter

        def local_setter(from_obj: Model, obj: Model | None) -> None:
            if obj is not None:
                obj.__dict__[_VIA] = (from_obj, name, False, "")
            setter(from_obj, obj)

        self.local_setter = local_setter

    return __init__


def _is_generic_relation(descriptor: object) -> bool:
    return type(descriptor).__name__ == "ReverseGenericManyToOneDescriptor"


def _generic_get(original: Callable[..., Any]) -> Callable[..., Any]:
    # A GenericForeignKey loads its object with get() on the content type's
    # model: the load is named after the generic key, and fixed by prefetching.
    @wraps(original)
    def __get__(self: Any, instance: Any, cls: Any = None) -> Any:
        if instance is None or not _recording:
            return original(self, instance, cls)
        access = _access_for(
            self, instance, lambda model: Access(model, self.name, "generic")
        )
        eager.read(instance, self.name)
        found = _following(_located(access, instance), original, self, instance, cls)
        if isinstance(found, Model):
            found.__dict__[_VIA] = (instance, self.name, False, "")
        return found

    return __get__


# Who called prefetch_related_objects(): a queryset for its own rows, a
# chunk of iterator(chunk_size=...), or project code (the per-instance call).
_ITERATOR = query.QuerySet._iterator.__code__  # type: ignore[attr-defined]
_OWN_ROWS = query.QuerySet._prefetch_related_objects.__code__  # type: ignore[attr-defined]


def _relation_access(descriptor: Any, instance: Any, name: str) -> Access | None:
    """Return the Access of the relation `name` a prefetch follows, if known."""
    if isinstance(descriptor, ReverseManyToOneDescriptor):
        return _access_for(descriptor, instance, partial(_manager_access, descriptor))
    if isinstance(descriptor, ForwardManyToOneDescriptor):
        relation: Relation = "forward"
    elif isinstance(descriptor, ReverseOneToOneDescriptor):
        relation = "reverse_one"
    elif type(descriptor).__name__ == "GenericForeignKey":
        relation = "generic"
    else:
        return None
    return _access_for(
        descriptor, instance, lambda model: Access(model, name, relation)
    )


def _prefetch_one_level(original: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(original)
    def prefetch_one_level(
        instances: list[Any], prefetcher: Any, lookup: Any, level: int
    ) -> Any:
        if not _recording:
            return original(instances, prefetcher, lookup, level)
        caller = sys._getframe(2).f_code
        access = None
        if instances and caller is not _OWN_ROWS:
            name = lookup.prefetch_through.split("__")[level]
            descriptor = getattr(type(instances[0]), name, None)
            access = _relation_access(descriptor, instances[0], name)
        if access is not None and caller is _ITERATOR:
            # One query per chunk of rows, by design of iterator(chunk_size=...).
            access = replace(access, action="chunk")
        elif access is not None and len(instances) == 1:
            # prefetch_related_objects([instance], ...) loads for one instance.
            access = _located(access, instances[0])
        else:
            access = None
        if access is None:
            result = original(instances, prefetcher, lookup, level)
        else:
            result = _following(access, original, instances, prefetcher, lookup, level)
        related = result[0]
        if instances and related and isinstance(related[0], Model):
            name = lookup.prefetch_through.split("__")[level]
            descriptor = getattr(type(instances[0]), name, None)
            many = isinstance(descriptor, ReverseManyToOneDescriptor)
            model = type(related[0])._meta.object_name or ""
            # The rows of one level hang from instances reached the same way.
            via = (instances[0], name, many, model)
            for row in related:
                row.__dict__[_VIA] = via
        return result

    return prefetch_one_level


def _loads_one(original: Callable[..., Any], *, fresh: bool) -> Callable[..., Any]:
    # get(), first(), last() and [0] load one instance on its own; a row
    # already among a loaded queryset's (first() on one in memory) stays one.
    @wraps(original)
    def load_one(self: query.QuerySet[Any], *args: Any, **kwargs: Any) -> Any:
        if not _recording:
            return original(self, *args, **kwargs)
        queried = fresh or self._result_cache is None
        found = original(self, *args, **kwargs)
        if queried and isinstance(found, Model):
            found.__dict__[_ROWS] = _SINGLE
        return found

    return load_one


def _iterate(original: Callable[..., Any]) -> Callable[..., Any]:
    # iterator() skips _fetch_all: its rows are marked as they stream by.
    @wraps(original)
    def _iterator(self: query.QuerySet[Any], *args: Any) -> Any:
        rows = original(self, *args)
        return _marking(rows) if _recording else rows

    return _iterator


def _marking(rows: Iterator[Any]) -> Iterator[Any]:
    for row in rows:
        if isinstance(row, Model):
            row.__dict__.setdefault(_ROWS, "")
        yield row


def _raw_fetch_all(original: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(original)
    def _fetch_all(self: Any) -> None:
        if not _recording:
            original(self)
            return
        loaded = self._result_cache is not None
        original(self)
        if not loaded and self._result_cache:
            _mark_loaded(self._result_cache)

    return _fetch_all


_PATCHES: list[tuple[type, str, Callable[[Callable[..., Any]], Callable[..., Any]]]] = [
    (ForwardManyToOneDescriptor, "get_object", _forward_get_object),
    (ForwardManyToOneDescriptor, "__get__", eager.forward_get),
    (ForwardOneToOneDescriptor, "get_object", _forward_get_object),
    (ReverseOneToOneDescriptor, "__get__", _reverse_one_get),
    (ReverseManyToOneDescriptor, "__get__", _related_manager_get),
    (Model, "refresh_from_db", _deferred_refresh),
    (query.QuerySet, "_fetch_all", partial(_evaluate, action=None)),
    (query.QuerySet, "count", partial(_evaluate, action="count")),
    (query.QuerySet, "exists", partial(_evaluate, action="count")),
    (query.QuerySet, "aggregate", partial(_evaluate, action="count")),
    (query.RelatedPopulator, "__init__", _populator_init),
    (query.QuerySet, "get", partial(_loads_one, fresh=True)),
    (query.QuerySet, "first", partial(_loads_one, fresh=False)),
    (query.QuerySet, "last", partial(_loads_one, fresh=False)),
    (query.QuerySet, "__getitem__", partial(_loads_one, fresh=False)),
    (query.QuerySet, "_iterator", _iterate),
    (query.RawQuerySet, "_fetch_all", _raw_fetch_all),
]
# A function of the module, called by its global name, so patched on the module.
_MODULE_PATCHES = [(query, "prefetch_one_level", _prefetch_one_level)]


def _generic() -> list[tuple[type, str, Callable[[Callable[..., Any]], Any]]]:
    """Return the patch of GenericForeignKey, when contenttypes is installed."""
    # Importing the generic fields needs the contenttypes app, which a
    # project may leave out.
    from django.apps import apps

    if not apps.is_installed("django.contrib.contenttypes"):
        return []
    from django.contrib.contenttypes.fields import GenericForeignKey

    return [(GenericForeignKey, "__get__", _generic_get)]


_lock = threading.Lock()
# How many recorders are recording: each wrapper calls straight through to the
# original when there is none. Installed once, the wrappers stay: changing a
# class invalidates CPython's attribute caches, and the code that runs next
# (measured or not) pays for it.
_recording = 0
_installed = False


def _install() -> None:
    global _installed
    for owner, name, wrapper in [*_PATCHES, *_MODULE_PATCHES, *_generic()]:
        setattr(owner, name, wrapper(owner.__dict__[name]))
    _installed = True


def start_recording() -> None:
    """Attribute lazy loads until `stop_recording()`; nestable.

    The first call in the process wraps the descriptors and queryset methods.
    """
    global _recording
    with _lock:
        if not _installed:
            _install()
        _recording += 1


def stop_recording() -> None:
    """Stop attributing once the last recorder has finished."""
    global _recording
    with _lock:
        _recording -= 1
