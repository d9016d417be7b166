"""Chapters' answer blocks: replaced in the student edition, markers checked."""

import pytest

from checker.history.answers import (
    POINTER,
    MarkerError,
    strip_last_hints,
    without_answers,
    without_last_hints,
)
from checker.history.git import Git, GitError
from tests.history.conftest import git

CHAPTER = """# The answer

Measure first.

<!-- answer -->
```python
ANSWER = 42
```
<!-- /answer -->

Then compare.
"""


def test_a_marked_block_becomes_the_pointer():
    text, count = without_answers(CHAPTER, "lessons/01.md")

    assert count == 1
    assert text == f"# The answer\n\nMeasure first.\n\n{POINTER}\n\nThen compare.\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "<!-- answer -->\nx\n",
            "lessons/01.md:1: <!-- answer --> is never closed with <!-- /answer -->.",
        ),
        (
            "x\n<!-- /answer -->\n",
            "lessons/01.md:2: <!-- /answer --> without a <!-- answer --> before it.",
        ),
        (
            "<!-- answer -->\n<!-- answer -->\n",
            "lessons/01.md:2: <!-- answer --> inside the block opened at line 1;"
            " close that one with <!-- /answer --> first.",
        ),
    ],
)
def test_markers_that_do_not_pair_up_name_the_line(text, message):
    with pytest.raises(MarkerError) as raised:
        without_answers(text, "lessons/01.md")

    assert str(raised.value) == message


def test_the_edition_replaces_the_chapters_answer_blocks(course, clone, tmp_path):
    (clone / "lessons" / "01.md").write_text(CHAPTER)
    git(clone, "commit", "-qam", "Show the answer in the chapter")
    out = tmp_path / "edition"

    result = course("release", "--out", str(out))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Answer blocks replaced with a pointer: lessons/01.md (1)." in (
        " ".join(result.stdout.split())
    )
    chapter = (out / "lessons" / "01.md").read_text()
    assert "ANSWER = 42" not in chapter
    assert POINTER in chapter


def test_a_chapter_with_an_unclosed_marker_stops_the_release(course, clone, tmp_path):
    (clone / "lessons" / "01.md").write_text("# The answer\n\n<!-- answer -->\n")
    git(clone, "commit", "-qam", "Open a block")
    out = tmp_path / "edition"

    result = course("release", "--out", str(out))

    assert result.returncode == 1
    assert (
        "lessons/01.md:3: <!-- answer --> is never closed with <!-- /answer -->."
        " Nothing was written." in " ".join(result.stdout.split())
    )
    assert not out.exists()


def test_a_chapter_quoting_a_solution_outside_a_block_is_reported(
    course, clone, tmp_path
):
    (clone / "lessons" / "02.md").write_text(
        '# The greeting\n\n```python\nANSWER = 42\nGREETING = "hello"\n```\n'
    )
    git(clone, "commit", "-qam", "Quote the greeting")
    out = tmp_path / "edition"

    result = course("release", "--out", str(out))

    assert result.returncode == 0, result.stdout + result.stderr
    said = " ".join(result.stdout.split())
    assert (
        "Chapters still quoting a solution outside a marked answer block:"
        " lessons/02.md (2 lines). Wrap each such block in <!-- answer --> and"
        " <!-- /answer --> to leave it out." in said
    )


MANIFEST = """[[lessons]]
id = "01"

[[lessons.exercises]]
id = "01-a"
hints = [
    "Gentle.",
    'Specific: add .select_related("category").',
]

[[lessons.exercises]]
id = "01-b"
hints = ["The only hint stays."]
"""


def test_each_exercise_loses_its_last_hint_and_a_single_hint_stays():
    text, count = without_last_hints(MANIFEST)

    assert count == 1
    assert text == MANIFEST.replace(
        """    'Specific: add .select_related("category").',\n""", ""
    )


def test_hints_that_are_not_one_per_line_stop_the_release(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "course.toml").write_text(
        '[[lessons]]\n[[lessons.exercises]]\nid = "01-a"\nhints = [\n    "One.",\n'
        '    """Two,\n    on two lines.""",\n]\n'
    )
    git(tmp_path, "add", "course.toml")
    repository = Git(tmp_path)
    tree = repository.run("write-tree")

    with pytest.raises(GitError) as error:
        strip_last_hints(repository, {}, tree, "course.toml")

    assert str(error.value) == (
        "course.toml: the last hints could not be left out line by line (write"
        " each hint on a line of its own). Nothing was written."
    )
