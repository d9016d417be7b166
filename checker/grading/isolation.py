"""Give each submission's run its own database, Redis databases and key prefix.

Built from `service_urls()`, so it works with the embedded services and with
external DATABASE_URL, REDIS_URL and CELERY_BROKER_URL alike. Two `course
grade` or `course dev check` processes on one machine never share a slot.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

from checker.services import ServiceUrls, service_urls
from checker.services.layout import Layout

# Redis databases 0 and 1 hold the shop's cache and broker, 2 the checker's
# worker reports and 3 Celery's results (both keyed by unique ids, shared by
# every run, never flushed); each grading slot takes two of the rest, so
# parallel runs never flush each other's keys.
FIRST_REDIS_DB = 4
REDIS_DATABASES = 16
SLOTS = (REDIS_DATABASES - FIRST_REDIS_DB) // 2
_IDENTIFIER = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True)
class Isolation:
    """The services one submission's run may touch, and nothing else."""

    database: str
    database_url: str
    redis_url: str
    broker_url: str
    key_prefix: str

    @property
    def test_database(self) -> str:
        """Return the database pytest-django creates for the run."""
        return f"test_{self.database}"

    def env(self, root: Path) -> dict[str, str]:
        """Return the environment the shop's settings read for this run."""
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.broker_url,
            "CACHE_KEY_PREFIX": self.key_prefix,
            "COURSE_HOME": str(Layout.default().home),
            "MEDIA_ROOT": str(root / "media"),
        }


def _unsplit(parts: SplitResult) -> str:
    # urlunsplit() writes "unix:/path" for an empty host; clients need "unix:///path".
    url = urlunsplit(parts)
    if not parts.netloc and not url.startswith(f"{parts.scheme}://"):
        url = f"{parts.scheme}://{url.removeprefix(f'{parts.scheme}:')}"
    return url


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return _unsplit(parts._replace(path=f"/{name}"))


def _with_redis_db(url: str, number: int) -> str:
    """Point a redis://, unix:// or redis+socket:// URL at database `number`."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if parts.scheme == "unix":
        query["db"] = str(number)
    elif parts.scheme == "redis+socket":
        query["virtual_host"] = str(number)
    elif parts.scheme in {"redis", "rediss"}:
        query.pop("db", None)
        return _unsplit(parts._replace(path=f"/{number}", query=urlencode(query)))
    else:
        # An AMQP broker keeps its virtual host: creating one needs admin rights.
        return url
    return _unsplit(parts._replace(query=urlencode(query)))


def run_token() -> str:
    """Return a short random name for one grading process's databases."""
    return secrets.token_hex(3)


def isolation_for(
    *,
    name: str,
    number: int,
    slot: int,
    run: str = "",
    urls: ServiceUrls | None = None,
) -> Isolation:
    """Return the services of student `name`, number `number`, run in `slot`.

    `run` (see `run_token()`) keeps apart the databases of two processes.
    """
    urls = urls or service_urls()
    # The number keeps names apart that differ only in case or punctuation.
    slug = _IDENTIFIER.sub("_", name.lower()).strip("_")[:30]
    prefix = f"grade_{run}_" if run else "grade_"
    database = f"{prefix}{number}_{slug}".rstrip("_")
    cache_db = FIRST_REDIS_DB + 2 * (slot % SLOTS)
    return Isolation(
        database=database,
        database_url=_with_database(urls.database, database),
        redis_url=_with_redis_db(urls.redis, cache_db),
        broker_url=_with_redis_db(urls.broker, cache_db + 1),
        key_prefix=f"grade-{slug}",
    )


@contextmanager
def slot_claimed(
    *, urls: ServiceUrls | None = None, poll: float = 0.2
) -> Iterator[int]:
    """Hold a free slot (two Redis databases) until the block ends.

    A lock file per slot makes threads and other processes on this machine
    wait for a free one, so no run flushes a database another run is using.
    """
    urls = urls or service_urls()
    digest = hashlib.sha1(urls.redis.encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"course-grade-slots-{digest}"
    folder.mkdir(exist_ok=True)
    while True:
        for slot in range(SLOTS):
            with (folder / f"{slot}.lock").open("w") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    yield slot
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
                return
        time.sleep(poll)


def _redis_client(url: str) -> redis.Redis:
    parts = urlsplit(url)
    if parts.scheme == "redis+socket":
        query = dict(parse_qsl(parts.query))
        return redis.Redis(
            unix_socket_path=parts.path, db=int(query.get("virtual_host", 0))
        )
    return redis.Redis.from_url(url)


def isolation_reset(isolation: Isolation) -> None:
    """Drop the run's test database and empty its Redis databases.

    A run killed at its time or memory limit leaves them behind.
    """
    # libpq reads the URL itself, socket folder (`?host=`) included.
    maintenance = _with_database(isolation.database_url, "postgres")
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(isolation.test_database)
            )
        )
    for url in (isolation.redis_url, isolation.broker_url):
        if urlsplit(url).scheme in {"unix", "redis", "rediss", "redis+socket"}:
            client = _redis_client(url)
            try:
                client.flushdb()
            finally:
                client.close()
