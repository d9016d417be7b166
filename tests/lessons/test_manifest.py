"""Lessons 1-3 are complete: every file the manifest names exists and agrees."""

from __future__ import annotations

import re

import nbformat

from tests.lessons.conftest import LESSONS, REPO

# The capstone's regressions carry no marker: finding them is the exercise.
CAPSTONE = "11"
_MARKER = re.compile(r'@pytest\.mark\.exercise\(\s*"([^"]+)",\s*budget="([^"]+)"\)')


def _graded(course):
    graded = set()
    for module in {e.tests for e in course.exercises if e.lesson in LESSONS}:
        graded |= set(_MARKER.findall((course.trusted / module).read_text()))
    return graded


def test_every_budget_in_the_manifest_has_exactly_its_trusted_test(course, exercises):
    listed = {(e.id, budget) for e in exercises for budget in e.points}

    assert _graded(course) == listed


def test_every_exercise_has_its_readme_patch_and_notes(exercises):
    for exercise in exercises:
        readme = REPO / "exercises" / exercise.id / "README.md"
        patch = REPO / exercise.solution
        assert readme.is_file(), readme
        assert patch.is_file() and patch.suffix == ".patch", patch
        assert patch.with_suffix(".md").is_file(), patch
        assert f"course check {exercise.id}" in readme.read_text()
        for budget in exercise.points:
            assert f"| `{budget}` |" in readme.read_text(), (exercise.id, budget)


def test_every_patch_removes_a_marker_of_its_own_lesson(exercises):
    for exercise in exercises:
        if exercise.lesson == CAPSTONE:
            continue
        removed = [
            line
            for line in (REPO / exercise.solution).read_text().splitlines()
            if line.startswith("-") and f"TODO(lesson {int(exercise.lesson)})" in line
        ]
        assert removed, f"{exercise.solution} resolves no TODO(lesson ...) marker"


def test_the_capstone_s_shop_carries_no_marker_of_its_lesson():
    markers = [
        path
        for path in (REPO / "shop_app").rglob("*")
        if path.suffix in {".py", ".html"}
        and f"TODO(lesson {int(CAPSTONE)})" in path.read_text()
    ]

    assert markers == []


def test_every_lesson_has_its_chapter_and_a_notebook_with_cleared_outputs(course):
    for lesson in course.lessons:
        if lesson.id not in LESSONS:
            continue
        chapter = (REPO / lesson.chapter).read_text()
        notebook = nbformat.read(REPO / lesson.notebook, as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert "## Before and after" in chapter
        assert "| scenario |" in chapter, "the chapter quotes no receipt table"
        assert all(not cell.outputs and cell.execution_count is None for cell in code)
        assert code[-1].source.endswith(f'check("{lesson.id}")')
