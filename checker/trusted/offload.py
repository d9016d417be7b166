"""What one request of lesson 5's shop published and made, as the servers saw it.

What a request published is read from the LPUSHes Redis saw on the broker's
database; the files it made from how the run's media folder changed. The
shop's own report only names the lines that saved a file or published a
task, for the diagnosis.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from checker.harness.cache_server import CommandLog
from checker.harness.run import ShopRun
from checker.harness.shop import Page, Shop
from checker.harness.workers import Published, published

__all__ = [
    "DRAIN_SECONDS",
    "Request",
    "cache_emptied",
    "defined_at",
    "files",
    "request_seen",
    "requested",
]

# Long enough for a worker to start and run one small task on a busy machine.
DRAIN_SECONDS = 30


@pytest.fixture(autouse=True)
def cache_emptied(shop_run: ShopRun) -> Iterator[None]:
    """Start and leave each test with an empty cache.

    Lesson 4 caches the sales figures, and the trusted side builds its rows
    without the signals that would drop them: a report read from the cache
    would hold another test's orders and never wait for a lock the test holds.
    """
    # The shop's own Redis user may not FLUSHDB; the trusted side's may.
    assert shop_run.redis is not None
    shop_run.redis.admin().flushdb()
    yield
    shop_run.redis.admin().flushdb()


def files(media: Path) -> set[str]:
    """Return the names of the files in the media folder, as storage names."""
    return {p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()}


@dataclass
class Request:
    """One request: its page, what it published and the files it made."""

    label: str
    page: Page
    messages: list[Published]
    made: set[str]
    # The shop's own word on where it saved each file and published each
    # task: chains of project lines, outermost first. Places only.
    places: dict[str, Any]

    def saved_from(self, name: str) -> str:
        """Return the chain of lines that saved `name`, as `a → b`, or ""."""
        for saved in self._places("saved"):
            if saved.get("name") == name:
                return " → ".join(str(place) for place in saved.get("places") or [])
        return ""

    def call_site(self, task_id: str) -> str | None:
        """Return the innermost project line that published `task_id`."""
        for sent in self._places("published"):
            places = sent.get("places")
            if sent.get("id") == task_id and places and isinstance(places, list):
                return str(places[-1])
        return None

    def _places(self, kind: str) -> list[dict[str, Any]]:
        found = self.places.get(kind) if isinstance(self.places, dict) else None
        return [item for item in found or [] if isinstance(item, dict)]

    def tasks(self, task: str, *, transaction: str = "") -> dict[str, Any]:
        """Return what was published as a task recording, for the budgets."""
        records = [
            {
                "name": message.task,
                "call_site": self.call_site(message.id),
                "in_transaction": bool(transaction),
                "transaction": transaction or None,
            }
            for message in self.messages
            if message.short == task
        ]
        return {"label": self.label, "tasks": {"published": records, "inline": []}}


def requested(
    shop: Shop,
    media: Path,
    path: str,
    *,
    user: str,
    data: Any = None,
    label: str = "",
) -> Request:
    """POST `path` as `user`; return what Redis and the media folder saw."""
    label = label or f"POST {path}"
    before = files(media)
    with shop.redis.commands_watch() as log:
        page = shop.post(path, data, user=user, label=label)
    return request_seen(shop, media, label, page, log, before)


def request_seen(
    shop: Shop, media: Path, label: str, page: Page, log: CommandLog, before: set[str]
) -> Request:
    made = files(media) - before
    return Request(label, page, published(log), made, shop.command("places"))


def defined_at(shop_run: ShopRun, module: str, name: str) -> str:
    """Return `module:line` of `def name` in the shop's source, read as text."""
    path = Path(shop_run.plan.root) / module
    text = path.read_text(errors="replace") if path.is_file() else ""
    lines = text.splitlines()
    found = [n for n, line in enumerate(lines, 1) if re.match(rf"def {name}\b", line)]
    return f"{module}:{found[0] if found else 1}"
