"""Find solution text in a tree: lines a solution patch adds that the shop lacks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from checker.history.git import Git

# Shorter added lines (`pass`, `)`, `return data`) are too common to give
# anything away.
MIN_LENGTH = 10
_IMPORT = re.compile(r"^(from\s+\S+\s+)?import\s")


@dataclass(frozen=True)
class Quote:
    """A line of a file that repeats a line a solution patch adds."""

    path: str
    line: int
    patch: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} quotes {self.patch}"


def added_lines(patch: bytes) -> set[str]:
    """Return the stripped lines a patch adds, long enough to be telling."""
    lines = set()
    for raw in patch.decode(errors="replace").splitlines():
        if raw.startswith("+") and not raw.startswith("+++"):
            line = raw[1:].strip()
            # An import names the tool, which the chapter names anyway.
            if len(line) >= MIN_LENGTH and not _IMPORT.match(line):
                lines.add(line)
    return lines


def patched_paths(patch: bytes) -> set[str]:
    """Return the files a patch changes, as `a/` and `b/` name them."""
    paths = set()
    for raw in patch.decode(errors="replace").splitlines():
        if raw.startswith(("--- a/", "+++ b/")):
            paths.add(raw[6:].split("\t")[0].strip())
    return paths


def blobs(git: Git, tree: str, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Yield the path and text of every file in `tree` (under `prefix`)."""
    listing = git.run_bytes(
        "ls-tree", "-r", "-z", tree, "--", *([prefix] * bool(prefix))
    )
    entries = []
    for item in listing.split(b"\0"):
        if not item:
            continue
        meta, name = item.split(b"\t", 1)
        mode, kind, sha = meta.split()
        if kind == b"blob" and mode != b"120000":
            entries.append((name.decode(), sha.decode()))
    if not entries:
        return
    batch = git.run_bytes(
        "cat-file", "--batch", stdin="".join(f"{sha}\n" for _, sha in entries).encode()
    )
    offset = 0
    for path, _ in entries:
        header_end = batch.index(b"\n", offset)
        size = int(batch[offset:header_end].split()[2])
        body = batch[header_end + 1 : header_end + 1 + size]
        offset = header_end + 1 + size + 1
        yield path, body.decode(errors="replace")


def lines_of(git: Git, tree: str, paths: Iterable[str]) -> set[str]:
    """Return every stripped line of the files `paths` in `tree`."""
    wanted = set(paths)
    return {
        line.strip()
        for path, text in blobs(git, tree)
        if path in wanted
        for line in text.splitlines()
    }


def common_lines(git: Git, tree: str, *, skip: Iterable[str] = ()) -> set[str]:
    """Return the stripped lines that two or more files of `tree` share."""
    skipped = set(skip)
    seen: dict[str, int] = {}
    for path, text in blobs(git, tree):
        if path not in skipped:
            for line in {line.strip() for line in text.splitlines()}:
                seen[line] = seen.get(line, 0) + 1
    return {line for line, files in seen.items() if files > 1}


def solution_secrets(
    git: Git, tree: str, patches: dict[str, bytes], *, skip: Iterable[str] = ()
) -> dict[str, str]:
    """Map each telling line the patches add to its patch.

    A line is not telling when the files a patch changes already hold it, or
    when two files of `tree` share it: boilerplate such as a migration's
    `class Migration(migrations.Migration):` repeats, a leaked answer does not.
    """
    touched = set().union(*(patched_paths(text) for text in patches.values()))
    public = lines_of(git, tree, touched) | common_lines(git, tree, skip=skip)
    return {
        line: path
        for path, text in patches.items()
        for line in added_lines(text)
        if line not in public
    }


def _runs(text: str, secrets: dict[str, str]) -> Iterator[list[Quote]]:
    """Yield each run of consecutive secret lines; blank lines do not break one."""
    run: list[Quote] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        patch = secrets.get(line)
        if patch is None:
            if run:
                yield run
            run = []
        else:
            run.append(Quote("", number, patch))
    if run:
        yield run


def find_quotes(
    git: Git, tree: str, secrets: dict[str, str], *, skip: Iterable[str] = ()
) -> list[Quote]:
    """Return the lines of `tree` that quote a solution (`secrets`: line -> patch).

    A note (Markdown) quotes a solution with one line. Code needs two lines in
    a row: a test may well build the same one-line queryset as a solution, a
    copied answer brings its neighbours along.
    """
    skipped = set(skip)
    quotes = []
    for path, text in blobs(git, tree):
        if path in skipped:
            continue
        least = 1 if path.endswith(".md") else 2
        for run in _runs(text, secrets):
            if len(run) >= least:
                quotes += [Quote(path, quote.line, quote.patch) for quote in run]
    return quotes
