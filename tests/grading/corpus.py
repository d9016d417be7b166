"""A class of submissions built from the good shop: good ones, and bad or
hostile ones that must each get a row with a one-line reason."""

import io
import shutil
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.grading.conftest import shop_copy, shop_solve

# Points of the naive shop on the fixture course: both fx-quotes budgets (2);
# fx-list's same-output is met but guards its query budget, which needs the
# solution, so it earns nothing yet.
NAIVE_POINTS = ("0", "2", "2")
SOLVED_POINTS = ("4", "2", "6")
NAIVE_NOTE = (
    "fx-list queries: GET /products/ made 148 queries (budget: at most 100). "
    'Try select_related("category", "brand").'
)


@dataclass(frozen=True)
class Entry:
    """A submission on the command line and the grades row it must get."""

    spec: str
    name: str
    points: tuple[str, str, str]
    note: str


def _edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / "shop_app" / relative
    source = path.read_text()
    assert old in source, f"{relative} no longer contains {old!r}"
    path.write_text(source.replace(old, new, 1))


def _append(root: Path, relative: str, text: str) -> int:
    """Append `text` to a shop file; return the line number it starts on."""
    path = root / "shop_app" / relative
    source = path.read_text()
    path.write_text(source + text)
    return source.count("\n") + 1


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Student", "-c", "user.email=s@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def good_entries(folder: Path) -> list[Entry]:
    """Build the good submissions: a folder, a solved folder, git, zip, tar.gz."""
    shop_copy(folder / "alice")
    shop_solve(shop_copy(folder / "bruno"))

    repo = shop_solve(shop_copy(folder / "chen"))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "shop_app")
    _git(repo, "commit", "-qm", "Solve fx-list")
    _git(repo, "tag", "lesson-01")
    # HEAD moves on to a broken shop: grading at the tag must ignore it.
    (repo / "shop_app" / "catalog" / "selectors.py").write_text("def (:\n")
    _git(repo, "commit", "-qam", "Start the next lesson")
    bare = folder / "chen.git"
    _git(folder, "clone", "-q", "--bare", str(repo), str(bare))
    shutil.rmtree(repo)

    # Archives usually wrap the project in one folder.
    shop_copy(folder / "build" / "dana-project")
    with zipfile.ZipFile(folder / "dana.zip", "w") as bundle:
        for path in sorted((folder / "build").rglob("*")):
            bundle.write(path, path.relative_to(folder / "build"))
    shop_solve(shop_copy(folder / "build" / "emil"))
    with tarfile.open(folder / "emil.tar.gz", "w:gz") as bundle:
        bundle.add(folder / "build" / "emil", arcname="emil")
    shutil.rmtree(folder / "build")
    return [
        Entry(str(folder / "alice"), "alice", NAIVE_POINTS, NAIVE_NOTE),
        Entry(str(folder / "bruno"), "bruno", SOLVED_POINTS, ""),
        Entry(f"{folder / 'chen.git'}@lesson-01", "chen", SOLVED_POINTS, ""),
        Entry(str(folder / "dana.zip"), "dana", NAIVE_POINTS, NAIVE_NOTE),
        Entry(str(folder / "emil.tar.gz"), "emil", SOLVED_POINTS, ""),
    ]


