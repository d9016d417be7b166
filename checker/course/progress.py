"""The learner's progress in `.course/progress.json`: a cache of results.

Losing the file loses nothing but that cache: `course check --all` rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from checker.harness.runner import ExerciseOutcome


@dataclass
class Entry:
    """What the last check of one exercise found, and the hints seen."""

    status: str = "not checked"
    points: int = 0
    max_points: int = 0
    measured: str = ""
    budget: str = ""
    diagnosis: str = ""
    checked_at: str = ""
    hints_seen: int = 0
    ever_passed: bool = False
    # A digest of the exercise's files as they were checked: a passed
    # exercise is checked again only once they change.
    files_digest: str = ""


def _first_verdict(properties: dict[str, Any]) -> dict[str, Any]:
    """Return the first unmet budget verdict the checker's plugin recorded."""
    verdicts = properties.get("checker_verdicts") or [{}]
    unmet = [v for v in verdicts if not v.get("met", True)]
    return dict((unmet or verdicts)[0])


def files_digest(root: Path, paths: tuple[str, ...]) -> str:
    """Return a digest of the files and folders `paths` name under `root`."""
    digest = hashlib.sha256()
    for path in paths:
        found = root / path
        files = (
            sorted(
                p
                for p in found.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
            )
            if found.is_dir()
            else [found]
        )
        for file in files:
            digest.update(str(file.relative_to(root)).encode() + b"\0")
            try:
                digest.update(file.read_bytes())
            except OSError:
                digest.update(b"\0missing\0")
    return digest.hexdigest()


@dataclass
class Progress:
    """Every exercise's entry, saved atomically."""

    path: Path
    entries: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Progress:
        """Read the file; a missing or corrupt one starts empty."""
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
            entries = {k: Entry(**v) for k, v in raw.get("exercises", {}).items()}
        except (OSError, ValueError, TypeError):
            entries = {}
        return cls(path, entries)

    def entry(self, exercise_id: str) -> Entry:
        return self.entries.setdefault(exercise_id, Entry())

    def forget(self, exercise_id: str) -> None:
        """Drop an exercise's results, keeping the hints already seen."""
        seen = self.entry(exercise_id).hints_seen
        self.entries[exercise_id] = Entry(hints_seen=seen)

    def record(self, outcome: ExerciseOutcome) -> Entry:
        """Store an outcome: status, points, the first unmet budget's diagnosis."""
        entry = self.entry(outcome.id)
        unmet = [b for b in outcome.budgets if not b.passed]
        shown = unmet[0] if unmet else (outcome.budgets[0] if outcome.budgets else None)
        verdict = _first_verdict(shown.properties if shown else {})
        entry.status = outcome.status
        entry.points = outcome.points
        entry.max_points = outcome.max_points
        entry.measured = str(verdict.get("measured", ""))
        entry.budget = str(verdict.get("budget", ""))
        entry.diagnosis = outcome.reason or (unmet[0].message if unmet else "")
        entry.checked_at = datetime.now(UTC).isoformat(timespec="seconds")
        entry.ever_passed = entry.ever_passed or outcome.status == "passed"
        return entry

    def save(self) -> None:
        """Write through a temporary file so a crash never leaves half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"exercises": {k: asdict(v) for k, v in self.entries.items()}}
        handle, name = tempfile.mkstemp(dir=self.path.parent, suffix=".json")
        with os.fdopen(handle, "w") as out:
            json.dump(data, out, indent=2)
        os.replace(name, self.path)
