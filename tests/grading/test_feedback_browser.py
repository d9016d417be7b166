"""The HTML feedback page renders in a real headless Chromium."""

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from checker.grading.feedback import feedback_write
from tests.grading.conftest import COURSE
from tests.grading.grades import fixture_course, partial_grade

CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1200, 1600


def screenshot(page: Path, png: Path, profile: Path) -> subprocess.CompletedProcess:
    """Render `page` in headless Chromium and save a screenshot to `png`."""
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={WIDTH},{HEIGHT}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is absent; install it with `apt-get install -y chromium`",
)
def test_the_feedback_page_renders_to_a_non_blank_screenshot(tmp_path):
    feedback_write(
        [partial_grade()],
        course=fixture_course(),
        out=tmp_path,
        trusted=COURSE / "trusted",
    )
    png = tmp_path / "alice.png"

    rendered = screenshot(
        tmp_path / "feedback" / "alice.html", png, tmp_path / "profile"
    )

    assert rendered.returncode == 0, rendered.stderr
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        assert (image.format, image.size) == ("PNG", (WIDTH, HEIGHT))
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    # A blank page has one colour; text, badges and the score bar bring many.
    assert colours is None or len(colours) > 20
