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
