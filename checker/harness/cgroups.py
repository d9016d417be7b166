"""The cgroups a sandbox's process tree lives in: made, emptied, removed.

Each sandbox gets a cgroup in the memory and the pids hierarchy (one cgroup
on v2), inside the grader's own, named `course-<grader pid>-<name>` so that
`leftovers_remove()` can tell the cgroups of a grader that died.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import time
from pathlib import Path

__all__ = [
    "CGROUP_PREFIX",
    "CGROUP_ROOT",
    "CgroupError",
    "cgroup_kill",
    "cgroup_procs",
    "cgroup_remove",
    "leftovers_remove",
    "parents",
    "unified",
]

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PREFIX = "course-"
_OWNED = re.compile(rf"{CGROUP_PREFIX}(\d+)-")


class CgroupError(RuntimeError):
    """The memory and pids controllers cannot be used here."""


def unified() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


def _hierarchies() -> dict[str, Path]:
    """Return the grader's own cgroup per controller; sandboxes nest in it."""
    mine: dict[str, Path] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if unified() and controllers == "":
            mine = {"memory": CGROUP_ROOT / path.lstrip("/")}
            mine["pids"] = mine["memory"]
        for name in ("memory", "pids"):
            if name in controllers.split(",") and not unified():
                mine[name] = CGROUP_ROOT / name / path.lstrip("/")
    return mine


def parents() -> list[Path]:
    """Return the cgroups to create a sandbox's cgroups in, one per hierarchy."""
    mine = _hierarchies()
    if not unified():
        return [mine["memory"], mine["pids"]]
    # A v2 cgroup holding processes cannot enable controllers for children,
    # so fall back to the grader's parent when its own cgroup refuses.
    for parent in (mine["memory"], mine["memory"].parent):
        control = parent / "cgroup.subtree_control"
        try:
            if not {"memory", "pids"} <= set(control.read_text().split()):
                control.write_text("+memory +pids")
            return [parent]
        except OSError:
            continue
    raise CgroupError("cgroup v2: memory and pids cannot be enabled for children")


def cgroup_procs(directory: Path) -> set[int]:
    try:
        return {int(pid) for pid in (directory / "cgroup.procs").read_text().split()}
    except FileNotFoundError:
        return set()


def cgroup_kill(directory: Path) -> None:
    """SIGKILL every process in `directory` until none is left."""
    if (directory / "cgroup.kill").exists():
        (directory / "cgroup.kill").write_text("1")
    deadline = time.monotonic() + 10
    while (pids := cgroup_procs(directory)) and time.monotonic() < deadline:
        # A pidfd pins the process: re-reading cgroup.procs after opening it
        # proves the pid was not reused by a process outside the sandbox.
        handles: dict[int, int] = {}
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                handles[pid] = os.pidfd_open(pid)
        still = cgroup_procs(directory)
        for pid, handle in handles.items():
            try:
                if pid in still:
                    signal.pidfd_send_signal(handle, signal.SIGKILL)
            except ProcessLookupError:
                pass
            finally:
                os.close(handle)
        time.sleep(0.005)


def cgroup_remove(directory: Path) -> None:
    deadline = time.monotonic() + 5
    while directory.exists():
        cgroup_kill(directory)
        try:
            directory.rmdir()
        except FileNotFoundError:
            return
        except OSError:
            # Exiting processes leave the cgroup a moment after SIGKILL.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leftovers_remove() -> list[str]:
    """Kill what is left in cgroups of graders that have died, and remove them."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return []
    roots = [CGROUP_ROOT / name for name in ("memory", "pids")]
    if unified():
        roots = [CGROUP_ROOT]
    removed = []
    for root in roots:
        for directory, children, _ in os.walk(root):
            for child in list(children):
                owner = _OWNED.match(child)
                if owner:
                    children.remove(child)
                    if not _alive(int(owner.group(1))):
                        cgroup_remove(Path(directory, child))
                        removed.append(str(Path(directory, child)))
    return removed
