"""Drive the shop under test from the trusted side, over its command channel.

    shop.call("catalog_make", products=9)
    page = shop.get("/products/")
    page.status, page.text, page.measurement.query_count

Every request's queries are the statements the run's PostgreSQL proxy saw
between sending the command and reading its reply; the shop's own report
only says where each came from (see `checker.harness.evidence`).
"""

from __future__ import annotations

import base64
import random
import re
import socket
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg

from checker.growth import Growth
from checker.harness.builder import Builder
from checker.harness.channel import ChannelClosed, message_read, message_write
from checker.harness.evidence import EvidenceMeasurement, measurement_from_evidence
from checker.harness.memory import MemoryGauge

__all__ = ["Page", "Shop", "ShopError", "StatementLog", "sizes_draw"]


class ShopError(AssertionError):
    """The shop failed a command: a crash, a missing view, a closed channel."""


class StatementLog(Protocol):
    """What the trusted side reads of the statements a server received."""

    def mark(self) -> int: ...

    def received(self, since: int) -> list[tuple[str, Sequence[Any]]]: ...


# A statement that changes data or schema; the session table is the one a
# page that only reads may still write.
_WRITE = re.compile(
    r"^\s*(?:INSERT|UPDATE|DELETE|MERGE|TRUNCATE|DROP|ALTER|CREATE|GRANT|REVOKE"
    r"|COPY\s+\S+\s+FROM)\b",
    re.IGNORECASE,
)
_SESSION = re.compile(r'^\s*(?:INSERT INTO|UPDATE|DELETE FROM)\s+"?django_session"?\b')


def _reads_only(label: str, measurement: EvidenceMeasurement) -> None:
    """Refuse a page that only reads but changed the data it is compared with."""
    for query in measurement.statements:
        if _WRITE.match(query.sql) and not _SESSION.match(query.sql):
            where = f" — from {query.origin}" if query.origin else ""
            raise ShopError(
                f"{label} changed the database ({query.short}{where}): a page "
                "that shows data must not write it"
            )


@dataclass
class Page:
    """One response, and what the servers saw while it was made."""

    status: int
    headers: dict[str, str]
    content: bytes
    measurement: EvidenceMeasurement
    # What the shop's own cache recorder saw (asked for with `cache=True`):
    # key families and lines for a diagnosis, never a count that earns points.
    cache_reported: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """Return the body decoded as UTF-8."""
        return self.content.decode(errors="replace")


def sizes_draw(seed: int, *, smallest: int = 4) -> tuple[int, int, int]:
    """Draw three growing data sizes from the run's seed.

    Sizes differ from run to run so that no answer can be tuned to them; the
    seed is recorded with the grades, so a run can be reproduced.
    """
    rng = random.Random(seed)
    first = smallest + rng.randrange(3)
    second = first + 5 + rng.randrange(4)
    return first, second, second + 5 + rng.randrange(4)


