"""Hostile one-liners run in a real sandbox: the kernel must stop each of them."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from checker.harness import sandbox as sandbox_module
from checker.harness.cgroups import leftovers_remove
from checker.harness.sandbox import (
    MIB,
    Sandbox,
    SandboxError,
    SandboxLimits,
    enforcement,
)

UID = GID = 61900
VENV = Path(sys.prefix)
PYTHON = str(VENV / "bin" / "python")
ENV = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.fixture
def make_sandbox(request):
    """Return a factory of sandboxes that are all killed when the test ends."""
    if missing := enforcement():
        pytest.skip("this machine cannot sandbox: " + "; ".join(missing))
    made: list[Sandbox] = []

    def make(**options) -> Sandbox:
        name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[-30:].strip("-")
        made.append(Sandbox(f"t{len(made)}-{name}", uid=UID, gid=GID, **options))
        return made[-1]

    yield make
    for box in made:
        box.kill_all()


@pytest.fixture
def scratch(tmp_path):
    """Return a folder the sandbox's user owns, as a writable path must be."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    os.chown(folder, UID, GID)
    return folder


def run(box: Sandbox, code: str, *, cwd: Path = Path("/"), timeout: float = 20):
    """Run `code` with the venv's python inside `box`; return code and output."""
    process = box.popen(
        [PYTHON, "-c", code],
        env=ENV,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out.decode(), err.decode()


def test_the_tree_runs_as_its_own_user_without_capabilities(make_sandbox):
    code = "print(open('/proc/self/status').read()); import os; print(os.getgroups())"
    returncode, out, err = run(make_sandbox(), code)

    assert returncode == 0, err
    status = dict(re.findall(r"^(\w+):\s+(.*)$", out, re.M))
    assert status["Uid"].split() == [str(UID)] * 4
    assert status["Gid"].split() == [str(GID)] * 4
    for caps in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[caps], 16) == 0, caps
    assert status["NoNewPrivs"] == "1"
    assert out.splitlines()[-1] == "[]"


def test_tcp_ports_of_the_machines_postgresql_and_redis_are_refused(make_sandbox):
    code = """
import socket
for port in (5432, 6379):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2)
        print(port, "connected")
    except OSError as error:
        print(port, type(error).__name__)
"""
    _, out, err = run(make_sandbox(), code)

    assert out.split("\n") == [
        "5432 ConnectionRefusedError",
        "6379 ConnectionRefusedError",
        "",
    ], err


def test_a_unix_socket_placed_in_a_writable_path_is_reachable(make_sandbox, scratch):
    path = scratch / "service.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    os.chown(path, UID, GID)
    server.listen(1)

    def answer() -> None:
        connection, _ = server.accept()
        connection.sendall(b"hello from the service")
        connection.close()

    threading.Thread(target=answer, daemon=True).start()
    code = f"""
import socket
client = socket.socket(socket.AF_UNIX)
client.connect({str(path)!r})
print(client.recv(100).decode())
"""
    _, out, err = run(make_sandbox(writable=[scratch]), code)
    server.close()

    assert out == "hello from the service\n", err


def test_writes_fail_in_read_only_binds_and_outside_the_binds(
    make_sandbox, scratch, tmp_path
):
    readonly = tmp_path / "checkout"
    readonly.mkdir()
    # Owned by the sandbox's user, so only the read-only mount refuses.
    os.chown(readonly, UID, GID)
    code = f"""
import errno
for folder in ({str(readonly)!r}, "/usr", {str(VENV.parent)!r}, "/", {str(scratch)!r}):
    try:
        open(folder + "/new.txt", "w").write("x")
        print(folder, "written")
    except OSError as error:
        print(folder, errno.errorcode[error.errno])
"""
    _, out, err = run(make_sandbox(readonly=[readonly], writable=[scratch]), code)

    assert out.splitlines() == [
        f"{readonly} EROFS",
        "/usr EROFS",
        # A folder the sandbox made to hold the virtualenv's bind.
        f"{VENV.parent} EACCES",
        "/ EACCES",
        f"{scratch} written",
    ], err
    assert not (readonly / "new.txt").exists()
    assert (scratch / "new.txt").read_text() == "x"


def test_a_hidden_path_shows_empty_and_refuses_writes(make_sandbox, tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "checker" / "trusted").mkdir(parents=True)
    (checkout / "checker" / "trusted" / "test_lesson_01.py").write_text("secret")
    (checkout / "checker" / "plugin.py").write_text("public")
    hidden = checkout / "checker" / "trusted"
    code = f"""
import os
print(sorted(os.listdir({str(hidden.parent)!r})), os.listdir({str(hidden)!r}))
try:
    open({str(hidden / "forged.py")!r}, "w")
except OSError as error:
    print(error.strerror)
"""
    _, out, err = run(make_sandbox(readonly=[checkout], hidden=[hidden]), code)

    assert out == "['plugin.py', 'trusted'] []\nRead-only file system\n", err


