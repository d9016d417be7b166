"""Build one commit and one annotated tag per lesson with git plumbing.

The learner's branch, index and working tree are never touched: every tree
is made in a temporary index (`read-tree`, `apply --cached`, `write-tree`),
and every commit and tag is signed by the course with the base commit's date,
so the same base and the same patches always give the same hashes.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from checker.course.manifest import Course, ManifestError, load_course
from checker.history.git import COURSE_EMAIL, COURSE_NAME, Git, GitError

BRANCH = "course-lessons"
SOLVED = "course-solved"
# Where a clone's own copy of the course usually comes from, best first.
UPSTREAMS = ("origin/HEAD", "origin/main", "origin/master")
TRAILER = "Course-base"

PatchReader = Callable[[str], bytes]


class PatchError(GitError):
    """A solution patch does not apply on the chosen base."""


@dataclass(frozen=True)
class Step:
    """One tag of the chain and the solution patches that lead to it."""

    tag: str
    subject: str
    patches: tuple[str, ...]


@dataclass(frozen=True)
class Built:
    """A tag as it now stands, and whether this run created or moved it."""

    step: Step
    commit: str
    tree: str
    state: str


@dataclass(frozen=True)
class Base:
    """The commit the chain starts from, and what named it."""

    commit: str
    label: str


def lesson_tag(lesson_id: str) -> str:
    """Return the tag name of a lesson's start."""
    return f"lesson-{lesson_id}"


def plan_steps(course: Course, *, solved: bool = True) -> list[Step]:
    """Return the chain's steps: each lesson's start, then the solved course."""
    steps = []
    pending: tuple[str, ...] = ()
    for lesson in course.lessons:
        subject = f"Start lesson {lesson.id}: {lesson.title}"
        steps.append(Step(lesson_tag(lesson.id), subject, pending))
        pending = tuple(exercise.solution for exercise in lesson.exercises)
    if solved:
        steps.append(Step(SOLVED, "Solve the course: every exercise applied", pending))
    return steps


def _describe(git: Git, commit: str) -> str:
    return git.run("show", "-s", "--format=%h (%s)", commit)


def choose_base(git: Git, requested: str | None) -> Base:
    """Return the commit named by `--from`, or the one the course came from."""
    if requested:
        commit = git.commit_of(requested)
        if commit is None:
            advice = (
                " This clone is shallow, so older commits are missing here: fetch"
                " them with `git fetch --unshallow`, then run this again."
                if git.shallow
                else " `git log --oneline` lists the commits you can name."
            )
            raise GitError(f"--from {requested} names no commit here.{advice}")
        return Base(commit, requested)
    for ref in UPSTREAMS:
        commit = git.commit_of(ref)
        if commit is not None:
            return Base(commit, ref)
    # From a lesson's branch, the chain's own base is still the course's start.
    tip = git.commit_of(f"refs/heads/{BRANCH}")
    if tip is not None:
        recorded = _recorded_base(git, tip)
        shared = git.run("merge-base", "HEAD", tip, check=False)
        if (
            recorded
            and shared
            and not git.ok("merge-base", "--is-ancestor", shared, recorded)
        ):
            return Base(recorded, "the base of the existing lesson tags")
    return Base(git.run("rev-parse", "HEAD"), "HEAD")


def _recorded_base(git: Git, commit: str) -> str | None:
    message = git.run("show", "-s", "--format=%B", commit)
    for line in message.splitlines():
        if line.startswith(f"{TRAILER}: "):
            return git.commit_of(line.removeprefix(f"{TRAILER}: ").strip())
    return None


def course_at(git: Git, commit: str) -> Course:
    """Load `course.toml` as it is in `commit`."""
    blob = f"{commit}:course.toml"
    if not git.ok("cat-file", "-e", blob):
        raise ManifestError(
            f"course.toml is missing at {_describe(git, commit)}: that commit is"
            " not the course. Name the course's commit with --from."
        )
    with tempfile.TemporaryDirectory(prefix="course-manifest-") as scratch:
        (Path(scratch) / "course.toml").write_bytes(git.run_bytes("show", blob))
        try:
            return load_course(Path(scratch))
        except ManifestError as error:
            # The manifest was read from git, not from the folder it names.
            where = f"course.toml at {_describe(git, commit)}"
            message = str(error).replace(str(Path(scratch) / "course.toml"), where)
            raise ManifestError(message) from None


