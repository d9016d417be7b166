"""What one run of the trusted tests needs to know, and what a killed run left.

The runner writes a `RunPlan` as JSON and names it in COURSE_HARNESS; the
trusted pytest process reads it back (`checker.harness.run.ShopRun`). This
module imports nothing heavy: the runner reads it before its child starts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunPlan", "run_leftovers_remove"]

# Written before a run creates anything and removed once it has removed all
# of it: a run that ended on its own leaves nothing to look for.
STARTED = "started"
REDIS_PID = "redis/server.pid"


@dataclass(frozen=True)
class RunPlan:
    """What one run needs to know, written by the runner as JSON."""

    root: str
    scratch: str
    token: str
    seed: int
    upstream: str
    # Seconds one command may take before the shop is called stuck.
    command_seconds: float = 60.0
    # None runs the shop as an ordinary child process (a learner's own check).
    sandbox: dict[str, Any] | None = None
    hidden: Sequence[str] = field(default_factory=tuple)

    @classmethod
    def from_environment(cls) -> RunPlan:
        """Read the plan named by COURSE_HARNESS."""
        path = os.environ.get("COURSE_HARNESS")
        if not path:
            raise RuntimeError("COURSE_HARNESS names no run plan")
        return cls(**json.loads(Path(path).read_text()))

    def write(self, path: Path) -> None:
        """Write the plan for the trusted pytest process to read."""
        path.write_text(json.dumps(asdict(self)))

    @property
    def folder(self) -> Path:
        return Path(self.scratch)


def run_leftovers_remove(plan: RunPlan) -> None:
    """Remove what a run killed at its limit left: database, role, processes."""
    if not (plan.folder / STARTED).exists():
        return
    from checker.harness.run import leftovers_remove

    leftovers_remove(plan)
