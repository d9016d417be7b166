"""Exercise READMEs are written from course.toml and never show a hint."""

import pytest

from checker.course.manifest import ManifestError, load_course
from checker.course.readmes import prose_read, readme_write, readmes_stale
from checker.services.layout import project_root

README = """# old title

Lesson 1, old: read.

## The task

Make it fast.

## Where to edit

- `shop_app/a.py` (the selector)
- `shop_app/gone.py`

Look for the TODO.

## How it is graded

`course check 01-x` runs the trusted tests. Each budget earns its points on its own:

| budget | points | what is measured |
| --- | ---: | --- |
| `queries` | 9 | No query per row. |
| `same-output` | 9 | The same rows. |

Sizes are drawn per run.

## Hints

1. Old hint text that drifted.

Try it by hand first.
"""

MANIFEST = """
[[lessons]]
id = "01"
title = "N+1 queries"
chapter = "lessons/01.md"
notebook = "notebooks/01.ipynb"

[[lessons.exercises]]
id = "01-x"
title = "List without a query per row"
files = ["shop_app/a.py", "shop_app/b.py"]
hints = ["Gentle.", "Add .select_related(\\"category\\")."]
solution = "s.patch"
tests = "test_x.py"
points = { queries = 3, same-output = 2 }
guards = ["same-output"]
"""


@pytest.fixture
def course(tmp_path):
    (tmp_path / "course.toml").write_text(MANIFEST)
    return load_course(tmp_path)


def _written(course, text=README):
    [lesson] = course.lessons
    [exercise] = lesson.exercises
    return readme_write(course, lesson, exercise, prose_read(text, "README.md"))


def test_the_manifest_writes_title_files_points_and_the_hint_count(course):
    text = _written(course)

    assert text.startswith(
        "# 01-x: List without a query per row\n\nLesson 1, N+1 queries: read the"
        " chapter [`lessons/01.md`](../../lessons/01.md)"
    )
    assert "- `shop_app/a.py` (the selector)\n- `shop_app/b.py`\n\nLook for" in text
    assert "gone.py" not in text
    assert "| `queries` | 3 | No query per row. |" in text
    assert "except `same-output`, which guards the fix" in text
    assert "`course hint 01-x` gives its 2 hints one at a time" in text
    assert "\n\nTry it by hand first.\n\nOnce it passes," in text
    assert "Old hint text" not in text
    assert "select_related" not in text


def test_hidden_files_are_left_unnamed_and_the_reset_explained(tmp_path):
    manifest = MANIFEST.replace(
        'guards = ["same-output"]', 'guards = ["same-output"]\nfiles_hidden = true'
    )
    (tmp_path / "course.toml").write_text(manifest)
    hidden = load_course(tmp_path)

    once = _written(hidden)

    assert "shop_app/a.py" not in once and "shop_app/b.py" not in once
    assert (
        "The files to edit are not named here: finding them is the exercise."
        " `course reset 01-x` puts back only the files its fix belongs in"
    ) in once
    assert "\n\nLook for the TODO." in once
    assert _written(hidden, once) == once


def test_writing_twice_changes_nothing(course):
    once = _written(course)

    assert _written(course, once) == once


def test_a_budget_the_readme_does_not_describe_is_named(course):
    text = README.replace("| `same-output` | 9 | The same rows. |\n", "")

    with pytest.raises(ManifestError) as error:
        _written(course, text)

    assert str(error.value) == (
        "exercises/01-x/README.md: add a row saying what budget 'same-output' measures."
    )


def test_a_budget_the_manifest_does_not_grade_is_named(course):
    text = README.replace("| `queries` |", "| `speed` |")

    with pytest.raises(ManifestError) as error:
        _written(course, text)

    assert "describes budget 'speed', which course.toml does not grade." in str(
        error.value
    )


def test_every_readme_of_the_course_says_what_its_manifest_says():
    course = load_course(project_root())

    assert readmes_stale(course, write=False) == []


def test_no_readme_of_the_course_shows_a_hint():
    course = load_course(project_root())
    for exercise in course.exercises:
        text = (course.root / "exercises" / exercise.id / "README.md").read_text()
        shown = [hint for hint in exercise.hints if hint in text]

        assert shown == [], exercise.id
