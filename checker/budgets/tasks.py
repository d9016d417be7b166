"""Task budgets: published rather than run inline, published on commit, drained.

`task_offloaded` and `task_published_on_commit` check a subject carrying a
task recording: a `Measurement` (its `.tasks`), a `TaskRecorder`, or their
`to_dict()` data. `drained_by_worker` checks a worker's `DrainReport`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checker.budgets import Budget, Verdict
from checker.budgets.cache import label_of, recording_data

__all__ = [
    "DrainedByWorker",
    "TaskOffloaded",
    "TaskOnCommit",
    "drained_by_worker",
    "task_data",
    "task_offloaded",
    "task_published_on_commit",
]

_TRANSACTION_WORDS = {
    "open": "inside a transaction that was still open",
    "committed": "inside a transaction, before it committed",
    "rolled back": "inside a transaction that rolled back",
}


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun if count == 1 else noun + 's'}"


def task_data(subject: Any) -> dict[str, Any]:
    """Return the task recording of a subject as plain data."""
    return recording_data(subject, "tasks", "task")


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _matches(record: dict[str, Any], name: str) -> bool:
    full = str(record["name"])
    return full == name or full.endswith(f".{name}")


def _site(record: dict[str, Any]) -> str:
    return f" from {record['call_site']}" if record.get("call_site") else ""


@dataclass(repr=False)
class TaskOffloaded(Budget):
    """The task is published to the broker and never run in this process."""

    name: str = ""

    def describe(self) -> str:
        """Return the budget in words."""
        return f"{_short(self.name)} published to a worker, not run inline"

    def check(self, subject: Any) -> Verdict:
        """Find the task among the published and the inline runs."""
        data = task_data(subject)
        short = _short(self.name)
        published = [task for task in data["published"] if _matches(task, self.name)]
        inline = [task for task in data["inline"] if _matches(task, self.name)]
        met = bool(published) and not inline
        label = label_of(subject)
        fix = f"Call `{short}.delay_on_commit(...)` instead of running it inline."
        if inline:
            how = "called directly" if inline[0]["mode"] == "direct" else "applied"
            message = (
                f"{label} ran {short} inline, {how}{_site(inline[0])} "
                f"(budget: {self.describe()}). {fix}"
            )
        elif not published:
            message = (
                f"{label} never published {short} (budget: {self.describe()}). "
                f"Call `{short}.delay_on_commit(...)` where the work is triggered."
            )
        else:
            message = f"{label} published {short}{_site(published[0])}."
        return Verdict(
            self.describe(),
            met,
            f"{len(published)} published, {len(inline)} inline",
            message,
            {"published": published, "inline": inline},
            self.points,
        )


@dataclass(repr=False)
class TaskOnCommit(Budget):
    """The task leaves for the broker only once the data it needs is committed."""

    name: str = ""

    def describe(self) -> str:
        """Return the budget in words."""
        return f"{_short(self.name)} published on commit"

    def check(self, subject: Any) -> Verdict:
        """Fail on any publish made inside a transaction."""
        data = task_data(subject)
        short = _short(self.name)
        published = [task for task in data["published"] if _matches(task, self.name)]
        early = [task for task in published if task["in_transaction"]]
        met = bool(published) and not early
        label = label_of(subject)
        if early:
            first = early[0]
            consequence = (
                "the worker acts on data that never existed"
                if first["transaction"] == "rolled back"
                else "a worker can run it before the commit and miss the new rows"
            )
            message = (
                f"{label} published {short} {_TRANSACTION_WORDS[first['transaction']]}"
                f"{_site(first)} (budget: {self.describe()}): {consequence}. Call "
                f"`{short}.delay_on_commit(...)` instead of `{short}.delay(...)`."
            )
        elif not published:
            message = f"{label} never published {short} (budget: {self.describe()})."
        else:
            message = f"{label} published {short} outside any open transaction."
        return Verdict(
            self.describe(),
            met,
            f"{len(early)} of {len(published)} published inside a transaction",
            message,
            {"published": published},
            self.points,
        )


def _describe_outcome(outcome: dict[str, Any]) -> str:
    short = _short(str(outcome["name"]))
    if outcome["state"] == "unknown":
        return (
            f"Not registered in the worker: {short}; define it with @shared_task "
            "in an app's tasks.py so that autodiscovery finds it."
        )
    text = f"Failed in the worker: {short} raised {outcome['error']}."
    if "DoesNotExist" in str(outcome["error"]):
        text += " Publish it on commit so that the worker sees the committed rows."
    return text


@dataclass(repr=False)
class DrainedByWorker(Budget):
    """Every task awaited was run by the real worker, and succeeded."""

    def describe(self) -> str:
        """Return the budget in words."""
        return "every task drained by the worker and succeeded"

    def check(self, subject: Any) -> Verdict:
        """Read the drain report: unfinished, failed and unknown tasks."""
        data = subject if isinstance(subject, dict) else subject.to_dict()
        data = data.get("worker", data)
        outcomes = data["outcomes"]
        succeeded = [o for o in outcomes if o["state"] == "succeeded"]
        total = len(outcomes) + len(data["pending"])
        met = total > 0 and len(succeeded) == total and data["queue_size"] == 0
        message = (
            f"The worker finished {len(succeeded)} of {total} tasks successfully "
            f"(budget: {self.describe()})."
        )
        problems = [_describe_outcome(o) for o in outcomes if o["state"] != "succeeded"]
        if data["pending"]:
            problems.append(
                f"Never finished: {_plural(len(data['pending']), 'task')}; is a "
                f"worker consuming queue {data['queue']!r}, and does the task end "
                "in time?"
            )
        if data["queue_size"]:
            problems.append(f"Still queued: {_plural(data['queue_size'], 'message')}.")
        if total == 0:
            problems.append("No task was awaited: publish one first.")
        message = " ".join([message, *problems])
        return Verdict(
            self.describe(),
            met,
            f"{len(succeeded)} of {total} succeeded",
            message,
            data,
            self.points,
        )


def task_offloaded(name: str) -> TaskOffloaded:
    """Return a budget that `name` is published, never run inline."""
    return TaskOffloaded(name=name)


def task_published_on_commit(name: str) -> TaskOnCommit:
    """Return a budget that `name` is published only after the commit."""
    return TaskOnCommit(name=name)


def drained_by_worker() -> DrainedByWorker:
    """Return a budget that the worker ran every task awaited, successfully."""
    return DrainedByWorker()
