"""The shop deployed on the learner's machine: Gunicorn, with Nginx in front.

`Stack` collects the static files, starts Gunicorn with the shop's
`shop_app/deploy/gunicorn.conf.py` and Nginx with its
`shop_app/deploy/nginx.conf` (a template, see `checker.services.nginx`), waits
until both answer and returns their addresses. Each process is started
through `spawn`, so the grader runs them in the submission's sandbox while
`course stack up` runs them on the learner's machine.

    with Stack(root=Path("."), folder=Path(".course/stack")) as stack:
        stack.addresses.https   # "unix:/.../https.sock" or "127.0.0.1:8443"
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import psutil

from checker.services.base import ServiceError, log_tail, pid_alive, read_pid
from checker.services.nginx import (
    NginxBinary,
    certificate_make,
    nginx_binary,
    nginx_config_render,
    nginx_main_config,
)

__all__ = [
    "GUNICORN_CONFIG",
    "NGINX_CONFIG",
    "Spawn",
    "Stack",
    "StackAddresses",
    "free_ports",
    "gunicorn_processes",
    "stack_client",
    "stack_pids",
    "stack_stop",
]

GUNICORN_CONFIG = "shop_app/deploy/gunicorn.conf.py"
NGINX_CONFIG = "shop_app/deploy/nginx.conf"
START_SECONDS = 30.0
STOP_SECONDS = 10.0

# Start `argv` with these variables added to the shop's environment, its
# output to the file given and these descriptors inherited; return the process.
Spawn = Callable[
    [Sequence[str], dict[str, str], IO[bytes], Sequence[int]],
    "subprocess.Popen[bytes]",
]


def _spawn_here(root: Path) -> Spawn:
    def spawn(
        argv: Sequence[str],
        env: dict[str, str],
        output: IO[bytes],
        pass_fds: Sequence[int],
    ) -> subprocess.Popen[bytes]:
        shop = str(root / "shop_app")
        path = os.environ.get("PYTHONPATH", "")
        return subprocess.Popen(
            argv,
            cwd=root,
            env={
                **os.environ,
                "PYTHONPATH": f"{shop}{os.pathsep}{path}" if path else shop,
                **env,
            },
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            pass_fds=tuple(pass_fds),
            start_new_session=True,
        )

    return spawn


@dataclass(frozen=True)
class StackAddresses:
    """Where each part listens: `unix:/path` or `127.0.0.1:port`."""

    gunicorn: str
    http: str
    https: str
    certificate: Path
    static_root: Path


def stack_client(
    address: str, *, certificate: Path | None = None, timeout: float = 30
) -> httpx.Client:
    """Return an HTTP client for `address`; HTTPS trusting `certificate` if given."""
    scheme = "https" if certificate else "http"
    verify: ssl.SSLContext | bool = False
    if certificate:
        verify = ssl.create_default_context(cafile=str(certificate))
    if address.startswith("unix:"):
        transport = httpx.HTTPTransport(uds=address[5:], verify=verify, retries=0)
        return httpx.Client(
            transport=transport, base_url=f"{scheme}://localhost", timeout=timeout
        )
    host = address.replace("127.0.0.1", "localhost")
    return httpx.Client(base_url=f"{scheme}://{host}", timeout=timeout, verify=verify)


class Stack:
    """Gunicorn serving the shop at `root`, and Nginx in front of it."""

    def __init__(
        self,
        *,
        root: Path,
        folder: Path,
        spawn: Spawn | None = None,
        env: dict[str, str] | None = None,
        ports: tuple[int, int, int] | None = None,
        upstream: str | None = None,
        nginx: bool = True,
        owner: tuple[int, int] | None = None,
        root_user: bool | None = None,
        private: Path | None = None,
    ) -> None:
        """Prepare a stack; `ports` (gunicorn, http, https) for TCP on 127.0.0.1.

        Without `ports` every part listens on a Unix socket in `folder`.
        `upstream` puts something between Nginx and Gunicorn (a relay that
        counts what reaches the shop); it must forward to `gunicorn`.
        `private` is a folder the processes cannot see (outside a sandbox's
        mounts): Gunicorn's socket is bound there and handed over as an
        inherited descriptor (`--bind fd://N`), so only `upstream` reaches
        it, and Nginx reads its config from there through descriptors too,
        so nothing Gunicorn runs can rewrite it first.
        """
        self.root = root.resolve()
        self.folder = folder.resolve()
        # Processes started here are stopped by their pid files; a sandbox's
        # pids mean nothing outside it, so those are stopped by their Popen.
        self.local = spawn is None
        self.spawn = spawn or _spawn_here(self.root)
        self.env = env or {}
        self.nginx = nginx
        self.owner = owner
        if root_user is None:
            root_user = spawn is None and os.geteuid() == 0
        self.root_user = root_user
        self.binary: NginxBinary | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.private = private.resolve() if private else None
        self._listener: socket.socket | None = None
        self._files: list[IO[bytes]] = []
        certificate, _ = self._certificate_paths()
        if ports:
            gunicorn, http, https = (f"127.0.0.1:{port}" for port in ports)
        else:
            gunicorn, http, https = (
                f"unix:{self.folder / name}.sock"
                for name in ("gunicorn", "http", "https")
            )
        self.addresses = StackAddresses(
            gunicorn=gunicorn,
            http=http,
            https=https,
            certificate=certificate,
            static_root=self.folder / "static",
        )
        if self.private is not None:
            self.addresses = replace(
                self.addresses, gunicorn=f"unix:{self.private / 'gunicorn.sock'}"
            )
        self.upstream = upstream or self.addresses.gunicorn

    def _certificate_paths(self) -> tuple[Path, Path]:
        return (
            self.folder / "tls" / "localhost.crt",
            self.folder / "tls" / "localhost.key",
        )

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """Return the variables Gunicorn and collectstatic run with."""
        return {
            "DJANGO_SETTINGS_MODULE": "config.settings.deploy",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
            "STATIC_ROOT": str(self.addresses.static_root),
            # prometheus_client's multiprocess mode (lesson 10): each worker
            # writes its metrics there, and /metrics adds them all up.
            "PROMETHEUS_MULTIPROC_DIR": str(self.folder / "prometheus"),
            **self.env,
        }

    def _metrics_folder_empty(self, env: dict[str, str]) -> None:
        """Empty the multiprocess folder: a dead server's counts must not add up."""
        folder = Path(env["PROMETHEUS_MULTIPROC_DIR"])
        if folder.parent != self.folder:
            return  # the caller's own folder, theirs to prepare
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()

    def start(self) -> None:
        """Collect the static files, start Gunicorn and Nginx, wait for both."""
        if self.local:
            # A stack started earlier in this folder holds its sockets.
            stack_stop(self.folder)
        for name in ("temp", "cache", "tls"):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        for sock in ("gunicorn", "http", "https"):
            (self.folder / f"{sock}.sock").unlink(missing_ok=True)
        env = self.environment()
        self._metrics_folder_empty(env)
        self._chown()
        try:
            self._run_once(
                "collectstatic",
                [sys.executable, "shop_app/manage.py", "collectstatic", "--noinput"],
                env,
            )
            self._start_gunicorn(env)
            if self.nginx:
                self._start_nginx()
        except BaseException:
            self.stop()
            raise

    def _chown(self) -> None:
        if self.owner is None:
            return
        for path in (self.folder, *self.folder.rglob("*")):
            os.chown(path, *self.owner, follow_symlinks=False)

    def _https_origin(self) -> str:
        """Return where plain HTTP is redirected, in nginx variables."""
        https = self.addresses.https
        port = "" if https.startswith("unix:") else https.rsplit(":", 1)[1]
        return f"https://$host:{port}" if port and port != "443" else "https://$host"

    def _log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def _run_once(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        with self._log(name).open("wb") as output:
            process = self.spawn(argv, env, output, ())
        if process.wait(timeout=120) != 0:
            raise ServiceError(
                "The stack",
                f"`{' '.join(argv[1:])}` failed:\n{log_tail(self._log(name))}",
                f"run it yourself to see the whole error; its log is {self._log(name)}",
            )

    def _start_gunicorn(self, env: dict[str, str]) -> None:
        config = self.root / GUNICORN_CONFIG
        if not config.is_file():
            raise ServiceError(
                "Gunicorn", f"{GUNICORN_CONFIG} is missing", "course reset 09-gunicorn"
            )
        bind, inherited = self.addresses.gunicorn, []
        if self.private is not None:
            inherited = [self._listen().fileno()]
            bind = f"fd://{inherited[0]}"
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(config),
            # The course decides where Gunicorn listens; the file the rest.
            "--bind",
            bind,
            "--pid",
            str(self.folder / "gunicorn.pid"),
            "--chdir",
            str(self.root / "shop_app"),
            "config.wsgi:application",
        ]
        with self._log("gunicorn").open("wb") as output:
            self.processes["gunicorn"] = self.spawn(argv, env, output, inherited)
        self._wait("Gunicorn", "gunicorn", self.addresses.gunicorn, None)

    def _start_nginx(self) -> None:
        self.binary = nginx_binary()
        template = self.root / NGINX_CONFIG
        if not template.is_file():
            raise ServiceError(
                "Nginx", f"{NGINX_CONFIG} is missing", "course reset 09-nginx"
            )
        certificate, key = certificate_make(self.folder / "tls")
        servers = nginx_config_render(
            template.read_text(),
            values={
                "http_listen": self.addresses.http,
                "https_listen": self.addresses.https,
                "https_origin": self._https_origin(),
                "upstream": self.upstream,
                "static_root": f"{self.addresses.static_root}/",
                "certificate": str(certificate),
                "certificate_key": str(key),
                "cache_path": str(self.folder / "cache"),
            },
            name=NGINX_CONFIG,
        )
        servers_path = self._config("servers.conf", servers)
        # Nginx's workers drop to `nobody` when started as root, and could
        # then not read the course's folders.
        user = "root" if self.root_user else None
        main = nginx_main_config(folder=self.folder, servers=servers_path, user=user)
        main_path = self._config("nginx.conf", main)
        self._chown()
        argv = [
            str(self.binary.path),
            "-p",
            str(self.folder),
            "-c",
            str(main_path),
            "-e",
            str(self.folder / "nginx-error.log"),
        ]
        inherited = [file.fileno() for file in self._files]
        with self._log("nginx").open("wb") as output:
            self.processes["nginx"] = self.spawn(argv, {}, output, inherited)
        self._wait("Nginx", "nginx", self.addresses.https, certificate)

    def _listen(self) -> socket.socket:
        """Bind Gunicorn's socket in the private folder, for it to inherit."""
        assert self.private is not None
        path = self.private / "gunicorn.sock"
        path.unlink(missing_ok=True)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(128)
        return self._listener

    def _config(self, name: str, text: str) -> Path:
        """Write one of Nginx's files; return the path it opens it by.

        With a private folder the file is written there and Nginx opens its
        inherited descriptor (/dev/fd/N), the file itself out of reach.
        """
        if self.private is None:
            (self.folder / name).write_text(text)
            return self.folder / name
        (self.private / name).write_text(text)
        (self.private / name).chmod(0o644)
        file = (self.private / name).open("rb")
        self._files.append(file)
        return Path(f"/dev/fd/{file.fileno()}")

    def _wait(
        self, label: str, name: str, address: str, certificate: Path | None
    ) -> None:
        process = self.processes[name]
        deadline = time.monotonic() + START_SECONDS
        with stack_client(address, certificate=certificate, timeout=5) as client:
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    client.get("/no-such-page/")
                    return
                except httpx.TransportError:
                    time.sleep(0.1)
        log = self._log(name)
        if name == "nginx":
            log = self.folder / "nginx-error.log"
        raise ServiceError(
            label,
            f"it did not answer on {address} within {START_SECONDS:.0f} s:\n"
            f"{log_tail(log)}",
            f"read {log}; `nginx -t` or `gunicorn --check-config` may say more",
        )

    def gunicorn_master(self) -> int:
        """Return the pid of Gunicorn's master as this side sees it."""
        process = self.processes.get("gunicorn")
        found = gunicorn_processes(process.pid) if process else None
        if not found:
            raise ServiceError("Gunicorn", "its master is not running", "start it")
        return found[0]

    def gunicorn_workers(self) -> list[int]:
        """Return the pids of Gunicorn's workers, the master's children."""
        return _children(self.gunicorn_master())

    def reload(self) -> None:
        """Reload Gunicorn gracefully (SIGHUP): new workers, old ones finish."""
        os.kill(self.gunicorn_master(), signal.SIGHUP)

    def stop(self) -> None:
        """Stop Nginx and Gunicorn; safe to call twice."""
        if self.local:
            stack_stop(self.folder)
        for process in self.processes.values():
            _end(process, kill=not self.local)
        self.processes.clear()
        for file in self._files:
            file.close()
        self._files.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            assert self.private is not None
            (self.private / "gunicorn.sock").unlink(missing_ok=True)


