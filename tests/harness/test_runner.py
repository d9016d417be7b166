"""The runner grades real child pytest runs; these shops are tiny stand-ins."""

import textwrap

import pytest

from checker.harness.runner import Limits, Target, run_exercises
from checker.manifest import Exercise

TRUSTED_TESTS = """
import pytest

import shop


@pytest.mark.exercise("ex-a", budget="answer")
def test_answer():
    assert shop.answer() == 42, f"answer() returned {shop.answer()}, expected 42"


@pytest.mark.exercise("ex-a", budget="fast")
def test_fast():
    shop.fast()


@pytest.mark.exercise("ex-b", budget="hog")
def test_hog():
    shop.hog()
"""


def _exercise(exercise_id, *budgets, guards=()):
    return Exercise(
        id=exercise_id,
        title=exercise_id,
        lesson="00",
        files=("shop_app/shop.py",),
        hints=(),
        solution="",
        tests="test_trusted.py",
        points=dict.fromkeys(budgets, 2),
        guards=guards,
    )


@pytest.fixture
def trusted(tmp_path):
    folder = tmp_path / "trusted"
    folder.mkdir()
    (folder / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    exercise(id, budget): grades a budget\n"
    )
    (folder / "test_trusted.py").write_text(TRUSTED_TESTS)
    return folder


def _grade(tmp_path, trusted, source, exercises, limits=None):
    shop = tmp_path / "submission" / "shop_app"
    shop.mkdir(parents=True)
    (shop / "shop.py").write_text(textwrap.dedent(source))
    return run_exercises(
        exercises,
        Target(tmp_path / "submission", {}),
        limits=limits or Limits(seconds=30),
        trusted=trusted,
        extra_args=["-p", "no:django", "-p", "no:checker"],
    )


def test_a_correct_shop_earns_every_point(tmp_path, trusted):
    [outcome] = _grade(
        tmp_path,
        trusted,
        "def answer(): return 42\ndef fast(): pass\n",
        [_exercise("ex-a", "answer", "fast")],
    )

    assert (outcome.status, outcome.points, outcome.max_points) == ("passed", 4, 4)


def test_each_budget_earns_its_points_alone(tmp_path, trusted):
    [outcome] = _grade(
        tmp_path,
        trusted,
        "def answer(): return 41\ndef fast(): pass\n",
        [_exercise("ex-a", "answer", "fast")],
    )

    assert (outcome.status, outcome.points) == ("failed", 2)
    answer = outcome.budgets[0]
    assert (answer.budget, answer.passed) == ("answer", False)
    assert answer.message == "answer() returned 41, expected 42"


def test_a_guard_met_without_the_fix_earns_nothing_and_says_why(tmp_path, trusted):
    [outcome] = _grade(
        tmp_path,
        trusted,
        "def answer(): return 41\ndef fast(): pass\n",
        [_exercise("ex-a", "answer", "fast", guards=("fast",))],
    )

    fast = outcome.budgets[1]
    assert (fast.budget, fast.passed, fast.points, outcome.points) == (
        "fast",
        True,
        0,
        0,
    )
    assert fast.message == (
        "Met, but this budget guards the fix: its points count once answer is met too."
    )


def test_a_guard_earns_its_points_once_the_fix_is_met(tmp_path, trusted):
    [outcome] = _grade(
        tmp_path,
        trusted,
        "def answer(): return 42\ndef fast(): pass\n",
        [_exercise("ex-a", "answer", "fast", guards=("fast",))],
    )

    assert (outcome.status, outcome.points) == ("passed", 4)
    assert [b.message for b in outcome.budgets] == ["", ""]


def test_a_syntax_error_gives_a_one_line_reason(tmp_path, trusted):
    [outcome] = _grade(
        tmp_path, trusted, "def answer(:\n", [_exercise("ex-a", "answer", "fast")]
    )

    assert (outcome.status, outcome.points) == ("error", 0)
    assert outcome.reason == "SyntaxError: invalid syntax (shop_app/shop.py:1)"


def test_an_endless_loop_is_stopped_at_the_time_limit_keeping_earlier_verdicts(
    tmp_path, trusted
):
    [outcome] = _grade(
        tmp_path,
        trusted,
        "def answer(): return 42\ndef fast():\n    while True: pass\n",
        [_exercise("ex-a", "answer", "fast")],
        limits=Limits(seconds=3),
    )

    answer, fast = outcome.budgets
    assert outcome.status == "failed"
    assert answer.passed
    assert fast.message.startswith("timed out after 3 s")


def test_a_memory_hog_is_stopped_at_the_memory_limit(tmp_path, trusted):
    [outcome] = _grade(
        tmp_path,
        trusted,
        "def hog(): return bytearray(2 * 1024 ** 3)\n",
        [_exercise("ex-b", "hog")],
        limits=Limits(seconds=30, memory_mib=512),
    )

    assert outcome.status == "failed"
    assert outcome.budgets[0].message == "MemoryError"
