"""The tag chain of the miniature course: what the checker and notebooks see."""

import subprocess

import pytest
from nbclient.exceptions import CellExecutionError

from checker.history.chain import SOLVED
from checker.history.git import Git
from checker.history.tags import make_tags
from checker.manifest import load_course
from tests.history.chain import (
    check_out_tag,
    expected_statuses,
    run_notebook,
    verdicts,
)

TAGS = ["lesson-01", "lesson-02", SOLVED]


@pytest.fixture(scope="module")
def chain(upstream, tmp_path_factory):
    """Return a clone of the miniature course with its tags built."""
    clone = tmp_path_factory.mktemp("chain") / "clone"
    subprocess.run(["git", "clone", "-q", str(upstream), str(clone)], check=True)
    make_tags(Git(clone))
    return clone


@pytest.mark.parametrize("tag", TAGS)
def test_at_each_tag_earlier_lessons_pass_and_the_rest_fail(chain, tag, tmp_path):
    tree = check_out_tag(chain, tag, tmp_path / tag)
    course = load_course(tree)

    statuses, reasons = verdicts(tree, "history_chain")

    assert statuses == expected_statuses(course, tag), reasons


def test_the_expected_verdicts_walk_the_lessons(upstream):
    course = load_course(upstream)

    assert [expected_statuses(course, tag) for tag in TAGS] == [
        {"01-answer": "failed", "02-greeting": "failed"},
        {"01-answer": "passed", "02-greeting": "failed"},
        {"01-answer": "passed", "02-greeting": "passed"},
    ]


@pytest.mark.parametrize("lesson", ["01", "02"])
def test_each_lessons_notebook_runs_on_its_tag(chain, lesson, tmp_path, monkeypatch):
    tree = check_out_tag(chain, f"lesson-{lesson}", tmp_path / lesson)
    notebook = next(
        item.notebook for item in load_course(tree).lessons if item.id == lesson
    )

    executed = run_notebook(
        tree, notebook, monkeypatch, "history_notebooks", tmp_path / "home"
    )

    assert [cell.execution_count for cell in executed.cells] == [1, 2]


def test_a_notebook_fails_on_another_lessons_tree(chain, tmp_path, monkeypatch):
    tree = check_out_tag(chain, "lesson-02", tmp_path / "02")

    with pytest.raises(CellExecutionError) as failure:
        run_notebook(
            tree, "notebooks/01.ipynb", monkeypatch, "history_notebooks", tmp_path
        )

    assert (failure.value.ename, failure.value.evalue) == ("AssertionError", "42")
