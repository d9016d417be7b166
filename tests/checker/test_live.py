"""The live line of a long cell: seconds spent, memory traced, then done."""

from __future__ import annotations

import time
import tracemalloc

from checker.live import TICK_SECONDS, ticking


def test_the_line_ticks_while_the_block_runs_and_ends_with_done(capsys):
    with ticking("Exporting"):
        time.sleep(TICK_SECONDS * 3)

    written = capsys.readouterr().err
    lines = [line for line in written.split("\r") if line]
    assert len(lines) >= 3
    assert all(line.startswith("Exporting: ") for line in lines)
    assert lines[-1].endswith(", done\n")
    assert "traced" not in written


def test_the_line_shows_the_memory_traced_when_tracing(capsys):
    tracemalloc.start()
    try:
        with ticking("Loading"):
            held = [bytes(1024) for _ in range(4096)]
            time.sleep(TICK_SECONDS * 2)
    finally:
        tracemalloc.stop()

    written = capsys.readouterr().err
    assert len(held) == 4096
    assert "MiB traced" in written
