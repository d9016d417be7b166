"""The run's shop deployed as lesson 9 deploys it: Gunicorn, with Nginx in front.

`deployed(run)` starts `checker.services.stack.Stack` with the shop's own
`shop_app/deploy/` files, every process in the run's sandbox when it has one,
and puts an `HttpRelay` between Nginx and Gunicorn, on the trusted side, so
a test reads which requests reached the shop from the relay's log.

    with deployed(shop_run) as site:
        with site.client() as client:   # HTTPS through Nginx
            client.get("/products/")
        site.relay.requests()           # what reached Gunicorn
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from checker.harness.http_relay import HttpRelay
from checker.harness.run import ShopRun
from checker.services.nginx import nginx_routes_around
from checker.services.stack import NGINX_CONFIG, Stack, stack_client

__all__ = ["Deployed", "LoadResult", "deployed", "load_run"]


@dataclass
class Deployed:
    """A running stack, and the relay that sees what reaches Gunicorn."""

    stack: Stack
    relay: HttpRelay

    def client(self, *, https: bool = True, timeout: float = 30) -> httpx.Client:
        """Return a client to Nginx: HTTPS trusting the course's certificate."""
        addresses = self.stack.addresses
        if https:
            return stack_client(
                addresses.https, certificate=addresses.certificate, timeout=timeout
            )
        return stack_client(addresses.http, timeout=timeout)

    def gunicorn(self, *, timeout: float = 30) -> httpx.Client:
        """Return a client straight to Gunicorn, past Nginx and the relay."""
        return stack_client(self.stack.addresses.gunicorn, timeout=timeout)


@contextmanager
def deployed(
    run: ShopRun, *, env: dict[str, str] | None = None, name: str = "stack"
) -> Iterator[Deployed]:
    """Start the shop's stack beside the run; stop it and the relay after.

    Gunicorn listens on a socket the trusted side binds in a folder outside
    every sandbox mount and hands over as an inherited descriptor, so
    nothing in the sandbox can connect to it: the shop is reached only
    through the relay.
    """
    template = Path(run.plan.root) / NGINX_CONFIG
    around = template.is_file() and nginx_routes_around(
        template.read_text(), name=NGINX_CONFIG
    )
    if around:
        raise AssertionError(
            "Nginx would reach the shop by a way the course cannot see, so"
            " no budget of lesson 9 can be measured: " + "; ".join(around) + "."
        )
    home = run.plan.folder / "home"
    folder = home / name
    # The relay's folder is the trusted side's: the shop may not replace
    # the socket that Nginx is told to proxy to.
    relay_folder = home / f"{name}-relay"
    relay_folder.mkdir(parents=True, exist_ok=True)
    relay_folder.chmod(0o755)
    # Outside every mount of the sandbox: Gunicorn's socket, Nginx's config.
    private = run.plan.folder / f"{name}-private"
    private.mkdir(exist_ok=True)
    owner = None
    if run.sandbox is not None:
        owner = (run.sandbox.uid, run.sandbox.gid)

    def spawn(
        argv: Sequence[str],
        variables: dict[str, str],
        output: IO[bytes],
        pass_fds: Sequence[int],
    ) -> subprocess.Popen[bytes]:
        return run.spawn(argv, env=variables, output=output, pass_fds=pass_fds)

    stack = Stack(
        root=Path(run.plan.root),
        folder=folder,
        spawn=spawn,
        env=env,
        upstream=f"unix:{relay_folder / 'gunicorn.sock'}",
        owner=owner,
        root_user=run.sandbox is None and os.geteuid() == 0,
        private=private,
    )
    gunicorn = Path(stack.addresses.gunicorn.removeprefix("unix:"))
    with HttpRelay(relay_folder / "gunicorn.sock", gunicorn) as relay, stack:
        yield Deployed(stack=stack, relay=relay)


@dataclass(frozen=True)
class LoadResult:
    """What a bounded load saw: answers by status, and the errors."""

    statuses: dict[int, int]
    errors: list[str]

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + len(self.errors)


def load_run(
    connect: Callable[[], httpx.Client],
    path: str,
    *,
    requests: int,
    concurrency: int,
    midway: Callable[[], None] | None = None,
) -> LoadResult:
    """GET `path` `requests` times from `concurrency` threads, each its own client.

    `midway` runs once, in its own thread, when a third of the requests are
    done (a reload under load). An answer of 500 or more is an error, as is
    a connection that fails.
    """
    lock = threading.Lock()
    statuses: dict[int, int] = {}
    errors: list[str] = []
    left = iter(range(requests))
    fired = threading.Event()
    helpers: list[threading.Thread] = []

    def worker() -> None:
        with connect() as client:
            while True:
                with lock:
                    number = next(left, None)
                    if number is None:
                        return
                    if midway and number >= requests // 3 and not fired.is_set():
                        fired.set()
                        helpers.append(threading.Thread(target=midway))
                        helpers[-1].start()
                try:
                    status = client.get(path).status_code
                except httpx.HTTPError as error:
                    with lock:
                        errors.append(f"{type(error).__name__}: {error}")
                    continue
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status >= 500:
                        errors.append(f"answered {status}")
                        statuses[status] -= 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for thread in helpers:
        thread.join()
    return LoadResult(statuses={s: n for s, n in statuses.items() if n}, errors=errors)
