"""Copy a submission's `shop_app/` into a private scratch folder, safely.

A submission is a directory, a git repository (optionally at a ref:
`alice.git@lesson-02`), or a .zip/.tar.gz archive. Only its `shop_app/` is
kept: its `checker/`, manifest and tests never reach the grader.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

SHOP = "shop_app"
# Top-level names in shop_app/ (which comes first on sys.path) that would
# replace the trusted grader, or run before it; installed and standard-library
# modules are added to these when checking.
SHADOWING = ("checker", "conftest", "sitecustomize", "usercustomize")
_MODULE_SUFFIXES = (".py", ".pyc", ".so")
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".git")
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


class SubmissionError(Exception):
    """A submission that cannot be graded; the message is its one-line reason."""


@dataclass(frozen=True)
class Caps:
    """Size limits on what a submission may unpack."""

    megabytes: int = 50
    files: int = 5000


@dataclass(frozen=True)
class Submission:
    """Where a submission comes from and the student it belongs to."""

    source: Path
    ref: str | None
    name: str

    @property
    def label(self) -> str:
        return f"{self.source}@{self.ref}" if self.ref else str(self.source)


def _student(path: Path) -> str:
    name = path.name
    for suffix in (*ARCHIVE_SUFFIXES, ".git"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return _NAME.sub("-", name).strip("-.") or "submission"


def submission_parse(spec: str, *, ref: str | None = None) -> Submission:
    """Split `path@ref` and name the student after the path."""
    path = Path(spec)
    if ref is None and not path.exists() and "@" in spec:
        head, _, tail = spec.rpartition("@")
        path, ref = Path(head), tail or None
    return Submission(source=path, ref=ref, name=_student(path.resolve()))


def _check_member(name: str) -> PurePosixPath:
    member = PurePosixPath(name)
    if member.is_absolute() or ".." in member.parts:
        raise SubmissionError(f"archive member {name!r} points outside the submission")
    return member


def _check_size(total: int, count: int, caps: Caps) -> None:
    if count > caps.files:
        raise SubmissionError(f"more than {caps.files} files")
    if total > caps.megabytes * 1024 * 1024:
        raise SubmissionError(f"larger than {caps.megabytes} MB unpacked")


def _unzip(archive: Path, into: Path, caps: Caps) -> None:
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            _check_size(sum(m.file_size for m in members), len(members), caps)
            for info in members:
                member = _check_member(info.filename)
                # The high bits of external_attr hold the Unix mode.
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise SubmissionError(f"archive member {info.filename!r} is a link")
                target = into.joinpath(*member.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as source, target.open("wb") as sink:
                    # Read no more than declared: a lying header cannot inflate.
                    shutil.copyfileobj(source, sink)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError):
        raise SubmissionError("not a valid zip archive") from None


def _untar(archive: Path, into: Path, caps: Caps) -> None:
    try:
        with tarfile.open(archive) as bundle:
            members = bundle.getmembers()
            _check_size(sum(m.size for m in members), len(members), caps)
            for member in members:
                _check_member(member.name)
                if member.issym() or member.islnk():
                    target = PurePosixPath(member.name).parent / member.linkname
                    if member.linkname.startswith("/") or ".." in target.parts:
                        raise SubmissionError(
                            f"archive link {member.name!r} points outside "
                            "the submission"
                        )
            # The "data" filter refuses devices, absolute paths and escapes.
            bundle.extractall(into, filter="data")
    except tarfile.ReadError:
        raise SubmissionError("not a valid tar archive") from None
    except tarfile.TarError as error:
        # The "data" filter's refusals: devices, odd permissions, escapes.
        raise SubmissionError(f"refused: {error}") from None


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _git_export(repository: Path, ref: str, into: Path, caps: Caps) -> None:
    # A bare clone over the git protocol ignores the submission's own config
    # and hooks, which could otherwise run commands on the grader's machine.
    clone = into.parent / "clone.git"
    cloned = _git(
        "clone", "--quiet", "--bare", "--no-local", "--", str(repository), str(clone)
    )
    if cloned.returncode != 0:
        raise SubmissionError(f"not a git repository: {repository}")
    commit = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=clone)
    if commit.returncode != 0:
        raise SubmissionError(f"no git ref {ref!r} in {repository.name}")
    tarball = into.parent / "export.tar"
    exported = _git(
        "archive", "--format=tar", "-o", str(tarball), commit.stdout.strip(), cwd=clone
    )
    if exported.returncode != 0:
        raise SubmissionError(f"git archive failed: {exported.stderr.strip()[:200]}")
    _untar(tarball, into, caps)


def _copy_tree(source: Path, into: Path, caps: Caps) -> None:
    total = count = 0
    for folder, dirs, files in os.walk(source):
        dirs[:] = [d for d in dirs if d not in {"__pycache__", ".git"}]
        count += len(dirs) + len(files)
        total += sum(os.lstat(os.path.join(folder, f)).st_size for f in files)
        _check_size(total, count, caps)
    # Links are copied as links; the unpacked tree is checked for escapes later.
    shutil.copytree(source, into, symlinks=True, ignore=_IGNORED)


def _is_git(path: Path) -> bool:
    return (path / ".git").exists() or (path / "HEAD").is_file()


def _find_shop(unpacked: Path, label: str) -> Path:
    """Return `shop_app/` at the top, or inside one wrapping folder."""
    folders = [p for p in unpacked.iterdir() if p.is_dir() and not p.is_symlink()]
    for shop in (unpacked / SHOP, *(f / SHOP for f in folders if len(folders) == 1)):
        if shop.is_symlink():
            raise SubmissionError(f"refused: {SHOP}/ is a symlink")
        if shop.is_dir():
            return shop
    raise SubmissionError(f"no {SHOP}/ folder in {label}")


def _refuse_escaping_links(shop: Path) -> None:
    inside = shop.resolve()
    for folder, dirs, files in os.walk(shop):
        for name in dirs + files:
            path = Path(folder, name)
            if path.is_symlink() and not path.resolve().is_relative_to(inside):
                relative = path.relative_to(shop.parent)
                raise SubmissionError(f"symlink {relative} points outside {SHOP}/")


def _shadowed() -> set[str]:
    installed = importlib.metadata.packages_distributions()
    return {*SHADOWING, *installed, *sys.stdlib_module_names}


def _refuse_shadowing(shop: Path) -> None:
    shadowed = _shadowed()
    for entry in sorted(shop.iterdir()):
        is_module = entry.is_dir() or entry.name.endswith(_MODULE_SUFFIXES)
        if is_module and entry.name.split(".")[0] in shadowed:
            kind = "folder" if entry.is_dir() else "file"
            raise SubmissionError(
                f"refused: {SHOP}/{entry.name} {kind} would shadow the "
                "trusted grader; remove it"
            )


def submission_unpack(
    submission: Submission, *, scratch: Path, caps: Caps | None = None
) -> Path:
    """Copy the submission's `shop_app/` into `scratch`; return the new root.

    Raise SubmissionError with a one-line reason when it cannot be graded.
    """
    source = submission.source
    if not source.exists():
        raise SubmissionError(f"no such file or directory: {source}")
    unpacked = Path(tempfile.mkdtemp(prefix="unpacked-", dir=scratch))
    try:
        files = _unpack(submission, unpacked / "files", caps or Caps())
        shop = _find_shop(files, submission.source.name)
        _refuse_escaping_links(shop)
        _refuse_shadowing(shop)
        root = scratch / "root"
        shutil.copytree(shop, root / SHOP, symlinks=True, ignore=_IGNORED)
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    return root


def _unpack(submission: Submission, files: Path, caps: Caps) -> Path:
    source = submission.source
    files.mkdir()
    if submission.ref is not None:
        if not (source.is_dir() and _is_git(source)):
            raise SubmissionError(
                f"{source.name} is not a git repository, so it has no ref "
                f"{submission.ref!r}"
            )
        _git_export(source.resolve(), submission.ref, files, caps)
    elif source.is_dir():
        if (source / SHOP).exists() or not _is_git(source):
            # Only shop_app/ is read: a checkout's .venv or .course/ can be huge.
            _copy_tree(_find_shop(source, source.name), files / SHOP, caps)
        else:
            # A bare repository, or one whose working tree lacks shop_app/.
            _git_export(source.resolve(), "HEAD", files, caps)
    elif source.name.endswith(".zip"):
        _unzip(source, files, caps)
    elif source.name.endswith(ARCHIVE_SUFFIXES):
        _untar(source, files, caps)
    else:
        raise SubmissionError(
            "not a directory, git repository or archive "
            f"({', '.join(ARCHIVE_SUFFIXES)}): {source.name}"
        )
    return files
