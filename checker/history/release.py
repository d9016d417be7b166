"""`course release --out DIR`: a student edition, without the solutions.

The edition is a fresh repository: its `main` holds the naive course with
every solution patch (and the notes beside them) removed. By default it also
carries the lesson tags, built from the instructor's patches: `lesson-03`
holds lessons 1 and 2 solved, as the course design wants, but no tag holds
the last lesson's solutions (there is no `course-solved`), and no tree holds a
patch. The instructor keeps grading with the full copy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from rich.console import Console
from rich.markup import escape

from checker.course.manifest import MANIFEST, Course
from checker.history.answers import add_note, strip_answers, strip_last_hints
from checker.history.chain import (
    BRANCH,
    Base,
    Built,
    Step,
    build_chain,
    choose_base,
    course_at,
    lesson_tag,
    patches_at,
    plan_steps,
)
from checker.history.git import Git, GitError, course_identity, open_repository
from checker.history.scan import Quote, added_lines, find_quotes, solution_secrets
from checker.services.layout import project_root


@dataclass
class Edition:
    """What a release holds, what it left out, and what its scan found."""

    root: Path
    commit: str
    dropped: list[str] = field(default_factory=list)
    tags: list[Built] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    solved: list[str] = field(default_factory=list)
    # How many files of main the scan read (chapters and notebooks aside).
    scanned: int = 0
    # Each chapter's answer blocks replaced with a pointer, and the lines
    # that still quote a solution outside such a block.
    answers: dict[str, int] = field(default_factory=dict)
    # How many exercises' last hint (the one that names the change) was left out.
    hints: int = 0
    unmarked: dict[str, int] = field(default_factory=dict)


def _solution_paths(course: Course) -> list[str]:
    """Return what to drop: each solution's top folder, or the file and its notes."""
    paths: set[str] = set()
    for exercise in course.exercises:
        path = PurePosixPath(exercise.solution)
        if len(path.parts) > 1:
            paths.add(f"{path.parts[0]}/")
        else:
            paths.update({str(path), str(path.with_suffix(".md"))})
    return sorted(paths)


def _teaching(course: Course) -> set[str]:
    # Chapters and notebooks teach the fix family by design; they stay whole.
    return {p for lesson in course.lessons for p in (lesson.chapter, lesson.notebook)}


def _patches(git: Git, base: str, course: Course) -> dict[str, bytes]:
    read = patches_at(git, base)
    return {e.solution: read(e.solution) for e in course.exercises}


def _already_applied(
    git: Git, env: dict[str, str], patches: dict[str, bytes]
) -> list[str]:
    """Return the patches whose change the index already holds."""
    solved = []
    with tempfile.TemporaryDirectory(prefix="course-release-") as scratch:
        for path, text in patches.items():
            patch = Path(scratch) / "solution.patch"
            patch.write_bytes(text)
            check = ("apply", "--cached", "--check", "--whitespace=nowarn", str(patch))
            if git.ok(*check, "--reverse", env=env) and not git.ok(*check, env=env):
                solved.append(path)
    return solved