def test_only_the_bound_folders_of_root_and_the_checkout_are_visible(make_sandbox):
    base = Path(sys.base_prefix).resolve()
    code = f"""
import os
for folder in ("/root", "/root/.pyenv", {str(base.parent)!r}, {str(VENV.parent)!r}, {str(VENV.parents[-2])!r}):
    print(folder, sorted(os.listdir(folder)))
"""  # noqa: E501
    _, out, err = run(make_sandbox(), code)

    assert out.splitlines()[:3] == [
        "/root ['.pyenv']",
        "/root/.pyenv ['versions']",
        f"{base.parent} [{base.name!r}]",
    ], err
    # The checkout holds only its virtualenv, and the folder above it only
    # the checkout (wherever it lies: /work, /tmp, a home).
    assert out.splitlines()[3] == f"{VENV.parent} [{VENV.name!r}]"
    assert out.splitlines()[4] == f"{VENV.parents[-2]} [{VENV.parts[2]!r}]"


def test_memory_spread_over_four_children_is_oom_killed_for_the_whole_tree(
    make_sandbox,
):
    box = make_sandbox(limits=SandboxLimits(memory_mib=128))
    # Each child stays well under the limit; only together do they exceed it.
    code = """
import os, time
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        held = b"x" * (40 * 1024 * 1024)
        time.sleep(1)
        os._exit(0)
    children.append(pid)
print([os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children])
"""
    _, out, err = run(box, code)

    assert "-9" in out, (out, err)
    assert box.oom_killed()
    assert box.exceeded() == (
        "used more than 128 MiB of memory, so the kernel killed a process"
    )


def test_peak_memory_sees_a_childs_allocation_and_resets(make_sandbox):
    box = make_sandbox(limits=SandboxLimits(memory_mib=512))
    code = """
import subprocess, sys
subprocess.run([sys.executable, "-c", "held = b'x' * (96 * 1024 * 1024)"], check=True)
"""
    box.reset_peak()
    returncode, _, err = run(box, code)
    peak = box.peak_memory_bytes()
    box.reset_peak()

    assert returncode == 0, err
    assert peak >= 96 * MIB
    assert box.peak_memory_bytes() < peak - 64 * MIB
    assert not box.oom_killed()
    assert box.exceeded() == ""


def test_pids_max_stops_a_fork_loop(make_sandbox):
    box = make_sandbox(limits=SandboxLimits(pids=24))
    code = """
import os, time
forked = 0
while forked < 1000:
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
    except BlockingIOError:
        break
    forked += 1
print(forked)
"""
    _, out, err = run(box, code)

    assert 0 < int(out) < 24, err
    assert box.exceeded() == "tried to run more than 24 processes"


def test_a_file_larger_than_the_file_limit_is_refused(make_sandbox, scratch):
    box = make_sandbox(writable=[scratch], limits=SandboxLimits(file_mib=1))
    code = f"""
import errno
try:
    open({str(scratch / "big")!r}, "wb").write(b"x" * (2 * 1024 * 1024))
except OSError as error:
    print(errno.errorcode[error.errno])
"""
    _, out, err = run(box, code)

    assert out == "EFBIG\n", err
    assert (scratch / "big").stat().st_size == MIB


def test_writing_more_than_the_cap_stops_the_run_with_the_reason(make_sandbox, scratch):
    (scratch / "before.bin").write_bytes(b"x" * (3 * MIB))
    box = make_sandbox(writable=[scratch], limits=SandboxLimits(written_mib=4))
    code = f"""
import time
for n in range(40):
    open(f"{scratch}/{{n}}.bin", "wb").write(b"x" * (1024 * 1024))
    time.sleep(0.02)
print("wrote 40 MiB")
"""
    returncode, out, _ = run(box, code)

    assert (returncode, out) == (-signal.SIGKILL, "")
    assert box.exceeded() == (
        f"wrote more than 4 MiB into its writable folders ({scratch.name}), "
        "so the run was stopped"
    )
    # Files there before the run do not count against it.
    assert len(list(scratch.glob("*.bin"))) >= 5


def _python_sessions(box: Sandbox) -> set[int]:
    """Return the sessions of the live python processes of `box`."""
    sessions = set()
    for pid in box.pids():
        head, _, rest = Path(f"/proc/{pid}/stat").read_text().rpartition(") ")
        state, _, _, session = rest.split()[:4]
        if "python" in head.partition("(")[2] and state != "Z":
            sessions.add(int(session))
    return sessions


def test_kill_all_kills_a_setsid_double_forked_daemon_and_removes_the_cgroups(
    make_sandbox,
):
    box = make_sandbox()
    code = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    os._exit(0)
