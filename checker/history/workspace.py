"""Save the learner's work before a switch, then check a lesson out.

Work is saved as a commit on a branch of its own, made in a temporary index,
so tracked edits and untracked files are kept together and the learner's
index is never rewritten before the save is safely on a branch.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from checker.history.git import COURSE_EMAIL, COURSE_NAME, Git, GitError

SAVED = "course-saved"
_NO_REF = "0" * 40

# Operations that leave the repository half-way; each with how to finish it.
_UNFINISHED = (
    ("MERGE_HEAD", "A merge", "git commit", "git merge --abort"),
    ("rebase-merge", "A rebase", "git rebase --continue", "git rebase --abort"),
    ("rebase-apply", "A rebase or `git am`", "git rebase --continue", "git am --abort"),
    (
        "CHERRY_PICK_HEAD",
        "A cherry-pick",
        "git cherry-pick --continue",
        "git cherry-pick --abort",
    ),
    ("REVERT_HEAD", "A revert", "git revert --continue", "git revert --abort"),
    ("BISECT_LOG", "A bisect", "git bisect reset", "git bisect reset"),
)


@dataclass(frozen=True)
class Saved:
    """A branch that keeps something the switch would otherwise drop."""

    branch: str
    what: str
    source: str


def lesson_branch(tag: str) -> str:
    """Return the branch a lesson is worked on: `course/lesson-03`."""
    return f"course/{tag}"


def refuse_unfinished(git: Git) -> None:
    """Raise GitError when a merge, rebase or conflict is under way."""
    for prefix in ("course", SAVED):
        # A branch `course` leaves no room for `course/lesson-03` (git keeps
        # refs as files and folders), and likewise for `course-saved/...`.
        if git.commit_of(f"refs/heads/{prefix}") is not None:
            raise GitError(
                f"A branch named {prefix} exists, so the branches course goto makes"
                f" ({prefix}/...) cannot. Nothing was changed.\nRename it, e.g."
                f" `git branch -m {prefix} my-{prefix}`, then run course goto again."
            )
    for name, what, finish, undo in _UNFINISHED:
        if git.git_path(name).exists():
            raise GitError(
                f"{what} is in progress here, so switching lessons now could lose"
                f" work. Nothing was changed.\nFinish it with `{finish}` or undo it"
                f" with `{undo}`, then run course goto again."
            )
    unmerged = git.run("ls-files", "--unmerged")
    if unmerged:
        paths = sorted({line.split("\t", 1)[1] for line in unmerged.splitlines()})
        raise GitError(
            f"These files have unresolved conflicts: {', '.join(paths)}. Nothing was"
            " changed.\nResolve them and `git add` them (or `git merge --abort`),"
            " then run course goto again."
        )


def current_place(git: Git) -> tuple[str | None, str]:
    """Return the current branch (None when detached) and how to name it."""
    branch = git.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if branch:
        return branch, branch
    return None, f"the detached HEAD at {git.run('rev-parse', '--short', 'HEAD')}"


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S")


def _free_branch(git: Git, name: str) -> str:
    candidate, number = name, 1
    while git.commit_of(f"refs/heads/{candidate}") is not None:
        number += 1
        candidate = f"{name}-{number}"
    return candidate


def _keep(git: Git, name: str, commit: str) -> str:
    branch = _free_branch(git, name)
    git.run("update-ref", "-m", "course goto", f"refs/heads/{branch}", commit, _NO_REF)
    return branch


def save_work(git: Git, *, reason: str) -> Saved | None:
    """Commit tracked edits and untracked files to a new branch; None if clean."""
    if not git.run("status", "--porcelain", "--untracked-files=all"):
        return None
    _, source = current_place(git)
    with tempfile.TemporaryDirectory(prefix="course-save-") as scratch:
        index = Path(scratch) / "index"
        real = git.git_path("index")
        # Starting from a copy of the real index lets git skip unchanged files.
        if real.exists():
            shutil.copyfile(real, index)
        env = {"GIT_INDEX_FILE": str(index)}
        git.run("add", "--all", "--", ":/", env=env)
        tree = git.run("write-tree", env=env)
    now = f"@{int(datetime.now(UTC).timestamp())} +0000"
    commit = git.run(
        "commit-tree", "--no-gpg-sign", tree, "-p", "HEAD",
        "-m", f"Save work before {reason}\n\nTracked edits and untracked files"
        f" from {source}.\n",
        env={
            "GIT_AUTHOR_NAME": COURSE_NAME, "GIT_AUTHOR_EMAIL": COURSE_EMAIL,
            "GIT_AUTHOR_DATE": now, "GIT_COMMITTER_NAME": COURSE_NAME,
            "GIT_COMMITTER_EMAIL": COURSE_EMAIL, "GIT_COMMITTER_DATE": now,
        },
    )  # fmt: skip
    branch = _keep(git, f"{SAVED}/{_stamp()}", commit)
    return Saved(
        branch, "your uncommitted work (tracked edits and untracked files)", source
    )


def _reachable_elsewhere(git: Git, commit: str, moving: str) -> bool:
    refs = git.run(
        "for-each-ref", "--contains", commit, "--format=%(refname)",
        "refs/heads", "refs/tags", "refs/remotes",
    ).splitlines()  # fmt: skip
    return any(ref != moving for ref in refs)


def keep_commits(git: Git, *, target: str) -> list[Saved]:
    """Put on a branch any commits the switch to `target` would orphan."""
    moving = f"refs/heads/{lesson_branch(target)}"
    kept = []
    branch, source = current_place(git)
    candidates = []
    if branch is None or f"refs/heads/{branch}" == moving:
        candidates.append((git.run("rev-parse", "HEAD"), source, branch or "detached"))
    tip = git.commit_of(moving)
    if tip is not None and branch != lesson_branch(target):
        candidates.append((tip, lesson_branch(target), lesson_branch(target)))
    for commit, where, label in candidates:
        if _reachable_elsewhere(git, commit, moving):
            continue
        name = f"{SAVED}/{_stamp()}-{label.replace('/', '-')}"
        kept.append(Saved(_keep(git, name, commit), "your commits", where))
    return kept


def check_out(git: Git, target: str) -> str:
    """Make the working tree exactly `target` on its lesson branch; return it."""
    branch = lesson_branch(target)
    commit = git.commit_of(target)
    if commit is None:
        raise GitError(f"{target} names no commit here.")
    # Everything these drop is already saved on a branch.
    git.run("reset", "--quiet", "--hard")
    git.run("clean", "-d", "--force", "--quiet")
    git.run("switch", "--quiet", "--no-track", "-C", branch, commit)
    return branch
