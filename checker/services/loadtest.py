"""A bounded load test with wrk: requests per second, p50, p99 and errors.

wrk (Debian's `wrk`, Homebrew's `wrk`) keeps a fixed number of connections
busy for a fixed time from a small C event loop, so on the same few cores it
can drive a server at thousands of requests per second where a Python load
generator would measure its own limit first. The Lua script below stops each
thread after its share of `requests`, so a run is bounded in requests as well
as in time, and prints the figures as JSON.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from checker.services.base import ServiceError

__all__ = ["LoadFigures", "wrk_run"]

_SCRIPT = """
local limit = %(per_thread)d
local headers = %(headers)s
function init(args)
  count = 0
  for name, value in pairs(headers) do wrk.headers[name] = value end
end
function response(status, headers, body)
  count = count + 1
  if count == limit then
    io.write("thread done\\n")
    io.flush()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "seconds": %%f, "p50_ms": %%f, "p99_ms": %%f, '
    .. '"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}\\n',
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True)
class LoadFigures:
    """What one run of wrk measured."""

    url: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    # Failed connections, reads, writes and time-outs, and answers >= 400.
    errors: int
    status_errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_table(headers: dict[str, str]) -> str:
    items = ", ".join(
        f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()
    )
    return "{" + items + "}"


def _bounded(argv: list[str], *, threads: int, seconds: float) -> tuple[str, str, int]:
    """Run wrk; interrupt it once every thread has had its share of requests.

    A thread that stops leaves wrk waiting out its duration; on SIGINT wrk
    stops at once and still reports, timing the run as it really lasted.
    """
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stderr is not None
    timer = threading.Timer(seconds + 30, process.kill)
    timer.start()
    lines, finished = [], 0
    try:
        for line in process.stdout:
            lines.append(line)
            if line.strip() == "thread done":
                finished += 1
                if finished == threads:
                    process.send_signal(signal.SIGINT)
        error = process.stderr.read()
        return "".join(lines), error, process.wait()
    finally:
        timer.cancel()


def wrk_run(
    url: str,
    *,
    requests: int,
    seconds: float,
    connections: int = 16,
    threads: int = 2,
    headers: dict[str, str] | None = None,
) -> LoadFigures:
    """Load `url` for at most `seconds` and at most about `requests` requests."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise ServiceError(
            "The load test",
            "wrk is not installed",
            "apt-get install wrk (Debian, Ubuntu) or brew install wrk (macOS)",
        )
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
        raise ServiceError(
            "The load test",
            f"{url} is not on this machine",
            "load only the course's own servers, on 127.0.0.1",
        )
    threads = max(1, min(threads, connections))
    script = _SCRIPT % {
        "per_thread": max(1, requests // threads),
        "headers": _lua_table(headers or {}),
    }
    with tempfile.TemporaryDirectory() as folder:
        lua = Path(folder) / "bounded.lua"
        lua.write_text(script)
        argv = [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "5s",
            "-s",
            str(lua),
            url,
        ]
        output, error, status = _bounded(argv, threads=threads, seconds=seconds)
    line = next(
        (ln for ln in output.splitlines() if ln.startswith('{"requests"')), None
    )
    if status != 0 or line is None:
        raise ServiceError(
            "The load test",
            f"wrk failed on {url}: {(error or output).strip()[-500:]}",
            "check that the server answers: curl -k " + url,
        )
    found = json.loads(line)
    return LoadFigures(
        url=url,
        requests=found["requests"],
        seconds=found["seconds"],
        p50_ms=found["p50_ms"],
        p99_ms=found["p99_ms"],
        errors=sum(found[k] for k in ("connect", "read", "write", "timeout")),
        status_errors=found["status"],
    )
