import subprocess
import sys
import threading
import time


class _Output:
    """Collect a process's output in the background and wait for text in it."""

    def __init__(self, stream):
        self.text = ""
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            self.text += line

    def wait_for(self, needle, *, count=1, timeout=120):
        deadline = time.monotonic() + timeout
        while self.text.count(needle) < count:
            assert time.monotonic() < deadline, f"never saw {needle!r}:\n{self.text}"
            time.sleep(0.1)


def test_watch_rechecks_on_save_and_quits_on_q(course_root, course_env):
    process = subprocess.Popen(
        [sys.executable, "-m", "checker.cli", "watch", "00-answer"],
        cwd=course_root,
        env=course_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = _Output(process.stdout)
    try:
        output.wait_for("Watching shop_app/answer.py for changes.")
        assert "ANSWER is 41 (budget: exactly 42)" in output.text

        (course_root / "shop_app" / "answer.py").write_text(
            'ANSWER = 42\nGREETING = "hi"\n'
        )
        output.wait_for("Watching shop_app/answer.py for changes.", count=2)
        assert "✔ 00-answer passes (2 points)." in output.text

        process.stdin.write("h\n")
        process.stdin.flush()
        output.wait_for("Hint 1/3 of 00-answer: Read the question again.")
        process.stdin.write("q\n")
        process.stdin.flush()
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()


def test_watch_takes_single_keys_without_enter_in_a_terminal(course_root, course_env):
    import os
    import pty

    keyboard, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "checker.cli", "watch", "00-answer"],
        cwd=course_root,
        env=course_env,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    os.close(terminal)
    output = _Output(process.stdout)
    try:
        output.wait_for("h: hint · n: next exercise · l: list · q: quit")
        os.write(keyboard, b"h")
        output.wait_for("Hint 1/3 of 00-answer: Read the question again.")
        os.write(keyboard, b"q")
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        os.close(keyboard)


def test_watch_shows_one_cause_once_under_the_budgets_it_fails(course_root, course_env):
    manifest = course_root / "course.toml"
    manifest.write_text(
        manifest.read_text().replace(
            "points = { answer = 2 }", "points = { answer = 2, again = 1 }"
        )
    )
    trusted = course_root / "trusted" / "test_warmup.py"
    trusted.write_text(
        trusted.read_text()
        + '\n\n@pytest.mark.exercise("00-answer", budget="again")\n'
        + "def test_again():\n"
        + '    assert answer.ANSWER == 42, f"ANSWER is {answer.ANSWER} (budget:'
        + ' exactly 42)"\n'
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "checker.cli", "watch", "00-answer"],
        cwd=course_root,
        env=course_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = _Output(process.stdout)
    try:
        output.wait_for("Watching shop_app/answer.py for changes.")
        first = output.text
        (course_root / "shop_app" / "answer.py").write_text("ANSWER = (\n")
        output.wait_for("Watching shop_app/answer.py for changes.", count=2)
        process.stdin.write("q\n")
        process.stdin.flush()
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()

    assert "✘ answer, again" in first
    assert first.count("ANSWER is 41 (budget: exactly 42)") == 1
    second = output.text[len(first) :]
    assert second.count("SyntaxError") == 1
