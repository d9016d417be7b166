"""Run a submission's process tree apart: its own user, files, network and limits.

The tree runs under bubblewrap, started as root without a user namespace, so
`setpriv` can drop it to the caller's uid and gid with no capabilities and
`no_new_privs`. Its filesystem is a whitelist of binds, its network namespace
holds only loopback, and a cgroup in the memory and pids hierarchies limits
and measures the whole tree, daemons included. Tested on cgroup v1; the
cgroup v2 paths (`memory.max`, `memory.peak`, `cgroup.kill`) are written to
the kernel's documentation but not tested.
"""

from __future__ import annotations

import functools
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from checker.harness.cgroups import (
    CGROUP_PREFIX,
    CGROUP_ROOT,
    CgroupError,
    cgroup_kill,
    cgroup_procs,
    cgroup_remove,
    parents,
    unified,
)

MIB = 1024 * 1024
# How often the writable paths are measured: a tree writing at disk speed
# overshoots the cap by at most this long's worth of writes.
WATCH_SECONDS = 0.05
# Read before the cgroups are removed, so the evidence outlives the run.
_EVIDENCE = (
    *("memory.max_usage_in_bytes", "memory.oom_control", "memory.failcnt"),
    *("memory.events", "pids.events"),
)
# Only these run as root, so they come from the system, never from PATH.
_TOOLS = "/usr/bin:/bin"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,80}")
_SYSTEM = tuple(
    Path(p) for p in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")
)


class SandboxError(RuntimeError):
    """Say that this machine cannot run a sandbox, and what is missing."""


@dataclass(frozen=True)
class SandboxLimits:
    """The resources one sandboxed tree may use, all of its processes together."""

    memory_mib: int = 3072
    pids: int = 512
    file_mib: int = 256
    written_mib: int = 256
    tmp_mib: int = 64


def _tool(name: str) -> str:
    found = shutil.which(name, path=_TOOLS)
    if found is None:
        raise SandboxError(f"{name} is not installed in {_TOOLS}")
    return found


def _tree_bytes(paths: Sequence[Path]) -> int:
    """Return the bytes of the distinct files under `paths`, not following links."""
    seen: dict[tuple[int, int], int] = {}
    stack = [str(path) for path in paths]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            seen[info.st_dev, info.st_ino] = info.st_size
    return sum(seen.values())


