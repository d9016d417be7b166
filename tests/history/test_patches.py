"""`course dev patches`: the solution patches carried over a naive-shop change."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from checker.history.patches import PatchStop, Solution, patches_rebuild

SOLUTIONS = [
    Solution("01-first", "solutions/01.patch"),
    Solution("02-second", "solutions/02.patch"),
]
NAIVE = "".join(f"line {n}\n" for n in range(1, 21))


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def course(tmp_path) -> Path:
    """A repository whose two patches edit line 5, then line 15, of shop.txt."""
    root = tmp_path / "course"
    root.mkdir()
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "author@example.com")
    _git(root, "config", "user.name", "Author")
    shop = root / "shop.txt"
    shop.write_text(NAIVE)
    _git(root, "add", "shop.txt")
    _git(root, "commit", "-qm", "the naive shop")
    (root / "solutions").mkdir()
    for solution, line in zip(SOLUTIONS, (5, 15), strict=True):
        before = shop.read_text()
        shop.write_text(before.replace(f"line {line}\n", f"line {line} solved\n"))
        (root / solution.path).write_text(_git(root, "diff"))
        _git(root, "commit", "-qam", solution.exercise)
    _git(root, "checkout", "-q", "HEAD~2", "--", "shop.txt")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "the naive shop and its patches")
    return root


def _applies_in_order(root: Path) -> str:
    check = root.parent / "check"
    _git(root, "worktree", "add", "-q", "--detach", str(check), "HEAD")
    for solution in SOLUTIONS:
        _git(check, "apply", str(root / solution.path))
    text = (check / "shop.txt").read_text()
    _git(root, "worktree", "remove", "--force", str(check))
    return text


def test_an_unchanged_shop_rewrites_no_patch(course):
    before = {s.path: (course / s.path).read_text() for s in SOLUTIONS}

    rewritten = patches_rebuild(course, SOLUTIONS, work=course / ".work")

    assert rewritten == []
    assert {s.path: (course / s.path).read_text() for s in SOLUTIONS} == before
    assert not (course / ".work").exists()


def test_lines_added_above_the_patches_move_their_hunks(course):
    (course / "shop.txt").write_text("a docstring\n" * 3 + NAIVE)

    rewritten = patches_rebuild(course, SOLUTIONS, work=course / ".work")

    assert rewritten == ["solutions/01.patch", "solutions/02.patch"]
    assert "@@ -5,7 +5,7 @@" in (course / "solutions/01.patch").read_text()
    _git(course, "commit", "-qam", "a docstring")
    solved = _applies_in_order(course)
    assert "line 5 solved\n" in solved and "line 15 solved\n" in solved


def test_a_patch_that_does_not_merge_stops_until_fixed_and_continued(course):
    (course / "shop.txt").write_text(NAIVE.replace("line 5\n", "line five\n"))
    work = course / ".work"

    with pytest.raises(PatchStop) as stopped:
        patches_rebuild(course, SOLUTIONS, work=work)

    assert str(stopped.value).startswith(
        "solutions/01.patch does not apply after the patches before it:"
    )
    assert "git commit -m 01-first" in str(stopped.value)
    (work / "shop.txt").write_text(NAIVE.replace("line 5\n", "line five solved\n"))
    _git(work, "add", "shop.txt")
    _git(work, "commit", "-qm", "01-first")

    rewritten = patches_rebuild(course, SOLUTIONS, work=work, resume=True)

    assert rewritten == ["solutions/01.patch", "solutions/02.patch"]
    assert "+line five solved" in (course / "solutions/01.patch").read_text()
    assert not work.exists()


def test_continuing_with_uncommitted_fixes_is_refused(course):
    (course / "shop.txt").write_text(NAIVE.replace("line 5\n", "line five\n"))
    work = course / ".work"
    with pytest.raises(PatchStop):
        patches_rebuild(course, SOLUTIONS, work=work)
    (work / "shop.txt").write_text("half fixed\n")

    with pytest.raises(PatchStop, match="has changes not committed yet"):
        patches_rebuild(course, SOLUTIONS, work=work, resume=True)


def test_stopping_after_a_patch_lets_its_solution_be_edited(course):
    work = course / ".work"
    with pytest.raises(PatchStop, match=r"^Stopped after 01-first"):
        patches_rebuild(course, SOLUTIONS, work=work, stop="01-first")
    shop = work / "shop.txt"
    shop.write_text(shop.read_text().replace("line 5 solved\n", "line 5 better\n"))
    _git(work, "commit", "-q", "--amend", "-am", "01-first")

    rewritten = patches_rebuild(course, SOLUTIONS, work=work, resume=True)

    # The second patch's index line names the file it now starts from.
    assert rewritten == ["solutions/01.patch", "solutions/02.patch"]
    assert "+line 5 better" in (course / "solutions/01.patch").read_text()
    assert "+line 15 solved" in (course / "solutions/02.patch").read_text()