def bad_entries(
    folder: Path, *, seconds: int, memory_mib: int, output_mib: int
) -> list[Entry]:
    """Build the bad and hostile submissions, each with the row it must get."""
    entries = []

    def add(name: str, points: tuple[str, str, str], note: str) -> None:
        entries.append(Entry(str(folder / name), name, points, note))

    root = shop_copy(folder / "syntax")
    line = _append(root, "catalog/models.py", "\ndef broken(:\n    pass\n") + 1
    add(
        "syntax",
        ("0", "0", "0"),
        f"fx-list: SyntaxError: invalid syntax (shop_app/catalog/models.py:{line})",
    )

    root = shop_copy(folder / "imports")
    _edit(
        root,
        "catalog/selectors.py",
        "from django",
        "import catalog.nothing\nfrom django",
    )
    add(
        "imports",
        ("0", "2", "2"),
        "fx-list queries: ModuleNotFoundError: No module named 'catalog.nothing'",
    )

    root = shop_copy(folder / "migration")
    _edit(
        root,
        "catalog/models.py",
        "    stock = models.PositiveIntegerField(default=0)\n",
        "    stock = models.PositiveIntegerField(default=0)\n"
        "    weight = models.PositiveIntegerField(default=0)\n",
    )
    add(
        "migration",
        ("0", "2", "2"),
        "fx-list queries: django.db.utils.ProgrammingError: column "
        "catalog_product.weight does not exist",
    )

    root = shop_copy(folder / "deleted")
    (root / "shop_app" / "catalog" / "shipping.py").unlink()
    # views.py imports shipping.py too, so both exercises lose it.
    add(
        "deleted",
        ("0", "0", "0"),
        "fx-quotes: ModuleNotFoundError: No module named 'catalog.shipping' "
        "(shop_app/catalog/views.py:12)",
    )

    root = shop_copy(folder / "loop")
    _edit(
        root,
        "catalog/views.py",
        '    With ?q=, show only the products whose name contains it.\n    """\n',
        '    With ?q=, show only the products whose name contains it.\n    """\n'
        "    while True:\n        pass\n",
    )
    add(
        "loop",
        ("0", "0", "0"),
        f"fx-list: timed out after {seconds} s: look for an endless loop or a page "
        "that does far too much work",
    )

    root = shop_copy(folder / "hog")
    _append(
        root, "catalog/models.py", "\nBALLAST = [bytes(2**20) for _ in range(10**5)]\n"
    )
    add("hog", ("0", "0", "0"), f"fx-list: ran out of memory (limit {memory_mib} MiB)")

    # Megabytes of output, under the output cap: graded like any naive shop.
    root = shop_copy(folder / "chatty")
    _append(root, "catalog/models.py", '\nfor _ in range(8):\n    print("x" * 2**20)\n')
    add("chatty", NAIVE_POINTS, NAIVE_NOTE)

    root = shop_copy(folder / "flood")
    _append(root, "catalog/models.py", '\nwhile True:\n    print("x" * 2**16)\n')
    add(
        "flood",
        ("0", "0", "0"),
        f"fx-list: wrote more than {output_mib} MiB of output: look for a print or "
        "a log call in a loop",
    )

    # Rewritten trusted tests, manifest and checker: only shop_app/ is used.
    root = shop_copy(folder / "cheater")
    (root / "checker" / "trusted").mkdir(parents=True)
    (root / "checker" / "__init__.py").write_text("")
    (root / "checker" / "results.py").write_text("raise SystemExit(0)\n")
    (root / "checker" / "trusted" / "grade_fx_list.py").write_text(
        "def test_all():\n    pass\n"
    )
    (root / "course.toml").write_text("[[lessons]]\n")
    (root / "conftest.py").write_text("import sys\nsys.exit(0)\n")
    add("cheater", NAIVE_POINTS, NAIVE_NOTE)

    root = shop_copy(folder / "shadow")
    (root / "shop_app" / "checker").mkdir()
    (root / "shop_app" / "checker" / "__init__.py").write_text("")
    add(
        "shadow",
        ("0", "0", "0"),
        "refused: shop_app/checker folder would shadow the trusted grader; remove it",
    )

    root = shop_copy(folder / "conftest")
    (root / "shop_app" / "conftest.py").write_text("")
    add(
        "conftest",
        ("0", "0", "0"),
        "refused: shop_app/conftest.py file would shadow the trusted grader; remove it",
    )

    root = shop_copy(folder / "leak")
    (root / "shop_app" / "catalog" / "leak.py").symlink_to("/etc/passwd")
    add(
        "leak",
        ("0", "0", "0"),
        "symlink shop_app/catalog/leak.py points outside shop_app/",
    )

    (folder / "empty").mkdir()
    add("empty", ("0", "0", "0"), "no shop_app/ folder in empty")

    (folder / "notzip.zip").write_text("this is not an archive\n")
    entries.append(
        Entry(
            str(folder / "notzip.zip"),
            "notzip",
            ("0", "0", "0"),
            "not a valid zip archive",
        )
    )

    data = b"escaped\n"
    with tarfile.open(folder / "slip.tar.gz", "w:gz") as bundle:
        member = tarfile.TarInfo("../../slipped.txt")
        member.size = len(data)
        bundle.addfile(member, io.BytesIO(data))
    entries.append(
        Entry(
            str(folder / "slip.tar.gz"),
            "slip",
            ("0", "0", "0"),
            "archive member '../../slipped.txt' points outside the submission",
        )
    )

    entries.append(
        Entry(
            str(folder / "ghost"),
            "ghost",
            ("0", "0", "0"),
            f"no such file or directory: {folder / 'ghost'}",
        )
    )
    entries.append(
        Entry(
            f"{folder / 'chen.git'}@lesson-99",
            "chen-2",
            ("0", "0", "0"),
            "no git ref 'lesson-99' in chen.git",
        )
    )
    return entries