def _end(process: subprocess.Popen[Any], *, kill: bool) -> None:
    """Stop `process`; `kill` for a sandbox, whose tree dies with it."""
    if kill and process.poll() is None:
        process.kill()
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_ports(count: int) -> list[int]:
    """Return `count` distinct loopback TCP ports no one listens on now."""
    probes = [socket.socket() for _ in range(count)]
    for probe in probes:
        probe.bind(("127.0.0.1", 0))
    ports = [int(probe.getsockname()[1]) for probe in probes]
    for probe in probes:
        probe.close()
    return ports


def _children(pid: int) -> list[int]:
    """Return the live children of `pid`, from the process table (psutil)."""
    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except psutil.NoSuchProcess:
        return []
    except psutil.Error as error:
        raise ServiceError(
            "Gunicorn",
            f"this machine does not let the course list process {pid}'s"
            f" children ({type(error).__name__}), so its workers cannot be counted",
            "run the course as the user that started the stack",
        ) from error


def _descendants(pid: int) -> list[int]:
    """Return every live descendant of `pid`, parents before children."""
    found, todo = [], _children(pid)
    while todo:
        child = todo.pop(0)
        found.append(child)
        todo += _children(child)
    return found


def _is_gunicorn(pid: int) -> bool:
    try:
        argv = psutil.Process(pid).cmdline()
    except psutil.Error:
        return False
    return "gunicorn" in argv[:3] or any(a.endswith("/gunicorn") for a in argv[:2])


def gunicorn_processes(pid: int) -> list[int]:
    """Return Gunicorn's master under `pid` (itself included), or []."""
    for candidate in [pid, *_descendants(pid)]:
        if _is_gunicorn(candidate):
            return [candidate]
    return []


def stack_pids(folder: Path) -> dict[str, int | None]:
    """Return the live pid of Gunicorn's and Nginx's master in `folder`, or None."""
    found: dict[str, int | None] = {}
    for name in ("gunicorn", "nginx"):
        pid = read_pid(folder / f"{name}.pid")
        found[name] = pid if pid is not None and pid_alive(pid) else None
    return found


def stack_stop(folder: Path) -> list[str]:
    """Stop what a stack left running in `folder` (by its pid files)."""
    done: list[str] = []
    for name, pid in stack_pids(folder).items():
        if pid is None:
            continue
        # SIGTERM is a graceful stop for Gunicorn, SIGQUIT for Nginx.
        os.kill(pid, signal.SIGQUIT if name == "nginx" else signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        done.append(f"stopped {name} (pid {pid})")
    return done