@functools.cache
def enforcement() -> list[str]:
    """Say what a sandbox cannot enforce on this machine; empty when all holds."""
    if sys.platform != "linux":
        return [
            f"not Linux ({sys.platform}): no bubblewrap, namespaces or cgroups, so "
            "the shop would run as the grader's user, with its files, network and "
            "memory, and its processes could outlive the run"
        ]
    missing = []
    if os.geteuid() != 0:
        missing.append("not root: the shop cannot get a user or cgroups of its own")
    bwrap, setpriv = (shutil.which(name, path=_TOOLS) for name in ("bwrap", "setpriv"))
    if bwrap is None or setpriv is None:
        missing.append(
            "bubblewrap (bwrap) or setpriv is not installed: no own user, file "
            "whitelist or network cut-off"
        )
    elif not missing:
        probe = [bwrap, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid"]
        probe += [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        probe += ["--no-new-privs", "--", "true"]
        run = subprocess.run(probe, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            missing.append(f"bwrap cannot make namespaces here: {run.stderr.strip()}")
    if not missing:
        try:
            for parent in parents():
                probe_dir = parent / f"{CGROUP_PREFIX}{os.getpid()}-probe"
                probe_dir.mkdir()
                probe_dir.rmdir()
        except (OSError, KeyError, CgroupError) as error:
            missing.append(
                f"no writable cgroup memory and pids controllers ({error}): no "
                "memory, process or peak accounting for the whole tree"
            )
    swap = Path("/proc/swaps").read_text().count("\n") > 1
    memsw = CGROUP_ROOT / "memory" / "memory.memsw.limit_in_bytes"
    if swap and not unified() and not memsw.exists():
        missing.append("swap is on and memory.memsw is absent: swap is not limited")
    return missing


class Sandbox:
    """A cgroup-limited, namespaced home for one submission's process tree.

    The caller chowns the `writable` folders to `uid` and `gid`; `hidden`
    paths (under a read-only bind, e.g. `checker/trusted/`) show empty. No
    path given may lie under a folder a submission could write: root
    resolves it, so a planted symlink would bind its target. Call `popen()`
    from a thread that outlives the run: bwrap's --die-with-parent watches
    the thread that started it. The evidence stays readable after
    `kill_all()`.
    """

    def __init__(
        self,
        name: str,
        *,
        uid: int,
        gid: int,
        limits: SandboxLimits = SandboxLimits(),
        readonly: Sequence[Path] = (),
        writable: Sequence[Path] = (),
        hidden: Sequence[Path] = (),
    ) -> None:
        if missing := enforcement():
            raise SandboxError("; ".join(missing))
        if not _NAME.fullmatch(name) or uid <= 0 or gid <= 0:
            raise ValueError(f"sandbox name {name!r}, uid {uid}, gid {gid} refused")
        self.uid, self.gid, self.limits = uid, gid, limits
        self.readonly = [Path(p).resolve() for p in readonly]
        self.writable = [Path(p).resolve() for p in writable]
        self.hidden = [Path(p).resolve() for p in hidden]
        self._v2 = unified()
        self._dirs = [p / f"{CGROUP_PREFIX}{os.getpid()}-{name}" for p in parents()]
        self._procs: list[subprocess.Popen[bytes]] = []
        self._reason = ""
        self._past: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        # The cap counts from here, across every start of the tree.
        self._baseline = _tree_bytes(self.writable)
        self._final: dict[str, str] | None = None
        self._cgroups_create()

    def _cgroups_create(self) -> None:
        for directory in self._dirs:
            directory.mkdir()
        self._final = None
        memory = self._dirs[0]
        limit = str(self.limits.memory_mib * MIB)
        if self._v2:
            (memory / "memory.max").write_text(limit)
            if (memory / "memory.swap.max").exists():
                (memory / "memory.swap.max").write_text("0")
            # memory.peak resets per open file: keep one for reset_peak().
            self._peak_fd = os.open(memory / "memory.peak", os.O_RDWR)
        else:
            (memory / "memory.limit_in_bytes").write_text(limit)
            if (memory / "memory.memsw.limit_in_bytes").exists():
                (memory / "memory.memsw.limit_in_bytes").write_text(limit)
        (self._dirs[-1] / "pids.max").write_text(str(self.limits.pids))

    def _mounts(self) -> list[str]:
        """Return bwrap's arguments that build the sandbox's filesystem."""
        tmp = str(self.limits.tmp_mib * MIB)
        args = ["--dev", "/dev", "--proc", "/proc"]
        for scratch in ("/tmp", "/dev/shm"):
            args += ["--size", tmp, "--perms", "1777", "--tmpfs", scratch]
        python = [Path(sys.base_prefix).resolve(), Path(sys.prefix)]
        readonly = dict.fromkeys([*python, *self.readonly])
        binds = [(p, "--ro-bind") for p in readonly if p not in self.writable]
        binds += [(p, "--bind") for p in self.writable]
        # bwrap copies the source's mode for missing parents (0700 for
        # /root), so create them 0755 for the sandbox's user to pass.
        parents = {a for p, _ in binds for a in p.parents if a != Path("/")}
        for parent in sorted(parents):
            args += ["--perms", "0755", "--dir", str(parent)]
        for system in _SYSTEM:
            if system.is_symlink():
                args += ["--symlink", os.readlink(system), str(system)]
            elif system.exists():
                args += ["--ro-bind", str(system), str(system)]
        for path, kind in sorted(binds, key=lambda bind: len(bind[0].parts)):
            args += [kind, str(path), str(path)]
        for path in self.hidden:
            if path.is_dir():
                args += ["--tmpfs", str(path), "--remount-ro", str(path)]
            elif path.exists():
                args += ["--ro-bind", "/dev/null", str(path)]
        return args

    def command(
        self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path
    ) -> list[str]:
        """Return the command line that runs `argv` inside the sandbox.

        `env` is set by `env -i` after setpriv has dropped root, so nothing in
        it (LD_PRELOAD, PATH) reaches bwrap or setpriv, which run as root.
        """
        if any("=" in part for part in [argv[0], *env]):
            raise ValueError(f"{argv[0]!r} or an environment name holds '='")
        bwrap, setpriv, clear = (_tool(name) for name in ("bwrap", "setpriv", "env"))
        return [
            *(bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc"),
            *("--unshare-uts", "--unshare-cgroup-try", "--die-with-parent"),
            *("--new-session", *self._mounts(), "--chdir", str(cwd)),
            *(setpriv, f"--reuid={self.uid}", f"--regid={self.gid}"),
            *("--clear-groups", "--inh-caps=-all", "--bounding-set=-all"),
            *("--no-new-privs", "--", clear, "-i"),
            *(f"{name}={value}" for name, value in env.items()),
            *argv,
        ]

    def popen(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        stdin: IO[Any] | int | None = None,
        stdout: IO[Any] | int | None = None,
        stderr: IO[Any] | int | None = None,
        pass_fds: Sequence[int] = (),
    ) -> subprocess.Popen[bytes]:
        """Start `argv` in the sandbox with exactly `env`, in `cwd` inside it.

        After `kill_all()` this starts the tree again in fresh cgroups; the
        written cap still counts from the sandbox's creation.
        """
        if self._final is not None:
            if earlier := self.exceeded():
                self._past = [earlier]
            self._reason, self._stop, self._watcher = "", threading.Event(), None
            self._cgroups_create()
        joins = [os.open(d / "cgroup.procs", os.O_WRONLY) for d in self._dirs]
        file_bytes = self.limits.file_mib * MIB

        def confine() -> None:
            # Runs in the child before exec, so nothing it starts is ever
            # outside the cgroups; "0" means the writing process itself.
            for join in joins:
                os.write(join, b"0")
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        try:
            process = subprocess.Popen(
                self.command(argv, env=env, cwd=cwd),
                env={"PATH": _TOOLS},
                cwd="/",
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                pass_fds=tuple(pass_fds),
                # Safe beside threads: it only writes and calls setrlimit.
                preexec_fn=confine,
            )
        finally:
            for join in joins:
                os.close(join)
        self._procs.append(process)
        if self.writable and self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, daemon=True)
            self._watcher.start()
        return process

    def _watch(self) -> None:
        cap = self.limits.written_mib * MIB
        while not self._stop.wait(WATCH_SECONDS):
            if _tree_bytes(self.writable) - self._baseline > cap:
                # Folder names only: the grader's scratch paths mean nothing
                # to a student and change with every run.
                folders = ", ".join(sorted({path.name for path in self.writable}))
                self._reason = (
                    f"wrote more than {self.limits.written_mib} MiB into its "
                    f"writable folders ({folders}), so the run was stopped"
                )
                with self._lock:
                    for directory in self._dirs:
                        cgroup_kill(directory)
                return

    def _read(self, name: str) -> str:
        if self._final is not None:
            return self._final.get(name, "")
        try:
            return (self._dirs[0 if "memory" in name else -1] / name).read_text()
        except FileNotFoundError:
            return ""

    def _count(self, name: str, key: str) -> int:
        for line in self._read(name).splitlines():
            if line.split()[:1] == [key]:
                return int(line.split()[1])
        return 0

    def peak_memory_bytes(self) -> int | None:
        """Return the tree's peak memory since start or `reset_peak()`."""
        if self._v2 and self._final is None:
            return int(os.pread(self._peak_fd, 32, 0))
        if self._v2:
            return int(self._read("memory.peak"))
        peak = self._read("memory.max_usage_in_bytes")
        return int(peak) if peak else None

    def reset_peak(self) -> None:
        """Start measuring the peak again from the tree's current usage."""
        if self._v2:
            os.write(self._peak_fd, b"reset")
        else:
            (self._dirs[0] / "memory.max_usage_in_bytes").write_text("0")

    def oom_killed(self) -> bool:
        """Say whether the kernel killed a process of the tree for memory."""
        if self._v2:
            return self._count("memory.events", "oom_kill") > 0
        if "oom_kill " in self._read("memory.oom_control"):
            return self._count("memory.oom_control", "oom_kill") > 0
        return int(self._read("memory.failcnt") or 0) > 0

    def pids(self) -> list[int]:
        """Return the pids, as the grader sees them, of the tree's processes."""
        return sorted(cgroup_procs(self._dirs[-1]))

    def exceeded(self) -> str:
        """Return why the run was stopped or held back, or "" when it was not."""
        reasons = [*self._past, self._reason] if self._reason else [*self._past]
        if self.oom_killed():
            reasons.append(
                f"used more than {self.limits.memory_mib} MiB of memory, so the "
                "kernel killed a process"
            )
        if self._count("pids.events", "max") > 0:
            reasons.append(f"tried to run more than {self.limits.pids} processes")
        return "; ".join(reasons)

    def kill_all(self) -> None:
        """Kill every process of the tree, wait for them, and remove the cgroups."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
        with self._lock:
            for directory in self._dirs:
                cgroup_kill(directory)
            for process in self._procs:
                process.wait()
            if self._final is None:
                evidence = {name: self._read(name) for name in _EVIDENCE}
                if self._v2:
                    evidence["memory.peak"] = str(self.peak_memory_bytes())
                    os.close(self._peak_fd)
                self._final = evidence
            for directory in self._dirs:
                cgroup_remove(directory)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill_all()
