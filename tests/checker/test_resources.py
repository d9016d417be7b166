import tracemalloc

from checker.measure import measure
from checker.resources import ResourceRecorder, format_bytes


def test_memory_peak_counts_what_the_block_held_at_once():
    with ResourceRecorder() as recorder:
        block = bytearray(8 * 1024 * 1024)
        del block

    assert 8 * 1024 * 1024 <= recorder.peak_bytes < 9 * 1024 * 1024


def test_memory_peak_of_a_small_block_is_small():
    with ResourceRecorder() as recorder:
        sum(range(1000))

    assert recorder.peak_bytes < 64 * 1024


def test_memory_held_before_the_block_is_not_counted():
    held = bytearray(4 * 1024 * 1024)
    tracemalloc.start()
    try:
        with ResourceRecorder() as recorder:
            sum(range(10))
    finally:
        tracemalloc.stop()
    del held

    assert recorder.peak_bytes < 64 * 1024


def test_tracing_started_by_the_recorder_is_stopped_after():
    with ResourceRecorder():
        assert tracemalloc.is_tracing()

    assert not tracemalloc.is_tracing()


def test_memory_can_be_left_out():
    with measure(memory=False, queries=False) as measurement:
        sum(range(10))

    assert measurement.peak_bytes is None
    assert measurement.wall_time > 0


def test_wall_time_covers_the_block():
    import time

    with ResourceRecorder(memory=False) as recorder:
        time.sleep(0.05)

    assert 0.05 <= recorder.wall_time < 0.5
    assert recorder.cpu_time < 0.05


def test_format_bytes_picks_a_readable_unit():
    assert [format_bytes(n) for n in (512, 2048, 5 * 1024 * 1024)] == [
        "512 B",
        "2.0 KiB",
        "5.0 MiB",
    ]
