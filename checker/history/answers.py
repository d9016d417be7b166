"""What the student edition rewrites: chapters' answer blocks, the last hints,
the README's note.

Blocks of a chapter that give an exercise's answer away are marked, the way
nbgrader marks solution regions.

An author wraps such a block in two HTML comments, which Markdown does not
show:

    <!-- answer -->
    ```python
    return Order.objects.select_related("customer__user")
    ```
    <!-- /answer -->

The student edition replaces each marked block with a pointer.
"""

from __future__ import annotations

import tomllib

from checker.history.git import Git, GitError

BEGIN = "<!-- answer -->"
END = "<!-- /answer -->"
POINTER = (
    "> *This block gives an exercise's answer away, so the student edition"
    " leaves it out: solve the exercise first; `course hint` helps one step"
    " at a time.*"
)


class MarkerError(ValueError):
    """A chapter's answer markers do not pair up; the message names the line."""


def without_answers(text: str, path: str) -> tuple[str, int]:
    """Return `text` with each marked block replaced, and how many there were."""
    kept: list[str] = []
    opened: int | None = None
    count = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if opened is not None:
                raise MarkerError(
                    f"{path}:{number}: {BEGIN} inside the block opened at line"
                    f" {opened}; close that one with {END} first."
                )
            opened = number
        elif marker == END:
            if opened is None:
                raise MarkerError(
                    f"{path}:{number}: {END} without a {BEGIN} before it."
                )
            opened = None
            count += 1
            kept.append(POINTER + "\n")
        elif opened is None:
            kept.append(line)
    if opened is not None:
        raise MarkerError(f"{path}:{opened}: {BEGIN} is never closed with {END}.")
    return "".join(kept), count


EDITION_NOTE = """
## This edition

This is the student edition of the course: the reference solutions are not
part of it, so `course solution` says so instead of showing one, and each
exercise's last hint, which names the change, is left out of `course.toml`.
Your instructor keeps them.
"""


def add_note(git: Git, env: dict[str, str], tree: str) -> str:
    """Say in the edition's README that it holds no solutions."""
    if not git.ok("cat-file", "-e", f"{tree}:README.md"):
        return tree
    text = git.run_bytes("show", f"{tree}:README.md") + EDITION_NOTE.encode()
    blob = git.run("hash-object", "-w", "--stdin", stdin=text)
    git.run("update-index", "--cacheinfo", f"100644,{blob},README.md", env=env)
    return git.run("write-tree", env=env)


def strip_answers(
    git: Git, env: dict[str, str], tree: str, chapters: list[str]
) -> tuple[str, dict[str, int]]:
    """Replace the chapters' marked answer blocks; return the tree and counts."""
    answers: dict[str, int] = {}
    for path in chapters:
        if not git.ok("cat-file", "-e", f"{tree}:{path}"):
            continue
        text = git.run_bytes("show", f"{tree}:{path}").decode()
        try:
            stripped, count = without_answers(text, path)
        except MarkerError as error:
            raise GitError(f"{error} Nothing was written.") from None
        if count:
            blob = git.run("hash-object", "-w", "--stdin", stdin=stripped.encode())
            git.run("update-index", "--cacheinfo", f"100644,{blob},{path}", env=env)
            answers[path] = count
    return git.run("write-tree", env=env), answers


def without_last_hints(text: str) -> tuple[str, int]:
    """Return a manifest's text with each exercise's last hint left out.

    Hints go from gentle to specific, and the last one names the change: in
    the student edition `course hint` stops one step short of the answer.
    Each hint is one line of its `hints = [...]` array.
    """
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    block: list[str] | None = None
    count = 0
    for line in lines:
        if block is None:
            kept.append(line)
            if line.startswith("hints = [") and not line.rstrip().endswith("]"):
                block = []
            continue
        if line.startswith("]"):
            items = [i for i, item in enumerate(block) if item.strip()[:1] in "\"'"]
            if len(items) > 1:
                del block[items[-1]]
                count += 1
            kept += [*block, line]
            block = None
        else:
            block.append(line)
    return "".join(kept), count


def strip_last_hints(
    git: Git, env: dict[str, str], tree: str, path: str
) -> tuple[str, int]:
    """Leave out each exercise's last hint from the manifest at `path`."""
    if not git.ok("cat-file", "-e", f"{tree}:{path}"):
        return tree, 0
    text = git.run_bytes("show", f"{tree}:{path}").decode()
    stripped, count = without_last_hints(text)
    before = _hints(text)
    try:
        after = _hints(stripped)
    except tomllib.TOMLDecodeError:
        after = {}
    if after != {k: v[:-1] if len(v) > 1 else v for k, v in before.items()}:
        raise GitError(
            f"{path}: the last hints could not be left out line by line (write"
            " each hint on a line of its own). Nothing was written."
        )
    blob = git.run("hash-object", "-w", "--stdin", stdin=stripped.encode())
    git.run("update-index", "--cacheinfo", f"100644,{blob},{path}", env=env)
    return git.run("write-tree", env=env), count


def _hints(text: str) -> dict[str, list[str]]:
    data = tomllib.loads(text)
    return {
        str(item.get("id")): list(item.get("hints", []))
        for lesson in data.get("lessons", [])
        for item in lesson.get("exercises", [])
    }
