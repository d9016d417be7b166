"""The manifest: guards that count once the fix is met, and a subset of lessons."""

import pytest

from checker.manifest import ManifestError, load_course

EXERCISE = """
[[lessons]]
id = "01"
title = "t"
chapter = "c.md"
notebook = "n.ipynb"

[[lessons.exercises]]
id = "01-x"
title = "x"
solution = "s.patch"
tests = "test_x.py"
points = {{ queries = 3, same-output = 2 }}
{guards}
"""


def _course(tmp_path, guards):
    (tmp_path / "course.toml").write_text(EXERCISE.format(guards=guards))
    return load_course(tmp_path)


def test_a_guard_counts_only_once_every_other_budget_is_met(tmp_path):
    [exercise] = _course(tmp_path, 'guards = ["same-output"]').exercises

    alone = exercise.earned({"queries": False, "same-output": True})
    both = exercise.earned({"queries": True, "same-output": True})

    assert (alone, both) == (
        {"queries": 0, "same-output": 0},
        {"queries": 3, "same-output": 2},
    )


def test_without_guards_each_budget_earns_alone(tmp_path):
    [exercise] = _course(tmp_path, "").exercises

    assert exercise.earned({"queries": False, "same-output": True}) == {
        "queries": 0,
        "same-output": 2,
    }


@pytest.mark.parametrize(
    ("guards", "message"),
    [
        ('guards = ["outage"]', "guards ['outage'] are not budgets in 'points'."),
        (
            'guards = ["queries", "same-output"]',
            "every budget is a guard; leave one out.",
        ),
    ],
)
def test_a_guard_the_points_do_not_allow_is_refused(tmp_path, guards, message):
    with pytest.raises(ManifestError) as error:
        _course(tmp_path, guards)

    assert str(error.value).endswith(message)


def test_hidden_files_are_named_only_once_the_exercise_passes(tmp_path):
    [exercise] = _course(
        tmp_path, 'files = ["shop_app/a.py"]\nfiles_hidden = true'
    ).exercises
    [named] = _course(tmp_path, 'files = ["shop_app/a.py"]').exercises

    assert exercise.files == ("shop_app/a.py",)
    assert exercise.files_shown(passed=False) == "the files the measurements point at"
    assert exercise.files_shown(passed=True) == "shop_app/a.py"
    assert named.files_shown(passed=False) == "shop_app/a.py"


def test_hidden_files_must_be_true_or_false(tmp_path):
    with pytest.raises(ManifestError) as error:
        _course(tmp_path, 'files_hidden = "yes"')

    assert str(error.value).endswith("'files_hidden' must be true or false.")


LESSONS = "".join(
    f'[[lessons]]\nid = "0{n}"\ntitle = "t"\nchapter = "c.md"\nnotebook = "n.ipynb"\n'
    for n in range(1, 6)
)


@pytest.mark.parametrize(
    ("spec", "kept"),
    [("3", ["03"]), ("01-03", ["01", "02", "03"]), ("5,1-2", ["01", "02", "05"])],
)
def test_a_course_keeps_only_the_lessons_named(tmp_path, spec, kept):
    (tmp_path / "course.toml").write_text(LESSONS)

    course = load_course(tmp_path).only(spec)

    assert [lesson.id for lesson in course.lessons] == kept


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("4-2", "Lessons '4-2': 4 comes after 2."),
        ("9", "No lesson '9'. Known lessons: 01, 02, 03, 04, 05."),
    ],
)
def test_lessons_the_course_cannot_keep_are_refused(tmp_path, spec, message):
    (tmp_path / "course.toml").write_text(LESSONS)

    with pytest.raises(ManifestError) as error:
        load_course(tmp_path).only(spec)

    assert str(error.value) == message
