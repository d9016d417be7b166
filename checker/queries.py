"""Record every query Django runs, with where in the project it came from.

The recorder installs `connection.execute_wrapper` on every database alias, so
it needs neither DEBUG nor a cap on the number of queries. Execute wrappers
apply to the connections of the thread that entered the recorder only: code
under test must run in that thread, as Django's test `Client` does; queries
from other threads (a live server, a thread pool) are not seen.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from time import perf_counter
from types import TracebackType
from typing import Any, Self

from django.core.signals import request_started
from django.db import connections

from checker import eager, nplusone, sql
from checker.origins import Location, ProjectCode
from checker.recorders import Recorder

__all__ = [
    "CapturedQuery",
    "Location",
    "ProjectCode",
    "QueryRecorder",
]


@dataclass(slots=True)
class CapturedQuery:
    """One statement sent to a database, and what led to it."""

    alias: str
    sql: str
    params: Any
    many: bool
    duration: float
    transaction: bool
    frame: Location | None = None
    template: Location | None = None
    access: nplusone.Access | None = None
    error: str | None = None
    # How many requests the block had started when the query ran: an N+1
    # is looked for within one request.
    request: int = 0

    @property
    def normalised(self) -> str:
        """Return the SQL with values as `#`, for grouping similar queries."""
        return sql.normalise(self.sql)

    @property
    def short(self) -> str:
        """Return a one-line digest of the SQL."""
        return sql.shorten(self.sql)

    @property
    def origin(self) -> Location | None:
        """Return the best place to point at: a project template, else Python."""
        if self.template is not None and self.template.in_project:
            return self.template
        return self.frame or self.template

    @property
    def columns(self) -> list[str]:
        """Return the SELECT list items, e.g. `checker_testapp_book.title`."""
        return sql.fetched_columns(self.sql)

    def to_dict(self) -> dict[str, Any]:
        """Return the query as plain JSON data."""
        return {
            "alias": self.alias,
            "sql": self.sql,
            "normalised": self.normalised,
            "params": _plain(self.params),
            "many": self.many,
            "duration_ms": round(self.duration * 1000, 3),
            "transaction": self.transaction,
            "frame": str(self.frame) if self.frame else None,
            "template": str(self.template) if self.template else None,
            "origin": str(self.origin) if self.origin else None,
            "access": self.access.to_dict() if self.access else None,
            "error": self.error,
            "request": self.request,
        }


def _plain(params: Any) -> Any:
    if params is None or isinstance(params, str | int | float | bool):
        return params
    if isinstance(params, dict):
        return {str(key): _plain(value) for key, value in params.items()}
    if isinstance(params, list | tuple):
        return [_plain(value) for value in params]
    return repr(params)


class QueryRecorder(Recorder):
    """Record the queries run on every database alias inside a `with` block."""

    def __init__(
        self,
        *,
        project: ProjectCode | None = None,
        aliases: Iterable[str] | None = None,
        attribute: bool = True,
    ) -> None:
        self.project = project
        self.aliases = aliases
        self.attribute = attribute
        self._raw: list[tuple[Any, ...]] = []
        self._requests = 0
        self.eager: eager.EagerWatch | None = None
        self._queries: list[CapturedQuery] = []
        self._stack = ExitStack()

    @property
    def queries(self) -> list[CapturedQuery]:
        """Return the queries recorded so far, oldest first."""
        # Recording keeps plain tuples, the cheapest thing to build per query;
        # they become CapturedQuery objects when first read.
        for raw in self._raw[len(self._queries) :]:
            self._queries.append(self._captured(*raw))
        return self._queries

    def _captured(
        self,
        alias: str,
        sql_text: str,
        params: Any,
        many: bool,
        duration: float,
        where: Any,
        template: Location | None,
        access: nplusone.Access | None,
        error: str | None,
        request: int,
    ) -> CapturedQuery:
        assert self.project is not None
        return CapturedQuery(
            alias=alias,
            sql=sql_text,
            params=params,
            many=many,
            duration=duration,
            transaction=sql.is_transaction_statement(sql_text),
            frame=self.project.location(where),
            template=template,
            access=access,
            error=error,
            request=request,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the recording as plain JSON data."""
        return {"queries": [query.to_dict() for query in self.queries]}

    def _request_started(self, **kwargs: Any) -> None:
        self._requests += 1

    def __enter__(self) -> Self:
        project = self.project = self.project or ProjectCode.from_settings()
        self._walk = project.walk
        self._owner = project.owner_location
        aliases = list(self.aliases) if self.aliases is not None else list(connections)
        for alias in aliases:
            self._stack.enter_context(connections[alias].execute_wrapper(self))
        request_started.connect(self._request_started, weak=False)
        self._stack.callback(request_started.disconnect, self._request_started)
        if self.attribute:
            self.eager = self._stack.enter_context(eager.watch(project))
            nplusone.start_recording()
            self._stack.callback(nplusone.stop_recording)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()

    def __call__(
        self,
        execute: Callable[..., Any],
        sql_text: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        following = nplusone.current_access()
        if following is None:
            access = None
            frame = sys._getframe(1)
        else:
            access, frame = following
        # ProjectCode.locate()'s walk, inlined, leaving the project line as
        # (file, line): this runs for every query, and turning file names into
        # paths waits until someone reads the query.
        where, template = self._walk(frame, site=False)
        if where is None:
            where = self._owner(frame)
        error = None
        start = perf_counter()
        try:
            return execute(sql_text, params, many, context)
        except Exception as exception:
            error = f"{type(exception).__name__}: {exception}"
            raise
        finally:
            self._raw.append(
                (
                    context["connection"].alias,
                    sql_text,
                    params,
                    many,
                    perf_counter() - start,
                    where,
                    template,
                    access,
                    error,
                    self._requests,
                )
            )
