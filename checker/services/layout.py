"""Where the course keeps its embedded services' data, sockets and logs."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

# A Unix socket path is limited to about 107 bytes; leave room for the name.
_MAX_SOCKET_DIR = 80


def project_root() -> Path:
    """Return the repository root: $COURSE_ROOT, or the checkout holding checker/."""
    override = os.environ.get("COURSE_ROOT")
    if override:
        return Path(override).resolve()
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Layout:
    """The folders under `.course/` that the embedded services use."""

    home: Path

    @classmethod
    def default(cls) -> Layout:
        """Return the layout for $COURSE_HOME, or `.course/` in the project root."""
        home = os.environ.get("COURSE_HOME")
        return cls(Path(home).resolve() if home else project_root() / ".course")

    @property
    def postgres_data(self) -> Path:
        return self.home / "postgres"

    @property
    def redis_data(self) -> Path:
        return self.home / "redis"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        """Return the socket folder, moved under /tmp when the path is too long."""
        run = self.home / "run"
        if len(str(run)) <= _MAX_SOCKET_DIR:
            return run
        digest = hashlib.sha1(str(run).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"django-at-scale-{digest}"

    @property
    def redis_socket(self) -> Path:
        return self.run / "redis.sock"

    @property
    def redis_pidfile(self) -> Path:
        return self.run / "redis.pid"
