"""`course tags`: build the lesson tags in a clone and say how to use them."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from checker.history.chain import (
    BRANCH,
    Base,
    Built,
    build_chain,
    choose_base,
    course_at,
    patches_at,
    plan_steps,
)
from checker.history.git import Git, GitError, open_repository
from checker.services.layout import project_root


def make_tags(git: Git, requested: str | None = None) -> tuple[Base, list[Built]]:
    """Build or refresh the chain from the chosen base; return what stands."""
    base = choose_base(git, requested)
    course = course_at(git, base.commit)
    steps = plan_steps(course)
    return base, build_chain(git, base, steps, patches_at(git, base.commit))


def print_tags(git: Git, base: Base, built: list[Built], console: Console) -> None:
    """Tell the learner what the chain holds and how to walk it."""
    subject = git.run("show", "-s", "--format=%h %s", base.commit)
    console.print(f"Lesson tags from {escape(base.label)}: {escape(subject)}")
    table = Table("tag", "commit", "state", "what it holds")
    for item in built:
        table.add_row(item.step.tag, item.commit[:10], item.state, item.step.subject)
    console.print(table)
    changed = sum(item.state != "unchanged" for item in built)
    console.print(
        f"{changed} tag(s) created or moved, {len(built) - changed} unchanged."
        f" They sit on branch {BRANCH}; your branch, index and files are untouched."
    )
    if git.shallow:
        console.print(
            "This clone is shallow: the tags are built here, so they work, but"
            " `git log` shows only part of the history. `git fetch --unshallow`"
            " fetches the rest."
        )
    if len(built) > 1:
        first, second = built[0].step.tag, built[1].step.tag
        lesson, following = (
            first.removeprefix("lesson-"),
            second.removeprefix("lesson-"),
        )
        usage = Table.grid(padding=(0, 4))
        for command, meaning in [
            (
                f"course goto {lesson}",
                f"start lesson {lesson} (your work is saved first)",
            ),
            (f"git diff {first} {second}", f"what lesson {lesson}'s solutions change"),
            (f"git show {second}:<path>", f"a file as lesson {following} starts"),
            (f"git log --oneline {BRANCH}", "every tag's commit, in order"),
        ]:
            usage.add_row(f"  {command}", meaning)
        console.print("Walk the course with them:")
        console.print(usage)


def tags(args: argparse.Namespace, console: Console) -> int:
    """Build one tag per lesson on a branch of its own."""
    try:
        git = open_repository(project_root())
        base, built = make_tags(git, args.base)
    except GitError as error:
        console.print(f"[red]error:[/] {escape(str(error))}")
        return 1
    print_tags(git, base, built, console)
    return 0
