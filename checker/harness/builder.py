"""Build the trusted tests' data with the course's own shop, not the submission's.

The data builders of `checker/harness/shop_data.py` run in a process of the
course's own checkout (its `shop_app/`, its models), connected to the run's
database as the run's role: a submission that rewrote the builders, or its
models' `save()`, cannot make the data its pages are measured on smaller
than asked. Writes whose signals the shop must see (a price saved, a review
approved) still run in the shop, through `Shop.call`.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from checker.harness.channel import ChannelClosed, message_read, message_write

__all__ = ["Builder", "BuilderError"]


class BuilderError(RuntimeError):
    """The course's own builder process failed: a bug of the course, not the shop."""


class Builder:
    """One process of the course's shop that runs data builders on request."""

    def __init__(self, *, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: socket.socket | None = None

    def start(self) -> None:
        """Start the process; it imports Django, then waits for `setup()`."""
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "checker.harness.agent"],
            env={
                **self.env,
                "PYTHONPATH": str(self.root / "shop_app"),
                "COURSE_ROOT": str(self.root),
                "COURSE_AGENT_FD": str(theirs.fileno()),
            },
            cwd=self.root,
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        theirs.close()
        self._channel = ours

    def setup(self) -> None:
        """Let the process set Django up: the run's database exists now."""
        assert self._channel is not None
        message_write(self._channel, {"op": "setup"})

    def ready(self) -> None:
        """Wait until Django is set up in the builder process."""
        self._reply()

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run one data builder and return its result, instances as references."""
        assert self._channel is not None
        message_write(
            self._channel,
            {"op": "call", "name": name, "args": list(args), "kwargs": kwargs},
        )
        return self._reply()

    def _reply(self) -> Any:
        assert self._channel is not None
        try:
            reply = message_read(self._channel)
        except (ChannelClosed, OSError) as error:
            raise BuilderError(f"the course's data builder stopped: {error}") from None
        if "error" in reply:
            raise BuilderError(f"the course's data builder failed: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        """Stop the process; safe to call twice."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
