"""The kernel's account of a process's memory, read from outside it."""

import subprocess
import sys

import pytest

from checker.harness.memory import ProcessMemory

CHILD = """
import sys
held = []
for line in sys.stdin:
    if line.strip() == "grow":
        held.append(bytearray(64 * 2**20))
        held.clear()
    print("done", flush=True)
"""
MIB = 2**20


@pytest.fixture
def child():
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    yield process
    process.kill()
    process.wait()


def _ask(process, line):
    process.stdin.write(line + "\n")
    process.stdin.flush()
    assert process.stdout.readline() == "done\n"


def test_a_peak_freed_before_the_reading_is_still_seen(child):
    gauge = ProcessMemory(child.pid)
    _ask(child, "wait")
    gauge.reset_peak()

    _ask(child, "grow")

    assert gauge.peak_memory_bytes() >= 60 * MIB
    assert gauge.resident_bytes() < 60 * MIB


def test_a_request_that_allocates_nothing_shows_no_peak(child):
    gauge = ProcessMemory(child.pid)
    _ask(child, "grow")
    gauge.reset_peak()

    _ask(child, "wait")

    assert gauge.peak_memory_bytes() < 8 * MIB
