"""Run git in the learner's clone, turning its failures into advice."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Commits and tags the course makes carry this identity, so that anyone who
# rebuilds them from the same base gets the same hashes.
COURSE_NAME = "Django at Scale"
COURSE_EMAIL = "course@django-at-scale.invalid"


class GitError(Exception):
    """git failed, or cannot be used here; the message says what to do."""


@dataclass(frozen=True)
class Git:
    """One repository's git, with an optional environment for every call."""

    root: Path
    env: Mapping[str, str] = field(default_factory=dict)

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        check: bool = True,
    ) -> str:
        """Run `git ARGS` in the root and return its stripped output."""
        return (
            self.run_bytes(*args, env=env, stdin=stdin, check=check)
            .decode(errors="replace")
            .strip()
        )

    def run_bytes(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        check: bool = True,
    ) -> bytes:
        """Run `git ARGS` and return its raw output; raise GitError on failure."""
        if shutil.which("git") is None:
            raise GitError("git is not installed. Install it, then run this again.")
        done = subprocess.run(
            ["git", *args],
            cwd=self.root,
            env={**os.environ, "LC_ALL": "C", **self.env, **(env or {})},
            input=stdin,
            capture_output=True,
        )
        if check and done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()
            raise GitError(f"git {' '.join(args)} failed: {message}")
        return done.stdout

    def ok(self, *args: str, env: Mapping[str, str] | None = None) -> bool:
        """Return True if `git ARGS` succeeds."""
        done = subprocess.run(
            ["git", *args],
            cwd=self.root,
            env={**os.environ, **self.env, **(env or {})},
            capture_output=True,
        )
        return done.returncode == 0

    def commit_of(self, ref: str) -> str | None:
        """Return the commit `ref` names, or None when it names none."""
        if not self.ok("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"):
            return None
        return self.run("rev-parse", "--verify", f"{ref}^{{commit}}")

    def git_path(self, name: str) -> Path:
        """Return the path of `name` inside the repository's git directory."""
        return self.root / self.run("rev-parse", "--git-path", name)

    @property
    def shallow(self) -> bool:
        return self.run("rev-parse", "--is-shallow-repository") == "true"


def open_repository(root: Path) -> Git:
    """Return the Git of the clone at `root`, or explain why there is none."""
    git = Git(root)
    if not git.ok("rev-parse", "--git-dir"):
        raise GitError(
            f"{root} is not a git repository, and the lesson tags live in git.\n"
            "Get the course with `git clone <the course's URL>` rather than a zip,"
            " or make this folder a repository first:\n"
            "  git init && git add -A && git commit -m 'Course start'"
        )
    top = Path(git.run("rev-parse", "--show-toplevel")).resolve()
    if top != root.resolve():
        # A course unpacked inside another repository must not get its tags.
        raise GitError(
            f"{root} is not a git repository of its own: it sits inside {top}.\n"
            "Clone the course into a folder of its own with `git clone`."
        )
    if git.commit_of("HEAD") is None:
        raise GitError(
            f"{root} has no commit yet. Commit the course first:\n"
            "  git add -A && git commit -m 'Course start'"
        )
    return git


def course_identity(timestamp: str) -> dict[str, str]:
    """Return the environment that signs commits as the course at `timestamp`."""
    return {
        "GIT_AUTHOR_NAME": COURSE_NAME,
        "GIT_AUTHOR_EMAIL": COURSE_EMAIL,
        "GIT_AUTHOR_DATE": timestamp,
        "GIT_COMMITTER_NAME": COURSE_NAME,
        "GIT_COMMITTER_EMAIL": COURSE_EMAIL,
        "GIT_COMMITTER_DATE": timestamp,
    }