def strip_tree(git: Git, base: str, course: Course, edition: Edition) -> str:
    """Return the base tree without solutions or notes that quote them."""
    with tempfile.TemporaryDirectory(prefix="course-release-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git.run("read-tree", f"{base}^{{tree}}", env=env)
        drop = _solution_paths(course)
        git.run(
            "rm", "-r", "--cached", "--quiet", "--ignore-unmatch", "--", *drop, env=env
        )
        tree = git.run("write-tree", env=env)
        edition.secrets = solution_secrets(
            git, tree, _patches(git, base, course), skip=_teaching(course)
        )
        edition.solved = _already_applied(git, env, _patches(git, base, course))
        quotes = find_quotes(git, tree, edition.secrets, skip=_teaching(course))
        notes = sorted({q.path for q in quotes if q.path.endswith(".md")})
        if notes:
            git.run("rm", "--cached", "--quiet", "--", *notes, env=env)
            tree = git.run("write-tree", env=env)
        edition.dropped = [*drop, *(f"{n} (quotes a solution)" for n in notes)]
        tree = add_note(git, env, tree)
        tree, edition.hints = strip_last_hints(git, env, tree, MANIFEST)
        chapters = [lesson.chapter for lesson in course.lessons]
        tree, edition.answers = strip_answers(git, env, tree, chapters)
        files = git.run("ls-tree", "-r", "--name-only", tree).splitlines()
        edition.scanned = len(set(files) - _teaching(course))
        # Chapters are read too, after their marked blocks are gone: what
        # still quotes a solution is reported for the author to mark.
        others = set(files) - set(chapters)
        for quote in find_quotes(git, tree, edition.secrets, skip=others):
            edition.unmarked[quote.path] = edition.unmarked.get(quote.path, 0) + 1
    return tree


def _import_tree(source: Git, tree: str, target: Path) -> Git:
    """Write `tree` into a fresh repository at `target` and return its Git."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(target)], check=True)
    archive = source.run_bytes("archive", "--format=tar", tree)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    git = Git(target)
    git.run("add", "--all", "--force")
    written = git.run("write-tree")
    if written != tree:
        raise GitError(
            f"The edition's files make tree {written}, not {tree}: a git setting"
            " (core.autocrlf, export-ignore) changed them on the way."
        )
    return git


def _later_secrets(
    git: Git, base: str, course: Course, steps: list[Step], secrets: dict[str, str]
) -> list[dict[str, str]]:
    """Return, for each tag, the solution lines it must not hold yet."""
    added = {
        path: added_lines(text) for path, text in _patches(git, base, course).items()
    }
    result = []
    applied: list[str] = []
    for step in steps:
        applied += step.patches
        given = set().union(*(added[path] for path in applied))
        result.append(
            {
                line: path
                for line, path in secrets.items()
                if path not in applied and line not in given
            }
        )
    return result


def _steps(course: Course, through: str | None) -> list[Step]:
    """Return the tags to ship: every lesson's, or those up to `through`."""
    steps = plan_steps(course, solved=False)
    if through is None:
        return steps
    lesson = course.find_lesson(through)
    if lesson is None:
        known = ", ".join(item.id for item in course.lessons) or "none"
        raise GitError(
            f"--through {through} names no lesson of the course. Known lessons:"
            f" {known}. Nothing was written."
        )
    tags = [step.tag for step in steps]
    return steps[: tags.index(lesson_tag(lesson.id)) + 1]


def build_edition(
    git: Git, base: Base, out: Path, *, with_tags: bool, through: str | None = None
) -> Edition:
    """Build the student edition at `out`; it must not exist yet."""
    course = course_at(git, base.commit)
    steps = _steps(course, through)
    edition = Edition(out, "")
    tree = strip_tree(git, base.commit, course, edition)
    target = _import_tree(git, tree, out)
    date = git.run("show", "-s", "--format=%cd", "--date=raw", base.commit)
    edition.commit = target.run(
        "commit-tree", "--no-gpg-sign", tree,
        "-m", "Start the course: the student edition\n\nThe naive shop, without"
        " the solutions.\n",
        env=course_identity(f"@{date}"),
    )  # fmt: skip
    target.run("update-ref", "refs/heads/main", edition.commit)
    teaching = _teaching(course)
    edition.quotes = find_quotes(target, tree, edition.secrets, skip=teaching)
    # A leak on main repeats in every tag; one report of it is enough.
    if with_tags and course.lessons and not (edition.quotes or edition.solved):
        root = Base(edition.commit, "the student edition")
        edition.tags = build_chain(
            target, root, steps, patches_at(git, base.commit), branch=BRANCH
        )
        for built, later in zip(
            edition.tags,
            _later_secrets(git, base.commit, course, steps, edition.secrets),
            strict=True,
        ):
            edition.quotes += [
                Quote(f"{built.step.tag}:{q.path}", q.line, q.patch)
                for q in find_quotes(target, built.tree, later, skip=teaching)
            ]
    return edition


def _print_edition(edition: Edition, console: Console) -> None:
    console.print(f"Wrote the student edition to {edition.root}.")
    console.print(f"  main: the naive course, commit {edition.commit[:10]}")
    for built in edition.tags:
        console.print(f"  {built.step.tag}: {built.step.subject}")
    if edition.tags:
        console.print(
            f"  (on branch {BRANCH}; each lesson's tag holds the lessons before it"
            " solved, and no tag holds the last lesson's solutions)"
        )
    console.print(f"Left out: {', '.join(edition.dropped)}.")
    if edition.answers:
        blocks = ", ".join(f"{path} ({n})" for path, n in edition.answers.items())
        console.print(f"Answer blocks replaced with a pointer: {blocks}.")
    if edition.hints:
        console.print(
            f"Hints: the last hint of each of {edition.hints}"
            f" exercise{'s' if edition.hints > 1 else ''} left out of"
            f" {MANIFEST} (it names the change), so `course hint` stops one step"
            " short of the answer."
        )
    tags = " and no tag a later lesson's" if edition.tags else ""
    console.print(
        f"Checked: none of the {edition.scanned} files of main quotes any of the"
        f" {len(edition.secrets)} telling lines the solution patches add{tags}."
        " Not checked: the notebooks, which show each fix by design."
    )
    if edition.unmarked:
        lines = ", ".join(
            f"{path} ({n} line{'s' if n > 1 else ''})"
            for path, n in edition.unmarked.items()
        )
        console.print(
            "[yellow]Chapters still quoting a solution outside a marked answer"
            f" block:[/] {lines}. Wrap each such block in <!-- answer -->"
            " and <!-- /answer --> to leave it out."
        )
    else:
        console.print(
            "Chapters: no line outside a marked answer block quotes a solution."
        )
    refs = f"main {BRANCH} --tags" if edition.tags else "main"
    console.print(
        "Push it to the classroom organisation:\n"
        f"  cd {edition.root}\n"
        "  git remote add origin <the classroom repository's URL>\n"
        f"  git push origin {refs}"
    )


def release(args: argparse.Namespace, console: Console) -> int:
    """Build a student edition without solutions, with the lesson tags."""
    out = Path(args.out).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        console.print(f"[red]error:[/] {out} already exists and is not empty.")
        return 1
    try:
        git = open_repository(project_root())
        # An instructor releases what is committed here, pushed or not.
        base = choose_base(git, args.base or "HEAD")
        out.parent.mkdir(parents=True, exist_ok=True)
        # Build beside the target, so a failure never leaves a half edition.
        building = Path(tempfile.mkdtemp(prefix=".release-", dir=out.parent))
        try:
            edition = build_edition(
                git,
                base,
                building / "edition",
                with_tags=args.with_tags,
                through=getattr(args, "through", None),
            )
        except BaseException:
            shutil.rmtree(building)
            raise
    except GitError as error:
        console.print(f"[red]error:[/] {escape(str(error))}")
        return 1
    if edition.quotes or edition.solved:
        shutil.rmtree(building)
        console.print("[red]error:[/] these files would give solutions away:")
        for quote in edition.quotes:
            console.print(f"  {quote}")
        for patch in edition.solved:
            console.print(f"  the shop already holds {patch} (it applies in reverse)")
        console.print(f"Nothing was written to {out}.")
        return 1
    if out.exists():
        out.rmdir()
    os.rename(building / "edition", out)
    shutil.rmtree(building)
    edition.root = out
    _print_edition(edition, console)
    return 0