@dataclass
class Shop:
    """The shop process of one run, and the evidence around it."""

    process: subprocess.Popen[bytes]
    channel: socket.socket
    statements: StatementLog
    truncate: Callable[[], object]
    # Count rows as the trusted side sees them: `rows_count("catalog_product
    # WHERE is_active")`.
    rows_count: Callable[[str], int]
    memory: MemoryGauge | None = None
    # The run's own Redis (checker.harness.cache_server.RunRedis), read by
    # the trusted side for cache evidence.
    redis: Any = None
    # The course's own data builder; without one, data is built in the shop.
    builder: Builder | None = None
    # Why the shop's process tree was stopped (a sandbox limit), or "".
    stopped_because: Callable[[], str] = lambda: ""
    seed: int = 0
    command_seconds: float = 60.0
    broken: bool = False
    disagreements: list[str] = field(default_factory=list)
    _recording: list[EvidenceMeasurement] | None = None
    _logged_in: set[str] = field(default_factory=set)

    def command(self, op: str, **arguments: Any) -> Any:
        """Send one command and return its result; raise ShopError on failure."""
        try:
            message_write(self.channel, {"op": op, **arguments})
            reply = message_read(self.channel)
        except TimeoutError:
            # The shop is still busy with this command: it is restarted
            # before the next test, and only this budget is lost.
            self.broken = True
            raise ShopError(
                f"{arguments.get('label') or op} took more than "
                f"{self.command_seconds:g} s: look for an endless loop or a page "
                "that does far too much work"
            ) from None
        except (ChannelClosed, OSError) as error:
            self.broken = True
            why = self.stopped_because()
            if why:
                raise ShopError(f"The shop {why}") from None
            try:
                code: int | None = self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                code = None
            ended = (
                f" (the shop process exited with {code})" if code is not None else ""
            )
            raise ShopError(f"The shop stopped answering{ended}: {error}") from None
        if "error" in reply:
            where = f" ({reply['where']})" if reply.get("where") else ""
            raise ShopError(f"{reply['error']}{where}")
        return reply["result"]

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run a write of `shop_data` inside the shop, so its signals fire there."""
        return self.command("call", name=name, args=list(args), kwargs=kwargs)

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Make data with the course's own builder (`checker.harness.builder`)."""
        if self.builder is None:
            return self.call(name, *args, **kwargs)
        return self.builder.call(name, *args, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        user: str | None = None,
        data: Any = None,
        label: str = "",
        memory: bool = False,
        cache: bool = False,
    ) -> Page:
        """Make one request; count its queries from the server's side."""
        label = label or f"{method} {path}"
        if user is not None and user not in self._logged_in:
            self.command("login", user=user)
            self._logged_in.add(user)
        resident = None
        if memory and self.memory is not None:
            self.memory.reset_peak()
            resident = self.memory.resident_bytes()
        mark = self.statements.mark()
        reply = self.command(
            "request",
            method=method,
            path=path,
            user=user,
            data=data,
            label=label,
            cache=cache,
        )
        peak = self.memory.peak_memory_bytes() if memory and self.memory else None
        measurement = self._evidence(label, mark, reply["queries"], peak, resident)
        if method in {"GET", "HEAD"}:
            _reads_only(label, measurement)
        return Page(
            reply["status"],
            reply["headers"],
            base64.b64decode(reply["body"]),
            measurement,
            reply.get("cache"),
        )

    def invoke(
        self, function: str, *, label: str = "", **kwargs: Any
    ) -> tuple[Any, EvidenceMeasurement]:
        """Call a shop function by its dotted path; count its queries."""
        label = label or function
        self.command("prepare", kwargs=kwargs)
        mark = self.statements.mark()
        reply = self.command("invoke", function=function, label=label)
        measurement = self._evidence(label, mark, reply["queries"], None, None)
        return reply["result"], measurement

    def _evidence(
        self,
        label: str,
        mark: int,
        reported: list[dict[str, Any]],
        peak: int | None,
        resident: int | None,
    ) -> EvidenceMeasurement:
        measurement = measurement_from_evidence(
            label,
            self.statements.received(mark),
            reported,
            peak_bytes=peak,
            resident_bytes=resident,
        )
        if measurement.disagreement:
            self.disagreements.append(measurement.disagreement)
        if self._recording is not None:
            self._recording.append(measurement)
        return measurement

    def get(self, path: str, **options: Any) -> Page:
        """Make a GET request."""
        return self.request("GET", path, **options)

    def post(self, path: str, data: Any = None, **options: Any) -> Page:
        """Make a POST request."""
        return self.request("POST", path, data=data or {}, **options)

    def reset(self) -> None:
        """Empty the shop's tables and forget its logged-in clients."""
        try:
            self.truncate()
        except psycopg.Error as error:
            first = (str(error).splitlines() or [type(error).__name__])[0]
            raise ShopError(
                f"Emptying the shop's tables between tests failed ({first}); a "
                "trigger or rule of the shop's own must not stand in the way"
            ) from None
        self.command("forget_clients")
        self._logged_in.clear()

    @contextmanager
    def recording(self, label: str) -> Iterator[list[EvidenceMeasurement]]:
        """Collect the measurements of every request made in the block."""
        found: list[EvidenceMeasurement] = []
        self._recording = found
        try:
            yield found
        finally:
            self._recording = None

    def _measured(
        self,
        label: str,
        scenario: Callable[[], Any],
        verify: Callable[[Any], object] | None = None,
    ) -> EvidenceMeasurement:
        with self.recording(label) as found:
            shown = scenario()
        if verify is not None:
            verify(shown)
        if not found:
            raise ShopError(f"{label}: the scenario made no request")
        if len(found) == 1:
            return found[0]
        queries = [query for measurement in found for query in measurement.queries]
        reported = sum(measurement.reported for measurement in found)
        return EvidenceMeasurement(label, queries, reported=reported)

    def grow(
        self,
        build: Callable[[int], Any],
        scenario: Callable[[], Any],
        *,
        noun: str,
        label: str,
        rows: str,
        verify: Callable[[Any], object] | None = None,
    ) -> Growth:
        """Measure `scenario` on an emptied shop after `build(n)`, at three sizes.

        The sizes are drawn from the run's seed. After each build the trusted
        side counts `rows` (a table and condition, `catalog_product WHERE
        is_active`): builders run in the shop, and a shop that built fewer
        rows than asked would make any page look constant. The growth is
        judged between the smallest and the largest size; when the middle one
        made more queries than the largest, it stands in for the largest, so
        a count that rises and falls again is not called constant.

        `verify(result of scenario)` runs at every size and raises when the
        page is wrong: few queries earn nothing for a page that does not
        show the rows.
        """
        sizes = sizes_draw(self.seed)
        runs = []
        for size in sizes:
            self.reset()
            build(size)
            built = self.rows_count(rows)
            if built < size:
                raise ShopError(
                    f"{label}: building {size} {noun} left {built} rows of "
                    f"{rows} in the database; the shop must not change how the "
                    "checker builds its data"
                )
            runs.append(self._measured(label, scenario, verify))
        largest = max((1, 2), key=lambda index: runs[index].query_count)
        return Growth(label, noun, (sizes[0], sizes[largest]), (runs[0], runs[largest]))