def patches_at(git: Git, commit: str) -> PatchReader:
    """Return a reader of the solution patches stored in `commit`."""

    def read(path: str) -> bytes:
        blob = f"{commit}:{path}"
        if not git.ok("cat-file", "-e", blob):
            raise GitError(
                f"{path}, listed in course.toml, is missing at"
                f" {_describe(git, commit)}. A student edition ships without"
                " solutions, so its lesson tags come with the clone: fetch them"
                " with `git fetch --tags origin`."
            )
        return git.run_bytes("show", blob)

    return read


def _apply(git: Git, env: dict[str, str], patch: Path, path: str, where: str) -> None:
    args = ("apply", "--cached", "--whitespace=nowarn")
    done = subprocess.run(
        ["git", *args, "--check", str(patch)],
        cwd=git.root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        git.run(*args, str(patch), env=env)
        return
    already = git.ok(*args, "--check", "--reverse", str(patch), env=env)
    why = (
        "it is already applied there, so that commit holds solved code"
        if already
        else (done.stderr.strip().splitlines() or ["git apply refused it"])[0]
    )
    raise PatchError(
        f"{path} does not apply on {where}: {why}.\nThe lesson tags must start"
        " from the course's naive shop. Name the commit the course came from, for"
        " example:\n  course tags --from origin/main\nor the first commit in"
        " `git log --oneline` that you did not write."
    )


def build_trees(
    git: Git, base: Base, steps: Sequence[Step], read_patch: PatchReader
) -> list[str]:
    """Return each step's tree, applying its patches on the previous tree."""
    trees = []
    with tempfile.TemporaryDirectory(prefix="course-tags-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git.run("read-tree", f"{base.commit}^{{tree}}", env=env)
        start = f"{_describe(git, base.commit)}, taken from {base.label}"
        where, solved = start, False
        for step in steps:
            for path in step.patches:
                patch = Path(scratch) / "solution.patch"
                patch.write_bytes(read_patch(path))
                _apply(git, env, patch, path, where)
                solved = True
            # A lesson's patches are made against its start: the base with
            # every earlier lesson solved.
            if solved:
                where = f"the start of {step.tag} ({start}, earlier lessons solved)"
            trees.append(git.run("write-tree", env=env))
    return trees


def _message(step: Step, base: str) -> str:
    if step.patches:
        applied = "\n".join(f"- {path}" for path in step.patches)
        body = f"Applies the solutions of the lesson before:\n{applied}"
    else:
        body = "The course's naive shop, as it starts."
    return f"{step.subject}\n\n{body}\n\n{TRAILER}: {base}\n"


def _signature(git: Git, base: str) -> tuple[str, dict[str, str]]:
    date = git.run("show", "-s", "--format=%cd", "--date=raw", base)
    return f"{COURSE_NAME} <{COURSE_EMAIL}> {date}", {
        "GIT_AUTHOR_NAME": COURSE_NAME,
        "GIT_AUTHOR_EMAIL": COURSE_EMAIL,
        "GIT_AUTHOR_DATE": f"@{date}",
        "GIT_COMMITTER_NAME": COURSE_NAME,
        "GIT_COMMITTER_EMAIL": COURSE_EMAIL,
        "GIT_COMMITTER_DATE": f"@{date}",
    }


def build_chain(
    git: Git,
    base: Base,
    steps: Sequence[Step],
    read_patch: PatchReader,
    *,
    branch: str = BRANCH,
) -> list[Built]:
    """Commit and tag every step on `branch`, moving only tags that changed."""
    head = git.run("symbolic-ref", "--quiet", "HEAD", check=False)
    if head == f"refs/heads/{branch}":
        raise GitError(
            f"You are on branch {branch}, which this command rebuilds. Switch to"
            " your own branch first, e.g. `git switch main`."
        )
    trees = build_trees(git, base, steps, read_patch)
    tagger, identity = _signature(git, base.commit)
    parent = base.commit
    built = []
    for step, tree in zip(steps, trees, strict=True):
        parent = git.run(
            "commit-tree", "--no-gpg-sign", tree, "-p", parent,
            "-m", _message(step, base.commit), env=identity,
        )  # fmt: skip
        tag = git.run(
            "mktag",
            stdin=(
                f"object {parent}\ntype commit\ntag {step.tag}\ntagger {tagger}\n\n"
                f"{_message(step, base.commit)}"
            ).encode(),
        )
        ref = f"refs/tags/{step.tag}"
        before = git.run("rev-parse", "--verify", "--quiet", ref, check=False)
        state = "unchanged" if before == tag else "moved" if before else "created"
        if state != "unchanged":
            git.run("update-ref", "-m", "course tags", ref, tag)
        built.append(Built(step, parent, tree, state))
    git.run("update-ref", "-m", "course tags", f"refs/heads/{branch}", parent)
    return built
