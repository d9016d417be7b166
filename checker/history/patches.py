"""Rebuild the solution patches after a change to the naive shop.

A naive-shop change moves the lines the patches expect, or changes them. To
carry the patches over, a scratch worktree starts from HEAD with the working
tree's changes committed as "naive", and each patch is applied in course
order with a three-way merge and committed under its exercise's id. Each
patch is then rewritten as the diff of its commit. A patch that does not
merge stops the rebuild in that worktree, for its author to fix and commit;
`--continue` goes on from there. `--stop EXERCISE` stops after a patch
applied, so its solution can be edited (and the commit amended) first.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PatchStop", "Solution", "patches_rebuild", "patches_write"]

NAIVE = "naive"


@dataclass(frozen=True)
class Solution:
    """One exercise's reference patch, by the exercise's id."""

    exercise: str
    path: str


class PatchStop(Exception):
    """The rebuild stopped in its worktree; the message says what to do."""


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True)
    if done.returncode != 0:
        raise PatchStop(
            f"git {' '.join(args)} failed in {cwd}:\n"
            + (done.stdout + done.stderr).decode(errors="replace").strip()
        )
    return done.stdout


def _committed(work: Path) -> dict[str, str]:
    """Return the rebuild's commits in `work`, newest first: subject to hash."""
    commits: dict[str, str] = {}
    for line in _git(work, "log", "--format=%H %s").decode().splitlines():
        sha, _, subject = line.partition(" ")
        commits[subject] = sha
        if subject == NAIVE:
            return commits
    return {}


def _start(root: Path, work: Path) -> None:
    if work.exists():
        raise PatchStop(
            f"{work} holds a rebuild already: go on with --continue, or drop it"
            " with --abort."
        )
    changes = _git(root, "diff", "HEAD", "--binary")
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    _git(root, "worktree", "add", "--detach", str(work), "HEAD")
    if changes:
        _git(work, "apply", "--index", "-", stdin=changes)
    for name in filter(None, untracked.decode().split("\0")):
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, work / name)
        _git(work, "add", "--", name)
    _git(work, "commit", "--quiet", "--allow-empty", "-m", NAIVE)


def patches_rebuild(
    root: Path,
    solutions: Sequence[Solution],
    *,
    work: Path,
    resume: bool = False,
    stop: str | None = None,
) -> list[str]:
    """Apply every patch on the naive shop at `root`; return those rewritten.

    Raise PatchStop, keeping `work`, where a patch does not merge or after
    the exercise `stop`.
    """
    if resume:
        if not work.exists():
            raise PatchStop(f"No rebuild to go on with: {work} does not exist.")
        if _git(work, "status", "--porcelain", "--untracked-files=no").strip():
            raise PatchStop(
                f"{work} has changes not committed yet: commit them under the"
                " exercise's id (git commit -m EXERCISE), then run --continue."
            )
    else:
        _start(root, work)
    done = set(_committed(work))
    for solution in solutions:
        if solution.exercise in done:
            continue
        applied = subprocess.run(
            ["git", "apply", "--3way", "--index", str(root / solution.path)],
            cwd=work,
            capture_output=True,
        )
        if applied.returncode != 0:
            why = (applied.stdout + applied.stderr).decode(errors="replace").strip()
            raise PatchStop(
                f"{solution.path} does not apply after the patches before it:\n"
                f"{why}\nFix the files in {work}, then `git add` them and"
                f" `git commit -m {solution.exercise}` there, and run"
                " `course dev patches --continue`."
            )
        _git(work, "commit", "--quiet", "-m", solution.exercise)
        if solution.exercise == stop:
            raise PatchStop(
                f"Stopped after {solution.exercise}. Change its solution in"
                f" {work}, `git commit --amend` there, then run"
                " `course dev patches --continue`."
            )
    return patches_write(root, solutions, work=work)


def patches_write(
    root: Path, solutions: Sequence[Solution], *, work: Path
) -> list[str]:
    """Rewrite each patch from its commit in `work`, then drop `work`.

    Return the patches whose text changed.
    """
    commits = _committed(work)
    if next(iter(commits), None) != solutions[-1].exercise:
        raise PatchStop(f"{work} does not end with {solutions[-1].exercise} yet.")
    rewritten = []
    for solution in solutions:
        commit = commits[solution.exercise]
        patch = _git(work, "diff", "--binary", f"{commit}~1", commit)
        target = root / solution.path
        if target.read_bytes() != patch:
            target.write_bytes(patch)
            rewritten.append(solution.path)
    patches_abort(root, work=work)
    return rewritten


def patches_abort(root: Path, *, work: Path) -> None:
    """Remove the rebuild's worktree, if there is one."""
    if work.exists():
        _git(root, "worktree", "remove", "--force", str(work))