print("daemonised", flush=True)
time.sleep(60)
"""
    process = box.popen(
        [PYTHON, "-c", code], env=ENV, cwd=Path("/"), stdout=subprocess.PIPE
    )
    assert process.stdout.readline() == b"daemonised\n"
    deadline = time.monotonic() + 5
    while len(sessions := _python_sessions(box)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    tree = box.pids()
    cgroups = list(box._dirs)

    box.kill_all()

    # The python and, in a session of its own, the daemon it left behind.
    assert len(sessions) == 2, tree
    assert process.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 2
    while any(Path(f"/proc/{pid}").exists() for pid in tree):
        assert time.monotonic() < deadline, "a process of the tree survived"
        time.sleep(0.01)
    assert not any(cgroup.exists() for cgroup in cgroups)


def test_the_sandbox_cannot_signal_a_process_outside_it(make_sandbox):
    code = f"""
import os, signal
try:
    os.kill({os.getpid()}, signal.SIGKILL)
except OSError as error:
    print(type(error).__name__)
"""
    _, out, err = run(make_sandbox(), code)

    assert out == "ProcessLookupError\n", err


def test_leftovers_remove_kills_and_removes_the_cgroups_of_dead_graders(
    make_sandbox,
):
    box = make_sandbox()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = [d.parent / f"course-{dead.pid}-stale" for d in box._dirs]
    for cgroup in stale:
        cgroup.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    for cgroup in stale:
        (cgroup / "cgroup.procs").write_text(str(sleeper.pid))

    removed = leftovers_remove()

    assert sleeper.wait(timeout=5) == -signal.SIGKILL
    assert sorted(removed) == sorted(map(str, stale))
    assert all(d.exists() for d in box._dirs), "a live grader's cgroup was removed"


def test_sandbox_refuses_to_run_as_root(make_sandbox):
    with pytest.raises(ValueError) as excinfo:
        Sandbox("root", uid=0, gid=0)

    assert excinfo.value.args == ("sandbox name 'root', uid 0, gid 0 refused",)


def test_enforcement_off_linux_says_nothing_can_be_enforced(monkeypatch):
    monkeypatch.setattr(sandbox_module.sys, "platform", "darwin")

    assert enforcement.__wrapped__() == [
        "not Linux (darwin): no bubblewrap, namespaces or cgroups, so the shop "
        "would run as the grader's user, with its files, network and memory, and "
        "its processes could outlive the run"
    ]


def test_a_sandbox_off_linux_is_refused_with_what_is_missing(monkeypatch):
    monkeypatch.setattr(sandbox_module, "enforcement", lambda: ["not Linux (darwin)"])

    with pytest.raises(SandboxError) as excinfo:
        Sandbox("anywhere", uid=UID, gid=GID)

    assert excinfo.value.args == ("not Linux (darwin)",)


def test_the_env_reaches_only_the_command_not_the_root_run_bwrap(make_sandbox):
    box = make_sandbox()
    code = "import os, sys; print(sorted(os.environ.items())); sys.stdin.read()"
    env = {"LANG": "C.UTF-8", "LD_PRELOAD": "/nonexistent.so", "MARK": "a=b c"}
    process = box.popen(
        [PYTHON, "-c", code],
        env=env,
        cwd=Path("/"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    outside = Path(f"/proc/{process.pid}/environ").read_bytes()
    out, err = process.communicate(b"", timeout=20)

    assert outside == b"PATH=/usr/bin:/bin\0"
    assert out.decode() == f"{sorted(env.items())}\n"
    # Only the sandbox's python, past setpriv, tried to preload it.
    assert err.decode().count("LD_PRELOAD") == 1


def test_a_passed_file_descriptor_reaches_the_command(make_sandbox):
    ours, theirs = socket.socketpair()
    code = f"import socket; socket.socket(fileno={theirs.fileno()}).send(b'ready')"
    process = make_sandbox().popen(
        [PYTHON, "-c", code], env=ENV, cwd=Path("/"), pass_fds=[theirs.fileno()]
    )
    theirs.close()
    ours.settimeout(20)

    assert ours.recv(10) == b"ready"
    assert process.wait(timeout=20) == 0


def test_a_sandbox_starts_again_after_kill_all_in_fresh_cgroups(make_sandbox):
    box = make_sandbox(limits=SandboxLimits(pids=24))
    fork_loop = "import os\nwhile True: os.fork() or os.pause()"
    box.popen([PYTHON, "-c", fork_loop], env=ENV, cwd=Path("/")).wait(timeout=20)
    box.kill_all()

    returncode, out, err = run(box, "print('again')")

    assert (returncode, out) == (0, "again\n"), err
    assert all(cgroup.exists() for cgroup in box._dirs)
    assert box.exceeded() == "tried to run more than 24 processes"
