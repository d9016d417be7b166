"""Find solution text in a tree: lines a solution patch adds that the shop lacks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from checker.history.git import Git

# Shorter added lines (`pass`, `)`, `return data`) are too common to give
# anything away.
MIN_LENGTH = 10
SHOP = "shop_app/"


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
            if len(line) >= MIN_LENGTH:
                lines.add(line)
    return lines


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


def shop_lines(git: Git, tree: str) -> set[str]:
    """Return every stripped line of the shop's code in `tree`."""
    return {
        line.strip() for _, text in blobs(git, tree, SHOP) for line in text.splitlines()
    }


def find_quotes(
    git: Git, tree: str, secrets: dict[str, str], *, skip: Iterable[str] = ()
) -> list[Quote]:
    """Return each line of `tree` that is a key of `secrets` (line -> patch)."""
    skipped = set(skip)
    quotes = []
    for path, text in blobs(git, tree):
        if path in skipped:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            patch = secrets.get(line.strip())
            if patch is not None:
                quotes.append(Quote(path, number, patch))
    return quotes
