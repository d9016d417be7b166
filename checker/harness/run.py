"""One run of the trusted tests: the shop's own services, process and evidence.

The trusted pytest process builds a `ShopRun` from the runner's `RunPlan`
(`checker.harness.plan`). Everything a run starts is named after its token,
so the runner can remove what a killed run left (`leftovers_remove`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from checker.harness.builder import Builder
from checker.harness.cache_server import RunRedis
from checker.harness.cgroups import leftovers_remove as cgroups_leftovers_remove
from checker.harness.channel import message_read, message_write
from checker.harness.database import (
    RunDatabase,
    run_database_create,
    run_database_drop,
    run_database_named,
    tables_truncate,
)
from checker.harness.memory import ProcessMemory, TreeMemory
from checker.harness.pgproxy import PgProxy, upstream_from_url
from checker.harness.plan import REDIS_PID, STARTED, RunPlan
from checker.harness.sandbox import Sandbox, SandboxLimits
from checker.harness.shop import Shop, ShopError
from checker.harness.templates import (
    template_for,
    template_keep,
    template_statements,
)

__all__ = ["RunPlan", "ShopRun", "leftovers_remove"]

CHECKER = Path(__file__).resolve().parents[1]


def _world_readable(root: Path) -> None:
    """Let the sandbox's user read the shop's copy (the mount keeps it read-only)."""
    for path in (root, *root.rglob("*")):
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        wanted = mode | 0o444 | (0o111 if path.is_dir() else 0)
        if wanted != mode:
            path.chmod(wanted)


class _Statements:
    """The proxy's log as the shop's driver reads it."""

    def __init__(self, proxy: PgProxy) -> None:
        self.proxy = proxy

    def mark(self) -> int:
        return self.proxy.mark()

    def received(self, since: int) -> list[tuple[str, Sequence[Any]]]:
        return [(s.sql, s.params) for s in self.proxy.statements(since)]


class ShopRun:
    """The services and the shop process of one run."""

    def __init__(self, plan: RunPlan) -> None:
        self.plan = plan
        self.started = False
        self.database: RunDatabase | None = None
        self.proxy: PgProxy | None = None
        self.redis: RunRedis | None = None
        self.sandbox: Sandbox | None = None
        self.builder: Builder | None = None
        self._template_keep: str | None = None
        self._shop: Shop | None = None
        # What PostgreSQL received while the shop's migrations ran, in order,
        # each statement with the number of the connection that sent it.
        self.migration_statements: list[tuple[int, str]] = []

    @property
    def current(self) -> Shop | None:
        """Return the shop process running now, if any."""
        return self._shop

    @property
    def shop(self) -> Shop:
        if self._shop is None or self._shop.broken:
            self._shop_start()
        assert self._shop is not None
        return self._shop

    def start(self) -> None:
        """Create the run's database, Redis and proxy, then start the shop."""
        folder = self.plan.folder
        for name in ("pg", "redis", "mail", "carriers", "errors", "media", "home"):
            (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / STARTED).touch()
        template, migrated = None, False
        if self.plan.sandbox is None:
            template, migrated = template_for(Path(self.plan.root))
        # Named first, so that the shop can import Django while the server
        # makes its database.
        self.database = run_database_named(self.plan.token)
        self.proxy = PgProxy(
            folder / "pg" / ".s.PGSQL.5432",
            upstream_from_url(self.plan.upstream),
            user=self.database.role,
            databases={self.database.name},
        )
        self.proxy.start()
        self.redis = RunRedis(folder / "redis" / "redis.sock", folder=folder / "redis")
        self.redis.start()
        # Noted for `leftovers_remove`: the server outlives a killed run.
        (folder / REDIS_PID).write_text(str(self.redis.pid))
        if self.plan.sandbox is not None:
            self._sandbox_enter()
        self.started = True
        # A learner checks the course's own shop: a builder would run the
        # very same code, so the shop builds its data itself.
        if Path(self.plan.root).resolve() != CHECKER.parent:
            self.builder = Builder(root=CHECKER.parent, env=self._builder_environment())
            self.builder.start()
        self._shop_spawn()
        try:
            run_database_create(
                run=self.database,
                template=template if migrated else None,
                fence_others=self.plan.sandbox is not None,
            )
        except (psycopg.errors.InvalidCatalogName, psycopg.errors.ObjectInUse):
            if not migrated:
                raise
            # Another check dropped or held the template meanwhile: migrate.
            migrated = False
            run_database_create(run=self.database, fence_others=False)
        # The builder sets Django up beside the shop; it waits for the
        # shop's migrations only when it is first asked for data.
        if self.builder is not None:
            self.builder.setup()
        self._shop_ready()
        if migrated and template is not None:
            self.migration_statements = template_statements(template)
        else:
            since = self.proxy.mark()
            self.shop.command("migrate")
            self.migration_statements = [
                (s.connection, s.sql) for s in self.proxy.statements(since)
            ]
        # A learner's first check with these migrations leaves the template,
        # once they have run: a check stopped before would leave an empty one.
        self._template_keep = template if template and not migrated else None
        if self.builder is not None:
            self.builder.ready()

    def _sandbox_enter(self) -> None:
        assert self.plan.sandbox is not None
        folder = self.plan.folder
        options = dict(self.plan.sandbox)
        limits = SandboxLimits(**options.pop("limits", {}))
        _world_readable(Path(self.plan.root))
        writable = [folder / "media", folder / "home"]
        for path in writable:
            os.chown(path, options["uid"], options["gid"])
        self.sandbox = Sandbox(
            self.plan.token,
            limits=limits,
            # The shop reaches its services through their sockets only.
            readonly=[
                Path(self.plan.root),
                CHECKER,
                folder / "pg",
                folder / "redis",
                folder / "mail",
                folder / "carriers",
                folder / "errors",
            ],
            writable=writable,
            hidden=[Path(path) for path in self.plan.hidden],
            **options,
        )
        self.sandbox.__enter__()

    def restart(self, **env: str) -> Shop:
        """Start the shop again with some settings changed (`REDIS_URL=...`).

        The next test gets the shop as the run started it.
        """
        self._shop_start(env)
        assert self._shop is not None
        self._shop.broken = bool(env)
        return self._shop

    def _environment(self) -> dict[str, str]:
        assert self.database and self.redis
        folder, root = self.plan.folder, Path(self.plan.root)
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(folder / "home"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(root / "shop_app"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "DJANGO_SETTINGS_MODULE": "checker.harness.shop_settings",
            "COURSE_ROOT": str(root),
            "COURSE_HOME": str(folder / "home" / ".course"),
            "DATABASE_URL": self.database.shop_url(folder=folder / "pg"),
            "REDIS_URL": self.redis.shop_url(0),
            "CELERY_BROKER_URL": self.redis.broker_url(1),
            "CELERY_RESULT_BACKEND": self.redis.broker_url(3),
            "CACHE_KEY_PREFIX": "run",
            "MEDIA_ROOT": str(folder / "media"),
            # Lesson 8's carrier service, which a trusted test serves there.
            "CARRIERS_URL": "http://carriers",
            "CARRIERS_SOCKET": str(folder / "carriers" / "carriers.sock"),
        }

    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        pass_fds: Sequence[int] = (),
        output: Any = subprocess.DEVNULL,
    ) -> subprocess.Popen[bytes]:
        """Start a command of the shop's (a Celery worker, say) beside it.

        It runs with the shop's settings, in the run's sandbox when there is
        one, and dies with the run. What a sandboxed process prints goes to
        `output` (nowhere by default: an endless print must not fill the
        grader's disk).
        """
        environment = {**self._environment(), **(env or {})}
        root = Path(self.plan.root)
        if self.sandbox is not None:
            return self.sandbox.popen(
                argv,
                env=environment,
                cwd=root,
                pass_fds=tuple(pass_fds),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
            )
        return subprocess.Popen(
            argv,
            env=environment,
            cwd=root,
            pass_fds=tuple(pass_fds),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )

    def _builder_environment(self) -> dict[str, str]:
        assert self.database is not None
        return {
            **self._environment(),
            # Straight to the server, as the run's role: the proxy's log is
            # the shop's statements only.
            "DATABASE_URL": self.database.url(),
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
        }

    def _shop_start(self, overrides: dict[str, str] | None = None) -> None:
        self._shop_spawn(overrides)
        self._shop_ready()

    def _shop_spawn(self, overrides: dict[str, str] | None = None) -> None:
        """Start the shop's process; it imports Django, then waits for `setup`."""
        if self._shop is not None:
            self._shop_stop()
        assert self.proxy is not None and self.database is not None
        ours, theirs = socket.socketpair()
        process = self.spawn(
            [sys.executable, "-m", "checker.harness.agent"],
            env={"COURSE_AGENT_FD": str(theirs.fileno()), **(overrides or {})},
            pass_fds=(theirs.fileno(),),
            output=None if self.sandbox is None else subprocess.DEVNULL,
        )
        theirs.close()
        ours.settimeout(self.plan.command_seconds)
        database = self.database
        self._shop = Shop(
            process=process,
            channel=ours,
            statements=_Statements(self.proxy),
            truncate=lambda: tables_truncate(run=database),
            rows_count=lambda rows: int(
                database.query(f"SELECT count(*) FROM {rows}")[0][0]
            ),
            memory=TreeMemory(self.sandbox)
            if self.sandbox is not None
            else ProcessMemory(process.pid),
            seed=self.plan.seed,
            command_seconds=self.plan.command_seconds,
            stopped_because=self.sandbox.exceeded if self.sandbox else lambda: "",
            redis=self.redis,
            builder=self.builder,
        )

    def _shop_ready(self) -> None:
        """Let the shop set Django up, now that its services exist; wait for it."""
        shop = self._shop
        assert shop is not None
        try:
            message_write(shop.channel, {"op": "setup"})
            ready = message_read(shop.channel)
        except (OSError, ValueError) as error:
            why = shop.stopped_because()
            raise ShopError(f"The shop did not start: {why or error}") from None
        if "error" in ready:
            where = f" ({ready['where']})" if ready.get("where") else ""
            raise ShopError(f"The shop did not start: {ready['error']}{where}")

    def _shop_stop(self) -> None:
        shop, self._shop = self._shop, None
        if shop is None:
            return
        shop.channel.close()
        if self.sandbox is not None:
            self.sandbox.kill_all()
        elif shop.process.poll() is None:
            os.killpg(shop.process.pid, signal.SIGKILL)
        shop.process.wait()

    def trusted_connection(self) -> Any:
        """Return a superuser connection to the run's database."""
        assert self.database is not None
        return self.database.connect()

    def stop(self) -> None:
        """Stop the shop and remove the run's services; safe to call twice."""
        self._shop_stop()
        if self.builder is not None:
            self.builder.close()
        if self.database is not None and self._template_keep:
            template_keep(self.database, self._template_keep, self.migration_statements)
            self._template_keep = None
        if self.sandbox is not None:
            self.sandbox.__exit__(None, None, None)
        if self.proxy is not None:
            self.proxy.close()
        if self.redis is not None:
            self.redis.stop()
        if self.database is not None:
            run_database_drop(run=self.database)
        (self.plan.folder / STARTED).unlink(missing_ok=True)
        self.started = False


def leftovers_remove(plan: RunPlan) -> None:
    """Remove what a run killed at its limit left: database, role, processes."""
    run_database_drop(run=run_database_named(plan.token))
    with contextlib.suppress(OSError, ValueError):
        os.kill(int((plan.folder / REDIS_PID).read_text()), signal.SIGKILL)
    # The sandbox's tree died with the trusted process (bubblewrap's
    # --die-with-parent); its cgroups are named for that dead process.
    cgroups_leftovers_remove()
