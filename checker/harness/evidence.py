"""Build measurements from the statements the server received.

The trusted side counts what PostgreSQL was sent (through the run's proxy);
the shop's own recorder only lends each statement its file:line, template
line and relation, matched by position and SQL shape. When the two disagree,
the server's statements stand and the measurement says so in one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from typing import Any

from checker import sql
from checker.measure import Measurement
from checker.nplusone import Access
from checker.origins import Location
from checker.queries import CapturedQuery

__all__ = ["EvidenceMeasurement", "measurement_from_evidence", "uncounted"]

_WORD_LITERAL = re.compile(r"\b(?:true|false|null)\b", re.IGNORECASE)
# Django's first statements on every new connection; no page asked for them:
# the time zone, and with django.contrib.postgres installed, the oids of the
# hstore and citext types whose handlers it registers.
_CONNECTION_SETUP = (
    "SELECT set_config('TimeZone'",
    "SELECT oid, typarray FROM pg_type WHERE typname = 'hstore'",
    "SELECT oid, typarray FROM pg_type WHERE typname = 'citext'",
)
# A streamed queryset (`iterator()`) is one query that psycopg runs as a
# named cursor: DECLARE once, then FETCH batches and a CLOSE that are not
# queries of their own.
_DECLARE = re.compile(
    r'^DECLARE\s+"?[^\s"]+"?\s+(?:NO\s+)?(?:SCROLL\s+)?CURSOR\s+'
    r"(?:(?:WITH|WITHOUT)\s+HOLD\s+)?FOR\s+",
    re.IGNORECASE,
)
_CURSOR_STEP = re.compile(r"^(?:FETCH|MOVE|CLOSE)\b", re.IGNORECASE)


class EvidenceMeasurement(Measurement):
    """A measurement whose queries are the server's, attributed by the shop."""

    peak_kind = "memory above what the shop held before, as the kernel counts it"

    def __init__(
        self,
        label: str,
        queries: list[CapturedQuery],
        *,
        reported: int,
        peak_bytes: int | None = None,
        resident_bytes: int | None = None,
    ) -> None:
        super().__init__(label)
        self._evidence = queries
        self.reported = reported
        self._peak = peak_bytes
        # What the shop held in memory when the peak was reset.
        self.resident_bytes = resident_bytes

    @property
    def queries(self) -> list[CapturedQuery]:
        """Return the statements the server received, oldest first."""
        return self._evidence

    @property
    def peak_bytes(self) -> int | None:
        """Return the memory peak of the shop's process tree, from the kernel."""
        return self._peak

    @property
    def disagreement(self) -> str:
        """Say in one line when the shop's own count differs from the server's."""
        if self.reported == self.query_count:
            return ""
        return (
            f"{self.label}: the shop's own recorder reported {self.reported} "
            f"queries; PostgreSQL received {self.query_count}, and that count "
            "stands."
        )


def _shape(text: str) -> str:
    return _WORD_LITERAL.sub("#", sql.normalise(_DECLARE.sub("", text)))


def uncounted(text: str) -> bool:
    """Tell whether no page asked for statement `text`.

    Transaction control, a new connection's setup and a streamed cursor's
    steps are left out of a request's count.
    """
    return (
        sql.is_transaction_statement(text)
        or text.startswith(_CONNECTION_SETUP)
        or bool(_CURSOR_STEP.match(text))
    )


def _location(place: Sequence[Any] | None) -> Location | None:
    if not place:
        return None
    path, line, in_project = place
    return Location(str(path), int(line), bool(in_project))


def _access(data: dict[str, Any] | None) -> Access | None:
    return Access(**data) if data else None


def _counted(queries: Iterable[CapturedQuery]) -> list[CapturedQuery]:
    return [query for query in queries if not query.transaction]


def measurement_from_evidence(
    label: str,
    received: Sequence[tuple[str, Sequence[Any]]],
    reported: Sequence[dict[str, Any]],
    *,
    alias: str = "default",
    peak_bytes: int | None = None,
    resident_bytes: int | None = None,
) -> EvidenceMeasurement:
    """Measure from `received` (SQL and params the server got), attributed.

    `reported` is what the shop's recorder sent for the same block: its
    statements lend their origins to the received ones of the same shape, in
    order, so a shop that hides or invents queries changes no count.
    """
    queries = [
        CapturedQuery(
            alias=alias,
            sql=_DECLARE.sub("", text),
            params=list(params),
            many=False,
            duration=0.0,
            transaction=uncounted(text),
        )
        for text, params in received
    ]
    counted = _counted(queries)
    told = [item for item in reported if not uncounted(item["sql"])]
    matcher = SequenceMatcher(
        a=[_shape(query.sql) for query in counted],
        b=[_shape(item["sql"]) for item in told],
        autojunk=False,
    )
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            query, item = counted[block.a + offset], told[block.b + offset]
            query.frame = _location(item["frame"])
            query.template = _location(item["template"])
            query.access = _access(item["access"])
    return EvidenceMeasurement(
        label,
        queries,
        reported=len(told),
        peak_bytes=peak_bytes,
        resident_bytes=resident_bytes,
    )
